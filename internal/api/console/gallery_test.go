package console_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/api/console/consoletest"
	"github.com/switchyard/switchyard/internal/gallery"
	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/store"
)

type galleryPage struct {
	Items []struct {
		ID           int64   `json:"id"`
		UserID       int64   `json:"user_id"`
		Prompt       string  `json:"prompt"`
		Favourite    bool    `json:"favourite"`
		ImageURL     string  `json:"image_url"`
		ThumbnailURL *string `json:"thumbnail_url"`
		Width        int     `json:"width"`
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func TestGalleryRoutes(t *testing.T) {
	db, err := store.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "sy.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	files, err := images.NewFileStore(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gallery.New(t.Context(), db, files, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pngb bytes.Buffer
	_ = png.Encode(&pngb, image.NewGray(image.Rect(0, 0, 8, 6)))
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	// consoletest's User is user 2; user 3 is someone else.
	for i := range 5 {
		user := int64(2)
		if i == 4 {
			user = 3
		}
		key := fmt.Sprintf("imgt_t%d/0", i)
		if err := files.Put(t.Context(), key, bytes.NewReader(pngb.Bytes()), -1, "image/png"); err != nil {
			t.Fatal(err)
		}
		g.Record(t.Context(), images.Made{TaskID: fmt.Sprintf("imgt_t%d", i), UserID: user, Model: "gpt-image-1",
			Prompt: fmt.Sprintf("第%d张：雪地里的红色狐狸 fox %d", i, i), Size: "1024x1024", At: base.Add(time.Duration(i) * time.Minute),
			Outputs: []images.Output{{Key: key, ContentType: "image/png", Bytes: int64(pngb.Len())}}})
	}
	gallery.NewThumbnailer(g, images.Limits{}, 0).RunOnce(t.Context())

	srv := consoletest.New(t, func(a *console.API) {
		console.MountGallery(a, console.GalleryDeps{Gallery: g, Files: files})
	})
	user, admin := srv.User(), srv.Admin()

	var p galleryPage
	user.Do("GET", "/api/v1/me/gallery?limit=3", nil).Expect(t, http.StatusOK).Decode(t, &p)
	if len(p.Items) != 3 || p.NextCursor == nil || p.Items[0].UserID != 2 || p.Items[0].ThumbnailURL == nil || p.Items[0].Width != 8 {
		t.Fatalf("first page: %+v", p)
	}
	first := p.Items[0]
	user.Do("GET", "/api/v1/me/gallery?limit=3&cursor="+url.QueryEscape(*p.NextCursor), nil).Expect(t, http.StatusOK).Decode(t, &p)
	if len(p.Items) != 1 || p.NextCursor != nil {
		t.Fatalf("second page: %+v", p)
	}
	// Search: two characters (LIKE) and more (the index).
	for q, want := range map[string]int{"狐狸": 4, "红色狐狸": 4, "第3张": 1, "fox 1": 1, "nothing": 0} {
		user.Do("GET", "/api/v1/me/gallery?q="+url.QueryEscape(q), nil).Expect(t, http.StatusOK).Decode(t, &p)
		if len(p.Items) != want {
			t.Errorf("q=%s: %d images, want %d", q, len(p.Items), want)
		}
	}
	user.Do("GET", "/api/v1/me/gallery?favourite=maybe", nil).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "favourite")
	user.Do("GET", "/api/v1/me/gallery?cursor=bm9wZQ", nil).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "cursor")
	user.Do("GET", "/api/v1/me/gallery?since=2026-06-01T00:02:00Z&until=2026-06-01T00:04:00Z", nil).Expect(t, http.StatusOK).Decode(t, &p)
	if len(p.Items) != 2 {
		t.Fatalf("date range: %d", len(p.Items))
	}
	var models struct{ Models []string }
	user.Do("GET", "/api/v1/me/gallery/models", nil).Expect(t, http.StatusOK).Decode(t, &models)
	if len(models.Models) != 1 || models.Models[0] != "gpt-image-1" {
		t.Fatalf("models: %v", models)
	}

	// Favourite, the file and the thumbnail.
	id := first.ID
	path := fmt.Sprintf("/api/v1/me/gallery/%d", id)
	user.Do("PATCH", path, map[string]any{"favourite": true}).Expect(t, http.StatusOK)
	user.Do("PATCH", path, map[string]any{}).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "favourite")
	user.Do("GET", "/api/v1/me/gallery?favourite=true", nil).Expect(t, http.StatusOK).Decode(t, &p)
	if len(p.Items) != 1 || p.Items[0].ID != id || !p.Items[0].Favourite {
		t.Fatalf("favourites: %+v", p.Items)
	}
	r := user.Do("GET", first.ImageURL, nil).Expect(t, http.StatusOK)
	if !bytes.Equal(r.Body, pngb.Bytes()) || r.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("image: %s %d bytes", r.Header.Get("Content-Type"), len(r.Body))
	}
	r = user.Do("GET", *first.ThumbnailURL, nil).Expect(t, http.StatusOK)
	if r.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("thumbnail: %s", r.Header.Get("Content-Type"))
	}

	// Someone else's image is not found for a user, listed for an admin.
	var all galleryPage
	admin.Do("GET", "/api/v1/admin/gallery?user_id=3", nil).Expect(t, http.StatusOK).Decode(t, &all)
	if len(all.Items) != 1 || all.Items[0].UserID != 3 {
		t.Fatalf("admin: %+v", all.Items)
	}
	other := all.Items[0].ID
	user.Do("GET", fmt.Sprintf("/api/v1/me/gallery/%d", other), nil).ExpectError(t, http.StatusNotFound, "not_found", "")
	user.Do("GET", fmt.Sprintf("/api/v1/me/gallery/%d/image", other), nil).ExpectError(t, http.StatusNotFound, "not_found", "")
	user.Do("PATCH", fmt.Sprintf("/api/v1/me/gallery/%d", other), map[string]any{"favourite": true}).ExpectError(t, http.StatusNotFound, "not_found", "")
	admin.Do("GET", all.Items[0].ImageURL, nil).Expect(t, http.StatusOK)
	user.Do("GET", "/api/v1/admin/gallery", nil).ExpectError(t, http.StatusForbidden, "forbidden", "")

	// Batch delete skips someone else's image.
	var del struct{ Deleted []int64 }
	user.Do("POST", "/api/v1/me/gallery/delete", map[string]any{"ids": []int64{id, other}}).Expect(t, http.StatusOK).Decode(t, &del)
	if len(del.Deleted) != 1 || del.Deleted[0] != id {
		t.Fatalf("deleted %v", del.Deleted)
	}
	user.Do("POST", "/api/v1/me/gallery/delete", map[string]any{"ids": []int64{}}).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "ids")
	user.Do("GET", path, nil).ExpectError(t, http.StatusNotFound, "not_found", "")
	admin.Do("GET", fmt.Sprintf("/api/v1/admin/gallery/%d/image", other), nil).Expect(t, http.StatusOK)
}

