package web_test

import (
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/web/browsertest"
)

// The self-service pages on a real node: registration (off, open, by
// invite), the wallet (redeem a code the admin API made, the ledger), the
// account (sessions, password, two-factor with TOTP and recovery codes)
// and admin access tokens, used as Bearer tokens afterwards.
func TestBrowserSelf(t *testing.T) {
	browsertest.Tools(t)
	runSelf(t, browsertest.Start(t, nil))
}

// The same on PostgreSQL and Redis, where sessions live in Redis and the
// ledger, codes and TOTP steps in PostgreSQL.
func TestBrowserSelfPostgres(t *testing.T) {
	browsertest.Tools(t)
	dbURL := testenv.FreshPostgresURL(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, redisURL)
	runSelf(t, browsertest.Start(t, func(c *config.Config) {
		c.Database.URL = config.Secret(dbURL)
		c.Redis.URL = config.Secret(redisURL)
		c.Redis.Prefix = prefix
		c.SecretKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	}))
}

func runSelf(t *testing.T, n *browsertest.Node) {
	t.Helper()
	t.Setenv("SY_ADMIN_EMAIL", browsertest.Admin.Email)
	t.Setenv("SY_ADMIN_PASSWORD", browsertest.Admin.Password)
	browsertest.Run(t, "self.mjs", "--base", n.Base)
}
