package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/api/console/consoletest"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/limit"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const (
	adminPW = "admin password 1"
	userPW  = "user password 12"
)

type authEnv struct {
	acc *auth.Accounts
	clk *testClock
	reg auth.RegistrationPolicy
}

// newAccounts opens a fresh SQLite database; with users, admin@example.com
// (id 1, admin) and user@example.com (id 2) have passwords.
func newAccounts(t *testing.T, withUsers bool, throttle auth.Throttle) *authEnv {
	t.Helper()
	db, err := store.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "sy.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	kr, err := secret.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Now().UTC()}
	e := &authEnv{clk: clk, acc: auth.NewAccounts(auth.AccountsOptions{DB: db, Keyring: kr, Now: clk.Now,
		Throttler: limit.Attempts(limit.NewMemory()), Credits: billing.SignupCredits{Ledger: billing.NewLedger(db, clk.Now), Invalid: auth.ErrInvalidInvite}, Throttle: throttle})}
	if withUsers {
		if _, err := e.acc.CreateAdmin(t.Context(), "admin@example.com", "Admin", adminPW); err != nil {
			t.Fatal(err)
		}
		if _, err := e.acc.Register(t.Context(), auth.RegistrationPolicy{Mode: auth.RegistrationOpen}, "user@example.com", userPW, "", clientAddr); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *authEnv) mount(a *console.API) {
	console.MountAuth(a, console.AuthDeps{Accounts: e.acc, PublicURL: "http://console.test",
		Registration: func(context.Context) (auth.RegistrationPolicy, error) { return e.reg, nil }})
}

// TestAuthScenarios runs the access and validation rules of the auth
// routes with the harness's fake callers.
func TestAuthScenarios(t *testing.T) {
	e := newAccounts(t, true, auth.Throttle{})
	srv := consoletest.New(t, e.mount, consoletest.WithNow(e.clk.Now))
	admin, user, anon := srv.Admin(), srv.User(), srv.Anon()
	notSteppedUp := srv.As(&console.Principal{UserID: 1, Email: "admin@example.com", Role: console.RoleAdmin})
	readToken := srv.As(&console.Principal{UserID: 1, Email: "admin@example.com", Role: console.RoleAdmin, Via: console.ViaToken, ReadOnly: true})
	future := e.clk.Now().Add(time.Hour).Format(time.RFC3339)
	past := e.clk.Now().Add(-time.Hour).Format(time.RFC3339)

	for _, c := range []struct {
		name         string
		client       *consoletest.Client
		method, path string
		body         any
		status       int
		code, field  string
	}{
		{"me without a session", anon, "GET", "/api/v1/me", nil, 401, "unauthenticated", ""},
		{"sessions without a session", anon, "GET", "/api/v1/me/sessions", nil, 401, "unauthenticated", ""},
		{"step-up without a session", anon, "POST", "/api/v1/auth/step-up", map[string]string{"password": "x"}, 401, "unauthenticated", ""},
		{"tokens as a user", user, "GET", "/api/v1/admin/tokens", nil, 403, "forbidden", ""},
		{"create a token as a user", user, "POST", "/api/v1/admin/tokens", map[string]string{"name": "x", "scope": "read"}, 403, "forbidden", ""},
		{"delete a token as a user", user, "DELETE", "/api/v1/admin/tokens/1", nil, 403, "forbidden", ""},
		{"cookie without Origin", user.With("Origin", ""), "POST", "/api/v1/me/totp/setup", nil, 403, "csrf_failed", ""},
		{"cookie from another origin", user.With("Origin", "https://evil.example"), "PATCH", "/api/v1/me", map[string]string{"name": "x"}, 403, "csrf_failed", ""},
		{"token without a step-up", notSteppedUp, "POST", "/api/v1/admin/tokens", map[string]string{"name": "x", "scope": "read"}, 403, "step_up_required", ""},
		{"read-only token writes", readToken, "DELETE", "/api/v1/admin/tokens/1", nil, 403, "read_only_token", ""},
		{"token name missing", admin, "POST", "/api/v1/admin/tokens", map[string]string{"scope": "read"}, 422, "invalid", "name"},
		{"token scope wrong", admin, "POST", "/api/v1/admin/tokens", map[string]string{"name": "ci", "scope": "write"}, 422, "invalid", "scope"},
		{"token expired already", admin, "POST", "/api/v1/admin/tokens", map[string]string{"name": "ci", "scope": "full", "expires_at": past}, 422, "invalid", "expires_at"},
		{"token unknown member", admin, "POST", "/api/v1/admin/tokens", map[string]string{"name": "ci", "scope": "full", "owner": "x"}, 422, "invalid", "owner"},
		{"token expires_at not a time", admin, "POST", "/api/v1/admin/tokens", map[string]any{"name": "ci", "scope": "full", "expires_at": 5}, 422, "invalid", "expires_at"},
		{"unknown token", admin, "DELETE", "/api/v1/admin/tokens/999", nil, 404, "not_found", ""},
		{"token id not a number", admin, "DELETE", "/api/v1/admin/tokens/abc", nil, 404, "not_found", ""},
		{"bad cursor", admin, "GET", "/api/v1/admin/tokens?cursor=!!", nil, 422, "invalid", "cursor"},
		{"bad limit", admin, "GET", "/api/v1/admin/tokens?limit=0", nil, 422, "invalid", "limit"},
		{"unknown session", user, "DELETE", "/api/v1/me/sessions/nope", nil, 404, "not_found", ""},
		{"login without email", anon, "POST", "/api/v1/auth/login", map[string]string{"password": "x"}, 422, "invalid", "email"},
		{"login without password", anon, "POST", "/api/v1/auth/login", map[string]string{"email": "a@example.com"}, 422, "invalid", "password"},
		{"login unknown member", anon, "POST", "/api/v1/auth/login", map[string]string{"email": "a@example.com", "password": "x", "otp": "1"}, 422, "invalid", "otp"},
		{"login unknown email", anon, "POST", "/api/v1/auth/login", map[string]string{"email": "nobody@example.com", "password": userPW}, 401, "invalid_credentials", ""},
		{"login wrong password", anon, "POST", "/api/v1/auth/login", map[string]string{"email": "user@example.com", "password": adminPW}, 401, "invalid_credentials", ""},
		{"register while off", anon, "POST", "/api/v1/auth/register", map[string]string{"email": "n@example.com", "password": userPW}, 403, "forbidden", ""},
		{"setup done", anon, "POST", "/api/v1/setup", map[string]string{"token": "x", "email": "n@example.com", "password": userPW}, 409, "conflict", ""},
		{"setup without token", anon, "POST", "/api/v1/setup", map[string]string{"email": "n@example.com", "password": userPW}, 422, "invalid", "token"},
		{"password too short", user, "POST", "/api/v1/me/password", map[string]string{"current": userPW, "new": "short"}, 422, "invalid", "new"},
		{"password wrong current", user, "POST", "/api/v1/me/password", map[string]string{"current": "not it at all", "new": userPW + "2"}, 422, "invalid", "current"},
		{"name too long", user, "PATCH", "/api/v1/me", map[string]string{"name": strings.Repeat("x", 192)}, 422, "invalid", "name"},
		{"totp enable before setup", user, "POST", "/api/v1/me/totp/enable", map[string]string{"code": "123456"}, 409, "conflict", ""},
		{"totp enable without code", user, "POST", "/api/v1/me/totp/enable", map[string]string{}, 422, "invalid", "code"},
		{"totp disable wrong password", user, "POST", "/api/v1/me/totp/disable", map[string]string{"password": "wrong password!"}, 422, "invalid", "password"},
		{"step-up empty", user, "POST", "/api/v1/auth/step-up", map[string]string{}, 422, "invalid", "password"},
		{"step-up by a token", srv.As(&console.Principal{UserID: 1, Role: console.RoleAdmin, Via: console.ViaToken}), "POST", "/api/v1/auth/step-up", map[string]string{"password": "x"}, 403, "forbidden", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.client.Do(c.method, c.path, c.body).ExpectError(t, c.status, c.code, c.field)
		})
	}

	t.Run("happy paths", func(t *testing.T) {
		var me map[string]any
		user.Do("GET", "/api/v1/me", nil).Expect(t, 200).Decode(t, &me)
		if me["email"] != "user@example.com" || me["role"] != "user" || me["managed_by"] != "api" {
			t.Errorf("me %v", me)
		}
		if r := user.Do("PATCH", "/api/v1/me", map[string]string{"name": " Uma "}).Expect(t, 200); r.JSON["name"] != "Uma" {
			t.Errorf("renamed %s", r.Body)
		}
		if r := anon.Do("GET", "/api/v1/setup", nil).Expect(t, 200); r.JSON["needed"] != false {
			t.Errorf("setup %s", r.Body)
		}
		r := admin.Do("POST", "/api/v1/admin/tokens", map[string]string{"name": "ci", "scope": "read", "expires_at": future}).Expect(t, 201)
		tok, _ := r.JSON["token"].(string)
		if !strings.HasPrefix(tok, "sy-admin-") || r.JSON["scope"] != "read" || r.JSON["user"] != "admin@example.com" {
			t.Fatalf("created %s", r.Body)
		}
		admin.Do("POST", "/api/v1/admin/tokens", map[string]string{"name": "deploy", "scope": "full"}).Expect(t, 201)
		var page struct {
			Items []map[string]any `json:"items"`
			Next  *string          `json:"next_cursor"`
		}
		admin.Do("GET", "/api/v1/admin/tokens?limit=1", nil).Expect(t, 200).Decode(t, &page)
		if len(page.Items) != 1 || page.Items[0]["name"] != "deploy" || page.Next == nil || page.Items[0]["token"] != nil {
			t.Fatalf("first page %+v", page)
		}
		admin.Do("GET", "/api/v1/admin/tokens?limit=1&cursor="+*page.Next, nil).Expect(t, 200).Decode(t, &page)
		if len(page.Items) != 1 || page.Items[0]["name"] != "ci" || page.Next != nil {
			t.Fatalf("second page %+v", page)
		}
		id := int64(page.Items[0]["id"].(float64))
		admin.Do("DELETE", "/api/v1/admin/tokens/"+strconv.FormatInt(id, 10), nil).Expect(t, 204)
		admin.Do("DELETE", "/api/v1/admin/tokens/"+strconv.FormatInt(id, 10), nil).ExpectError(t, 404, "not_found", "")
		if !audited(srv, "admin_token.delete", "admin@example.com") {
			t.Error("token deletion not audited")
		}
		e.reg = auth.RegistrationPolicy{Mode: auth.RegistrationInvite}
		anon.Do("POST", "/api/v1/auth/register", map[string]string{"email": "n@example.com", "password": userPW}).ExpectError(t, 422, "invalid", "invite_code")
		anon.Do("POST", "/api/v1/auth/register", map[string]string{"email": "n@example.com", "password": userPW, "invite_code": "SYR-XXXX"}).ExpectError(t, 422, "invalid", "invite_code")
		e.reg = auth.RegistrationPolicy{Mode: auth.RegistrationOpen}
		anon.Do("POST", "/api/v1/auth/register", map[string]string{"email": "bad", "password": userPW}).ExpectError(t, 422, "invalid", "email")
		anon.Do("POST", "/api/v1/auth/register", map[string]string{"email": "n@example.com", "password": "short"}).ExpectError(t, 422, "invalid", "password")
		r = anon.Do("POST", "/api/v1/auth/register", map[string]string{"email": "n@example.com", "password": userPW}).Expect(t, 201)
		if u, _ := r.JSON["user"].(map[string]any); u["email"] != "n@example.com" || cookieOf(t, r) == nil {
			t.Errorf("registered %s", r.Body)
		}
		anon.Do("POST", "/api/v1/auth/register", map[string]string{"email": "n@example.com", "password": userPW}).ExpectError(t, 409, "conflict", "")
	})
}

