package gallery

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/images"
)

// Archives: Export writes a ZIP of images/<id>.<ext> and metadata.ndjson
// (one MetaLine per image) straight to its writer; Import reads such a
// ZIP back, refusing a hostile one before it stores anything.

// MetadataName is the metadata entry of an archive.
const MetadataName = "metadata.ndjson"

// MetaLine is one image in metadata.ndjson.
type MetaLine struct {
	File      string    `json:"file"` // the image's entry: images/<id>.<ext>
	Prompt    string    `json:"prompt"`
	Model     string    `json:"model"`
	Size      string    `json:"size"`
	Quality   string    `json:"quality"`
	MIME      string    `json:"mime"`
	Width     int       `json:"width"`
	Height    int       `json:"height"`
	Favourite bool      `json:"favourite"`
	TaskID    string    `json:"task_id"`
	CreatedAt time.Time `json:"created_at"`
}

var extOf = map[string]string{"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif"}

// Export writes the images f selects (all pages; f.After and f.Limit are
// ignored) as a ZIP to w, as it reads them: metadata.ndjson first, then
// each image, stored uncompressed (images are compressed already). An
// image whose object is missing is left out of the archive, its metadata
// line stays. Memory use does not grow with the gallery.
func (s *Store) Export(ctx context.Context, w io.Writer, f Filter) error {
	zw := zip.NewWriter(w)
	meta, err := zw.CreateHeader(&zip.FileHeader{Name: MetadataName, Method: zip.Deflate, Modified: s.now()})
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(meta)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := s.each(ctx, f, func(im Image) error {
		return enc.Encode(metaOf(im))
	}); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := s.each(ctx, f, func(im Image) error {
		rc, _, err := s.files.Open(ctx, im.Key)
		if errors.Is(err, images.ErrNotFound) {
			s.log.Warn("export a gallery image whose file is gone", "image", im.ID, "key", im.Key)
			return nil
		}
		if err != nil {
			return err
		}
		defer rc.Close()
		ew, err := zw.CreateHeader(&zip.FileHeader{Name: metaOf(im).File, Method: zip.Store, Modified: im.CreatedAt})
		if err != nil {
			return err
		}
		_, err = io.Copy(ew, rc)
		return err
	}); err != nil {
		return err
	}
	return zw.Close()
}

func metaOf(im Image) MetaLine {
	ext := extOf[im.MIME]
	if ext == "" {
		ext = ".bin"
	}
	return MetaLine{File: "images/" + strconv.FormatInt(im.ID, 10) + ext, Prompt: im.Prompt, Model: im.Model, Size: im.Size,
		Quality: im.Quality, MIME: im.MIME, Width: im.Width, Height: im.Height, Favourite: im.Favourite, TaskID: im.TaskID,
		CreatedAt: im.CreatedAt}
}

// each calls fn for every image f selects, a page at a time.
func (s *Store) each(ctx context.Context, f Filter, fn func(Image) error) error {
	f.After, f.Limit = "", 500
	for {
		p, err := s.List(ctx, f)
		if err != nil {
			return err
		}
		for _, im := range p.Images {
			if err := fn(im); err != nil {
				return err
			}
		}
		if p.NextCursor == "" {
			return nil
		}
		f.After = p.NextCursor
	}
}

// ImportLimits bound what Import accepts.
type ImportLimits struct {
	MaxArchiveBytes int64 // the ZIP file itself: 1 GiB
	MaxEntries      int   // entries in the ZIP: 10 000
	MaxTotalBytes   int64 // all entries, uncompressed: 2 GiB
	MaxMetaBytes    int64 // metadata.ndjson, uncompressed: 32 MiB
	// MaxRatio is the largest uncompressed/compressed size of an entry:
	// 100. Images barely compress; a bomb compresses a thousandfold.
	MaxRatio int64
	Images   images.Limits // each image: bytes, dimensions, decode memory
}

func (l *ImportLimits) defaults() {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxArchiveBytes, 1<<30)
	def(&l.MaxTotalBytes, 2<<30)
	def(&l.MaxMetaBytes, 32<<20)
	def(&l.MaxRatio, 100)
	if l.MaxEntries <= 0 {
		l.MaxEntries = 10_000
	}
	if l.Images == (images.Limits{}) {
		l.Images = images.DefaultLimits
	}
}

// HostileError is an archive Import refuses, and why.
type HostileError struct{ Reason string }

func (e *HostileError) Error() string { return "refused archive: " + e.Reason }

func hostile(format string, a ...any) error { return &HostileError{Reason: fmt.Sprintf(format, a...)} }

// ImportResult counts what Import did.
type ImportResult struct {
	Imported int `json:"imported"`
	Skipped  int `json:"skipped"` // metadata lines whose image is missing, or already in the gallery
}

