package gallery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"io"
	"sync"
	"time"

	_ "golang.org/x/image/webp" // registers WebP for image.Decode

	"github.com/switchyard/switchyard/internal/images"
)

// ThumbSide is the longest side of a thumbnail, in pixels.
const ThumbSide = 320

// ThumbKey is the storage key of image id's thumbnail.
func ThumbKey(id int64) string { return fmt.Sprintf("thumbs/g%d.jpg", id) }

// Thumbnailer makes the thumbnails of pending images in the background.
type Thumbnailer struct {
	s      *Store
	limits images.Limits
	every  time.Duration
	wake   chan struct{}
	stop   context.CancelFunc
	done   sync.WaitGroup
}

// NewThumbnailer makes thumbnails for s, refusing images beyond limits
// (zero: images.DefaultLimits) and looking for pending images every
// interval (zero: a minute) and whenever Record adds some.
func NewThumbnailer(s *Store, limits images.Limits, interval time.Duration) *Thumbnailer {
	if limits == (images.Limits{}) {
		limits = images.DefaultLimits
	}
	if interval <= 0 {
		interval = time.Minute
	}
	t := &Thumbnailer{s: s, limits: limits, every: interval, wake: make(chan struct{}, 1)}
	s.kick = t.Kick
	return t
}

// Kick asks for a look at pending images now.
func (t *Thumbnailer) Kick() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Start runs the background loop until Stop.
func (t *Thumbnailer) Start(ctx context.Context) {
	ctx, t.stop = context.WithCancel(context.WithoutCancel(ctx))
	t.done.Go(func() {
		tick := time.NewTicker(t.every)
		defer tick.Stop()
		for {
			for t.RunOnce(ctx) > 0 && ctx.Err() == nil {
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-t.wake:
			}
		}
	})
}

// Stop ends the loop and waits for it.
func (t *Thumbnailer) Stop() {
	if t.stop != nil {
		t.stop()
	}
	t.done.Wait()
}

const thumbBatch = 20

// RunOnce makes the thumbnails of up to a batch of pending images and
// returns how many it handled.
func (t *Thumbnailer) RunOnce(ctx context.Context) int {
	s := t.s
	rows, err := s.db.Read().QueryContext(ctx, s.q(`SELECT `+columns+` FROM gallery_images
		WHERE thumb_state = 'pending' ORDER BY id LIMIT `+fmt.Sprint(thumbBatch)))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("find images without thumbnails", "err", err)
		}
		return 0
	}
	var pending []Image
	for rows.Next() {
		im, err := scan(rows)
		if err != nil {
			rows.Close()
			s.log.Error("find images without thumbnails", "err", err)
			return 0
		}
		pending = append(pending, im)
	}
	rows.Close()
	n := 0
	for _, im := range pending {
		if ctx.Err() != nil {
			break
		}
		w, h, key, err := t.make(ctx, im)
		state := ThumbReady
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			s.log.Warn("make a gallery thumbnail", "image", im.ID, "key", im.Key, "err", err)
			state = ThumbFailed
		}
		if _, err := s.db.Write().ExecContext(ctx, s.q(`UPDATE gallery_images SET width = ?, height = ?, thumb_key = ?,
			thumb_state = ? WHERE id = ?`), w, h, key, state, im.ID); err != nil {
			if ctx.Err() == nil {
				s.log.Error("record a gallery thumbnail", "image", im.ID, "err", err)
			}
			break
		}
		n++
	}
	return n
}

// make reads image im, stores its thumbnail and returns its size and the
// thumbnail's key. The image's dimensions are known (0 otherwise) even
// when the thumbnail fails.
func (t *Thumbnailer) make(ctx context.Context, im Image) (w, h int, key string, err error) {
	if t.s.files == nil {
		return 0, 0, "", errors.New("no image storage")
	}
	rc, _, err := t.s.files.Open(ctx, im.Key)
	if err != nil {
		return 0, 0, "", err
	}
	raw, err := io.ReadAll(io.LimitReader(rc, t.limits.MaxBytes+1))
	rc.Close()
	if err != nil {
		return 0, 0, "", err
	}
	if int64(len(raw)) > t.limits.MaxBytes {
		return 0, 0, "", fmt.Errorf("image larger than %d bytes", t.limits.MaxBytes)
	}
	out, w, h, err := Thumbnail(raw, t.limits)
	if err != nil {
		return w, h, "", err
	}
	key = ThumbKey(im.ID)
	if err := t.s.files.Put(ctx, key, bytes.NewReader(out), int64(len(out)), "image/jpeg"); err != nil {
		return w, h, "", err
	}
	return w, h, key, nil
}

// Thumbnail decodes raw (PNG, JPEG, WebP or GIF) within limits and
// returns a JPEG of at most ThumbSide pixels a side, with the image's
// width and height. The header is checked against limits before any
// pixel memory is allocated. Zero limits are images.DefaultLimits.
func Thumbnail(raw []byte, limits images.Limits) (out []byte, w, h int, err error) {
	if limits == (images.Limits{}) {
		limits = images.DefaultLimits
	}
	info, err := images.InspectHeader(bytes.NewReader(raw), limits)
	if err != nil {
		return nil, 0, 0, err
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, info.Width, info.Height, err
	}
	if cfg.Width != info.Width || cfg.Height != info.Height {
		return nil, info.Width, info.Height, errors.New("the image's header is inconsistent")
	}
	src, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, info.Width, info.Height, err
	}
	dst := scale(src, ThumbSide)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, dst, &jpeg.Options{Quality: 80}); err != nil {
		return nil, info.Width, info.Height, err
	}
	return b.Bytes(), info.Width, info.Height, nil
}

// scale shrinks src to fit side×side by averaging the source pixels under
// each target pixel (a box filter), over white for transparent images.
func scale(src image.Image, side int) *image.RGBA {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dw, dh := sw, sh
	if sw > side || sh > side {
		if sw >= sh {
			dw, dh = side, max(1, sh*side/sw)
		} else {
			dw, dh = max(1, sw*side/sh), side
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	if dw == sw && dh == sh {
		draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		draw.Draw(dst, dst.Bounds(), src, b.Min, draw.Over)
		return dst
	}
	for y := range dh {
		y0, y1 := b.Min.Y+y*sh/dh, b.Min.Y+max((y+1)*sh/dh, y*sh/dh+1)
		for x := range dw {
			x0, x1 := b.Min.X+x*sw/dw, b.Min.X+max((x+1)*sw/dw, x*sw/dw+1)
			var r, g, bl, a, n uint64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					cr, cg, cb, ca := src.At(sx, sy).RGBA()
					r, g, bl, a = r+uint64(cr), g+uint64(cg), bl+uint64(cb), a+uint64(ca)
					n++
				}
			}
			r, g, bl, a = r/n, g/n, bl/n, a/n
			// Premultiplied colour over white.
			white := 0xffff - a
			dst.SetRGBA(x, y, color.RGBA{R: uint8((r + white) >> 8), G: uint8((g + white) >> 8),
				B: uint8((bl + white) >> 8), A: 0xff})
		}
	}
	return dst
}
