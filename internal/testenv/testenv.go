// Package testenv tells tests where the real PostgreSQL, MySQL/MariaDB and
// Redis servers are. A suite that needs one is skipped when its URL is unset
// on a developer's machine, but fails in CI (SWITCHYARD_TEST_REQUIRE_SERVICES=1),
// so a green CI run always means the backends were exercised.
package testenv

import (
	"os"
	"testing"
)

const requireVar = "SWITCHYARD_TEST_REQUIRE_SERVICES"

// PostgresURL returns SWITCHYARD_TEST_POSTGRES_URL or skips the test.
func PostgresURL(t testing.TB) string { return lookup(t, "SWITCHYARD_TEST_POSTGRES_URL") }

// MySQLURL returns SWITCHYARD_TEST_MYSQL_URL or skips the test.
func MySQLURL(t testing.TB) string { return lookup(t, "SWITCHYARD_TEST_MYSQL_URL") }

// RedisURL returns SWITCHYARD_TEST_REDIS_URL or skips the test.
func RedisURL(t testing.TB) string { return lookup(t, "SWITCHYARD_TEST_REDIS_URL") }

func lookup(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if os.Getenv(requireVar) != "" {
		t.Fatalf("%s is unset but %s requires every service suite to run", name, requireVar)
	}
	t.Skipf("%s is unset; set it to run this suite against a real server", name)
	return ""
}
