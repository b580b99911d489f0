package images

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/image/webp"
)

// Formats Inspect accepts, as Info.Format.
const (
	PNG  = "png"
	JPEG = "jpeg"
	WebP = "webp"
	GIF  = "gif"
)

// Accepted lists the accepted formats for error messages.
const Accepted = "PNG, JPEG, WebP, GIF"

var (
	// ErrUnsupported is wrapped when the bytes are not an accepted raster
	// format; the message names what they look like instead.
	ErrUnsupported = errors.New("unsupported image format")
	// ErrInvalid is wrapped when the bytes claim an accepted format but do
	// not decode (truncated, corrupt).
	ErrInvalid = errors.New("invalid image")
)

// Limits bound what Inspect accepts. A zero field means no limit on that
// measure, so callers should start from DefaultLimits.
type Limits struct {
	MaxBytes  int64 // the whole input
	MaxWidth  int
	MaxHeight int
	MaxPixels int64 // width × height
	// MaxDecodeBytes bounds the memory a full decode would take, as
	// estimated from the header (DecodeBytes): pixels alone do not bound
	// it, a 16-bit RGBA pixel takes eight times a paletted one.
	MaxDecodeBytes int64
}

// DefaultLimits accepts what OpenAI's image endpoints accept (50 MB) and
// the photos phones take (48 MP baseline JPEG, about 144 MB decoded),
// while bounding one decode at 160 MiB: a 7000×7000 16-bit PNG (392 MB
// decoded from a few hundred KB) is refused from its header.
var DefaultLimits = Limits{
	MaxBytes:       50 << 20,
	MaxWidth:       16384,
	MaxHeight:      16384,
	MaxPixels:      50_000_000,
	MaxDecodeBytes: 160 << 20,
}

// MaxDecodes is how many full decodes run at once in this process; more
// wait their turn. With MaxDecodeBytes it bounds the node's decode memory
// at about MaxDecodes × MaxDecodeBytes, however many uploads arrive.
const MaxDecodes = 2

// decodeSlots is the per-process semaphore of MaxDecodes.
var decodeSlots = make(chan struct{}, MaxDecodes)

// Info is what Inspect learned about an image.
type Info struct {
	Format string // PNG, JPEG, WebP or GIF
	Width  int
	Height int
	// DecodeBytes estimates, from the header, the memory a full decode
	// takes: the pixel buffer at the decoder's depth and channels, and
	// what the decoder keeps besides (interlace passes, progressive JPEG
	// coefficients).
	DecodeBytes int64
}

// ContentType returns the MIME type of the format.
func (i Info) ContentType() string {
	if i.Format == "" {
		return ""
	}
	return "image/" + i.Format
}

type codec struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

// codecs are called directly rather than through image.Decode, whose
// registry any imported package can extend: the accepted formats are this
// list and nothing else.
var codecs = map[string]codec{
	PNG:  {png.DecodeConfig, png.Decode},
	JPEG: {jpeg.DecodeConfig, jpeg.Decode},
	// Only the first frame of a GIF is decoded: the gateway treats GIF as
	// a still image, and decoding every frame would let a small file of
	// many large frames take memory no pixel limit bounds.
	GIF:  {gif.DecodeConfig, gif.Decode},
	WebP: {webp.DecodeConfig, webp.Decode},
}

// sniffLen is how much of the input detection looks at, the same as
// http.DetectContentType.
const sniffLen = 512

// Inspect reads an uploaded image and says what it is, or why it is
// refused. The format is decided from the bytes alone; a filename or a
// declared content type is never consulted. The header is read first and
// the dimensions and estimated decode memory checked against limits
// before any pixel memory is allocated (a 100 000 × 100 000 PNG is a few
// hundred bytes), then the whole image is decoded, at most MaxDecodes at
// once in the process (waiting for a turn ends with ctx), so what passes
// is an image the upstream can read. The input is read to its end, up to
// limits.MaxBytes; it is not kept, apart from the header bytes the first
// decode consumed.
//
// Errors wrap ErrUnsupported, ErrTooLarge or ErrInvalid; each is the
// client's fault (400) unless r itself failed or ctx ended, which are
// returned as they are.
func Inspect(ctx context.Context, r io.Reader, limits Limits) (Info, error) {
	h, err := header(r, limits)
	if err != nil {
		return Info{}, err
	}
	select {
	case decodeSlots <- struct{}{}:
	case <-ctx.Done():
		return Info{}, fmt.Errorf("wait to decode %s: %w", h.info.Format, context.Cause(ctx))
	}
	_, err = codecs[h.info.Format].decode(io.MultiReader(&h.seen, h.br))
	<-decodeSlots
	if err != nil {
		return Info{}, h.lr.blame(err, "decode "+h.info.Format)
	}
	// Trailing bytes are not part of the image but would still be sent
	// upstream, so they count against the size limit too.
	if _, err := io.Copy(io.Discard, h.br); err != nil {
		return Info{}, h.lr.blame(err, "read image")
	}
	return h.info, nil
}

