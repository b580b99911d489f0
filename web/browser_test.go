package web

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/api"
)

// The browser suite: e2e/browser.mjs drives Debian's chromium with
// playwright-core against the embedded console, served by the gateway's
// router next to a stand-in of the [auth] console API (CONSOLE.md) until the
// real one lands, and the real channel routes (console.MountChannels over a
// pool.Store on SQLite, with internal/mock as the upstream). It needs node, chromium and web/node_modules (npm ci); it
// skips without them, and fails instead when SWITCHYARD_REQUIRE_BROWSER=1
// (CI). SWITCHYARD_UPDATE_SCREENSHOTS=1 writes the screenshots to
// docs/screenshots instead of a temporary folder.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives chromium; skipped with -short")
	}
	node, chromium := browserTools(t)

	rt := api.New(api.Options{})
	auth := newFakeAuth()
	auth.mount(rt)
	upstream := mountChannels(t, rt, auth)
	rt.Fallback(Handler())
	srv := httptest.NewServer(rt.Handler())
	t.Cleanup(srv.Close)

	out := t.TempDir()
	if os.Getenv("SWITCHYARD_UPDATE_SCREENSHOTS") == "1" {
		out = filepath.Join("..", "docs", "screenshots")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "e2e/browser.mjs", "--base", srv.URL, "--out", out, "--upstream", upstream)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	cmd.Stderr = cmd.Stdout
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser suite failed: %v", err)
	}
}

func browserTools(t *testing.T) (node, chromium string) {
	t.Helper()
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
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core", "package.json")); err != nil {
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

// fakeAuth is a stand-in of the [auth] routes of the console API contract,
// with the contract's error shape: a setup token, an admin, and a user with
// two-factor authentication on.
type fakeAuth struct {
	mu       sync.Mutex
	needed   bool
	users    map[string]*fakeUser // by email
	sessions map[string]*fakeUser
	stepUps  map[string]time.Time // session → last password re-entry
}

type fakeUser struct {
	ID       int64  `json:"id"`
	Email    string `json:"email"`
	Name     string `json:"name,omitempty"`
	Role     string `json:"role"`
	TOTP     bool   `json:"totp_enabled"`
	password string
}

const (
	fakeSetupToken = "SETUP-TOKEN-1"
	fakeTOTP       = "123456"
	fakeRecovery   = "ABCD-EFGH"
)

func newFakeAuth() *fakeAuth {
	return &fakeAuth{
		needed: true,
		users: map[string]*fakeUser{
			"user@example.com": {ID: 2, Email: "user@example.com", Name: "Lin", Role: "user", TOTP: true, password: "user-password-1"},
		},
		sessions: map[string]*fakeUser{},
		stepUps:  map[string]time.Time{},
	}
}

func fakeError(w http.ResponseWriter, status int, code, msg, field string) {
	e := map[string]string{"code": code, "message": msg}
	if field != "" {
		e["field"] = field
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func fakeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeAuth) signIn(w http.ResponseWriter, u *fakeUser) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	f.sessions[tok] = u
	http.SetCookie(w, &http.Cookie{Name: "sy_session", Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	fakeJSON(w, map[string]any{"user": u})
}

func (f *fakeAuth) current(r *http.Request) *fakeUser {
	c, err := r.Cookie("sy_session")
	if err != nil {
		return nil
	}
	return f.sessions[c.Value]
}

func (f *fakeAuth) mount(rt *api.Router) {
	handle := func(pattern string, fn func(w http.ResponseWriter, r *http.Request)) {
		rt.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			fn(w, r)
		}))
	}
	decode := func(w http.ResponseWriter, r *http.Request, dst any) bool {
		if err := json.NewDecoder(r.Body).Decode(dst); err != nil {
			fakeError(w, 422, "invalid", "The body is not valid JSON.", "")
			return false
		}
		return true
	}
	handle("GET /api/v1/settings/public", func(w http.ResponseWriter, r *http.Request) {
		fakeJSON(w, map[string]any{"site_name": "Switchyard", "announcement": "", "registration": "closed"})
	})
	handle("GET /api/v1/setup", func(w http.ResponseWriter, r *http.Request) {
		fakeJSON(w, map[string]bool{"needed": f.needed})
	})
	handle("POST /api/v1/setup", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Token, Email, Password, Name string }
		if !decode(w, r, &req) {
			return
		}
		switch {
		case !f.needed:
			fakeError(w, 409, "conflict", "Setup is already done.", "")
		case req.Token != fakeSetupToken:
			fakeError(w, 422, "invalid", "The setup token is not valid.", "token")
		case !strings.Contains(req.Email, "@"):
			fakeError(w, 422, "invalid", "Not an email address.", "email")
		case len(req.Password) < 12:
			fakeError(w, 422, "invalid", "The password must have at least 12 characters.", "password")
		default:
			f.needed = false
			u := &fakeUser{ID: 1, Email: req.Email, Name: req.Name, Role: "admin", password: req.Password}
			f.users[req.Email] = u
			f.signIn(w, u)
		}
	})
	handle("POST /api/v1/auth/login", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Email, Password, TOTP string
			RecoveryCode          string `json:"recovery_code"`
		}
		if !decode(w, r, &req) {
			return
		}
		u := f.users[req.Email]
		switch {
		case req.Email == "boom@example.com":
			fakeError(w, 500, "internal", "internal error", "")
		case u == nil || u.password != req.Password:
			fakeError(w, 401, "invalid_credentials", "Wrong email or password.", "")
		case u.TOTP && req.TOTP == "" && req.RecoveryCode == "":
			fakeError(w, 401, "totp_required", "Enter the code from your authenticator.", "totp")
		case u.TOTP && req.TOTP != fakeTOTP && req.RecoveryCode != fakeRecovery:
			fakeError(w, 401, "invalid_credentials", "The code is not valid.", "totp")
		default:
			f.signIn(w, u)
		}
	})
	handle("POST /api/v1/auth/logout", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("sy_session"); err == nil {
			delete(f.sessions, c.Value)
		}
		http.SetCookie(w, &http.Cookie{Name: "sy_session", Value: "", Path: "/", MaxAge: -1})
		w.WriteHeader(http.StatusNoContent)
	})
	handle("POST /api/v1/auth/step-up", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Password string }
		if !decode(w, r, &req) {
			return
		}
		c, err := r.Cookie("sy_session")
		u := f.current(r)
		switch {
		case err != nil || u == nil:
			fakeError(w, 401, "unauthenticated", "Sign in first.", "")
		case req.Password != u.password:
			fakeError(w, 422, "invalid", "The password is not right.", "password")
		default:
			f.stepUps[c.Value] = time.Now()
			w.WriteHeader(http.StatusNoContent)
		}
	})
	handle("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		u := f.current(r)
		if u == nil {
			fakeError(w, 401, "unauthenticated", "Sign in first.", "")
			return
		}
		fakeJSON(w, u)
	})
}