var clientAddr = netip.MustParseAddr("127.0.0.1")

func cookieOf(t *testing.T, r *consoletest.Resp) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == console.SessionCookie {
			return c
		}
	}
	return nil
}

// session is a browser holding a session cookie.
func session(srv *consoletest.Server, c *http.Cookie) *consoletest.Client {
	return srv.Anon().With("Cookie", console.SessionCookie+"="+c.Value).With("Origin", "http://console.test")
}

// TestRealSessions signs in through the API with the real authenticator:
// cookie, /me, step-up, two-factor with a TOTP and a recovery code, admin
// tokens, password change, sign-out, throttling.
func TestRealSessions(t *testing.T) {
	e := newAccounts(t, true, auth.Throttle{PerAccount: 6, PerIP: 100})
	srv := consoletest.New(t, e.mount, consoletest.WithNow(e.clk.Now), consoletest.WithAuth(console.SessionAuth{Accounts: e.acc}))
	anon := srv.Anon()
	login := func(body map[string]string) *consoletest.Resp { return anon.Do("POST", "/api/v1/auth/login", body) }

	r := login(map[string]string{"email": "admin@example.com", "password": adminPW}).Expect(t, 200)
	c := cookieOf(t, r)
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure || len(c.Value) != 43 {
		t.Fatalf("cookie %+v", c)
	}
	s := session(srv, c)
	if r := s.Do("GET", "/api/v1/me", nil).Expect(t, 200); r.JSON["email"] != "admin@example.com" || r.JSON["totp_enabled"] != false {
		t.Fatalf("me %s", r.Body)
	}
	var sessions struct {
		Items []map[string]any `json:"items"`
	}
	s.Do("GET", "/api/v1/me/sessions", nil).Expect(t, 200).Decode(t, &sessions)
	if len(sessions.Items) != 1 || sessions.Items[0]["current"] != true || sessions.Items[0]["ip"] != "127.0.0.1" {
		t.Fatalf("sessions %+v", sessions)
	}
	// A stale cookie is no session: 401 on private routes, sign-in works.
	stale := session(srv, &http.Cookie{Value: "stale"})
	stale.Do("GET", "/api/v1/me", nil).ExpectError(t, 401, "unauthenticated", "")
	stale.Do("GET", "/api/v1/setup", nil).Expect(t, 200)

	// Step-up, then an admin token (which needs it).
	s.Do("POST", "/api/v1/admin/tokens", map[string]string{"name": "ci", "scope": "read"}).ExpectError(t, 403, "step_up_required", "")
	s.Do("POST", "/api/v1/auth/step-up", map[string]string{"password": "wrong password!"}).ExpectError(t, 401, "invalid_credentials", "")
	if r := s.Do("POST", "/api/v1/auth/step-up", map[string]string{"password": adminPW}).Expect(t, 200); r.JSON["until"] == nil {
		t.Fatalf("step-up %s", r.Body)
	}
	readTok := s.Do("POST", "/api/v1/admin/tokens", map[string]string{"name": "ci", "scope": "read"}).Expect(t, 201).JSON["token"].(string)
	fullTok := s.Do("POST", "/api/v1/admin/tokens", map[string]string{"name": "ops", "scope": "full"}).Expect(t, 201).JSON["token"].(string)
	e.clk.Add(console.StepUpWindow + time.Second)
	s.Do("POST", "/api/v1/admin/tokens", map[string]string{"name": "late", "scope": "read"}).ExpectError(t, 403, "step_up_required", "")

	reader := anon.With("Authorization", "Bearer "+readTok)
	if r := reader.Do("GET", "/api/v1/admin/tokens", nil).Expect(t, 200); len(r.JSON["items"].([]any)) != 2 {
		t.Errorf("tokens %s", r.Body)
	}
	reader.Do("POST", "/api/v1/admin/tokens", map[string]string{"name": "x", "scope": "read"}).ExpectError(t, 403, "read_only_token", "")
	writer := anon.With("Authorization", "Bearer "+fullTok)
	writer.Do("POST", "/api/v1/admin/tokens", map[string]string{"name": "x", "scope": "read"}).Expect(t, 201)
	anon.With("Authorization", "Bearer sy-admin-nope").Do("GET", "/api/v1/me", nil).ExpectError(t, 401, "unauthenticated", "")

	// Two-factor enrolment.
	secret := s.Do("POST", "/api/v1/me/totp/setup", nil).Expect(t, 200).JSON["secret"].(string)
	s.Do("POST", "/api/v1/me/totp/enable", map[string]string{"code": "000000"}).ExpectError(t, 422, "invalid", "code")
	var enabled struct {
		Codes []string `json:"recovery_codes"`
	}
	s.Do("POST", "/api/v1/me/totp/enable", map[string]string{"code": auth.TOTPCode(secret, e.clk.Now())}).Expect(t, 200).Decode(t, &enabled)
	if len(enabled.Codes) != 10 {
		t.Fatalf("recovery codes %v", enabled.Codes)
	}
	s.Do("POST", "/api/v1/auth/logout", nil).Expect(t, 204)
	s.Do("GET", "/api/v1/me", nil).ExpectError(t, 401, "unauthenticated", "")

	login(map[string]string{"email": "admin@example.com", "password": adminPW}).ExpectError(t, 401, "totp_required", "totp")
	e.clk.Add(30 * time.Second)
	r = login(map[string]string{"email": "admin@example.com", "password": adminPW, "totp": auth.TOTPCode(secret, e.clk.Now())}).Expect(t, 200)
	s = session(srv, cookieOf(t, r))
	if r := s.Do("GET", "/api/v1/me", nil).Expect(t, 200); r.JSON["totp_enabled"] != true {
		t.Errorf("me %s", r.Body)
	}
	r = login(map[string]string{"email": "admin@example.com", "password": adminPW, "recovery_code": enabled.Codes[0]}).Expect(t, 200)
	login(map[string]string{"email": "admin@example.com", "password": adminPW, "recovery_code": enabled.Codes[0]}).ExpectError(t, 401, "invalid_credentials", "")
	s2 := session(srv, cookieOf(t, r))
	// Step-up with a TOTP code.
	e.clk.Add(30 * time.Second)
	s2.Do("POST", "/api/v1/auth/step-up", map[string]string{"totp": auth.TOTPCode(secret, e.clk.Now())}).Expect(t, 200)

	// Revoke the other session.
	s2.Do("GET", "/api/v1/me/sessions", nil).Expect(t, 200).Decode(t, &sessions)
	if len(sessions.Items) != 2 {
		t.Fatalf("sessions %+v", sessions)
	}
	for _, it := range sessions.Items {
		if it["current"] == false {
			s2.Do("DELETE", "/api/v1/me/sessions/"+it["id"].(string), nil).Expect(t, 204)
		}
	}
	s.Do("GET", "/api/v1/me", nil).ExpectError(t, 401, "unauthenticated", "")

	// A password change ends every session and hands this client a new one.
	r = s2.Do("POST", "/api/v1/me/password", map[string]string{"current": adminPW, "new": adminPW + "!"}).Expect(t, 204)
	s2.Do("GET", "/api/v1/me", nil).ExpectError(t, 401, "unauthenticated", "")
	session(srv, cookieOf(t, r)).Do("GET", "/api/v1/me", nil).Expect(t, 200)
	s2.Do("POST", "/api/v1/me/totp/disable", map[string]string{"password": adminPW}).ExpectError(t, 401, "unauthenticated", "")
	session(srv, cookieOf(t, r)).Do("POST", "/api/v1/me/totp/disable", map[string]string{"password": adminPW + "!"}).Expect(t, 204)

	// Throttling: six attempts per account, then 429 with Retry-After.
	var last *consoletest.Resp
	for range 7 {
		last = login(map[string]string{"email": "user@example.com", "password": "wrong password!"})
	}
	last.ExpectError(t, 429, "rate_limited", "")
	if last.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	login(map[string]string{"email": "user@example.com", "password": userPW}).ExpectError(t, 429, "rate_limited", "")
}

