package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx", to create the run's database
	"github.com/redis/go-redis/v9"
)

// target is one server under load: where to send requests, how to
// authenticate, and the process whose CPU and memory are charged to it.
type target struct {
	Name string
	Base string // http://127.0.0.1:port
	Auth string // Authorization header value
	proc *proc
	// services: the target makes PostgreSQL and Redis work, whose CPU
	// is measured beside its own (servicesCPU).
	services bool
}

// The models the gateway serves and the mock answers. Prices are about the
// providers' list prices, so billing does real arithmetic.
const (
	chatModel  = "gpt-4o-mini"
	embedModel = "text-embedding-3-small"
	imageModel = "gpt-image-1"
)

// gatewayConfig is a serve configuration with every request-path feature
// on: a key with rate limits high enough never to refuse (so they are
// checked, not skipped), priced models charged against a funded wallet
// (reserve and settle per request), the usage log (always on), and two
// upstream credentials for the scheduler to pick between.
func gatewayConfig(listen, dataDir, dbURL, redisURL, redisPrefix, secretKey, mockURL, apiKey string) string {
	redisBlock := ""
	if redisURL != "" {
		redisBlock = fmt.Sprintf("redis:\n  url: %q\n  prefix: %q\n", redisURL, redisPrefix)
	}
	return fmt.Sprintf(`server:
  listen: %q
  data_dir: %q
log:
  level: warn
database:
  url: %q
%ssecret_key: %q
channels:
  - name: mock
    type: openai
    base_url: %q
    models: [%s, %s, %s]
    credentials:
      - key: mock-bench-1
      - key: mock-bench-2
users:
  - {email: bench@example.com, credit: 100000}
keys:
  - name: bench
    user: bench@example.com
    key: %q
    rpm: 100000000
    tpm: 100000000000
pricing:
  %s: {input: 0.15, output: 0.60}
  %s: {input: 0.02}
  %s: {per_image: {default: 0.04}}
`, listen, dataDir, dbURL, redisBlock, secretKey, mockURL, chatModel, embedModel, imageModel,
		apiKey, chatModel, embedModel, imageModel)
}

// gatewayEnv is a gateway's backing services: SQLite in its data dir, or a
// fresh PostgreSQL database and a Redis prefix of its own.
type gatewayEnv struct {
	name        string
	dbURL       string
	redisURL    string
	redisPrefix string
	cleanup     func(context.Context) error
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startGateway writes a configuration for env into its own data dir under
// work and starts switchyard serve on it.
func startGateway(ctx context.Context, bin, work, logDir, mockURL string, env gatewayEnv) (*target, error) {
	dataDir := filepath.Join(work, env.name)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s data dir: %w", env.name, err)
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	dbURL := env.dbURL
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(dataDir, "switchyard.db")
	}
	apiKey := "sk-bench-" + randomHex(16)
	cfg := gatewayConfig(addr, dataDir, dbURL, env.redisURL, env.redisPrefix, randomHex(32), mockURL, apiKey)
	cfgPath := filepath.Join(dataDir, "switchyard.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("write %s config: %w", env.name, err)
	}
	p, err := startTarget(env.name, logDir, dataDir, bin, "serve", "-c", cfgPath)
	if err != nil {
		return nil, err
	}
	base := "http://" + addr
	if err := p.waitReady(ctx, base+"/readyz", 60*time.Second); err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	return &target{Name: env.name, Base: base, Auth: "Bearer " + apiKey, proc: p, services: env.dbURL != "" && env.redisURL != ""}, nil
}

// startHelper re-runs this binary in a helper role (mock or proxy).
func startHelper(ctx context.Context, self, logDir, name, role, readyPath string, args ...string) (*target, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	start := startProc
	if role == "proxy" { // the bare proxy is measured; the mock is the load's other end
		start = func(name, logDir, dir string, _ []string, bin string, args ...string) (*proc, error) {
			return startTarget(name, logDir, dir, bin, args...)
		}
	}
	p, err := start(name, logDir, "", nil, self, append([]string{role, "-addr", addr}, args...)...)
	if err != nil {
		return nil, err
	}
	base := "http://" + addr
	if err := p.waitReady(ctx, base+readyPath, 30*time.Second); err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	return &target{Name: name, Base: base, Auth: "Bearer mock-bench-direct", proc: p}, nil
}

// postgresRedisEnv creates a database of the run's own next to the one
// pgURL names (as internal/testenv does for tests) and a random Redis key
// prefix; cleanup drops the database and deletes the prefix's keys.
func postgresRedisEnv(ctx context.Context, pgURL, redisURL string) (gatewayEnv, error) {
	admin, err := sql.Open("pgx", pgURL)
	if err != nil {
		return gatewayEnv{}, fmt.Errorf("open postgres: %w", err)
	}
	name := "sy_bench_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return gatewayEnv{}, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		admin.Close()
		return gatewayEnv{}, fmt.Errorf("parse postgres url: %w", err)
	}
	u.Path = "/" + name
	prefix := "sybench" + randomHex(4) + ":"
	cleanup := func(ctx context.Context) error {
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return deleteRedisPrefix(ctx, redisURL, prefix)
	}
	return gatewayEnv{name: "switchyard-pg-redis", dbURL: u.String(), redisURL: redisURL, redisPrefix: prefix, cleanup: cleanup}, nil
}

func deleteRedisPrefix(ctx context.Context, redisURL, prefix string) error {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("parse redis url: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan redis prefix %s: %w", prefix, err)
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			return fmt.Errorf("delete redis prefix %s: %w", prefix, err)
		}
	}
	return nil
}

// header is the request header a scenario sends to t, with its body's
// content type ("" for JSON).
func (t *target) header(contentType string) http.Header {
	if contentType == "" {
		contentType = "application/json"
	}
	return http.Header{"Content-Type": {contentType}, "Authorization": {t.Auth}}
}
