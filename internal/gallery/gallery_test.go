package gallery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

func openDB(t testing.TB, url string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func newStore(t testing.TB, url string) (*Store, *images.FileStore) {
	t.Helper()
	db := openDB(t, url)
	files, err := images.NewFileStore(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), db, files, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, files
}

var base = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func ids(ims []Image) []int64 {
	out := make([]int64, len(ims))
	for i, im := range ims {
		out[i] = im.ID
	}
	return out
}

func listAll(t *testing.T, s *Store, f Filter) []Image {
	t.Helper()
	var all []Image
	for {
		p, err := s.List(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Images...)
		if p.NextCursor == "" {
			return all
		}
		f.After = p.NextCursor
	}
}

func TestGallery(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		s, files := newStore(t, url)
		ctx := t.Context()
		// Two tasks of user 2, one of user 3; recording a task again adds
		// nothing.
		for i, m := range []images.Made{
			{TaskID: "imgt_a", UserID: 2, Model: "gpt-image-1", Prompt: "a red fox in the snow", Size: "1024x1024", Quality: "high", At: base},
			{TaskID: "imgt_b", UserID: 2, Model: "dall-e-3", Prompt: "一只在雪地里的红色狐狸", Size: "1024x1536", At: base.Add(time.Hour)},
			{TaskID: "imgt_c", UserID: 3, Model: "gpt-image-1", Prompt: "someone else's cat", Size: "1024x1024", At: base.Add(2 * time.Hour)},
		} {
			for j := range 2 {
				key := fmt.Sprintf("%s/%d", m.TaskID, j)
				if err := files.Put(ctx, key, bytes.NewReader(pngBytes(t, 40, 30)), -1, "image/png"); err != nil {
					t.Fatal(err)
				}
				m.Outputs = append(m.Outputs, images.Output{Key: key, ContentType: "image/png", Bytes: int64(100 + i)})
			}
			s.Record(ctx, m)
			s.Record(ctx, m)
		}
		mine := listAll(t, s, Filter{UserID: 2, Limit: 3})
		if len(mine) != 4 || mine[0].TaskID != "imgt_b" || mine[0].OutputIndex != 1 || mine[3].TaskID != "imgt_a" || mine[3].OutputIndex != 0 {
			t.Fatalf("user 2's gallery: %+v", mine)
		}
		if im := mine[3]; im.Prompt != "a red fox in the snow" || im.Model != "gpt-image-1" || im.Size != "1024x1024" ||
			im.Quality != "high" || im.MIME != "image/png" || im.Bytes != 100 || !im.CreatedAt.Equal(base) ||
			im.ThumbState != ThumbPending || im.UserID != 2 {
			t.Fatalf("row: %+v", im)
		}
		if all := listAll(t, s, Filter{Limit: 4}); len(all) != 6 || all[0].UserID != 3 {
			t.Fatalf("everyone's: %v", ids(all))
		}
		// Filters.
		check := func(name string, f Filter, want int) {
			t.Helper()
			f.UserID = 2
			if got := listAll(t, s, f); len(got) != want {
				t.Errorf("%s: %d images, want %d", name, len(got), want)
			}
		}
		yes := true
		no := false
		check("model", Filter{Model: "dall-e-3"}, 2)
		check("size", Filter{Size: "1024x1024"}, 2)
		check("since", Filter{Since: base.Add(time.Minute)}, 2)
		check("until", Filter{Until: base.Add(time.Minute)}, 2)
		check("range", Filter{Since: base, Until: base.Add(2 * time.Hour)}, 4)
		check("not favourite", Filter{Favourite: &no}, 4)

		// Favourite: only the owner (or an admin, user 0).
		if _, err := s.SetFavourite(ctx, mine[0].ID, 3, true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("someone else's favourite: %v", err)
		}
		im, err := s.SetFavourite(ctx, mine[0].ID, 2, true)
		if err != nil || !im.Favourite {
			t.Fatalf("favourite: %+v %v", im, err)
		}
		if _, err := s.SetFavourite(ctx, mine[0].ID, 2, true); err != nil {
			t.Fatalf("favourite again: %v", err)
		}
		check("favourite", Filter{Favourite: &yes}, 1)
		if _, err := s.Get(ctx, mine[0].ID, 3); !errors.Is(err, ErrNotFound) {
			t.Fatalf("someone else's image: %v", err)
		}
		if _, err := s.Get(ctx, mine[0].ID, 0); err != nil {
			t.Fatalf("admin's get: %v", err)
		}
		if _, err := s.List(ctx, Filter{After: "x"}); !errors.Is(err, ErrBadCursor) {
			t.Fatalf("bad cursor: %v", err)
		}

		// The sweeper leaves the gallery's images alone.
		kept, err := s.Kept(ctx, []string{"imgt_a/0", "imgt_a/1", "imgt_z/0"})
		if err != nil || !kept["imgt_a/0"] || !kept["imgt_a/1"] || kept["imgt_z/0"] {
			t.Fatalf("kept: %v %v", kept, err)
		}

		// Thumbnails.
		th := NewThumbnailer(s, images.Limits{}, 0)
		if n := th.RunOnce(ctx); n != 6 {
			t.Fatalf("thumbnails made: %d", n)
		}
		im, err = s.Get(ctx, mine[0].ID, 2)
		if err != nil || im.ThumbState != ThumbReady || im.Width != 40 || im.Height != 30 || im.ThumbKey == "" {
			t.Fatalf("after thumbnails: %+v %v", im, err)
		}
		rc, info, err := files.Open(ctx, im.ThumbKey)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if info.ContentType != "image/jpeg" {
			t.Fatalf("thumbnail type %q", info.ContentType)
		}

		// Batch delete: someone else's ids are skipped; objects go.
		gone, err := s.Delete(ctx, []int64{mine[0].ID, mine[1].ID, 999999}, 3)
		if err != nil || len(gone) != 0 {
			t.Fatalf("delete someone else's: %v %v", gone, err)
		}
		gone, err = s.Delete(ctx, []int64{mine[0].ID, mine[1].ID, 999999}, 2)
		if err != nil || len(gone) != 2 {
			t.Fatalf("delete: %v %v", gone, err)
		}
		if _, _, err := files.Open(ctx, mine[0].Key); !errors.Is(err, images.ErrNotFound) {
			t.Fatalf("deleted image's object: %v", err)
		}
		if _, _, err := files.Open(ctx, im.ThumbKey); !errors.Is(err, images.ErrNotFound) {
			t.Fatalf("deleted image's thumbnail: %v", err)
		}
		if left := listAll(t, s, Filter{UserID: 2}); len(left) != 2 {
			t.Fatalf("left: %v", ids(left))
		}
		models, err := s.Models(ctx, 2)
		if err != nil || !slices.Equal(models, []string{"gpt-image-1"}) {
			t.Fatalf("models: %v %v", models, err)
		}
	})
}

