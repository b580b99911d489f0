package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for the admin connection

	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
)

type syncBuffer = testenv.Output

const (
	keyA = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	keyB = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
)

// testConfig is the default configuration on a free loopback port with a
// fresh data dir and SQLite database.
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := config.Default()
	dir := filepath.Join(t.TempDir(), "data")
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.DataDir = dir
	cfg.Server.ShutdownTimeout = 5 * time.Second
	cfg.Database.URL = config.Secret("sqlite://" + dir + "/switchyard.db")
	return cfg
}

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// running is an App being Run in the background.
type running struct {
	app    *App
	cancel context.CancelFunc
	done   chan error
	base   string
}

func start(t *testing.T, cfg *config.Config, log *slog.Logger, mount func(*App), opts ...Option) *running {
	t.Helper()
	a, err := New(t.Context(), cfg, log, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if mount != nil {
		mount(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{app: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-r.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not listening after 10s")
	}
	r.base = "http://" + a.Addr()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

// stop cancels Run and returns its result, failing after limit.
func (r *running) stop(t *testing.T, limit time.Duration) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(limit):
		t.Fatalf("Run did not return within %s", limit)
		return nil
	}
}

func getJSON(t *testing.T, u string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("GET %s: decode: %v", u, err)
	}
	return resp.StatusCode, m
}

func assertReady(t *testing.T, base string, checks ...string) {
	t.Helper()
	code, body := getJSON(t, base+"/readyz")
	if code != 200 || body["status"] != "ready" {
		t.Fatalf("readyz %d %v", code, body)
	}
	got, _ := body["checks"].(map[string]any)
	for _, c := range checks {
		if got[c] != "ok" {
			t.Fatalf("check %s = %v in %v", c, got[c], body)
		}
	}
	if len(got) != len(checks) {
		t.Fatalf("checks %v, want exactly %v", got, checks)
	}
}

func TestSQLiteNode(t *testing.T) {
	cfg := testConfig(t)
	cfg.Images.Storage = "file://" + filepath.Join(cfg.Server.DataDir, "images")
	log, logs := testLogger()
	r := start(t, cfg, log, nil)

	if code, body := getJSON(t, r.base+"/healthz"); code != 200 || body["status"] != "ok" {
		t.Fatalf("healthz %d %v", code, body)
	}
	assertReady(t, r.base, "database", "billing", "storage")
	// Image storage moved away under the node: not ready until it is back.
	images := strings.TrimPrefix(cfg.Images.Storage, "file://")
	if err := os.Rename(images, images+"-away"); err != nil {
		t.Fatal(err)
	}
	if code, body := getJSON(t, r.base+"/readyz"); code != http.StatusServiceUnavailable ||
		body["checks"].(map[string]any)["storage"] != "not found" {
		t.Fatalf("readyz without the image directory: %d %v, want 503 with storage not found", code, body)
	}
	if err := os.Rename(images+"-away", images); err != nil {
		t.Fatal(err)
	}
	assertReady(t, r.base, "database", "billing", "storage")

	fi, err := os.Stat(cfg.Server.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("data dir mode %o, want 700", perm)
	}
	if !strings.Contains(logs.String(), "generated a new secret key at ") {
		t.Errorf("no warning about the generated key in %s", logs)
	}
	fp, ok, err := r.app.DB().GetSetting(t.Context(), FingerprintSetting)
	if err != nil || !ok || fp != r.app.Keyring().Fingerprint() {
		t.Fatalf("fingerprint setting %q %v %v", fp, ok, err)
	}

	if err := r.stop(t, 10*time.Second); err != nil {
		t.Fatalf("Run returned %v after a clean drain", err)
	}
	if err := r.app.DB().Ping(context.Background()); err == nil {
		t.Fatal("database still open after Run returned")
	}
}

func TestSecretKeyMismatch(t *testing.T) {
	cfg := testConfig(t)
	cfg.SecretKey = keyA
	log, logs := testLogger()
	a, err := New(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()

	tests := []struct {
		name string
		key  config.Secret
		want error
	}{
		{"same key", keyA, nil},
		{"other key", keyB, ErrSecretKeyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *cfg
			c.SecretKey = tt.key
			a, err := New(t.Context(), &c, log)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil {
				a.Close()
				return
			}
			if a != nil {
				t.Fatal("App returned with an error")
			}
			if !strings.Contains(err.Error(), "every node must use the same key") {
				t.Fatalf("unclear error %q", err)
			}
		})
	}
	if strings.Contains(logs.String(), keyA) || strings.Contains(logs.String(), keyB) {
		t.Fatal("secret key in the log")
	}
}

func TestBadDatabaseURLIsClear(t *testing.T) {
	cfg := testConfig(t)
	cfg.SecretKey = keyA
	// Nothing listens there; the error must name the database without the password.
	cfg.Database.URL = config.Secret("postgres://u:hunter2pw@" + closedPort(t) + "/db?sslmode=disable&connect_timeout=2")
	log, _ := testLogger()
	_, err := New(t.Context(), cfg, log)
	if err == nil {
		t.Fatal("New succeeded against a closed port")
	}
	if strings.Contains(err.Error(), "hunter2pw") {
		t.Fatalf("password in error: %v", err)
	}
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

func TestServerDatabases(t *testing.T) {
	tests := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"postgres", func(t *testing.T) string { return testenv.FreshPostgresURL(t) }},
		{"mysql", func(t *testing.T) string { return testenv.FreshMySQLURL(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Database.URL = config.Secret(tt.url(t))
			cfg.SecretKey = keyA
			cfg.Redis.URL = config.Secret(testenv.RedisURL(t))
			log, logs := testLogger()
			r := start(t, cfg, log, nil)
			assertReady(t, r.base, "database", "redis", "billing", "storage")
			if !r.app.DB().Shared() || r.app.Redis() == nil {
				t.Fatal("expected a shared database and Redis")
			}
			states, err := r.app.DB().MigrationStatus(t.Context())
			if err != nil || len(states) == 0 || !states[0].Applied {
				t.Fatalf("migrations %v %v", states, err)
			}
			if err := r.stop(t, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(logs.String(), "generated a new secret key") {
				t.Fatal("a configured key must not be replaced")
			}
			// A second node with another key is refused by the same database.
			cfg2 := *cfg
			cfg2.SecretKey = keyB
			cfg2.Server.DataDir = filepath.Join(t.TempDir(), "node2")
			if _, err := New(t.Context(), &cfg2, log); !errors.Is(err, ErrSecretKeyMismatch) {
				t.Fatalf("second node with another key: %v", err)
			}
		})
	}
}

// Nodes sharing a database without Redis would each keep their own copy of
// every wallet: the second is refused at start, naming redis.url, and a
// node whose billing lease was taken fails /readyz.
func TestNodesWithoutRedisRefused(t *testing.T) {
	cfg := testConfig(t)
	cfg.Database.URL = config.Secret(testenv.FreshPostgresURL(t))
	cfg.SecretKey = keyA
	log, logs := testLogger()
	fast := WithMeter(func(o *billing.MeterOptions) { o.Heartbeat = 400 * time.Millisecond })
	r := start(t, cfg, log, nil, fast)
	assertReady(t, r.base, "database", "billing", "storage")

	cfg2 := *cfg
	cfg2.Server.DataDir = filepath.Join(t.TempDir(), "node2")
	_, err := New(t.Context(), &cfg2, log, fast)
	if !errors.Is(err, billing.ErrOtherOwner) || !strings.Contains(err.Error(), "redis.url") {
		t.Fatalf("second node without Redis: %v, want billing.ErrOtherOwner naming redis.url", err)
	}

	// Another keeper takes the lease (this node stalled past it): /readyz
	// turns 503 at the next renewal, naming the check, and the log names
	// the holder.
	if _, err := r.app.DB().Write().ExecContext(t.Context(), r.app.DB().Dialect().Rebind(
		"UPDATE leases SET holder = ?, expires_at = ? WHERE name = 'billing'"), "node:other", time.Now().Add(time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := getJSON(t, r.base+"/readyz")
		checks, _ := body["checks"].(map[string]any)
		if code == http.StatusServiceUnavailable && checks["billing"] == "failed" && checks["database"] == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz %d %v after the lease was taken, want 503 with billing failed", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if l := logs.String(); !strings.Contains(l, "billing lease lost") || !strings.Contains(l, "node:other") {
		t.Fatalf("log does not name the lost lease and its holder:\n%s", l)
	}
}

// slowHandler writes n chunks, one every gap, flushing each, until done or
// the client goes away.
func slowHandler(n int, gap time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		for i := range n {
			if _, err := fmt.Fprintf(w, "chunk %d\n", i); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			select {
			case <-time.After(gap):
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "end\n")
	})
}

func TestGracefulShutdown(t *testing.T) {
	cfg := testConfig(t)
	log, _ := testLogger()
	r := start(t, cfg, log, func(a *App) {
		a.Router().Handle("GET /slow", slowHandler(5, 100*time.Millisecond))
	})

	resp, err := http.Get(r.base + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "chunk 0\n" {
		t.Fatalf("first chunk %q %v", line, err)
	}

	r.cancel()
	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.app.Addr(), 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 2s after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !r.app.Router().Draining() {
		t.Fatal("router not draining")
	}

	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("in-flight stream cut: %v (got %q)", err, rest)
	}
	if want := "chunk 1\nchunk 2\nchunk 3\nchunk 4\nend\n"; string(rest) != want {
		t.Fatalf("rest of stream %q, want %q", rest, want)
	}
	select {
	case err := <-r.done:
		r.done <- err
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the drain")
	}
}

func TestShutdownDeadline(t *testing.T) {
	cfg := testConfig(t)
	cfg.Server.ShutdownTimeout = 300 * time.Millisecond
	log, logs := testLogger()
	r := start(t, cfg, log, func(a *App) {
		a.Router().Handle("GET /endless", slowHandler(1000, 20*time.Millisecond))
	})
	resp, err := http.Get(r.base + "/endless")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := r.stop(t, 5*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(begin); took < cfg.Server.ShutdownTimeout {
		t.Fatalf("Run returned after %s, before the grace period", took)
	}
	rest, err := io.ReadAll(br)
	if err == nil || strings.Contains(string(rest), "end") {
		t.Fatalf("stream not cut: err=%v, %d bytes", err, len(rest))
	}
	if !strings.Contains(logs.String(), "shutdown timeout passed") {
		t.Fatal("forced close not logged")
	}
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		cfg       config.Log
		json      bool
		debugShow bool
		infoShow  bool
	}{
		{config.Log{Level: "debug", Format: "text"}, false, true, true},
		{config.Log{Level: "info", Format: "json"}, true, false, true},
		{config.Log{Level: "warn", Format: "json"}, true, false, false},
		{config.Log{Level: "bogus", Format: "bogus"}, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.cfg.Level+"/"+tt.cfg.Format, func(t *testing.T) {
			var buf bytes.Buffer
			l := NewLogger(tt.cfg, &buf)
			l.Debug("dbg")
			l.Info("inf")
			out := buf.String()
			if strings.Contains(out, "dbg") != tt.debugShow || strings.Contains(out, "inf") != tt.infoShow {
				t.Fatalf("output %q", out)
			}
			if tt.infoShow && strings.HasPrefix(out, "{") != tt.json {
				t.Fatalf("format: %q", out)
			}
		})
	}
}
