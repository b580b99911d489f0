package images

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// Minimal WebP files (lossless, lossy, lossy with alpha; 1×1). The
// standard library and x/image have no WebP encoder to make them with.
var (
	webpLossless = mustB64("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
	webpLossy    = mustB64("UklGRiIAAABXRUJQVlA4IBYAAAAwAQCdASoBAAEADsD+JaQAA3AAAAAA")
	webpAlpha    = mustB64("UklGRkoAAABXRUJQVlA4WAoAAAAQAAAAAAAAAAAAQUxQSAwAAAARBxAR/Q9ERP8DAABWUDggGAAAABQBAJ0BKgEAAQAAAP4AAA3AAP7mtQAAAA==")
)

func mustB64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func testImage(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.NRGBA{uint8(x * 40), uint8(y * 40), 200, 255})
		}
	}
	return m
}

func encodePNG(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, testImage(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(w, h), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeGIF(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := gif.Encode(&b, testImage(w, h), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngHeaderClaiming is a PNG signature and a valid IHDR chunk claiming
// w×h pixels of 8-bit RGBA, followed by a small IDAT: a few dozen bytes
// that a careless decoder would answer by allocating w×h×4.
func pngHeaderClaiming(w, h uint32) []byte {
	return pngHeader(w, h, 8, 6, 0) // depth 8, RGBA, no interlace
}

// pngHeader is a PNG whose IHDR declares w×h pixels of the given bit
// depth, color type and interlace method, with an empty IDAT.
func pngHeader(w, h uint32, depth, ctype, interlace byte) []byte {
	chunk := func(typ string, data []byte) []byte {
		var c []byte
		c = binary.BigEndian.AppendUint32(c, uint32(len(data)))
		c = append(c, typ...)
		c = append(c, data...)
		return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, depth, ctype, 0, 0, interlace) // deflate, no filter
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, chunk("IHDR", ihdr)...)
	return append(b, chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00})...)
}

func TestInspectAccepts(t *testing.T) {
	cases := []struct {
		name   string
		data   []byte
		format string
		w, h   int
	}{
		{"png", encodePNG(t, 3, 2), PNG, 3, 2},
		{"jpeg", encodeJPEG(t, 5, 4), JPEG, 5, 4},
		{"gif", encodeGIF(t, 2, 7), GIF, 2, 7},
		{"webp lossless", webpLossless, WebP, 1, 1},
		{"webp lossy", webpLossy, WebP, 1, 1},
		{"webp with alpha", webpAlpha, WebP, 1, 1},
		{"png at the pixel limit", encodePNG(t, 100, 100), PNG, 100, 100},
	}
	limits := Limits{MaxBytes: 1 << 20, MaxWidth: 100, MaxHeight: 100, MaxPixels: 10_000}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// One byte at a time, so no decoder relies on large reads.
			info, err := Inspect(t.Context(), iotest.OneByteReader(bytes.NewReader(c.data)), limits)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if info.Format != c.format || info.Width != c.w || info.Height != c.h || info.DecodeBytes <= 0 {
				t.Errorf("Info = %+v, want %s %d×%d", info, c.format, c.w, c.h)
			}
			if info.ContentType() != "image/"+c.format {
				t.Errorf("ContentType = %q", info.ContentType())
			}
		})
	}
}

