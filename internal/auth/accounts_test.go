package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/limit"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openDB(t testing.TB, url string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

func keyring(t testing.TB) *secret.Keyring {
	kr, err := secret.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

type env struct {
	db    *store.DB
	clk   *clock
	acc   *auth.Accounts
	store *auth.Store
	led   *billing.Ledger
}

var clientIP = netip.MustParseAddr("192.0.2.7")

const pw = "correct horse battery"

func newEnv(t *testing.T, url string, sessions func(*store.DB, *clock) auth.SessionStore) *env {
	t.Helper()
	db := openDB(t, url)
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	var ss auth.SessionStore
	if sessions != nil {
		ss = sessions(db, clk)
	}
	led := billing.NewLedger(db, clk.Now)
	acc := auth.NewAccounts(auth.AccountsOptions{DB: db, Sessions: ss, Throttler: limit.Attempts(limit.NewMemory()),
		Keyring: keyring(t), Credits: billing.SignupCredits{Ledger: led, Invalid: auth.ErrInvalidInvite}, Now: clk.Now, SessionIdle: time.Hour, SessionMax: 24 * time.Hour,
		Throttle: auth.Throttle{PerAccount: 6, PerIP: 1000, Window: 15 * time.Minute}})
	return &env{db: db, clk: clk, acc: acc, store: auth.NewStore(db, clk.Now), led: led}
}

func TestAccounts(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		e := newEnv(t, url, nil)
		for _, st := range []struct {
			name string
			fn   func(*testing.T)
		}{{"setup", e.testSetup}, {"login", e.testLogin}, {"sessions", e.testSessions}, {"totp", e.testTOTP},
			{"tokens", e.testTokens}, {"register", e.testRegister}, {"apply admin", e.testApplyAdmin}} {
			// Each part starts with the attempt budgets paid back.
			e.clk.Add(time.Hour)
			t.Run(st.name, st.fn)
		}
	})
}

