package web_test

import (
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/web/browsertest"
)

// The image studio on a real node and the mock upstream: generate with
// live progress over server-sent events, a failed job and its retry, a
// reload that resumes a running job's stream, cancel, presets, and an edit
// with a mask drawn on the canvas that reaches the upstream
// (web/e2e/studio.mjs).
func TestBrowserStudio(t *testing.T) {
	runStudio(t, nil)
}

// The same on PostgreSQL and Redis, where image tasks, keys and the
// gallery live elsewhere.
func TestBrowserStudioPostgres(t *testing.T) {
	pg := testenv.FreshPostgresURL(t)
	redisURL := testenv.RedisURL(t)
	runStudio(t, func(cfg *config.Config) {
		cfg.Database.URL = config.Secret(pg)
		cfg.SecretKey = config.Secret(strings.Repeat("ab", 32))
		cfg.Redis.URL = config.Secret(redisURL)
		cfg.Redis.Prefix = testenv.RedisPrefix(t, redisURL)
	})
}

const (
	studioUser     = "iris@example.com"
	studioPassword = "iris-password-123"
)

func runStudio(t *testing.T, db func(*config.Config)) {
	browsertest.Tools(t)
	n := browsertest.Start(t, func(cfg *config.Config) {
		// An image channel on the same mock upstream.
		mock := cfg.Channels[len(cfg.Channels)-1]
		cfg.Channels = append(cfg.Channels, config.Channel{Name: "images", Type: "openai", BaseURL: mock.BaseURL,
			Models: []string{"gpt-image-1"}, Credentials: []config.Credential{{Key: "mock-key-images"}}})
		cfg.Pricing["gpt-image-1"] = config.Price{PerImage: map[string]float64{"1024x1024": 0.04, "default": 0.06}}
		cfg.Users = append(cfg.Users, config.User{Email: studioUser, Name: "Iris", Credit: 20})
		cfg.Keys = append(cfg.Keys, config.Key{Name: "studio", User: studioUser, Key: config.Secret("sk-sy-studio-laptop-0123456789abc")})
		if db != nil {
			db(cfg)
		}
	})
	if _, err := n.Accounts().SetPassword(t.Context(), studioUser, studioPassword); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SY_USER_EMAIL", studioUser)
	t.Setenv("SY_USER_PASSWORD", studioPassword)
	browsertest.Run(t, "studio.mjs", "--base", n.Base, "--upstream", n.Upstream)
}
