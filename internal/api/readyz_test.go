package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/switchyard/switchyard/internal/testenv"
)

type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func getReady(t *testing.T, env *testEnv) (int, readyBody) {
	t.Helper()
	resp, body := env.do(t, "GET", "/readyz", nil, nil)
	var rb readyBody
	if err := json.Unmarshal(body, &rb); err != nil {
		t.Fatalf("readyz body %q: %v", body, err)
	}
	return resp.StatusCode, rb
}

func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "ready.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	return db
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestReadyzSQLite(t *testing.T) {
	db := openSQLite(t)
	env := newTestEnv(t, Options{Checks: map[string]func(context.Context) error{"database": db.PingContext}}, nil)

	code, rb := getReady(t, env)
	if code != 200 || rb.Status != "ready" || rb.Checks["database"] != "ok" {
		t.Fatalf("open db: %d %+v", code, rb)
	}

	db.Close()
	code, rb = getReady(t, env)
	if code != 503 || rb.Status != "not_ready" || rb.Checks["database"] == "ok" || rb.Checks["database"] == "" {
		t.Fatalf("closed db: %d %+v", code, rb)
	}
	if lines := env.logs.Records(t, "readiness check failed"); len(lines) != 1 || lines[0]["check"] != "database" {
		t.Fatalf("failure not logged: %v", lines)
	}

	env.rt.Drain()
	code, rb = getReady(t, env)
	if code != 503 || rb.Status != "draining" {
		t.Fatalf("draining: %d %+v", code, rb)
	}
	// Liveness is not readiness: a draining node is still alive.
	if resp, _ := env.do(t, "GET", "/healthz", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("healthz while draining: %d", resp.StatusCode)
	}
}

func TestReadyzRedis(t *testing.T) {
	db := openSQLite(t)
	tests := []struct {
		name   string
		url    func(t *testing.T) string
		status int
		redis  string // "ok" or "" for any failure reason
	}{
		{"real redis", func(t *testing.T) string { return testenv.RedisURL(t) }, 200, "ok"},
		{"closed port", func(t *testing.T) string { return "redis://" + closedPort(t) + "/0" }, 503, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt, err := redis.ParseURL(tt.url(t))
			if err != nil {
				t.Fatal(err)
			}
			rdb := redis.NewClient(opt)
			t.Cleanup(func() { rdb.Close() })
			env := newTestEnv(t, Options{Checks: map[string]func(context.Context) error{
				"database": db.PingContext,
				"redis":    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
			}}, nil)
			start := time.Now()
			code, rb := getReady(t, env)
			if elapsed := time.Since(start); elapsed > CheckTimeout+time.Second {
				t.Fatalf("readyz took %s", elapsed)
			}
			if code != tt.status || rb.Checks["database"] != "ok" {
				t.Fatalf("%d %+v", code, rb)
			}
			if tt.redis == "ok" && rb.Checks["redis"] != "ok" {
				t.Fatalf("redis %q", rb.Checks["redis"])
			}
			if tt.redis == "" && (rb.Checks["redis"] == "ok" || rb.Checks["redis"] == "") {
				t.Fatalf("redis %q, want a failure reason", rb.Checks["redis"])
			}
		})
	}
}

func TestReadyzTimeoutAndConcurrency(t *testing.T) {
	hang := func(ctx context.Context) error { select {} } // ignores its context
	slow := func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}
	env := newTestEnv(t, Options{Checks: map[string]func(context.Context) error{
		"hang": hang, "slow": slow, "fine": func(context.Context) error { return nil },
	}}, nil)
	start := time.Now()
	code, rb := getReady(t, env)
	elapsed := time.Since(start)
	// Concurrent: two 2 s timeouts finish in about 2 s, not 4.
	if elapsed < CheckTimeout || elapsed > CheckTimeout+time.Second {
		t.Fatalf("took %s", elapsed)
	}
	if code != 503 || rb.Checks["hang"] != "timeout" || rb.Checks["slow"] != "timeout" || rb.Checks["fine"] != "ok" {
		t.Fatalf("%d %+v", code, rb)
	}
}
