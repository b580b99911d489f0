package web_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/web/browsertest"
)

// The image gallery on a real node: a user's images are made through the
// node's /v1/images/generations with response_format url on the mock
// upstream (so they land in the gallery through the real pipeline, with
// thumbnails made in the background); the suite searches a Chinese prompt by
// two characters, favourites and filters, walks the lightbox by keyboard,
// deletes with and without undo, exports, deletes all, imports the ZIP back,
// is refused a hostile archive, and an admin sees everyone's images
// read-only (web/e2e/gallery.mjs).
func TestBrowserGallery(t *testing.T) {
	runGallery(t, nil)
}

// The same on PostgreSQL and Redis, where search uses pg_trgm.
func TestBrowserGalleryPostgres(t *testing.T) {
	pg := testenv.FreshPostgresURL(t)
	redisURL := testenv.RedisURL(t)
	runGallery(t, func(cfg *config.Config) {
		cfg.Database.URL = config.Secret(pg)
		cfg.SecretKey = config.Secret(strings.Repeat("ab", 32))
		cfg.Redis.URL = config.Secret(redisURL)
		cfg.Redis.Prefix = testenv.RedisPrefix(t, redisURL)
	})
}

const (
	galleryUser     = "gia@example.com"
	galleryPassword = "gia-password-123"
	galleryKey      = "sk-sy-gallery-gia-0123456789abcdef"
	galleryMany     = "hal@example.com" // a user with more images than a page
	galleryManyKey  = "sk-sy-gallery-hal-0123456789abcdef"
)

// galleryPrompts are made in this order, so the gallery lists them reversed.
var galleryPrompts = []struct{ prompt, size string }{
	{"a lighthouse at dusk", "1024x1024"},
	{"a green bicycle by the canal", "1024x1536"},
	{"雪地里的红色狐狸", "1024x1024"},
	{"an orange cat asleep on a keyboard", "1536x1024"},
	{"a paper boat on a puddle", "1024x1024"},
}

func runGallery(t *testing.T, db func(*config.Config)) {
	browsertest.Tools(t)
	n := browsertest.Start(t, func(cfg *config.Config) {
		up := cfg.Channels[len(cfg.Channels)-1].BaseURL
		cfg.Channels = append(cfg.Channels, config.Channel{Name: "img", Type: "openai", BaseURL: up,
			Models: []string{"gpt-image-1"}, Credentials: []config.Credential{{Key: "img-1"}}})
		cfg.Users = append(cfg.Users, config.User{Email: galleryUser, Name: "Gia"})
		cfg.Users = append(cfg.Users, config.User{Email: galleryMany, Name: "Hal"})
		cfg.Keys = append(cfg.Keys, config.Key{Name: "studio", User: galleryUser, Key: config.Secret(galleryKey)},
			config.Key{Name: "batch", User: galleryMany, Key: config.Secret(galleryManyKey)})
		if db != nil {
			db(cfg)
		}
	})
	for _, email := range []string{galleryUser, galleryMany} {
		if _, err := n.Accounts().SetPassword(t.Context(), email, galleryPassword); err != nil {
			t.Fatal(err)
		}
	}
	generate := func(key, body string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, n.Base+"/v1/images/generations", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("generating %s: %d %s", body, resp.StatusCode, b)
		}
	}
	// Apart in time, so newest first is one order whenever each image's row
	// is recorded (on PostgreSQL the recording can land out of order).
	for _, p := range galleryPrompts {
		time.Sleep(400 * time.Millisecond)
		generate(galleryKey, fmt.Sprintf(`{"model":"gpt-image-1","prompt":%q,"size":%q,"quality":"low","response_format":"url"}`, p.prompt, p.size))
	}
	// 36 images, more than the page's 30 a load.
	for i := range 4 {
		generate(galleryManyKey, fmt.Sprintf(`{"model":"gpt-image-1","prompt":"batch %d","n":9,"size":"256x256","response_format":"url"}`, i+1))
	}
	t.Setenv("SY_MANY_EMAIL", galleryMany)
	t.Setenv("SY_USER_EMAIL", galleryUser)
	t.Setenv("SY_USER_PASSWORD", galleryPassword)
	t.Setenv("SY_ADMIN_EMAIL", browsertest.Admin.Email)
	t.Setenv("SY_ADMIN_PASSWORD", browsertest.Admin.Password)
	browsertest.Run(t, "gallery.mjs", "--base", n.Base)
}
