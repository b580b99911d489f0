package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
)

const filePassword = "file password 123"

// call sends a console request from a browser at base: the session cookie
// (when not empty) and a same-origin Origin.
func call(t *testing.T, base, method, path, cookie string, body any) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Origin", base)
	if cookie != "" {
		req.Header.Set("Cookie", "sy_session="+cookie)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res, out
}

func sessionCookie(res *http.Response) string {
	for _, c := range res.Cookies() {
		if c.Name == "sy_session" {
			return c.Value
		}
	}
	return ""
}

func nodeBase(a *app.App) string { return "http://" + a.Addr() }

// The file's admin signs in through a real node: cookie, /me, sign-out.
func TestConsoleSignInSQLite(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.Admin = config.Admin{Email: "Ops@Example.com", Password: filePassword}
	a := apptest.Start(t, cfg)
	base := nodeBase(a)

	if res, _ := call(t, base, "GET", "/api/v1/me", "", nil); res.StatusCode != 401 {
		t.Fatalf("me without a session: %d", res.StatusCode)
	}
	if res, out := call(t, base, "GET", "/api/v1/setup", "", nil); res.StatusCode != 200 || out["needed"] != false {
		t.Fatalf("setup with admin.password set: %d %v", res.StatusCode, out)
	}
	res, _ := call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": "ops@example.com", "password": "wrong password!"})
	if res.StatusCode != 401 {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	res, out := call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": "ops@example.com", "password": filePassword})
	cookie := sessionCookie(res)
	if res.StatusCode != 200 || cookie == "" {
		t.Fatalf("login: %d %v", res.StatusCode, out)
	}
	if res, out := call(t, base, "GET", "/api/v1/me", cookie, nil); res.StatusCode != 200 || out["role"] != "admin" || out["email"] != "ops@example.com" {
		t.Fatalf("me: %d %v", res.StatusCode, out)
	}
	if res, _ := call(t, base, "POST", "/api/v1/auth/logout", cookie, nil); res.StatusCode != 204 {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if res, _ := call(t, base, "GET", "/api/v1/me", cookie, nil); res.StatusCode != 401 {
		t.Fatalf("me after logout: %d", res.StatusCode)
	}
}

// Two nodes on PostgreSQL and Redis share sessions: a session made on one
// works on the other, and ends on both when revoked on one.
func TestConsoleSessionsAcrossNodes(t *testing.T) {
	dbURL := testenv.FreshPostgresURL(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, redisURL)
	node := func(name string) *app.App {
		cfg := apptest.Config(t)
		cfg.Database.URL = config.Secret(dbURL)
		cfg.Redis.URL = config.Secret(redisURL)
		cfg.Redis.Prefix = prefix
		cfg.SecretKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
		cfg.Server.DataDir = filepath.Join(t.TempDir(), name)
		cfg.Admin = config.Admin{Email: "ops@example.com", Password: filePassword}
		return apptest.Start(t, cfg)
	}
	a, b := node("a"), node("b")
	res, out := call(t, nodeBase(a), "POST", "/api/v1/auth/login", "", map[string]string{"email": "ops@example.com", "password": filePassword})
	cookie := sessionCookie(res)
	if res.StatusCode != 200 || cookie == "" {
		t.Fatalf("login on a: %d %v", res.StatusCode, out)
	}
	if res, out := call(t, nodeBase(b), "GET", "/api/v1/me/sessions", cookie, nil); res.StatusCode != 200 || len(out["items"].([]any)) != 1 {
		t.Fatalf("sessions on b: %d %v", res.StatusCode, out)
	}
	// Sessions live in Redis, not in the database.
	var n int
	if err := a.DB().Read().QueryRow("SELECT COUNT(*) FROM sessions").Scan(&n); err != nil || n != 0 {
		t.Errorf("sessions rows %d %v", n, err)
	}
	if err := a.Accounts().RevokeUserSessions(t.Context(), userID(t, a)); err != nil {
		t.Fatal(err)
	}
	if res, _ := call(t, nodeBase(b), "GET", "/api/v1/me", cookie, nil); res.StatusCode != 401 {
		t.Fatalf("me on b after revoking on a: %d", res.StatusCode)
	}
}

func userID(t *testing.T, a *app.App) int64 {
	t.Helper()
	acct, err := a.Accounts().AccountByEmail(t.Context(), "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return acct.ID
}