func TestGalleryExportImportRoutes(t *testing.T) {
	db, err := store.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "sy.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	files, err := images.NewFileStore(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gallery.New(t.Context(), db, files, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pngb bytes.Buffer
	_ = png.Encode(&pngb, image.NewGray(image.Rect(0, 0, 8, 6)))
	for i := range 2 {
		key := fmt.Sprintf("imgt_e%d/0", i)
		if err := files.Put(t.Context(), key, bytes.NewReader(pngb.Bytes()), -1, "image/png"); err != nil {
			t.Fatal(err)
		}
		g.Record(t.Context(), images.Made{TaskID: fmt.Sprintf("imgt_e%d", i), UserID: 2, Model: "gpt-image-1",
			Prompt: fmt.Sprintf("导出 %d", i), Outputs: []images.Output{{Key: key, ContentType: "image/png", Bytes: 1}}})
	}
	srv := consoletest.New(t, func(a *console.API) {
		console.MountGallery(a, console.GalleryDeps{Gallery: g, Files: files, SpoolDir: t.TempDir()})
	})
	user := srv.User()
	r := user.Do("GET", "/api/v1/me/gallery/export.zip", nil).Expect(t, http.StatusOK)
	if r.Header.Get("Content-Type") != "application/zip" || !bytes.HasPrefix(r.Body, []byte("PK")) {
		t.Fatalf("export: %s %.20q", r.Header.Get("Content-Type"), r.Body)
	}
	upload := func(name string, data []byte) *consoletest.Resp {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile(name, "gallery.zip")
		fw.Write(data)
		mw.Close()
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/me/gallery/import", &body)
		for _, k := range []string{"Cookie", "Authorization", "Origin", "Sec-Fetch-Site"} {
			if v := user.Header(k); v != "" {
				req.Header.Set(k, v)
			}
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return srv.Send(req)
	}
	var res struct{ Imported, Skipped int }
	upload("file", r.Body).Expect(t, http.StatusOK).Decode(t, &res)
	if res.Imported != 2 {
		t.Fatalf("import: %+v", res)
	}
	var p galleryPage
	user.Do("GET", "/api/v1/me/gallery?q=导出", nil).Expect(t, http.StatusOK).Decode(t, &p)
	if len(p.Items) != 4 {
		t.Fatalf("after import: %d images", len(p.Items))
	}
	upload("file", []byte("not a zip")).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "file")
	upload("other", r.Body).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "file")
	user.Do("POST", "/api/v1/me/gallery/import", map[string]any{}).ExpectError(t, http.StatusUnsupportedMediaType, "unsupported_media_type", "")
}