var imageEntry = regexp.MustCompile(`^images/[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// Import adds the images of a ZIP made by Export (of size bytes, read
// through ra) to userID's gallery. The whole archive is checked before
// anything is stored: its size, entry count, every entry's name (only
// metadata.ndjson and images/<name>: no absolute or parent paths, no
// backslashes, no duplicates), type (no symbolic links or other special
// files, no encryption), declared sizes and compression ratio. Then each
// image is read with a cap at its declared size, identified by its bytes
// (PNG, JPEG, WebP or GIF) and decoded within the pixel limits before it
// is stored. A refused archive is a *HostileError and stores nothing.
func (s *Store) Import(ctx context.Context, userID int64, ra io.ReaderAt, size int64, lim ImportLimits) (ImportResult, error) {
	lim.defaults()
	var res ImportResult
	if size > lim.MaxArchiveBytes {
		return res, hostile("the archive is larger than %d bytes", lim.MaxArchiveBytes)
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return res, hostile("not a ZIP archive: %v", err)
	}
	if len(zr.File) > lim.MaxEntries {
		return res, hostile("%d entries, more than %d", len(zr.File), lim.MaxEntries)
	}
	entries := make(map[string]*zip.File, len(zr.File))
	var total uint64
	var meta *zip.File
	for _, f := range zr.File {
		name := f.Name
		mode := f.Mode()
		if mode&fs.ModeSymlink != 0 {
			return res, hostile("entry %q is a symbolic link", name)
		}
		if mode.IsDir() || strings.HasSuffix(name, "/") {
			if name == "images/" {
				continue
			}
			return res, hostile("unexpected directory %q", name)
		}
		if !mode.IsRegular() {
			return res, hostile("entry %q is not a regular file", name)
		}
		if f.Flags&0x1 != 0 {
			return res, hostile("entry %q is encrypted", name)
		}
		if name != MetadataName && !imageEntry.MatchString(name) || strings.Contains(name, "..") {
			return res, hostile("unexpected entry name %q", name)
		}
		if _, dup := entries[name]; dup {
			return res, hostile("entry %q appears twice", name)
		}
		entries[name] = f
		most := uint64(lim.Images.MaxBytes)
		if name == MetadataName {
			meta, most = f, uint64(lim.MaxMetaBytes)
		}
		if f.UncompressedSize64 > most {
			return res, hostile("entry %q is larger than %d bytes", name, most)
		}
		if f.UncompressedSize64 > uint64(lim.MaxRatio)*max(f.CompressedSize64, 1) {
			return res, hostile("entry %q compresses more than %d to 1", name, lim.MaxRatio)
		}
		if total += f.UncompressedSize64; total > uint64(lim.MaxTotalBytes) {
			return res, hostile("the entries add up to more than %d bytes", lim.MaxTotalBytes)
		}
	}
	if meta == nil {
		return res, hostile("no %s", MetadataName)
	}
	lines, err := readMeta(meta)
	if err != nil {
		return res, err
	}
	// Check every image before storing any; then read each again to
	// store it, so that memory holds one image at a time.
	type item struct {
		line MetaLine
		f    *zip.File
		mime string
	}
	var items []item
	for _, ln := range lines {
		f := entries[ln.File]
		if f == nil {
			res.Skipped++
			continue
		}
		raw, err := readEntry(f)
		if err != nil {
			return res, err
		}
		info, err := images.Inspect(ctx, bytes.NewReader(raw), lim.Images)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, hostile("entry %q: %v", ln.File, err)
		}
		items = append(items, item{line: ln, f: f, mime: "image/" + strings.ToLower(info.Format)})
	}
	// Oldest first, so the ids follow the images' own order.
	rows := make([]Image, 0, len(items))
	var keys []string
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		raw, err := readEntry(it.f)
		if err != nil {
			s.dropKeys(ctx, keys)
			return res, err
		}
		key := importKey(userID, extOf[it.mime])
		if err := s.files.Put(ctx, key, bytes.NewReader(raw), int64(len(raw)), it.mime); err != nil {
			s.dropKeys(ctx, keys)
			return res, fmt.Errorf("gallery: store an imported image: %w", err)
		}
		keys = append(keys, key)
		ln := it.line
		at := ln.CreatedAt
		if at.IsZero() || at.After(s.now()) {
			at = s.now()
		}
		rows = append(rows, Image{UserID: userID, Prompt: ln.Prompt, Model: ln.Model, Size: ln.Size, Quality: ln.Quality,
			Key: key, Bytes: int64(len(raw)), MIME: it.mime, Favourite: ln.Favourite, CreatedAt: at})
	}
	n, err := s.Insert(ctx, rows)
	if err != nil {
		s.dropKeys(ctx, keys)
		return res, err
	}
	res.Imported = n
	if s.kick != nil {
		s.kick()
	}
	return res, nil
}

func (s *Store) dropKeys(ctx context.Context, keys []string) {
	for _, k := range keys {
		_ = s.files.Delete(context.WithoutCancel(ctx), k)
	}
}

func importKey(userID int64, ext string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	if ext == "" {
		ext = ".bin"
	}
	return "gallery/u" + strconv.FormatInt(userID, 10) + "/i" + hex.EncodeToString(b[:]) + ext
}

// readEntry reads f whole, refusing more bytes than it declared (a lying
// header) or a corrupt stream.
func readEntry(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, hostile("entry %q: %v", f.Name, err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)+1))
	if err != nil {
		return nil, hostile("entry %q: %v", f.Name, err)
	}
	if uint64(len(raw)) != f.UncompressedSize64 {
		return nil, hostile("entry %q is not the size its header declares", f.Name)
	}
	return raw, nil
}

const maxMetaLine = 256 << 10

func readMeta(f *zip.File) ([]MetaLine, error) {
	raw, err := readEntry(f)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), maxMetaLine)
	var out []MetaLine
	seen := map[string]bool{}
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var m MetaLine
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, hostile("%s line %d: %v", MetadataName, n, err)
		}
		if !imageEntry.MatchString(m.File) || strings.Contains(m.File, "..") {
			return nil, hostile("%s line %d: unexpected file %q", MetadataName, n, m.File)
		}
		if seen[m.File] {
			return nil, hostile("%s line %d: %q listed twice", MetadataName, n, m.File)
		}
		seen[m.File] = true
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, hostile("%s: %v", MetadataName, err)
	}
	return out, nil
}
