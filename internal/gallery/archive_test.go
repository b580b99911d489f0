package gallery

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/images"
)

// TestExportImport: export a gallery, delete every image, import the
// archive: the same gallery again (prompts, favourites, times, files).
func TestExportImport(t *testing.T) {
	s, files := newStore(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"))
	ctx := t.Context()
	for i := range 3 {
		key := fmt.Sprintf("imgt_x%d/0", i)
		if err := files.Put(ctx, key, bytes.NewReader(pngBytes(t, 10+i, 10)), -1, "image/png"); err != nil {
			t.Fatal(err)
		}
		s.Record(ctx, images.Made{TaskID: fmt.Sprintf("imgt_x%d", i), UserID: 2, Model: "gpt-image-1",
			Prompt: fmt.Sprintf("提示 %d", i), Size: "1024x1024", At: base.Add(time.Duration(i) * time.Hour),
			Outputs: []images.Output{{Key: key, ContentType: "image/png", Bytes: 1}}})
	}
	before := listAll(t, s, Filter{UserID: 2})
	if _, err := s.SetFavourite(ctx, before[1].ID, 2, true); err != nil {
		t.Fatal(err)
	}
	var zipb bytes.Buffer
	if err := s.Export(ctx, &zipb, Filter{UserID: 2}); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, im := range before {
		ids = append(ids, im.ID)
	}
	if _, err := s.Delete(ctx, ids, 2); err != nil {
		t.Fatal(err)
	}
	res, err := s.Import(ctx, 2, bytes.NewReader(zipb.Bytes()), int64(zipb.Len()), ImportLimits{})
	if err != nil || res.Imported != 3 || res.Skipped != 0 {
		t.Fatalf("import: %+v %v", res, err)
	}
	after := listAll(t, s, Filter{UserID: 2})
	if len(after) != 3 {
		t.Fatalf("after import: %d images", len(after))
	}
	for i := range after {
		a, b := after[i], before[i]
		if a.Prompt != b.Prompt || !a.CreatedAt.Equal(b.CreatedAt) || a.Model != b.Model || a.MIME != "image/png" ||
			a.Favourite != (i == 1) || a.TaskID != "" {
			t.Errorf("image %d: %+v, was %+v", i, a, b)
		}
		rc, _, err := files.Open(ctx, a.Key)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	// Imported again into another user's gallery: theirs, with new files.
	res, err = s.Import(ctx, 3, bytes.NewReader(zipb.Bytes()), int64(zipb.Len()), ImportLimits{})
	if err != nil || res.Imported != 3 {
		t.Fatalf("second import: %+v %v", res, err)
	}
}

type entry struct {
	name   string
	data   []byte
	method uint16
	mode   fs.FileMode
	flags  uint16
}

func buildZip(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: e.method}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		if e.flags != 0 {
			// Written raw, so the flag is kept as given.
			h.Flags = e.flags
			h.CRC32 = crc32.ChecksumIEEE(e.data)
			h.CompressedSize64, h.UncompressedSize64 = uint64(len(e.data)), uint64(len(e.data))
			w, err := zw.CreateRaw(h)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(e.data)
			continue
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func metaFor(files ...string) []byte {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, `{"file":%q,"prompt":"p","model":"m","created_at":"2026-01-01T00:00:00Z"}`+"\n", f)
	}
	return []byte(b.String())
}

// pngHeader is a PNG signature and IHDR declaring w×h, with no pixels.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.Write([]byte("\x89PNG\r\n\x1a\n"))
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestImportHostile(t *testing.T) {
	good := pngBytes(t, 4, 4)
	meta := entry{name: MetadataName, data: metaFor("images/1.png"), method: zip.Deflate}
	img := entry{name: "images/1.png", data: good, method: zip.Store}
	many := []entry{meta}
	for i := range 30 {
		many = append(many, entry{name: fmt.Sprintf("images/%d.png", i+2), data: good})
	}
	zeros := make([]byte, 4<<20)
	small := ImportLimits{MaxEntries: 20, MaxTotalBytes: 8 << 20, MaxArchiveBytes: 16 << 20}
	for _, c := range []struct {
		name string
		zip  []byte
		lim  ImportLimits
		want string // in the refusal
	}{
		{"not a zip", []byte("PK\x03\x04 but not really"), ImportLimits{}, "not a ZIP"},
		{"archive too large", buildZip(t, meta, img), ImportLimits{MaxArchiveBytes: 100}, "larger than 100 bytes"},
		{"too many entries", buildZip(t, many...), small, "more than 20"},
		{"total size", buildZip(t, meta, img, entry{name: "images/2.png", data: zeros, method: zip.Store},
			entry{name: "images/3.png", data: zeros, method: zip.Store}, entry{name: "images/4.png", data: zeros, method: zip.Store}),
			small, "add up to more than"},
		{"compression bomb", buildZip(t, meta, entry{name: "images/1.png", data: zeros, method: zip.Deflate}), ImportLimits{}, "compresses more than"},
		{"parent path", buildZip(t, meta, entry{name: "../../etc/cron.d/x", data: good}), ImportLimits{}, "unexpected entry name"},
		{"parent inside images", buildZip(t, meta, entry{name: "images/../../x.png", data: good}), ImportLimits{}, "unexpected entry name"},
		{"absolute path", buildZip(t, meta, entry{name: "/etc/passwd", data: good}), ImportLimits{}, "unexpected entry name"},
		{"backslash", buildZip(t, meta, entry{name: `images\..\..\x.png`, data: good}), ImportLimits{}, "unexpected entry name"},
		{"symlink", buildZip(t, meta, entry{name: "images/1.png", data: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777}), ImportLimits{}, "symbolic link"},
		{"encrypted", buildZip(t, meta, entry{name: "images/1.png", data: good, flags: 0x1}), ImportLimits{}, "encrypted"},
		{"duplicate entry", buildZip(t, meta, img, img), ImportLimits{}, "appears twice"},
		{"no metadata", buildZip(t, img), ImportLimits{}, "no metadata.ndjson"},
		{"metadata names a parent path", buildZip(t, entry{name: MetadataName, data: metaFor("../x.png")}, img), ImportLimits{}, "unexpected file"},
		{"metadata not JSON", buildZip(t, entry{name: MetadataName, data: []byte("{nope\n")}, img), ImportLimits{}, "line 1"},
		{"not an image (magic bytes)", buildZip(t, meta, entry{name: "images/1.png", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)}), ImportLimits{}, "entry \"images/1.png\""},
		{"executable disguised", buildZip(t, meta, entry{name: "images/1.png", data: append([]byte("\x7fELF"), make([]byte, 64)...)}), ImportLimits{}, "entry \"images/1.png\""},
		{"pixel bomb (header)", buildZip(t, meta, entry{name: "images/1.png", data: pngHeader(60000, 60000)}), ImportLimits{}, "entry \"images/1.png\""},
		{"truncated image", buildZip(t, meta, entry{name: "images/1.png", data: good[:len(good)/2]}), ImportLimits{}, "entry \"images/1.png\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newStore(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"))
			_, err := s.Import(t.Context(), 2, bytes.NewReader(c.zip), int64(len(c.zip)), c.lim)
			var he *HostileError
			if !errors.As(err, &he) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a refusal with %q", err, c.want)
			}
			if p, _ := s.List(t.Context(), Filter{}); len(p.Images) != 0 {
				t.Fatalf("a refused archive stored %d images", len(p.Images))
			}
		})
	}
	// The good archive itself is accepted.
	s, _ := newStore(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"))
	z := buildZip(t, meta, img)
	if res, err := s.Import(t.Context(), 2, bytes.NewReader(z), int64(len(z)), ImportLimits{}); err != nil || res.Imported != 1 {
		t.Fatalf("good archive: %+v %v", res, err)
	}
}
