package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/textproto"
)

// padChunkType names the chunk that pads an upload to size. By PNG's rules
// (the case of each letter is a flag) it is ancillary (decoders that do not
// know it skip it), private, and safe to copy.
const padChunkType = "spAd"

// pngChunkOverhead is a chunk's length, type and CRC around its data.
const pngChunkOverhead = 12

// paddedPNG is a valid w×h PNG of exactly size bytes: a small gradient
// padded with one ancillary chunk right after IHDR. The pixel count stays
// small however large the file, so a server that decodes uploads pays for
// the bytes it moves, not for a huge image.
func paddedPNG(w, h, size int) ([]byte, error) {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(x), G: uint8(y), B: uint8(x ^ y), A: 255})
		}
	}
	var enc bytes.Buffer
	if err := png.Encode(&enc, img); err != nil {
		return nil, fmt.Errorf("encode %dx%d png: %w", w, h, err)
	}
	base := enc.Bytes()
	// The signature (8 bytes) and IHDR (13 data bytes) always come first.
	const ihdrEnd = 8 + pngChunkOverhead + 13
	pad := size - len(base) - pngChunkOverhead
	if pad < 0 {
		return nil, fmt.Errorf("pad png to %d bytes: the %dx%d image alone is %d", size, w, h, len(base)+pngChunkOverhead)
	}
	out := make([]byte, 0, size)
	out = append(out, base[:ihdrEnd]...)
	out = binary.BigEndian.AppendUint32(out, uint32(pad))
	typeAt := len(out)
	out = append(out, padChunkType...)
	out = append(out, make([]byte, pad)...)
	// The CRC covers the chunk type and data, not the length.
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[typeAt:]))
	out = append(out, base[ihdrEnd:]...)
	return out, nil
}

// multipartBody is a multipart/form-data body of text fields and one file
// part, and the Content-Type that names its boundary.
func multipartBody(fields [][2]string, fileField, fileName, fileType string, file []byte) ([]byte, string, error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return nil, "", fmt.Errorf("write field %s: %w", f[0], err)
		}
	}
	hdr := textproto.MIMEHeader{}
	hdr.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, fileField, fileName))
	hdr.Set("Content-Type", fileType)
	part, err := mw.CreatePart(hdr)
	if err != nil {
		return nil, "", fmt.Errorf("create part %s: %w", fileField, err)
	}
	if _, err := part.Write(file); err != nil {
		return nil, "", fmt.Errorf("write part %s: %w", fileField, err)
	}
	if err := mw.Close(); err != nil {
		return nil, "", fmt.Errorf("close multipart body: %w", err)
	}
	return b.Bytes(), mw.FormDataContentType(), nil
}