// InspectHeader is Inspect without the decode: the format, dimensions and
// estimated decode memory, checked against limits (all but MaxBytes,
// since the input is read only as far as the header). It takes a few
// kilobytes whatever the image claims.
func InspectHeader(r io.Reader, limits Limits) (Info, error) {
	h, err := header(r, limits)
	if err != nil {
		return Info{}, err
	}
	return h.info, nil
}

// headerRead is an input whose header has been read and checked.
type headerRead struct {
	info Info
	lr   *limitReader
	br   *bufio.Reader
	seen bytes.Buffer // what the config decode consumed
}

func header(r io.Reader, limits Limits) (*headerRead, error) {
	h := &headerRead{lr: &limitReader{r: r, max: limits.MaxBytes}}
	h.br = bufio.NewReaderSize(h.lr, sniffLen)
	head, err := h.br.Peek(sniffLen)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, h.lr.blame(err, "read image")
	}
	format, what := detect(head)
	if format == "" {
		return nil, fmt.Errorf("%w: %s; accepted formats are %s", ErrUnsupported, what, Accepted)
	}
	// The config decode may read ahead; keeping what it read lets the full
	// decode start from the beginning without holding the whole input.
	cfg, err := codecs[format].config(io.TeeReader(h.br, &h.seen))
	if err != nil {
		return nil, h.lr.blame(err, "read "+format+" header")
	}
	h.info = Info{Format: format, Width: cfg.Width, Height: cfg.Height}
	if err := checkDimensions(h.info, limits); err != nil {
		return nil, err
	}
	h.info.DecodeBytes = decodeBytes(format, cfg, h.seen.Bytes())
	if l := limits.MaxDecodeBytes; l > 0 && h.info.DecodeBytes > l {
		return nil, fmt.Errorf("%w: %d×%d %s would take about %d bytes to decode, limit %d",
			ErrTooLarge, h.info.Width, h.info.Height, describe(format, cfg.ColorModel), h.info.DecodeBytes, l)
	}
	return h, nil
}

// bytesPerPixel is what the standard decoders allocate per pixel for the
// image type of their color model.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3 // 4:4:4; subsampled planes take less
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel, color.NYCbCrAModel:
		return 4
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8 // RGBA64, NRGBA64, or a model not listed: the most any takes
}

// decodeBytes estimates a full decode's memory from the header; seen is
// the start of the file, up to the end of the header.
func decodeBytes(format string, cfg image.Config, seen []byte) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	per := bytesPerPixel(cfg.ColorModel)
	switch format {
	case PNG:
		// An interlaced PNG is decoded pass by pass into images of their
		// own before they are combined: about twice the final image.
		if len(seen) > 28 && seen[28] == 1 {
			per *= 2
		}
	case JPEG:
		if cfg.ColorModel == color.CMYKModel {
			per = 8 // four planes, then the CMYK image made of them
		}
		// A progressive JPEG keeps every block's coefficients (64 int32
		// per 8×8 block, 4 bytes a pixel) for each component.
		if jpegProgressive(seen) {
			comps := int64(1)
			switch cfg.ColorModel {
			case color.YCbCrModel:
				comps = 3
			case color.CMYKModel:
				comps = 4
			}
			per += 4 * comps
		}
	case WebP:
		// A lossless WebP is decoded into ARGB words, then converted.
		if cfg.ColorModel == color.NRGBAModel {
			per = 8
		}
	}
	return px * per
}

// jpegProgressive reports whether the frame header in b (a JPEG up to
// and including its SOF segment) is progressive (SOF2, SOF6, SOF10,
// SOF14). The markers are walked, so a marker-like byte pair inside an
// APP segment cannot be taken for one.
func jpegProgressive(b []byte) bool {
	i := 2 // after SOI
	for i+4 <= len(b) {
		if b[i] != 0xff {
			return false
		}
		m := b[i+1]
		if m == 0xff { // fill byte
			i++
			continue
		}
		if m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc {
			return m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce
		}
		i += 2 + int(binary.BigEndian.Uint16(b[i+2:]))
	}
	return false
}

