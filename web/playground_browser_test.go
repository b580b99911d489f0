package web_test

import (
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/web/browsertest"
)

// The chat playground on a real node: a normal user (declared in the file,
// with a key and a password set through the node's Go API) signs in, adds a
// second key through the console API, streams answers from the mock
// upstream as one of them with tokens and cost shown, stops a long stream,
// attaches an image, copies the request as curl, and reads the page in
// Chinese; keyboard and axe checks on the way (web/e2e/playground.mjs).
func TestBrowserPlayground(t *testing.T) {
	runPlayground(t, nil)
}

// The same on PostgreSQL and Redis, where keys, wallets and the usage the
// playground's requests write live elsewhere.
func TestBrowserPlaygroundPostgres(t *testing.T) {
	pg := testenv.FreshPostgresURL(t)
	redisURL := testenv.RedisURL(t)
	runPlayground(t, func(cfg *config.Config) {
		cfg.Database.URL = config.Secret(pg)
		cfg.SecretKey = config.Secret(strings.Repeat("ab", 32))
		cfg.Redis.URL = config.Secret(redisURL)
		cfg.Redis.Prefix = testenv.RedisPrefix(t, redisURL)
	})
}

const (
	playgroundUser     = "ann@example.com"
	playgroundKeyless  = "bob@example.com" // a user without keys
	playgroundPassword = "ann-password-123"
)

func runPlayground(t *testing.T, db func(*config.Config)) {
	browsertest.Tools(t)
	n := browsertest.Start(t, func(cfg *config.Config) {
		cfg.Users = append(cfg.Users, config.User{Email: playgroundUser, Name: "Ann", Credit: 5},
			config.User{Email: playgroundKeyless, Name: "Bob"})
		cfg.Keys = append(cfg.Keys, config.Key{Name: "laptop", User: playgroundUser, Key: config.Secret("sk-sy-playground-laptop-0123456789")})
		// Everything else stays free (apptest's "*"); the chat model costs
		// enough that an answer's cost shows.
		cfg.Pricing["gpt-4o-mini"] = config.Price{Input: 2.5, Output: 10}
		if db != nil {
			db(cfg)
		}
	})
	for _, email := range []string{playgroundUser, playgroundKeyless} {
		if _, err := n.Accounts().SetPassword(t.Context(), email, playgroundPassword); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SY_USER_EMAIL", playgroundUser)
	t.Setenv("SY_USER_PASSWORD", playgroundPassword)
	t.Setenv("SY_KEYLESS_EMAIL", playgroundKeyless)
	browsertest.Run(t, "playground.mjs", "--base", n.Base)
}
