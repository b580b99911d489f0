package main

import (
	"bytes"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"testing"
)

func TestPaddedPNGDecodesAtRequestedSize(t *testing.T) {
	for _, size := range []int{4 << 10, 1 << 20, 10 << 20} {
		b, err := paddedPNG(64, 32, size)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if len(b) != size {
			t.Fatalf("got %d bytes, want %d", len(b), size)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("size %d: decode: %v", size, err)
		}
		if r := img.Bounds(); r.Dx() != 64 || r.Dy() != 32 {
			t.Fatalf("size %d: bounds %v", size, r)
		}
		if !bytes.Contains(b[:64], []byte(padChunkType)) {
			t.Fatalf("size %d: no %s chunk after IHDR", size, padChunkType)
		}
	}
}

// Go's decoder checks the CRC of every chunk it skips, so decoding at all
// proves the pad chunk's CRC right; a damaged one must make it fail.
func TestPaddedPNGCRCIsChecked(t *testing.T) {
	b, err := paddedPNG(16, 16, 8<<10)
	if err != nil {
		t.Fatal(err)
	}
	// The pad chunk starts at 33; its CRC follows its type and data.
	dataLen := int(uint32(b[33])<<24 | uint32(b[34])<<16 | uint32(b[35])<<8 | uint32(b[36]))
	crcAt := 33 + 8 + dataLen
	bad := bytes.Clone(b)
	bad[crcAt] ^= 0xff
	if _, err := png.Decode(bytes.NewReader(bad)); err == nil {
		t.Fatal("a damaged pad chunk CRC decoded")
	}
}

func TestPaddedPNGTooSmall(t *testing.T) {
	if _, err := paddedPNG(256, 256, 100); err == nil {
		t.Fatal("100 bytes accepted for a 256x256 image")
	}
}

func TestMultipartBodyParses(t *testing.T) {
	file := []byte("\x89PNG fake")
	body, ctype, err := multipartBody([][2]string{{"model", "gpt-image-1"}, {"prompt", "hi"}}, "image", "in.png", "image/png", file)
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("content type %q: %v", ctype, err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	got := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		v, _ := io.ReadAll(p)
		got[p.FormName()+"|"+p.FileName()+"|"+p.Header.Get("Content-Type")] = string(v)
	}
	want := map[string]string{"model||": "gpt-image-1", "prompt||": "hi", "image|in.png|image/png": string(file)}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("parts %q, want %q", got, want)
		}
	}
}
