package web_test

import (
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/web/browsertest"
)

// usersConfig declares a file group, a file user with a file key: the
// pages show them read-only with the file's field.
func usersConfig(cfg *config.Config) {
	cfg.Groups = append(cfg.Groups, config.Group{Name: "partners", Ratio: 0.8, RPM: 120})
	cfg.Users = append(cfg.Users, config.User{Email: "filed@example.com", Name: "Filed Person", Group: "partners", Role: "user"})
	cfg.Keys = append(cfg.Keys, config.Key{Name: "filed-key", User: "filed@example.com", Key: "sk-file-users-000000000000000000001"})
}

// The users & groups, keys and my-keys pages on a real node (SQLite): an
// administrator creates a user with a password, adjusts their credit, gives
// them a key and revokes it; the new user signs in and sees their keys.
func TestBrowserUsers(t *testing.T) {
	browsertest.Tools(t)
	n := browsertest.Start(t, usersConfig)
	runUsers(t, n)
}

// The same on PostgreSQL and Redis (sessions, the ledger and keys live
// there instead).
func TestBrowserUsersPostgres(t *testing.T) {
	browsertest.Tools(t)
	dbURL := testenv.FreshPostgresURL(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, redisURL)
	n := browsertest.Start(t, func(cfg *config.Config) {
		usersConfig(cfg)
		cfg.Database.URL = config.Secret(dbURL)
		cfg.Redis.URL = config.Secret(redisURL)
		cfg.Redis.Prefix = prefix
		cfg.SecretKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	})
	runUsers(t, n, "--noshots", "1")
}

func runUsers(t *testing.T, n *browsertest.Node, extra ...string) {
	t.Setenv("SY_ADMIN_EMAIL", browsertest.Admin.Email)
	t.Setenv("SY_ADMIN_PASSWORD", browsertest.Admin.Password)
	browsertest.Run(t, "users.mjs", append([]string{"--base", n.Base}, extra...)...)
}