func TestInspectRefuses(t *testing.T) {
	pngData := encodePNG(t, 40, 30)
	jpegData := encodeJPEG(t, 40, 30)
	gifData := encodeGIF(t, 40, 30)
	limits := Limits{MaxBytes: 64 << 10, MaxWidth: 1000, MaxHeight: 500, MaxPixels: 200_000}
	cases := []struct {
		name    string
		data    []byte
		want    error
		mention []string
	}{
		{"empty", nil, ErrUnsupported, []string{"empty", Accepted}},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`), ErrUnsupported, []string{"SVG", Accepted}},
		{"svg with xml prolog and BOM", []byte("\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!-- x -->\n<SVG width=\"1\"></SVG>"), ErrUnsupported, []string{"SVG"}},
		{"html", []byte("<!DOCTYPE html><html><body><img src=x></body></html>"), ErrUnsupported, []string{"HTML"}},
		{"xml", []byte(`<?xml version="1.0"?><a/>`), ErrUnsupported, []string{"XML"}},
		{"text", []byte("a picture of a cat"), ErrUnsupported, []string{"text"}},
		{"pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"), ErrUnsupported, []string{"PDF"}},
		{"heic", append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), make([]byte, 64)...), ErrUnsupported, []string{"HEIC"}},
		{"avif", append([]byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1"), make([]byte, 64)...), ErrUnsupported, []string{"AVIF"}},
		{"bmp", append([]byte("BM\x36\x00\x00\x00"), make([]byte, 60)...), ErrUnsupported, []string{"BMP"}},
		{"tiff", []byte("II*\x00\x08\x00\x00\x00"), ErrUnsupported, []string{"TIFF"}},
		{"riff but wave", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), ErrUnsupported, []string{"RIFF"}},
		{"binary noise", []byte{0x00, 0x01, 0x02, 0xfe, 0x80, 0x81}, ErrUnsupported, []string{Accepted}},
		{"png signature not at the start", []byte("hello \x89PNG\r\n\x1a\n"), ErrUnsupported, nil},

		{"png signature only", pngData[:8], ErrInvalid, nil},
		{"png truncated", pngData[:len(pngData)/2], ErrInvalid, nil},
		{"png corrupt pixel data", corruptTail(pngData), ErrInvalid, nil},
		{"jpeg truncated", jpegData[:len(jpegData)/2], ErrInvalid, nil},
		{"jpeg marker only", jpegData[:3], ErrInvalid, nil},
		{"gif truncated", gifData[:len(gifData)/2], ErrInvalid, nil},
		{"webp truncated", webpLossy[:len(webpLossy)-8], ErrInvalid, nil},
		{"png of zero width", pngHeaderClaiming(0, 10), ErrInvalid, nil},

		{"png wider than the limit", pngHeaderClaiming(1001, 1), ErrTooLarge, []string{"wide"}},
		{"png higher than the limit", pngHeaderClaiming(1, 501), ErrTooLarge, []string{"high"}},
		{"png over the pixel limit", pngHeaderClaiming(1000, 201), ErrTooLarge, []string{"pixels"}},
		{"png bomb", pngHeaderClaiming(100_000, 100_000), ErrTooLarge, nil},
		// image/png refuses these itself ("dimension overflow").
		{"png bomb at the format maximum", pngHeaderClaiming(1<<31-1, 1<<31-1), ErrInvalid, nil},
		{"valid png with trailing bytes past the size limit", append(append([]byte{}, pngData...), make([]byte, 64<<10)...), ErrTooLarge, []string{"bytes"}},
		{"noise past the size limit", bytes.Repeat([]byte{0x89}, 65<<10), ErrUnsupported, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := Inspect(t.Context(), bytes.NewReader(c.data), limits)
			if !errors.Is(err, c.want) {
				t.Fatalf("Inspect = %+v, %v; want %v", info, err, c.want)
			}
			for _, m := range c.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func corruptTail(b []byte) []byte {
	c := append([]byte{}, b...)
	for i := len(c) - 30; i < len(c)-12; i++ {
		c[i] ^= 0x5a
	}
	return c
}

func TestInspectPassesReadErrors(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(bytes.NewReader(encodePNG(t, 50, 50)[:100]), iotest.ErrReader(boom))
	_, err := Inspect(t.Context(), r, DefaultLimits)
	if !errors.Is(err, boom) || errors.Is(err, ErrInvalid) {
		t.Errorf("Inspect = %v, want the reader's error, not ErrInvalid", err)
	}
}

// TestInspectBombAllocatesLittle checks that the dimensions are refused
// before pixel memory is allocated: a 100 000 × 100 000 RGBA image would
// need 40 GB, and even a 4 MB allocation would show.
func TestInspectBombAllocatesLittle(t *testing.T) {
	bomb := pngHeaderClaiming(100_000, 100_000)
	// Even with no pixel limit the width limit alone must stop it.
	for _, limits := range []Limits{DefaultLimits, {MaxWidth: 16384}} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 10 {
			if _, err := Inspect(t.Context(), bytes.NewReader(bomb), limits); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Inspect(bomb) = %v, want ErrTooLarge", err)
			}
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 256<<10 {
			t.Errorf("Inspect of a bomb allocated %d bytes per call, want under 256 KiB", per)
		}
	}
	allocs := testing.AllocsPerRun(20, func() { _, _ = Inspect(t.Context(), bytes.NewReader(bomb), DefaultLimits) })
	if allocs > 100 {
		t.Errorf("Inspect of a bomb made %.0f allocations", allocs)
	}
}

// FuzzInspect checks that Inspect never panics and never accepts an
// image beyond its limits.
func FuzzInspect(f *testing.F) {
	for _, b := range [][]byte{
		encodePNG(f, 3, 2), encodeJPEG(f, 5, 4), encodeGIF(f, 2, 7), webpLossless, webpLossy, webpAlpha,
		pngHeaderClaiming(100_000, 100_000), pngHeader(300, 300, 16, 6, 1), []byte("<svg/>"), nil,
	} {
		f.Add(b)
	}
	limits := Limits{MaxBytes: 1 << 20, MaxWidth: 512, MaxHeight: 512, MaxPixels: 64 << 10, MaxDecodeBytes: 256 << 10}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Inspect(t.Context(), bytes.NewReader(data), limits)
		if err != nil {
			if info != (Info{}) {
				t.Errorf("Inspect returned %+v with error %v", info, err)
			}
			if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Errorf("error %v is none of the package's errors", err)
			}
			return
		}
		if int64(len(data)) > limits.MaxBytes {
			t.Errorf("accepted %d bytes", len(data))
		}
		if info.Width <= 0 || info.Height <= 0 || info.Width > limits.MaxWidth || info.Height > limits.MaxHeight ||
			int64(info.Width)*int64(info.Height) > limits.MaxPixels || info.DecodeBytes > limits.MaxDecodeBytes {
			t.Errorf("accepted %+v beyond the limits", info)
		}
		if _, ok := codecs[info.Format]; !ok {
			t.Errorf("accepted format %q", info.Format)
		}
	})
}

// TestInspectDecodeBytes: the decode estimate counts bit depth, channels,
// interlacing and progressive coefficients, and the byte limit refuses
// from the header what the pixel limit lets through.
func TestInspectDecodeBytes(t *testing.T) {
	progressive := encodeJPEG(t, 64, 48)
	for i := 2; i+4 <= len(progressive); i += 2 + int(binary.BigEndian.Uint16(progressive[i+2:])) {
		if progressive[i+1] == 0xc0 {
			progressive = append([]byte{}, progressive...)
			progressive[i+1] = 0xc2 // SOF0 → SOF2: DecodeConfig reads the frame header alike
			break
		}
	}
	cases := []struct {
		name string
		data []byte
		want int64
	}{
		{"16-bit RGBA PNG", pngHeader(7000, 7000, 16, 6, 0), 7000 * 7000 * 8},
		{"16-bit RGB PNG", pngHeader(100, 10, 16, 2, 0), 100 * 10 * 8},
		{"8-bit RGBA PNG", pngHeader(100, 10, 8, 6, 0), 100 * 10 * 4},
		{"8-bit gray PNG", pngHeader(100, 10, 8, 0, 0), 100 * 10},
		{"16-bit gray PNG", pngHeader(100, 10, 16, 0, 0), 100 * 10 * 2},
		{"interlaced 8-bit RGBA PNG", pngHeader(100, 10, 8, 6, 1), 100 * 10 * 8},
		{"baseline JPEG", encodeJPEG(t, 64, 48), 64 * 48 * 3},
		{"progressive JPEG", progressive, 64 * 48 * 15},
		{"GIF", encodeGIF(t, 2, 7), 2 * 7},
		{"lossless WebP", webpLossless, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := InspectHeader(bytes.NewReader(c.data), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if info.DecodeBytes != c.want {
				t.Errorf("DecodeBytes = %d, want %d", info.DecodeBytes, c.want)
			}
		})
	}
	// 49 MP is under the default pixel limit; 392 MB decoded is not under
	// the byte limit, and the refusal allocates next to nothing.
	bomb := pngHeader(7000, 7000, 16, 6, 0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Inspect(t.Context(), bytes.NewReader(bomb), DefaultLimits)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "16-bit") {
		t.Fatalf("Inspect = %v, want ErrTooLarge naming the 16-bit pixels", err)
	}
	if used := after.TotalAlloc - before.TotalAlloc; used > 1<<20 {
		t.Errorf("refusing allocated %d bytes", used)
	}
}

// TestInspectWaitsForADecodeSlot: with MaxDecodes decodes running, the
// next waits, and gives up when its context ends; the header is still
// checked at once.
func TestInspectWaitsForADecodeSlot(t *testing.T) {
	for range MaxDecodes {
		decodeSlots <- struct{}{}
	}
	defer func() {
		for range MaxDecodes {
			<-decodeSlots
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := Inspect(ctx, bytes.NewReader(encodePNG(t, 3, 2)), DefaultLimits); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Inspect with every slot taken = %v, want the context's deadline", err)
	}
	if _, err := Inspect(ctx, bytes.NewReader([]byte("<svg/>")), DefaultLimits); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Inspect of SVG = %v, want ErrUnsupported without waiting", err)
	}
}
