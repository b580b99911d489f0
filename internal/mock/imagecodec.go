package mock

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// encodedImage is one generated picture, kept with its base64 form so that
// repeated requests (benchmarks) cost a map lookup, not an encode.
type encodedImage struct {
	raw         []byte
	b64         string
	contentType string
}

type imageKey struct {
	format string
	w, h   int
	pad    int
}

// imageCache holds encodings per (format, size, padding). It is bounded by
// entry count only: keys come from a handful of sizes in practice.
type imageCache struct {
	m sync.Map // imageKey → *encodedImage
	n atomic.Int64
}

const imageCacheMax = 256

var imageFill = color.RGBA{R: 0x3b, G: 0x82, B: 0xc4, A: 0xff}

func (ic *imageCache) get(format string, w, h, pad int) (*encodedImage, error) {
	k := imageKey{format, w, h, pad}
	if v, ok := ic.m.Load(k); ok {
		return v.(*encodedImage), nil
	}
	raw, err := encodeImage(format, w, h)
	if err != nil {
		return nil, err
	}
	if pad > len(raw) {
		if raw, err = padImage(format, raw, pad); err != nil {
			return nil, err
		}
	}
	img := &encodedImage{raw: raw, b64: base64.StdEncoding.EncodeToString(raw), contentType: "image/" + format}
	if ic.n.Load() < imageCacheMax {
		if _, loaded := ic.m.LoadOrStore(k, img); !loaded {
			ic.n.Add(1)
		}
	}
	return img, nil
}

// encodeImage draws a solid-colour picture of the given size.
func encodeImage(format string, w, h int) ([]byte, error) {
	var buf bytes.Buffer
	switch format {
	case "png":
		// A one-colour palette keeps the PNG tiny and the encode fast.
		img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{imageFill})
		if err := png.Encode(&buf, img); err != nil {
			return nil, fmt.Errorf("encode png %dx%d: %w", w, h, err)
		}
	case "jpeg":
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := 0; i < len(img.Pix); i += 4 {
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = imageFill.R, imageFill.G, imageFill.B, imageFill.A
		}
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 75}); err != nil {
			return nil, fmt.Errorf("encode jpeg %dx%d: %w", w, h, err)
		}
	case "webp":
		return solidWebP(w, h, imageFill), nil
	default:
		return nil, fmt.Errorf("unsupported output_format %q", format)
	}
	return buf.Bytes(), nil
}

// solidWebP writes a lossless (VP8L) WebP of one colour. With one symbol in
// each of the five prefix codes, every pixel costs zero bits, so the file is
// a few dozen bytes at any size. The standard library has no WebP encoder.
func solidWebP(w, h int, c color.RGBA) []byte {
	var bw bitWriter
	bw.put(0x2f, 8) // VP8L signature
	bw.put(uint32(w-1), 14)
	bw.put(uint32(h-1), 14)
	bw.put(0, 1) // alpha_is_used
	bw.put(0, 3) // version
	bw.put(0, 1) // no transform
	bw.put(0, 1) // no colour cache
	bw.put(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A} {
		bw.put(1, 1) // simple code
		bw.put(0, 1) // one symbol
		bw.put(1, 1) // 8-bit symbol
		bw.put(uint32(sym), 8)
	}
	bw.put(1, 1) // distance code: simple, one 1-bit symbol 0
	bw.put(0, 1)
	bw.put(0, 1)
	bw.put(0, 1)
	return riff(chunk("VP8L", bw.bytes()))
}

type bitWriter struct {
	buf   []byte
	acc   uint64
	nbits uint
}

func (b *bitWriter) put(v uint32, n uint) {
	b.acc |= uint64(v) << b.nbits
	b.nbits += n
	for b.nbits >= 8 {
		b.buf = append(b.buf, byte(b.acc))
		b.acc >>= 8
		b.nbits -= 8
	}
}

func (b *bitWriter) bytes() []byte {
	if b.nbits > 0 {
		return append(b.buf, byte(b.acc))
	}
	return b.buf
}

