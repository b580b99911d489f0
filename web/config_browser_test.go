package web_test

import (
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/web/browsertest"
)

// configNode starts a node for the config pages' suite: besides the file
// administrator and the mock channel, a file price for gpt-4o-mini (shown
// read-only with its file field) next to apptest's free "*".
func configNode(t *testing.T, edit func(*config.Config)) *browsertest.Node {
	t.Helper()
	browsertest.Tools(t)
	n := browsertest.Start(t, func(c *config.Config) {
		c.Pricing["gpt-4o-mini"] = config.Price{Input: 0.15, Output: 0.6, CachedInput: 0.075}
		if edit != nil {
			edit(c)
		}
	})
	t.Setenv("SY_ADMIN_EMAIL", browsertest.Admin.Email)
	t.Setenv("SY_ADMIN_PASSWORD", browsertest.Admin.Password)
	return n
}

// The pricing, codes, settings, audit log and backup pages on a real node
// (SQLite): a price edited with a server error in place, codes generated
// and downloaded as CSV, a setting changed and found in the audit log with
// its before and after, a backup made and downloaded behind a step-up.
func TestBrowserConfig(t *testing.T) {
	n := configNode(t, nil)
	browsertest.Run(t, "config.mjs", "--base", n.Base, "--db", "sqlite")
}

// The same pages on PostgreSQL and Redis, where prices, codes, settings
// and the audit log live in other SQL, and console backups are refused
// (pg_dump's job): the backups page says so.
func TestBrowserConfigPostgres(t *testing.T) {
	dbURL := testenv.FreshPostgresURL(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, redisURL)
	n := configNode(t, func(c *config.Config) {
		c.Database.URL = config.Secret(dbURL)
		c.Redis.URL = config.Secret(redisURL)
		c.Redis.Prefix = prefix
		c.SecretKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	})
	browsertest.Run(t, "config.mjs", "--base", n.Base, "--db", "postgres", "--shots", "none")
}