func TestSearch(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		s, _ := newStore(t, url)
		ctx := t.Context()
		prompts := []string{
			"一只在雪地里的红色狐狸",                   // 0
			"赛博朋克风格的城市夜景，霓虹灯",               // 1
			"A Red Fox sitting in the SNOW", // 2
			"50% off: a_b test",             // 3
			"watercolour lighthouse",        // 4
			"红色的灯塔",                         // 5
		}
		var rows []Image
		for i, p := range prompts {
			rows = append(rows, Image{UserID: 2, Prompt: p, Key: fmt.Sprintf("k/%d", i), CreatedAt: base.Add(time.Duration(i) * time.Minute)})
		}
		rows = append(rows, Image{UserID: 3, Prompt: "红色狐狸 of user 3", Key: "k/other", CreatedAt: base})
		if n, err := s.Insert(ctx, rows); err != nil || n != len(rows) {
			t.Fatalf("insert: %d %v", n, err)
		}
		for _, c := range []struct {
			q    string
			want []int // prompt indexes, newest first
		}{
			{"狐狸", []int{0}},    // two characters: LIKE
			{"红色", []int{5, 0}}, // two characters, two rows
			{"红色狐狸", []int{0}},  // four: the index
			{"雪地里", []int{0}},   // three: the index
			{"霓虹灯", []int{1}},
			{"城市夜景", []int{1}},
			{"red fox", []int{2}}, // case-insensitive
			{"SNOW", []int{2}},
			{"now", []int{2}}, // a substring of a word
			{"ox", []int{2}},  // two ASCII characters
			{"%", []int{3}},   // wildcards are literal
			{"_", []int{3}},
			{"a_b", []int{3}},
			{"50%", []int{3}},
			{`"quoted"`, nil},
			{"lighthouse", []int{4}},
			{"no such thing", nil},
		} {
			p, err := s.List(ctx, Filter{UserID: 2, Query: c.q})
			if err != nil {
				t.Errorf("search %q: %v", c.q, err)
				continue
			}
			var got []int
			for _, im := range p.Images {
				var i int
				fmt.Sscanf(im.Key, "k/%d", &i)
				got = append(got, i)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("search %q: %v, want %v", c.q, got, c.want)
			}
		}
		// A search pages like any listing, and a deleted prompt is gone
		// from the index.
		p, err := s.List(ctx, Filter{UserID: 2, Query: "红色", Limit: 1})
		if err != nil || len(p.Images) != 1 || p.NextCursor == "" {
			t.Fatalf("first page: %+v %v", p, err)
		}
		if _, err := s.Delete(ctx, []int64{p.Images[0].ID}, 2); err != nil {
			t.Fatal(err)
		}
		p, err = s.List(ctx, Filter{UserID: 2, Query: "红色的灯"})
		if err != nil || len(p.Images) != 0 {
			t.Fatalf("after delete: %+v %v", p.Images, err)
		}
	})
}

