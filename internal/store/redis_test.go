package store

import (
	"github.com/switchyard/switchyard/internal/testenv"

	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestOpenRedis(t *testing.T) {
	raw := testenv.RedisURL(t)
	ctx := context.Background()
	c, err := OpenRedis(ctx, raw)
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	defer c.Close()
	key := "sy_test:" + randomName(t)
	if err := c.Set(ctx, key, "v1", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	defer c.Del(ctx, key)
	if got, err := c.Get(ctx, key).Result(); err != nil || got != "v1" {
		t.Errorf("GET = %q, %v; want v1", got, err)
	}
}

func TestOpenRedisErrors(t *testing.T) {
	const pw = "Hunter2-Secret"
	SetRedisLogger(testLogger(t)) // also keeps the test output free of go-redis's stderr lines
	t.Cleanup(func() { SetRedisLogger(slog.New(slog.DiscardHandler)) })
	cases := []struct{ name, url string }{
		{"refused", "redis://:" + pw + "@127.0.0.1:1/0"},
		{"bad port", "redis://default:" + pw + "@127.0.0.1:notaport/0"},
		{"bad scheme", "http://default:" + pw + "@127.0.0.1:6379/0"},
		{"bad db", "redis://default:" + pw + "@127.0.0.1:6379/notadb"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cl, err := OpenRedis(ctx, c.url)
			if err == nil {
				cl.Close()
				t.Fatal("OpenRedis succeeded")
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error reveals the password: %v", err)
			}
			t.Log(err)
		})
	}
}

// A Redis that does not persist every write is named at start; one that
// does is not; one that refuses CONFIG is said to be unchecked.
func TestWarnIfVolatile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		ok    bool
		level string
	}{
		{"appendonly off", []string{"--appendonly", "no"}, false, "WARN"},
		{"appendonly on", []string{"--appendonly", "yes"}, true, ""},
		{"CONFIG refused", []string{"--appendonly", "yes", "--rename-command", "CONFIG", ""}, false, "INFO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := testenv.StartRedis(t, tc.args...)
			c, err := OpenRedis(t.Context(), rs.URL())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var out testenv.Output
			log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
			if got := WarnIfVolatile(t.Context(), c, log); got != tc.ok {
				t.Errorf("WarnIfVolatile = %v, want %v", got, tc.ok)
			}
			logged := out.String()
			switch {
			case tc.level == "" && logged != "":
				t.Errorf("a persisting Redis logged %s", logged)
			case tc.level != "" && (!strings.Contains(logged, `"level":"`+tc.level+`"`) || !strings.Contains(logged, "appendonly")):
				t.Errorf("want one %s record naming appendonly, got %s", tc.level, logged)
			}
		})
	}
}