func (e *env) testSetup(t *testing.T) {
	ctx := t.Context()
	needed, err := e.acc.SetupNeeded(ctx)
	if err != nil || !needed {
		t.Fatalf("setup needed on an empty database: %v %v", needed, err)
	}
	tok, err := e.acc.SetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.acc.Setup(ctx, "wrong", "root@example.com", "Root", pw); !errors.Is(err, auth.ErrInvalidSetup) {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := e.acc.Setup(ctx, tok, "root@example.com", "Root", "short"); !errors.Is(err, auth.ErrWeakPassword) {
		t.Fatalf("short password: %v", err)
	}
	// An expired token is refused.
	e.clk.Add(auth.SetupTokenTTL + time.Second)
	if _, err := e.acc.Setup(ctx, tok, "root@example.com", "Root", pw); !errors.Is(err, auth.ErrInvalidSetup) {
		t.Fatalf("expired token: %v", err)
	}
	tok, err = e.acc.SetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.acc.Setup(ctx, tok, "Root@Example.com", "Root", pw)
	if err != nil {
		t.Fatal(err)
	}
	if a.Email != "root@example.com" || a.Role != "admin" || !a.HasPassword {
		t.Errorf("admin %+v", a)
	}
	if _, err := e.acc.Setup(ctx, tok, "other@example.com", "", pw); !errors.Is(err, auth.ErrSetupDone) {
		t.Errorf("second setup: %v", err)
	}
	if _, err := e.acc.SetupToken(ctx); !errors.Is(err, auth.ErrSetupDone) {
		t.Errorf("token after setup: %v", err)
	}
}

func (e *env) testLogin(t *testing.T) {
	ctx := t.Context()
	if _, err := e.store.CreateUser(ctx, auth.NewUser{Email: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	// No password yet: like an unknown email.
	if _, err := e.acc.Login(ctx, "bob@example.com", pw, "", "", clientIP); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("no password: %v", err)
	}
	if _, err := e.acc.SetPassword(ctx, "bob@example.com", pw); err != nil {
		t.Fatal(err)
	}
	a, err := e.acc.Login(ctx, "BOB@example.com", pw, "", "", clientIP)
	if err != nil || a.Email != "bob@example.com" {
		t.Fatalf("login: %+v %v", a, err)
	}
	for _, c := range []struct{ email, pw string }{{"bob@example.com", pw + "x"}, {"nobody@example.com", pw}} {
		if _, err := e.acc.Login(ctx, c.email, c.pw, "", "", clientIP); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Errorf("%s: %v", c.email, err)
		}
	}
	// The account budget is 6 attempts: two failures were spent above.
	other := netip.MustParseAddr("198.51.100.1")
	for i := range 4 {
		if _, err := e.acc.Login(ctx, "bob@example.com", "wrong password!", "", "", other); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	_, err = e.acc.Login(ctx, "bob@example.com", pw, "", "", other)
	var rl *auth.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 {
		t.Fatalf("sixth attempt: %v", err)
	}
	// Time pays the budget back: one attempt per 2.5 minutes.
	e.clk.Add(150 * time.Second)
	if _, err := e.acc.Login(ctx, "bob@example.com", pw, "", "", other); err != nil {
		t.Fatalf("after waiting: %v", err)
	}
	// A disabled user cannot sign in.
	if err := e.store.SetUserStatus(ctx, "bob@example.com", auth.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	if _, err := e.acc.Login(ctx, "bob@example.com", pw, "", "", clientIP); !errors.Is(err, auth.ErrAccountDisabled) {
		t.Errorf("disabled: %v", err)
	}
	if err := e.store.SetUserStatus(ctx, "bob@example.com", auth.StatusActive); err != nil {
		t.Fatal(err)
	}
	// The per-IP budget spans accounts.
	perIP := auth.NewAccounts(auth.AccountsOptions{DB: e.db, Throttler: limit.Attempts(limit.NewMemory()), Now: e.clk.Now,
		Throttle: auth.Throttle{PerAccount: 100, PerIP: 8}})
	for i := range 8 {
		if _, err := perIP.Login(ctx, "probe"+string(rune('a'+i))+"@example.com", pw, "", "", clientIP); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("probe %d: %v", i, err)
		}
	}
	if _, err := perIP.Login(ctx, "bob@example.com", pw, "", "", clientIP); !errors.As(err, &rl) {
		t.Errorf("ninth attempt from one address: %v", err)
	}
	if _, err := perIP.Login(ctx, "bob@example.com", pw, "", "", other); err != nil {
		t.Errorf("another address: %v", err)
	}
}

func (e *env) testSessions(t *testing.T) {
	ctx := t.Context()
	a, err := e.acc.Login(ctx, "root@example.com", pw, "", "", clientIP)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := e.acc.CreateSession(ctx, a.ID, clientIP, "test/1")
	if err != nil {
		t.Fatal(err)
	}
	if len(s1.Token) != 43 || strings.ContainsAny(s1.Token, "+/=") {
		t.Errorf("token %q is not 32 bytes of base64url", s1.Token)
	}
	got, s, err := e.acc.Authenticate(ctx, s1.Token)
	if err != nil || got.ID != a.ID || s.ID != s1.Session.ID || s.IP != "192.0.2.7" || s.UserAgent != "test/1" {
		t.Fatalf("authenticate: %+v %+v %v", got, s, err)
	}
	if _, _, err := e.acc.Authenticate(ctx, s1.Token+"x"); !errors.Is(err, auth.ErrSessionNotFound) {
		t.Errorf("wrong token: %v", err)
	}
	// Idle expiry is one hour; activity within it keeps the session.
	for range 3 {
		e.clk.Add(50 * time.Minute)
		if _, _, err := e.acc.Authenticate(ctx, s1.Token); err != nil {
			t.Fatalf("active session: %v", err)
		}
	}
	s2, err := e.acc.CreateSession(ctx, a.ID, clientIP, "test/2")
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Add(61 * time.Minute)
	if _, _, err := e.acc.Authenticate(ctx, s2.Token); !errors.Is(err, auth.ErrSessionNotFound) {
		t.Errorf("idle session: %v", err)
	}
	// Absolute expiry: a day, however active.
	s3, _ := e.acc.CreateSession(ctx, a.ID, clientIP, "test/3")
	for range 25 {
		e.clk.Add(59 * time.Minute)
		_, _, err = e.acc.Authenticate(ctx, s3.Token)
	}
	if !errors.Is(err, auth.ErrSessionNotFound) {
		t.Errorf("session past its absolute expiry: %v", err)
	}
	// List and revoke one's own sessions.
	s4, _ := e.acc.CreateSession(ctx, a.ID, clientIP, "test/4")
	s5, _ := e.acc.CreateSession(ctx, a.ID, clientIP, "test/5")
	list, err := e.acc.Sessions(ctx, a.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("sessions: %+v %v", list, err)
	}
	if err := e.acc.RevokeSession(ctx, a.ID+1000, s4.Session.ID); !errors.Is(err, auth.ErrSessionNotFound) {
		t.Errorf("another user's session: %v", err)
	}
	if err := e.acc.RevokeSession(ctx, a.ID, s4.Session.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.acc.Authenticate(ctx, s4.Token); !errors.Is(err, auth.ErrSessionNotFound) {
		t.Errorf("revoked session: %v", err)
	}
	// Step-up.
	if _, err := e.acc.StepUp(ctx, s5.Session, "wrong password!", "", clientIP); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("step-up with a wrong password: %v", err)
	}
	until, err := e.acc.StepUp(ctx, s5.Session, pw, "", clientIP)
	if err != nil || !until.Equal(e.clk.Now().Add(auth.StepUpWindow)) {
		t.Fatalf("step-up: %v %v", until, err)
	}
	if _, s, _ := e.acc.Authenticate(ctx, s5.Token); s.StepUpAt == nil || !s.StepUpAt.Equal(e.clk.Now()) {
		t.Errorf("step_up_at %v", s.StepUpAt)
	}
	// A password change ends every session.
	if err := e.acc.ChangePassword(ctx, a.ID, "not it at all", pw+"2", clientIP); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("change with a wrong current password: %v", err)
	}
	if err := e.acc.ChangePassword(ctx, a.ID, pw, pw+"2", clientIP); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.acc.Authenticate(ctx, s5.Token); !errors.Is(err, auth.ErrSessionNotFound) {
		t.Errorf("session after a password change: %v", err)
	}
	if _, err := e.acc.SetPassword(ctx, "root@example.com", pw); err != nil {
		t.Fatal(err)
	}
	// Logout.
	s6, _ := e.acc.CreateSession(ctx, a.ID, clientIP, "")
	if err := e.acc.Logout(ctx, s6.Token); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.acc.Authenticate(ctx, s6.Token); !errors.Is(err, auth.ErrSessionNotFound) {
		t.Errorf("after logout: %v", err)
	}
	if err := e.acc.SweepSessions(ctx); err != nil {
		t.Error(err)
	}
}

func (e *env) testTOTP(t *testing.T) {
	ctx := t.Context()
	a, err := e.acc.Login(ctx, "root@example.com", pw, "", "", clientIP)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.acc.EnableTOTP(ctx, a.ID, "123456"); !errors.Is(err, auth.ErrTOTPNotStarted) {
		t.Errorf("enable before setup: %v", err)
	}
	en, err := e.acc.BeginTOTP(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(en.OTPAuthURL, "otpauth://totp/Switchyard:root@example.com?") {
		t.Errorf("otpauth url %s", en.OTPAuthURL)
	}
	// Pending: sign-in does not ask for a code yet.
	if _, err := e.acc.Login(ctx, "root@example.com", pw, "", "", clientIP); err != nil {
		t.Fatalf("login with pending totp: %v", err)
	}
	if _, err := e.acc.EnableTOTP(ctx, a.ID, "000000"); !errors.Is(err, auth.ErrInvalidCode) {
		t.Errorf("enable with a wrong code: %v", err)
	}
	codes, err := e.acc.EnableTOTP(ctx, a.ID, auth.TOTPCode(en.Secret, e.clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	if acct, _ := e.acc.Account(ctx, a.ID); !acct.TOTPEnabled {
		t.Error("totp not enabled")
	}
	if _, err := e.acc.Login(ctx, "root@example.com", pw, "", "", clientIP); !errors.Is(err, auth.ErrTOTPRequired) {
		t.Errorf("login without a code: %v", err)
	}
	if _, err := e.acc.Login(ctx, "root@example.com", "wrong password!", "", "", clientIP); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("wrong password with totp on: %v", err)
	}
	// The code that enabled it was used: the same step is refused.
	if _, err := e.acc.Login(ctx, "root@example.com", pw, auth.TOTPCode(en.Secret, e.clk.Now()), "", clientIP); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("replayed code: %v", err)
	}
	e.clk.Add(30 * time.Second)
	code := auth.TOTPCode(en.Secret, e.clk.Now())
	if _, err := e.acc.Login(ctx, "root@example.com", pw, code, "", clientIP); err != nil {
		t.Errorf("login with totp: %v", err)
	}
	if _, err := e.acc.Login(ctx, "root@example.com", pw, code, "", clientIP); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("same code twice: %v", err)
	}
	// Recovery codes work once each, in any case and without the dash.
	rc := strings.ToUpper(strings.ReplaceAll(codes[3], "-", ""))
	if _, err := e.acc.Login(ctx, "root@example.com", pw, "", rc, clientIP); err != nil {
		t.Errorf("login with a recovery code: %v", err)
	}
	if _, err := e.acc.Login(ctx, "root@example.com", pw, "", codes[3], clientIP); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("recovery code twice: %v", err)
	}
	if n, _ := e.acc.RecoveryCodesLeft(ctx, a.ID); n != 9 {
		t.Errorf("%d recovery codes left", n)
	}
	// Step-up with TOTP.
	s, _ := e.acc.CreateSession(ctx, a.ID, clientIP, "")
	e.clk.Add(30 * time.Second)
	if _, err := e.acc.StepUp(ctx, s.Session, "", auth.TOTPCode(en.Secret, e.clk.Now()), clientIP); err != nil {
		t.Errorf("step-up with totp: %v", err)
	}
	if err := e.acc.DisableTOTP(ctx, a.ID, "wrong password!", clientIP); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("disable with a wrong password: %v", err)
	}
	if err := e.acc.DisableTOTP(ctx, a.ID, pw, clientIP); err != nil {
		t.Fatal(err)
	}
	if _, err := e.acc.Login(ctx, "root@example.com", pw, "", "", clientIP); err != nil {
		t.Errorf("login after disabling totp: %v", err)
	}
}

