package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"
)

// EachDatabase runs fn as parallel subtests on a fresh SQLite file and a
// fresh PostgreSQL and MySQL database (skipped, or failed in CI, when their
// URL is unset); every database is dropped at cleanup.
func EachDatabase(t *testing.T, fn func(t *testing.T, url string)) {
	t.Helper()
	for _, b := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "sy.db") }},
		{"postgres", FreshPostgresURL},
		{"mysql", FreshMySQLURL},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.url(t))
		})
	}
}

// RedisClient opens a client on url, closed at the end of t.
func RedisClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse redis url: %v", err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// RedisPrefix returns a fresh key prefix ("sy-test-<random>:") whose keys
// are deleted at the end of t: the Redis database is shared with other test
// runs.
func RedisPrefix(t testing.TB, url string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "sy-test-" + hex.EncodeToString(b[:]) + ":"
	rdb := RedisClient(t, url)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("scan %s*: %v", prefix, err)
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("delete %s*: %v", prefix, err)
			}
		}
	})
	return prefix
}