// describe names an image's pixel layout for a message.
func describe(format string, m color.Model) string {
	switch m {
	case color.RGBA64Model, color.NRGBA64Model:
		return format + " of 16-bit RGBA pixels"
	case color.Gray16Model:
		return format + " of 16-bit gray pixels"
	}
	return format
}

func checkDimensions(info Info, l Limits) error {
	w, h := int64(info.Width), int64(info.Height)
	switch {
	case w <= 0 || h <= 0:
		return fmt.Errorf("%w: %s of %d×%d pixels", ErrInvalid, info.Format, w, h)
	case l.MaxWidth > 0 && w > int64(l.MaxWidth):
		return fmt.Errorf("%w: %d pixels wide, limit %d", ErrTooLarge, w, l.MaxWidth)
	case l.MaxHeight > 0 && h > int64(l.MaxHeight):
		return fmt.Errorf("%w: %d pixels high, limit %d", ErrTooLarge, h, l.MaxHeight)
	// Both are below 2^31, so the product cannot overflow.
	case l.MaxPixels > 0 && w*h > l.MaxPixels:
		return fmt.Errorf("%w: %d×%d is %d pixels, limit %d", ErrTooLarge, w, h, w*h, l.MaxPixels)
	}
	return nil
}

// detect returns the accepted format the bytes start with, or "" and a
// short description of what they appear to be instead.
func detect(b []byte) (format, what string) {
	switch {
	case len(b) == 0:
		return "", "the input is empty"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return PNG, ""
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return JPEG, ""
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return GIF, ""
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return WebP, ""
	}
	if len(b) >= 12 && string(b[4:8]) == "ftyp" {
		switch brand := string(b[8:12]); brand {
		case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
			return "", "the data is HEIC/HEIF (ftyp " + brand + ")"
		case "avif", "avis":
			return "", "the data is AVIF"
		default:
			return "", "the data is an ISO media file (ftyp " + printable(brand) + ")"
		}
	}
	switch {
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return "", "the data is a PDF document"
	case bytes.HasPrefix(b, []byte("BM")):
		return "", "the data looks like BMP"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return "", "the data is TIFF"
	case bytes.HasPrefix(b, []byte("\x00\x00\x01\x00")):
		return "", "the data looks like an ICO icon"
	case bytes.HasPrefix(b, []byte("RIFF")):
		return "", "the data is a RIFF file that is not WebP"
	}
	text := bytes.ToLower(bytes.TrimLeft(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), " \t\r\n"))
	switch {
	case bytes.Contains(text, []byte("<svg")):
		return "", "the data is SVG, a vector format"
	case bytes.HasPrefix(text, []byte("<!doctype html")), bytes.HasPrefix(text, []byte("<html")):
		return "", "the data is HTML"
	case bytes.HasPrefix(text, []byte("<?xml")):
		return "", "the data is XML"
	case utf8.Valid(b) && !bytes.ContainsFunc(b, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' }):
		return "", "the data is text"
	}
	return "", "the data is " + strings.TrimSuffix(http.DetectContentType(b), "; charset=utf-8") + ", not a recognised image"
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// limitReader fails once more than max bytes are read (max ≤ 0: no limit)
// and remembers that it did, because decoders do not all pass a reader's
// error through unchanged.
type limitReader struct {
	r        io.Reader
	max, n   int64
	exceeded bool
	readErr  error // the reader's own failure, not the end of input
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.exceeded {
		return 0, errLimit
	}
	if l.max > 0 && int64(len(p)) > l.max-l.n+1 {
		p = p[:l.max-l.n+1]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if err != nil && err != io.EOF {
		l.readErr = err
	}
	if l.max > 0 && l.n > l.max {
		l.exceeded = true
		return 0, errLimit
	}
	return n, err
}

var errLimit = errors.New("size limit exceeded")

// blame turns a read or decode error into one of the package's errors:
// the size limit when it was hit, the reader's own error when reading
// failed, otherwise an invalid image.
func (l *limitReader) blame(err error, doing string) error {
	switch {
	case l.exceeded:
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, l.max)
	case l.readErr != nil:
		return fmt.Errorf("%s: %w", doing, l.readErr)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %s: the data ends early", ErrInvalid, doing)
	}
	return fmt.Errorf("%w: %s: %v", ErrInvalid, doing, err)
}