// TestSetupAndSecureCookie: the first administrator through the setup
// token; the cookie is Secure behind an https public URL.
func TestSetupAndSecureCookie(t *testing.T) {
	e := newAccounts(t, false, auth.Throttle{})
	srv := consoletest.New(t, func(a *console.API) {
		console.MountAuth(a, console.AuthDeps{Accounts: e.acc, PublicURL: "https://console.test"})
	}, consoletest.WithAuth(console.SessionAuth{Accounts: e.acc}), consoletest.WithPublicURL("https://console.test"))
	anon := srv.Anon()
	if r := anon.Do("GET", "/api/v1/setup", nil).Expect(t, 200); r.JSON["needed"] != true {
		t.Fatalf("setup %s", r.Body)
	}
	tok, err := e.acc.SetupToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]string{"token": tok, "email": "root@example.com", "password": adminPW, "name": "Root"}
	anon.Do("POST", "/api/v1/setup", map[string]string{"token": "wrong", "email": "root@example.com", "password": adminPW}).ExpectError(t, 422, "invalid", "token")
	r := anon.Do("POST", "/api/v1/setup", body).Expect(t, 200)
	c := cookieOf(t, r)
	if u, _ := r.JSON["user"].(map[string]any); u["role"] != "admin" || c == nil || !c.Secure {
		t.Fatalf("setup %s, cookie %+v", r.Body, c)
	}
	anon.Do("POST", "/api/v1/setup", body).ExpectError(t, 409, "conflict", "")
	if r := anon.Do("GET", "/api/v1/setup", nil).Expect(t, 200); r.JSON["needed"] != false {
		t.Errorf("setup after %s", r.Body)
	}
	if !audited(srv, "setup.admin", "root@example.com") {
		t.Error("setup not audited")
	}
}

