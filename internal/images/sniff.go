package images

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
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
	MaxPixels int64 // width × height; decoding needs up to 8 bytes each
}

// DefaultLimits accepts what OpenAI's image endpoints accept (50 MB) and
// the photos phones take (48 MP), while bounding a decode at about
// 400 MB in the worst case (16-bit RGBA PNG).
var DefaultLimits = Limits{
	MaxBytes:  50 << 20,
	MaxWidth:  16384,
	MaxHeight: 16384,
	MaxPixels: 50_000_000,
}

// Info is what Inspect learned about an image.
type Info struct {
	Format string // PNG, JPEG, WebP or GIF
	Width  int
	Height int
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
// declared content type is never consulted. The header is decoded first
// and the dimensions checked against limits before any pixel memory is
// allocated (a 100 000 × 100 000 PNG is a few hundred bytes), then the
// whole image is decoded, so what passes is an image the upstream can
// read. The input is read to its end, up to limits.MaxBytes; it is not
// kept, apart from the header bytes the first decode consumed.
//
// Errors wrap ErrUnsupported, ErrTooLarge or ErrInvalid; each is the
// client's fault (400) unless r itself failed, which is returned as is.
func Inspect(r io.Reader, limits Limits) (Info, error) {
	lr := &limitReader{r: r, max: limits.MaxBytes}
	br := bufio.NewReaderSize(lr, sniffLen)
	head, err := br.Peek(sniffLen)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return Info{}, lr.blame(err, "read image")
	}
	format, what := detect(head)
	if format == "" {
		return Info{}, fmt.Errorf("%w: %s; accepted formats are %s", ErrUnsupported, what, Accepted)
	}
	c := codecs[format]

	// The config decode may read ahead; keeping what it read lets the full
	// decode start from the beginning without holding the whole input.
	var seen bytes.Buffer
	cfg, err := c.config(io.TeeReader(br, &seen))
	if err != nil {
		return Info{}, lr.blame(err, "read "+format+" header")
	}
	info := Info{Format: format, Width: cfg.Width, Height: cfg.Height}
	if err := checkDimensions(info, limits); err != nil {
		return Info{}, err
	}
	if _, err := c.decode(io.MultiReader(&seen, br)); err != nil {
		return Info{}, lr.blame(err, "decode "+format)
	}
	// Trailing bytes are not part of the image but would still be sent
	// upstream, so they count against the size limit too.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return Info{}, lr.blame(err, "read image")
	}
	return info, nil
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