func chunk(fourCC string, data []byte) []byte {
	out := make([]byte, 8, 8+len(data)+1)
	copy(out, fourCC)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(data)))
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func riff(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := make([]byte, 8, 8+len(body))
	copy(out, "RIFF")
	binary.LittleEndian.PutUint32(out[4:], uint32(len(body)))
	return append(out, body...)
}

// padImage grows an encoded image to about size bytes with data every
// decoder skips: a private ancillary PNG chunk, JPEG comment segments, or an
// unknown chunk in an extended-format WebP.
func padImage(format string, raw []byte, size int) ([]byte, error) {
	switch format {
	case "png":
		const overhead = 12
		n := max(0, size-len(raw)-overhead)
		iend := len(raw) - 12 // IEND is the last, empty chunk
		c := make([]byte, 8+n+4)
		binary.BigEndian.PutUint32(c, uint32(n))
		copy(c[4:], "mkPd") // ancillary, private, safe to copy
		binary.BigEndian.PutUint32(c[8+n:], crc32.ChecksumIEEE(c[4:8+n]))
		out := make([]byte, 0, len(raw)+len(c))
		out = append(out, raw[:iend]...)
		out = append(out, c...)
		return append(out, raw[iend:]...), nil
	case "jpeg":
		out := make([]byte, 0, size+64)
		out = append(out, raw[:2]...) // SOI
		for missing := size - len(raw); missing > 4; {
			n := min(missing-4, 65533)
			seg := []byte{0xff, 0xfe, byte((n + 2) >> 8), byte(n + 2)}
			out = append(out, seg...)
			out = append(out, make([]byte, n)...)
			missing -= n + 4
		}
		return append(out, raw[2:]...), nil
	case "webp":
		w, h := webpSize(raw)
		vp8x := make([]byte, 10)
		put24 := func(b []byte, v int) { b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16) }
		put24(vp8x[4:], w-1)
		put24(vp8x[7:], h-1)
		vp8l := raw[12:] // the VP8L chunk, header included
		n := max(0, size-len(raw)-18-8)
		return riff(chunk("VP8X", vp8x), vp8l, chunk("PADD", make([]byte, n))), nil
	}
	return nil, fmt.Errorf("cannot pad %s", format)
}

func webpSize(raw []byte) (int, int) {
	bits := binary.LittleEndian.Uint32(raw[21:25])
	return int(bits&0x3fff) + 1, int(bits>>14&0x3fff) + 1
}

// Image sizes: the standard ones, "auto", or any custom WxH within limits.
const maxImageSide = 4096

func parseImageSize(s string) (w, h int, err error) {
	if s == "" || s == "auto" {
		return 1024, 1024, nil
	}
	ws, hs, ok := strings.Cut(s, "x")
	if ok {
		w, err1 := strconv.Atoi(ws)
		h, err2 := strconv.Atoi(hs)
		if err1 == nil && err2 == nil && w > 0 && h > 0 && w <= maxImageSide && h <= maxImageSide {
			return w, h, nil
		}
	}
	return 0, 0, fmt.Errorf("size %q: want WxH (each side 1-%d) or auto", s, maxImageSide)
}

// fileStore serves images handed out as URLs (response_format=url). It keeps
// the last fileStoreMax entries; the bytes are shared with the image cache.
type fileStore struct {
	mu    sync.Mutex
	files map[string]*encodedImage
	order []string
}

const fileStoreMax = 1024

func (fs *fileStore) put(id string, img *encodedImage) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.files == nil {
		fs.files = make(map[string]*encodedImage)
	}
	if len(fs.order) >= fileStoreMax {
		delete(fs.files, fs.order[0])
		fs.order = fs.order[1:]
	}
	fs.files[id] = img
	fs.order = append(fs.order, id)
}

func (fs *fileStore) get(id string) (*encodedImage, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	img, ok := fs.files[id]
	return img, ok
}
