// Package browsertest runs the console's browser suites (web/e2e/*.mjs,
// playwright-core driving Debian's chromium) from Go tests, against real
// gateway nodes. Suites that start a node live in package web_test: the
// node embeds package web, so package web's own tests cannot import this.
package browsertest

import (
	"bufio"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

// Dir is the web/ folder of the repository.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Tools finds node, chromium (CHROMIUM, else on PATH) and web/node_modules.
// Without them the test is skipped, or fails when SWITCHYARD_REQUIRE_BROWSER=1
// (CI), so the suite can never pass by not running. It skips with -short.
func Tools(t testing.TB) (node, chromium string) {
	t.Helper()
	if testing.Short() {
		t.Skip("drives chromium; skipped with -short")
	}
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (Node.js 20+)")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		for _, c := range []string{"chromium", "/usr/bin/chromium"} {
			if p, err := exec.LookPath(c); err == nil {
				chromium = p
				break
			}
		}
	}
	if chromium == "" {
		missing = append(missing, "chromium (apt-get install chromium)")
	}
	if _, err := os.Stat(filepath.Join(Dir(), "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "web/node_modules (cd web && npm ci)")
	}
	if len(missing) == 0 {
		return node, chromium
	}
	msg := "browser suite needs " + strings.Join(missing, ", ")
	if os.Getenv("SWITCHYARD_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + " (SWITCHYARD_REQUIRE_BROWSER=1)")
	}
	t.Skip(msg)
	return "", ""
}

// Screenshots is where suites write their PNGs: docs/screenshots with
// SWITCHYARD_UPDATE_SCREENSHOTS=1 (make screenshots), else a temp dir.
func Screenshots(t testing.TB) string {
	if os.Getenv("SWITCHYARD_UPDATE_SCREENSHOTS") == "1" {
		return filepath.Join(Dir(), "..", "docs", "screenshots")
	}
	return t.TempDir()
}

// Run runs web/e2e/<script> with args plus --out (Screenshots), logs its
// output line by line, and fails the test when it exits non-zero. A suite
// gets 8 minutes: make test runs it beside every other package on two cores.
func Run(t testing.TB, script string, args ...string) {
	t.Helper()
	node, chromium := Tools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	argv := append([]string{filepath.Join("e2e", script)}, args...)
	argv = append(argv, "--out", Screenshots(t))
	cmd := exec.CommandContext(ctx, node, argv...)
	cmd.Dir = Dir()
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser suite %s failed: %v", script, err)
	}
}

// Account is a console sign-in.
type Account struct {
	Email, Password string
}

// Admin is the administrator Node declares in the file.
var Admin = Account{Email: "admin@example.com", Password: "admin-password-1"}

// Node is a running gateway for a suite, with the mock upstream it can
// point channels at.
type Node struct {
	*app.App
	Base     string // http://127.0.0.1:port
	Upstream string // the mock upstream's base URL (a channel's base_url)
}

// Start runs a node on cfg (apptest.Config(t) when nil; SQLite in a temp
// dir) with Admin as its file-declared administrator and a file channel
// "mock" (models gpt-4o-mini, text-embedding-3-small) on a mock upstream.
// edit, when not nil, changes the configuration before the node starts
// (point it at PostgreSQL and Redis, price models, add users).
func Start(t testing.TB, edit func(*config.Config)) *Node {
	t.Helper()
	up := httptest.NewServer(mock.New(mock.Options{}))
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	cfg.Admin = config.Admin{Email: Admin.Email, Password: config.Secret(Admin.Password)}
	cfg.Channels = append(cfg.Channels, config.Channel{
		Name: "mock", Type: "openai", BaseURL: up.URL,
		Models:      []string{"gpt-4o-mini", "text-embedding-3-small"},
		Credentials: []config.Credential{{Key: "mock-key-1"}},
	})
	if edit != nil {
		edit(cfg)
	}
	// Keys' last use is written every 300 ms, so pages can show it without
	// waiting the default 30 s.
	a := apptest.StartWith(t, cfg, nil, app.WithLastUsedInterval(300*time.Millisecond))
	return &Node{App: a, Base: "http://" + a.Addr(), Upstream: up.URL}
}