// A search shorter than MinSearch examines a bounded window of images per
// page: pages may be short, or empty, yet paging on finds every match
// once, newest first, and a long query is not bounded.
func TestShortSearchScansABoundedWindow(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		s, _ := newStore(t, url)
		s.shortScan = 4
		ctx := t.Context()
		var rows []Image
		var want []int64
		for i := range 13 { // ids 1…13; every fifth prompt matches
			p := "plain prompt"
			if i%5 == 0 {
				p = "一只红色狐狸"
			}
			rows = append(rows, Image{UserID: 2, Prompt: p, Key: fmt.Sprintf("w/%d", i), CreatedAt: base.Add(time.Duration(i) * time.Minute)})
		}
		rows = append(rows, Image{UserID: 3, Prompt: "红色", Key: "w/other", CreatedAt: base})
		if _, err := s.Insert(ctx, rows); err != nil {
			t.Fatal(err)
		}
		all, err := s.List(ctx, Filter{UserID: 2, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range all.Images {
			if strings.Contains(im.Prompt, "红色") {
				want = append(want, im.ID)
			}
		}
		// The first window (the 4 newest) holds one match.
		p, err := s.List(ctx, Filter{UserID: 2, Query: "红色", Limit: 10})
		if err != nil || len(p.Images) != 1 || p.NextCursor != strconv.FormatInt(all.Images[3].ID, 10) {
			t.Fatalf("first page: %v %q %v", ids(p.Images), p.NextCursor, err)
		}
		got := ids(listAll(t, s, Filter{UserID: 2, Query: "红色", Limit: 10}))
		if !slices.Equal(got, want) {
			t.Fatalf("all pages: %v, want %v", got, want)
		}
		// A full page ends at its last match, as any listing.
		if p, err := s.List(ctx, Filter{UserID: 2, Query: "plain", Limit: 2}); err != nil || len(p.Images) != 2 ||
			p.NextCursor != strconv.FormatInt(p.Images[1].ID, 10) {
			t.Fatalf("long query: %v %q %v", ids(p.Images), p.NextCursor, err)
		}
		if got := ids(listAll(t, s, Filter{UserID: 2, Query: "ro", Limit: 3})); len(got) != 13-len(want) {
			t.Fatalf("two-letter query over all pages: %d images", len(got))
		}
		// Admins (every user) page the same way.
		if got := ids(listAll(t, s, Filter{Query: "红色", Limit: 10})); len(got) != len(want)+1 {
			t.Fatalf("everyone's: %v", got)
		}
	})
}

func pngBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x * 5), uint8(y * 7), 100, 200})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestThumbnail(t *testing.T) {
	out, w, h, err := Thumbnail(pngBytes(t, 1000, 500), images.DefaultLimits)
	if err != nil || w != 1000 || h != 500 {
		t.Fatalf("%d×%d %v", w, h, err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(out))
	if err != nil || cfg.Width != ThumbSide || cfg.Height != ThumbSide/2 {
		t.Fatalf("thumbnail %+v %v", cfg, err)
	}
	// Beyond the pixel limit: refused from the header.
	lim := images.DefaultLimits
	lim.MaxPixels = 1000
	if _, _, _, err := Thumbnail(pngBytes(t, 100, 100), lim); err == nil {
		t.Fatal("an image over the pixel limit was decoded")
	}
	if _, _, _, err := Thumbnail([]byte("<svg></svg>"), images.DefaultLimits); err == nil {
		t.Fatal("svg accepted")
	}
}