func (e *env) testTokens(t *testing.T) {
	ctx := t.Context()
	root, err := e.acc.Login(ctx, "root@example.com", pw, "", "", clientIP)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []auth.NewAdminToken{{Name: "", Scope: auth.ScopeRead}, {Name: "x", Scope: "write"},
		{Name: "x", Scope: auth.ScopeFull, ExpiresAt: e.clk.Now().Add(-time.Hour)}} {
		if _, _, err := e.acc.CreateAdminToken(ctx, root.ID, bad); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	value, tok, err := e.acc.CreateAdminToken(ctx, root.ID, auth.NewAdminToken{Name: "ci", Scope: auth.ScopeRead, ExpiresAt: e.clk.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(value, "sy-admin-") || len(value) != 49 || !strings.HasPrefix(value, tok.Prefix) {
		t.Errorf("token %q prefix %q", value, tok.Prefix)
	}
	got, at, err := e.acc.AuthenticateToken(ctx, value)
	if err != nil || got.ID != root.ID || at.ID != tok.ID || at.Scope != auth.ScopeRead || at.LastUsedAt == nil {
		t.Fatalf("authenticate token: %+v %+v %v", got, at, err)
	}
	value2, tok2, _ := e.acc.CreateAdminToken(ctx, root.ID, auth.NewAdminToken{Name: "full", Scope: auth.ScopeFull})
	list, err := e.acc.ListAdminTokens(ctx, 0, 1)
	if err != nil || len(list) != 1 || list[0].ID != tok2.ID {
		t.Fatalf("first page: %+v %v", list, err)
	}
	list, _ = e.acc.ListAdminTokens(ctx, tok2.ID, 10)
	if len(list) != 1 || list[0].ID != tok.ID || list[0].ExpiresAt == nil {
		t.Fatalf("second page: %+v", list)
	}
	e.clk.Add(time.Hour)
	if _, _, err := e.acc.AuthenticateToken(ctx, value); !errors.Is(err, auth.ErrTokenNotFound) {
		t.Errorf("expired token: %v", err)
	}
	if err := e.acc.DeleteAdminToken(ctx, tok2.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.acc.AuthenticateToken(ctx, value2); !errors.Is(err, auth.ErrTokenNotFound) {
		t.Errorf("deleted token: %v", err)
	}
	if err := e.acc.DeleteAdminToken(ctx, tok2.ID); !errors.Is(err, auth.ErrTokenNotFound) {
		t.Errorf("delete twice: %v", err)
	}
	// A token of a user who is no longer an admin stops working.
	u, _ := e.acc.Register(ctx, auth.RegistrationPolicy{Mode: auth.RegistrationOpen}, "tok@example.com", pw, "", clientIP)
	v3, _, err := e.acc.CreateAdminToken(ctx, u.ID, auth.NewAdminToken{Name: "x", Scope: auth.ScopeFull})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.acc.AuthenticateToken(ctx, v3); !errors.Is(err, auth.ErrTokenNotFound) {
		t.Errorf("token of a non-admin: %v", err)
	}
}

func (e *env) testRegister(t *testing.T) {
	ctx := t.Context()
	open := auth.RegistrationPolicy{Mode: auth.RegistrationOpen, NewUserCreditMicros: 2_000_000}
	if _, err := e.acc.Register(ctx, auth.RegistrationPolicy{}, "new@example.com", pw, "", clientIP); !errors.Is(err, auth.ErrRegistrationOff) {
		t.Errorf("off: %v", err)
	}
	if _, err := e.acc.Register(ctx, open, "not-an-email", pw, "", clientIP); !errors.Is(err, auth.ErrInvalidEmail) {
		t.Errorf("bad email: %v", err)
	}
	a, err := e.acc.Register(ctx, open, "new@example.com", pw, "", clientIP)
	if err != nil {
		t.Fatal(err)
	}
	if bal, _ := e.led.Balance(ctx, a.ID); bal != 2_000_000 || a.Role != "user" || a.Group != "default" {
		t.Errorf("registered %+v balance %d", a, bal)
	}
	if _, err := e.acc.Register(ctx, open, "new@example.com", pw, "", clientIP); !errors.Is(err, auth.ErrUserExists) {
		t.Errorf("twice: %v", err)
	}
	if _, err := e.acc.Login(ctx, "new@example.com", pw, "", "", clientIP); err != nil {
		t.Errorf("login after registering: %v", err)
	}
	invite := auth.RegistrationPolicy{Mode: auth.RegistrationInvite}
	if _, err := e.acc.Register(ctx, invite, "inv@example.com", pw, "", clientIP); !errors.Is(err, auth.ErrInviteRequired) {
		t.Errorf("invite mode without a code: %v", err)
	}
	if _, err := e.acc.Register(ctx, invite, "inv@example.com", pw, "SYR-NOTACODE", clientIP); !errors.Is(err, auth.ErrInvalidInvite) {
		t.Errorf("invalid invite: %v", err)
	}
	// The failed registration left no user behind.
	if _, err := e.acc.Register(ctx, open, "inv@example.com", pw, "", clientIP); err != nil {
		t.Errorf("the failed registration left its user: %v", err)
	}
	code, err := e.led.InviteCode(ctx, a.ID, 500_000, 300_000)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.acc.Register(ctx, invite, "inv2@example.com", pw, code, clientIP)
	if err != nil {
		t.Fatal(err)
	}
	if bal, _ := e.led.Balance(ctx, b.ID); bal != 500_000 {
		t.Errorf("invitee balance %d", bal)
	}
	if bal, _ := e.led.Balance(ctx, a.ID); bal != 2_300_000 {
		t.Errorf("inviter balance %d", bal)
	}
}

func (e *env) testApplyAdmin(t *testing.T) {
	ctx := t.Context()
	if err := e.acc.ApplyAdmin(ctx, "ops@example.com", pw); err != nil {
		t.Fatal(err)
	}
	hash := func() string {
		var h string
		if err := e.db.Read().QueryRowContext(ctx, e.db.Dialect().Rebind("SELECT password_hash FROM users WHERE email = ?"), "ops@example.com").Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	h1 := hash()
	if !auth.VerifyPassword(h1, pw) {
		t.Fatalf("stored hash %q does not verify", h1)
	}
	a, err := e.acc.Login(ctx, "ops@example.com", pw, "", "", clientIP)
	if err != nil || a.Role != "admin" {
		t.Fatalf("login as the file's admin: %+v %v", a, err)
	}
	s, _ := e.acc.CreateSession(ctx, a.ID, clientIP, "")
	// Applying again with the same password changes nothing.
	if err := e.acc.ApplyAdmin(ctx, "ops@example.com", pw); err != nil || hash() != h1 {
		t.Errorf("re-applied: %v, hash changed %v", err, hash() != h1)
	}
	if _, _, err := e.acc.Authenticate(ctx, s.Token); err != nil {
		t.Errorf("session after re-applying the same password: %v", err)
	}
	// A new password in the file replaces it and ends the sessions.
	if err := e.acc.ApplyAdmin(ctx, "ops@example.com", pw+"!"); err != nil || !auth.VerifyPassword(hash(), pw+"!") {
		t.Errorf("new password: %v", err)
	}
	if _, _, err := e.acc.Authenticate(ctx, s.Token); !errors.Is(err, auth.ErrSessionNotFound) {
		t.Errorf("session after a password change in the file: %v", err)
	}
}

// TestSessionStores runs the SessionStore contract on the database and on
// Redis.
func TestSessionStores(t *testing.T) {
	t.Run("sql", func(t *testing.T) {
		db := openDB(t, "sqlite://"+t.TempDir()+"/sy.db")
		testSessionStore(t, db, auth.NewSQLSessions(db))
	})
	t.Run("redis", func(t *testing.T) {
		url := testenv.RedisURL(t)
		db := openDB(t, "sqlite://"+t.TempDir()+"/sy.db")
		testSessionStore(t, db, auth.NewRedisSessions(testenv.RedisClient(t, url), testenv.RedisPrefix(t, url), nil))
	})
}

func testSessionStore(t *testing.T, db *store.DB, ss auth.SessionStore) {
	ctx := t.Context()
	st := auth.NewStore(db, nil)
	if err := st.EnsureGroups(ctx, []config.Group{{Name: "default", Ratio: 1}}); err != nil {
		t.Fatal(err)
	}
	u1, err := st.CreateUser(ctx, auth.NewUser{Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	u2, _ := st.CreateUser(ctx, auth.NewUser{Email: "b@example.com"})
	now := time.Now().UTC().Truncate(time.Millisecond)
	mk := func(id string, uid int64, age time.Duration) auth.Session {
		return auth.Session{ID: id, UserID: uid, Hash: strings.Repeat(id[:1], 64), CreatedAt: now.Add(-age), LastSeenAt: now.Add(-age),
			ExpiresAt: now.Add(time.Hour), IP: "192.0.2.1", UserAgent: "ua"}
	}
	for _, s := range []auth.Session{mk("a1", u1.ID, 2*time.Second), mk("b1", u1.ID, time.Second), mk("c1", u2.ID, 0)} {
		if err := ss.Create(ctx, s, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ss.Get(ctx, strings.Repeat("a", 64))
	if err != nil || got.ID != "a1" || got.UserID != u1.ID || !got.CreatedAt.Equal(now.Add(-2*time.Second)) || got.StepUpAt != nil {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := ss.Get(ctx, strings.Repeat("z", 64)); !errors.Is(err, auth.ErrSessionNotFound) {
		t.Errorf("unknown: %v", err)
	}
	later := now.Add(time.Minute)
	if err := ss.Touch(ctx, got, later, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := ss.SetStepUp(ctx, got, later, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, _ = ss.Get(ctx, strings.Repeat("a", 64))
	if !got.LastSeenAt.Equal(later) || got.StepUpAt == nil || !got.StepUpAt.Equal(later) {
		t.Errorf("after touch and step-up: %+v", got)
	}
	list, err := ss.List(ctx, u1.ID)
	if err != nil || len(list) != 2 || list[0].ID != "b1" || list[1].ID != "a1" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := ss.Delete(ctx, u2.ID, "a1"); !errors.Is(err, auth.ErrSessionNotFound) {
		t.Errorf("delete another user's session: %v", err)
	}
	if err := ss.Delete(ctx, u1.ID, "a1"); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Get(ctx, strings.Repeat("a", 64)); !errors.Is(err, auth.ErrSessionNotFound) {
		t.Errorf("deleted: %v", err)
	}
	// A touch after a revocation must not bring the session back.
	if err := ss.Touch(ctx, got, later, time.Hour); err != nil && !errors.Is(err, auth.ErrSessionNotFound) {
		t.Log(err)
	}
	if _, err := ss.Get(ctx, strings.Repeat("a", 64)); !errors.Is(err, auth.ErrSessionNotFound) {
		t.Errorf("touched after delete: %v", err)
	}
	if err := ss.DeleteUser(ctx, u1.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := ss.List(ctx, u1.ID); len(list) != 0 {
		t.Errorf("after DeleteUser: %+v", list)
	}
	if _, err := ss.Get(ctx, strings.Repeat("c", 64)); err != nil {
		t.Errorf("other user's session: %v", err)
	}
}

// TestAccountsOnRedis runs sign-in over Redis sessions and the Redis
// limiter.
func TestAccountsOnRedis(t *testing.T) {
	url := testenv.RedisURL(t)
	rdb := testenv.RedisClient(t, url)
	prefix := testenv.RedisPrefix(t, url)
	db := openDB(t, "sqlite://"+t.TempDir()+"/sy.db")
	clk := &clock{t: time.Now().UTC()}
	acc := auth.NewAccounts(auth.AccountsOptions{DB: db, Sessions: auth.NewRedisSessions(rdb, prefix+"sess:", clk.Now),
		Throttler: limit.Attempts(limit.NewRedis(rdb, prefix+"limit:")), Now: clk.Now,
		Throttle: auth.Throttle{PerAccount: 2, PerIP: 100}})
	ctx := context.Background()
	a, err := acc.CreateAdmin(ctx, "r@example.com", "", pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Login(ctx, "r@example.com", pw, "", "", clientIP); err != nil {
		t.Fatal(err)
	}
	st, err := acc.CreateSession(ctx, a.ID, clientIP, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := acc.Authenticate(ctx, st.Token); err != nil {
		t.Fatal(err)
	}
	if err := acc.RevokeUserSessions(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := acc.Authenticate(ctx, st.Token); !errors.Is(err, auth.ErrSessionNotFound) {
		t.Errorf("after revoking: %v", err)
	}
	for range 2 {
		_, _ = acc.Login(ctx, "r@example.com", "wrong password!", "", "", clientIP)
	}
	var rl *auth.RateLimitedError
	if _, err := acc.Login(ctx, "r@example.com", pw, "", "", clientIP); !errors.As(err, &rl) {
		t.Errorf("third attempt: %v", err)
	}
}