func audited(srv *consoletest.Server, action, actor string) bool {
	for _, a := range srv.Audits() {
		if a.Action == action && a.ActorEmail == actor {
			return true
		}
	}
	return false
}

// TestRequireAdminTOTP: with the setting on, an administrator without
// two-factor signs in as a user until they turn it on.
func TestRequireAdminTOTP(t *testing.T) {
	e := newAccounts(t, true, auth.Throttle{})
	required := func(context.Context) bool { return true }
	srv := consoletest.New(t, func(a *console.API) {
		console.MountAuth(a, console.AuthDeps{Accounts: e.acc, PublicURL: "http://console.test", RequireAdminTOTP: required})
	}, consoletest.WithNow(e.clk.Now), consoletest.WithAuth(console.SessionAuth{Accounts: e.acc, RequireAdminTOTP: required}))
	r := srv.Anon().Do("POST", "/api/v1/auth/login", map[string]string{"email": "admin@example.com", "password": adminPW}).Expect(t, 200)
	s := session(srv, cookieOf(t, r))
	if me := s.Do("GET", "/api/v1/me", nil).Expect(t, 200); me.JSON["totp_required"] != true || me.JSON["role"] != "admin" {
		t.Fatalf("me %s", me.Body)
	}
	s.Do("GET", "/api/v1/admin/tokens", nil).ExpectError(t, 403, "forbidden", "")
	secret := s.Do("POST", "/api/v1/me/totp/setup", nil).Expect(t, 200).JSON["secret"].(string)
	s.Do("POST", "/api/v1/me/totp/enable", map[string]string{"code": auth.TOTPCode(secret, e.clk.Now())}).Expect(t, 200)
	s.Do("GET", "/api/v1/admin/tokens", nil).Expect(t, 200)
	if me := s.Do("GET", "/api/v1/me", nil).Expect(t, 200); me.JSON["totp_required"] != false {
		t.Fatalf("me after enrolling %s", me.Body)
	}
	// A user is never asked.
	r = srv.Anon().Do("POST", "/api/v1/auth/login", map[string]string{"email": "user@example.com", "password": userPW}).Expect(t, 200)
	if me := session(srv, cookieOf(t, r)).Do("GET", "/api/v1/me", nil).Expect(t, 200); me.JSON["totp_required"] != false {
		t.Fatalf("user me %s", me.Body)
	}
}
