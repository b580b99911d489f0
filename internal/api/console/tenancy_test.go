package console_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/api/console/consoletest"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/store"
)

// revoker records whose sessions were ended.
type revoker struct {
	mu    sync.Mutex
	users []int64
}

func (r *revoker) RevokeUserSessions(_ context.Context, id int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users = append(r.users, id)
	return nil
}

func (r *revoker) ended() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.users...)
}

type tenancyEnv struct {
	srv      *consoletest.Server
	sessions *revoker
	ledger   *billing.Ledger
	store    *auth.Store
	db       *store.DB
	accounts *auth.Accounts
	// Users: 1 admin@example.com (admin), 2 user@example.com (user, group
	// vip), 3 alice@example.com (from the file, with file key "a").
	fileKeyID int64
	reloads   atomic.Int64
}

// newTenancy serves the tenancy routes over a fresh SQLite database.
func newTenancy(t *testing.T) *tenancyEnv {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	as := auth.NewStore(db, nil)
	groups := []config.Group{{Name: "default", Ratio: 1}, {Name: "vip", Ratio: 0.5, RPM: 60}}
	if err := as.ApplyConfig(ctx, groups, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, nu := range []auth.NewUser{{Email: "admin@example.com", Role: "admin"}, {Email: "user@example.com", Group: "vip"}} {
		if _, err := as.CreateUser(ctx, nu); err != nil {
			t.Fatal(err)
		}
	}
	if err := as.ApplyConfig(ctx, groups, []config.User{{Email: "alice@example.com", Group: "vip"}},
		[]config.Key{{Name: "a", User: "alice@example.com", Key: "sk-file-aaaaaaaaaaaaaaaaaaaaaaaa"}}); err != nil {
		t.Fatal(err)
	}
	e := &tenancyEnv{sessions: &revoker{}, ledger: billing.NewLedger(db, nil), store: as, db: db,
		accounts: auth.NewAccounts(auth.AccountsOptions{DB: db})}
	keys, _, err := as.QueryKeys(ctx, auth.KeyFilter{UserID: 3}, auth.Page{})
	if err != nil || len(keys) != 1 {
		t.Fatalf("file key: %v %v", keys, err)
	}
	e.fileKeyID = keys[0].ID
	d := console.TenancyDeps{Users: as, Groups: as, Keys: as, Sessions: e.sessions, Passwords: e.accounts,
		Wallets: e.ledger, Codes: e.ledger,
		InviteKey: []byte("0123456789abcdef0123456789abcdef"),
		Invite: func(context.Context) (console.InviteTerms, error) {
			return console.InviteTerms{InviteeCredit: 2 * billing.MicrosPerUSD, InviterBonus: billing.MicrosPerUSD}, nil
		},
		Changed: func(context.Context) error { e.reloads.Add(1); return nil },
	}
	e.srv = consoletest.New(t, func(a *console.API) { console.MountTenancy(a, d) })
	return e
}

// admin is an admin who has not stepped up.
func (e *tenancyEnv) admin() *consoletest.Client {
	return e.srv.As(&console.Principal{UserID: 1, Email: "admin@example.com", Role: console.RoleAdmin})
}

func TestTenancyAccess(t *testing.T) {
	e := newTenancy(t)
	for _, r := range e.srv.API.Routes() {
		path := strings.ReplaceAll(r.Path, "{id}", "1")
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			e.srv.Anon().Do(r.Method, path, "{}").ExpectError(t, http.StatusUnauthorized, "unauthenticated", "")
			if r.Access == console.Admin {
				e.srv.User().Do(r.Method, path, "{}").ExpectError(t, http.StatusForbidden, "forbidden", "")
			}
			if r.Method != http.MethodGet {
				e.srv.Admin().With("Origin", "https://evil.example").Do(r.Method, path, "{}").
					ExpectError(t, http.StatusForbidden, "csrf_failed", "")
			}
		})
	}
}

func TestTenancyUsers(t *testing.T) {
	e := newTenancy(t)
	adm := e.srv.Admin()

	var page struct {
		Items      []map[string]any `json:"items"`
		NextCursor *string          `json:"next_cursor"`
	}
	adm.Do("GET", "/api/v1/admin/users?limit=2", nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 2 || page.NextCursor == nil || page.Items[0]["email"] != "alice@example.com" ||
		page.Items[0]["managed_by"] != "file" {
		t.Fatalf("first page %+v", page)
	}
	adm.Do("GET", "/api/v1/admin/users?limit=2&cursor="+*page.NextCursor, nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 1 || page.NextCursor != nil || page.Items[0]["email"] != "admin@example.com" {
		t.Fatalf("last page %+v", page)
	}
	adm.Do("GET", "/api/v1/admin/users?group=vip&role=user", nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 2 {
		t.Fatalf("vip users %+v", page)
	}

	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code, field  string
	}{
		{"GET", "/api/v1/admin/users?role=root", nil, 422, "invalid", "role"},
		{"GET", "/api/v1/admin/users?status=gone", nil, 422, "invalid", "status"},
		{"GET", "/api/v1/admin/users?limit=0", nil, 422, "invalid", "limit"},
		{"GET", "/api/v1/admin/users?cursor=!!", nil, 422, "invalid", "cursor"},
		{"POST", "/api/v1/admin/users", map[string]any{"email": "nope"}, 422, "invalid", "email"},
		{"POST", "/api/v1/admin/users", map[string]any{"email": "x@example.com", "role": "root"}, 422, "invalid", "role"},
		{"POST", "/api/v1/admin/users", map[string]any{"email": "x@example.com", "group": "gold"}, 422, "invalid", "group"},
		{"POST", "/api/v1/admin/users", map[string]any{"email": "x@example.com", "colour": "red"}, 422, "invalid", "colour"},
		{"POST", "/api/v1/admin/users", map[string]any{"email": 5}, 422, "invalid", "email"},
		{"POST", "/api/v1/admin/users", map[string]any{"email": "USER@example.com"}, 409, "conflict", "email"},
		{"POST", "/api/v1/admin/users", map[string]any{"email": "x@example.com", "password": "short"}, 422, "invalid", "password"},
		{"POST", "/api/v1/admin/users", map[string]any{"email": "x@example.com", "password": 7}, 422, "invalid", "password"},
		{"GET", "/api/v1/admin/users/99", nil, 404, "not_found", ""},
		{"GET", "/api/v1/admin/users/abc", nil, 404, "not_found", ""},
		{"PATCH", "/api/v1/admin/users/99", map[string]any{"name": "x"}, 404, "not_found", ""},
		{"PATCH", "/api/v1/admin/users/2", map[string]any{"status": "gone"}, 422, "invalid", "status"},
		{"PATCH", "/api/v1/admin/users/2", map[string]any{"group": "gold"}, 422, "invalid", "group"},
		{"PATCH", "/api/v1/admin/users/3", map[string]any{"group": "default"}, 409, "managed_by_file", "users[email=alice@example.com]"},
		{"PATCH", "/api/v1/admin/users/1", map[string]any{"status": "disabled"}, 422, "invalid", "status"},
		{"DELETE", "/api/v1/admin/users/99", nil, 404, "not_found", ""},
		{"DELETE", "/api/v1/admin/users/3", nil, 409, "managed_by_file", "users[email=alice@example.com]"},
		{"DELETE", "/api/v1/admin/users/99/sessions", nil, 404, "not_found", ""},
	} {
		t.Run(c.method+" "+c.path+" "+c.field, func(t *testing.T) {
			adm.Do(c.method, c.path, c.body).ExpectError(t, c.status, c.code, c.field)
		})
	}

	// A role change needs a step-up, and ends the user's sessions.
	e.admin().Do("PATCH", "/api/v1/admin/users/2", map[string]any{"role": "admin"}).
		ExpectError(t, http.StatusForbidden, "step_up_required", "")
	e.admin().Do("POST", "/api/v1/admin/users", map[string]any{"email": "boss@example.com", "role": "admin"}).
		ExpectError(t, http.StatusForbidden, "step_up_required", "")
	r := adm.Do("PATCH", "/api/v1/admin/users/2", map[string]any{"role": "admin", "name": "Uma"}).Expect(t, 200)
	if r.JSON["role"] != "admin" || r.JSON["name"] != "Uma" {
		t.Fatalf("patched %s", r.Body)
	}
	// A name change alone needs no step-up and keeps the sessions.
	e.admin().Do("PATCH", "/api/v1/admin/users/2", map[string]any{"name": "Una"}).Expect(t, 200)
	if got := e.sessions.ended(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("sessions ended %v", got)
	}
	// Disabling ends them too; a file user's status is not the file's.
	adm.Do("PATCH", "/api/v1/admin/users/3", map[string]any{"status": "disabled"}).Expect(t, 200)
	adm.Do("DELETE", "/api/v1/admin/users/2/sessions", nil).Expect(t, 204)
	if got := e.sessions.ended(); len(got) != 3 || got[1] != 3 || got[2] != 2 {
		t.Fatalf("sessions ended %v", got)
	}
	var audited bool
	for _, a := range e.srv.Audits() {
		if a.Action == "user.update" && a.Target == "user:2" && strings.Contains(string(a.Before), `"role":"user"`) &&
			strings.Contains(string(a.After), `"role":"admin"`) {
			audited = true
		}
	}
	if !audited {
		t.Errorf("no user.update audit with before/after: %+v", e.srv.Audits())
	}

	// Create, then delete a user without money history; one with history is
	// refused.
	r = adm.Do("POST", "/api/v1/admin/users", map[string]any{"email": "Bob@Example.com", "name": "Bob"}).Expect(t, 201)
	bob := int64(r.JSON["id"].(float64))
	if r.JSON["email"] != "bob@example.com" || r.JSON["group"] != "default" || r.JSON["managed_by"] != "api" {
		t.Fatalf("created %s", r.Body)
	}
	// Bob has no password: he cannot sign in.
	if _, err := e.accounts.Login(t.Context(), "bob@example.com", "", "", "", netip.Addr{}); err == nil {
		t.Fatal("a user created without a password signed in")
	}
	adm.Do("DELETE", fmt.Sprintf("/api/v1/admin/users/%d", bob), nil).Expect(t, 204)
	adm.Do("GET", fmt.Sprintf("/api/v1/admin/users/%d", bob), nil).ExpectError(t, 404, "not_found", "")
	adm.Do("POST", "/api/v1/admin/users/2/credit", map[string]any{"amount_micros": 1, "reason": "x"}).Expect(t, 201)
	adm.Do("DELETE", "/api/v1/admin/users/2", nil).ExpectError(t, 409, "conflict", "")
	adm.Do("DELETE", "/api/v1/admin/users/1", nil).ExpectError(t, 409, "conflict", "")
	if e.reloads.Load() == 0 {
		t.Error("writes did not reload the key directory")
	}
}

// An admin may give a new user a password; the user can then sign in. A
// weak password is refused before the user exists.
func TestTenancyUserPassword(t *testing.T) {
	e := newTenancy(t)
	adm := e.srv.Admin()
	ctx := t.Context()
	adm.Do("POST", "/api/v1/admin/users", map[string]any{"email": "weak@example.com", "password": "elevenchars"}).
		ExpectError(t, 422, "invalid", "password")
	var page struct {
		Items []map[string]any `json:"items"`
	}
	adm.Do("GET", "/api/v1/admin/users?email=weak", nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 0 {
		t.Fatalf("a refused password left a user behind: %+v", page.Items)
	}

	pw := "correct horse battery"
	r := adm.Do("POST", "/api/v1/admin/users", map[string]any{"email": "Carol@example.com", "password": pw}).Expect(t, 201)
	if r.JSON["email"] != "carol@example.com" || strings.Contains(string(r.Body), pw) {
		t.Fatalf("created %s", r.Body)
	}
	acct, err := e.accounts.Login(ctx, "carol@example.com", pw, "", "", netip.Addr{})
	if err != nil || !acct.HasPassword || acct.Role != "user" {
		t.Fatalf("sign in: %+v %v", acct, err)
	}
	if _, err := e.accounts.Login(ctx, "carol@example.com", "wrong password!", "", "", netip.Addr{}); err == nil {
		t.Fatal("a wrong password signed in")
	}
	for _, a := range e.srv.Audits() {
		if strings.Contains(string(a.After), pw) || strings.Contains(string(a.Before), pw) {
			t.Fatalf("the password is in the audit log: %+v", a)
		}
	}
	// The email is taken now: 409 on the field, whatever the case.
	adm.Do("POST", "/api/v1/admin/users", map[string]any{"email": "CAROL@example.com", "password": pw}).
		ExpectError(t, 409, "conflict", "email")
}

func TestTenancyGroups(t *testing.T) {
	e := newTenancy(t)
	adm := e.srv.Admin()
	r := adm.Do("POST", "/api/v1/admin/groups", map[string]any{"name": "gold", "ratio": 0.8, "rpm": 30}).Expect(t, 201)
	gold := int64(r.JSON["id"].(float64))
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code, field  string
	}{
		{"POST", "/api/v1/admin/groups", map[string]any{"name": "gold"}, 409, "conflict", ""},
		{"POST", "/api/v1/admin/groups", map[string]any{"name": ""}, 422, "invalid", "name"},
		{"POST", "/api/v1/admin/groups", map[string]any{"name": "x", "ratio": -1}, 422, "invalid", "ratio"},
		{"POST", "/api/v1/admin/groups", map[string]any{"name": "x", "rpm": -1}, 422, "invalid", "rpm"},
		{"POST", "/api/v1/admin/groups", map[string]any{"name": "x", "tpm": -1}, 422, "invalid", "tpm"},
		{"POST", "/api/v1/admin/groups", map[string]any{"name": "x", "daily_requests": -1}, 422, "invalid", "daily_requests"},
		{"POST", "/api/v1/admin/groups", map[string]any{"name": "x", "image_response_format": "png"}, 422, "invalid", "image_response_format"},
		{"POST", "/api/v1/admin/groups", map[string]any{"name": "x", "rpm": "many"}, 422, "invalid", "rpm"},
		{"GET", "/api/v1/admin/groups/99", nil, 404, "not_found", ""},
		{"PATCH", "/api/v1/admin/groups/99", map[string]any{"rpm": 1}, 404, "not_found", ""},
		{"PATCH", "/api/v1/admin/groups/2", map[string]any{"rpm": 1}, 409, "managed_by_file", "groups[name=vip]"},
		{"DELETE", "/api/v1/admin/groups/2", nil, 409, "managed_by_file", "groups[name=vip]"},
		{"DELETE", "/api/v1/admin/groups/99", nil, 404, "not_found", ""},
	} {
		t.Run(c.method+" "+c.path+" "+c.field, func(t *testing.T) {
			adm.Do(c.method, c.path, c.body).ExpectError(t, c.status, c.code, c.field)
		})
	}
	path := fmt.Sprintf("/api/v1/admin/groups/%d", gold)
	r = adm.Do("PATCH", path, map[string]any{"tpm": 1000}).Expect(t, 200)
	if r.JSON["tpm"] != float64(1000) || r.JSON["rpm"] != float64(30) {
		t.Fatalf("patched %s", r.Body)
	}
	adm.Do("PATCH", "/api/v1/admin/users/2", map[string]any{"group": "gold"}).Expect(t, 200)
	adm.Do("DELETE", path, nil).ExpectError(t, 409, "conflict", "")
	adm.Do("PATCH", "/api/v1/admin/users/2", map[string]any{"group": "vip"}).Expect(t, 200)
	adm.Do("DELETE", path, nil).Expect(t, 204)
	var page struct{ Items []map[string]any }
	adm.Do("GET", "/api/v1/admin/groups", nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 2 {
		t.Fatalf("groups %+v", page)
	}
}

func TestTenancyKeys(t *testing.T) {
	e := newTenancy(t)
	adm, user := e.srv.Admin(), e.srv.User()
	fileKey := fmt.Sprintf("/api/v1/admin/keys/%d", e.fileKeyID)
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code, field  string
	}{
		{"POST", "/api/v1/admin/keys", map[string]any{"name": "k"}, 422, "invalid", "user_id"},
		{"POST", "/api/v1/admin/keys", map[string]any{"user_id": 99, "name": "k"}, 422, "invalid", "user_id"},
		{"POST", "/api/v1/admin/keys", map[string]any{"user_id": 2}, 422, "invalid", "name"},
		{"POST", "/api/v1/admin/keys", map[string]any{"user_id": 2, "name": "k", "ip_allow": []string{"nope"}}, 422, "invalid", "ip_allow[0]"},
		{"POST", "/api/v1/admin/keys", map[string]any{"user_id": 2, "name": "k", "models": []string{"m", " "}}, 422, "invalid", "models[1]"},
		{"POST", "/api/v1/admin/keys", map[string]any{"user_id": 2, "name": "k", "quota_micros": -1}, 422, "invalid", "quota_micros"},
		{"POST", "/api/v1/admin/keys", map[string]any{"user_id": 2, "name": "k", "quota_micros": "lots"}, 422, "invalid", "quota_micros"},
		{"POST", "/api/v1/admin/keys", map[string]any{"user_id": 2, "name": "k", "expires_at": "tomorrow"}, 422, "invalid", "expires_at"},
		{"POST", "/api/v1/admin/keys", map[string]any{"user_id": 2, "name": "k", "rpm": -1}, 422, "invalid", "rpm"},
		{"POST", "/api/v1/admin/keys", map[string]any{"user_id": 2, "name": "k", "webhook_url": "ftp://x"}, 422, "invalid", "webhook_url"},
		{"POST", "/api/v1/admin/keys", map[string]any{"user_id": 2, "name": "k", "image_response_format": "png"}, 422, "invalid", "image_response_format"},
		{"GET", "/api/v1/admin/keys?status=lost", nil, 422, "invalid", "status"},
		{"GET", "/api/v1/admin/keys?user_id=x", nil, 422, "invalid", "user_id"},
		{"GET", "/api/v1/admin/keys/99", nil, 404, "not_found", ""},
		{"PATCH", "/api/v1/admin/keys/99", map[string]any{"rpm": 1}, 404, "not_found", ""},
		{"DELETE", "/api/v1/admin/keys/99", nil, 404, "not_found", ""},
		{"PATCH", fileKey, map[string]any{"rpm": 1}, 409, "managed_by_file", "keys[user=alice@example.com,name=a]"},
	} {
		t.Run(c.method+" "+c.path+" "+c.field, func(t *testing.T) {
			adm.Do(c.method, c.path, c.body).ExpectError(t, c.status, c.code, c.field)
		})
	}
	// An admin key needs a step-up.
	e.admin().Do("POST", "/api/v1/admin/keys", map[string]any{"user_id": 2, "name": "ops", "admin": true}).
		ExpectError(t, 403, "step_up_required", "")
	r := adm.Do("POST", "/api/v1/admin/keys", map[string]any{"user_id": 2, "name": "k", "quota_micros": 5_000_000,
		"expires_at": "2030-01-01T00:00:00Z", "models": []string{"gpt-*"}}).Expect(t, 201)
	value, _ := r.JSON["key"].(string)
	if !strings.HasPrefix(value, auth.KeyPrefix) || r.JSON["prefix"] != value[:10] || r.JSON["quota_micros"] != float64(5_000_000) {
		t.Fatalf("created %s", r.Body)
	}
	adm.Do("POST", "/api/v1/admin/keys", map[string]any{"user_id": 2, "name": "k"}).ExpectError(t, 409, "conflict", "")
	kpath := fmt.Sprintf("/api/v1/admin/keys/%d", int64(r.JSON["id"].(float64)))
	r = adm.Do("PATCH", kpath, map[string]any{"quota_micros": nil, "expires_at": nil, "rpm": 500}).Expect(t, 200)
	if r.JSON["quota_micros"] != nil || r.JSON["expires_at"] != nil || r.JSON["rpm"] != float64(500) || r.JSON["key"] != nil {
		t.Fatalf("patched %s", r.Body)
	}
	// The file's key may be revoked: a leaked key must not wait for the file.
	adm.Do("DELETE", fileKey, nil).Expect(t, 204)
	if r := adm.Do("GET", fileKey, nil).Expect(t, 200); r.JSON["status"] != "revoked" {
		t.Fatalf("file key %s", r.Body)
	}
	var page struct{ Items []map[string]any }
	adm.Do("GET", "/api/v1/admin/keys?user_id=2", nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 1 {
		t.Fatalf("user 2's keys %+v", page)
	}

	// Self-service: within the group's limits (vip: 60 rpm), never admin.
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "mine", "rpm": 61}, "rpm"},
		{map[string]any{"name": "mine", "admin": true}, "admin"},
		{map[string]any{"name": "mine", "user_id": 1}, "user_id"},
		{map[string]any{"name": ""}, "name"},
	} {
		user.Do("POST", "/api/v1/me/keys", c.body).ExpectError(t, 422, "invalid", c.field)
	}
	r = user.Do("POST", "/api/v1/me/keys", map[string]any{"name": "mine", "rpm": 60}).Expect(t, 201)
	mine := fmt.Sprintf("/api/v1/me/keys/%d", int64(r.JSON["id"].(float64)))
	if r.JSON["user_id"] != float64(2) || r.JSON["admin"] != false {
		t.Fatalf("own key %s", r.Body)
	}
	user.Do("PATCH", mine, map[string]any{"rpm": 100}).ExpectError(t, 422, "invalid", "rpm")
	user.Do("PATCH", mine, map[string]any{"name": "renamed", "rpm": 10}).Expect(t, 200)
	user.Do("GET", "/api/v1/me/keys", nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 2 {
		t.Fatalf("own keys %+v", page)
	}
	// Another user's key does not exist for this user.
	other := fmt.Sprintf("/api/v1/me/keys/%d", e.fileKeyID)
	user.Do("GET", other, nil).ExpectError(t, 404, "not_found", "")
	user.Do("PATCH", other, map[string]any{"rpm": 1}).ExpectError(t, 404, "not_found", "")
	user.Do("DELETE", other, nil).ExpectError(t, 404, "not_found", "")
	user.Do("DELETE", mine, nil).Expect(t, 204)
	user.Do("GET", "/api/v1/me/keys?status=revoked", nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 1 || page.Items[0]["name"] != "renamed" {
		t.Fatalf("revoked own keys %+v", page)
	}
}

func TestTenancyCredit(t *testing.T) {
	e := newTenancy(t)
	adm := e.srv.Admin()
	for _, c := range []struct {
		path        string
		body        any
		status      int
		code, field string
	}{
		{"/api/v1/admin/users/2/credit", map[string]any{"reason": "x"}, 422, "invalid", "amount_micros"},
		{"/api/v1/admin/users/2/credit", map[string]any{"amount_micros": 0, "reason": "x"}, 422, "invalid", "amount_micros"},
		{"/api/v1/admin/users/2/credit", map[string]any{"amount_micros": 1.5, "reason": "x"}, 422, "invalid", "amount_micros"},
		{"/api/v1/admin/users/2/credit", map[string]any{"amount_micros": 1}, 422, "invalid", "reason"},
		{"/api/v1/admin/users/2/credit", map[string]any{"amount_micros": -1, "reason": "x"}, 422, "invalid", "amount_micros"},
		{"/api/v1/admin/users/99/credit", map[string]any{"amount_micros": 1, "reason": "x"}, 404, "not_found", ""},
	} {
		t.Run(fmt.Sprint(c.body), func(t *testing.T) {
			adm.Do("POST", c.path, c.body).ExpectError(t, c.status, c.code, c.field)
		})
	}
	// Up to $100 needs no step-up; above it does, either way.
	r := e.admin().Do("POST", "/api/v1/admin/users/2/credit", map[string]any{"amount_micros": 100_000_000, "reason": "welcome"}).Expect(t, 201)
	if r.JSON["kind"] != "adjust" || r.JSON["balance_after_micros"] != float64(100_000_000) || r.JSON["note"] != "welcome" {
		t.Fatalf("credit %s", r.Body)
	}
	e.admin().Do("POST", "/api/v1/admin/users/2/credit", map[string]any{"amount_micros": 100_000_001, "reason": "x"}).
		ExpectError(t, 403, "step_up_required", "")
	e.admin().Do("POST", "/api/v1/admin/users/2/credit", map[string]any{"amount_micros": -100_000_001, "reason": "x"}).
		ExpectError(t, 403, "step_up_required", "")
	adm.Do("POST", "/api/v1/admin/users/2/credit", map[string]any{"amount_micros": 150_000_000, "reason": "big"}).Expect(t, 201)
	adm.Do("POST", "/api/v1/admin/users/2/credit", map[string]any{"amount_micros": -50_000_000, "reason": "refund"}).Expect(t, 201)
	if b, _ := e.ledger.Balance(t.Context(), 2); b != 200*billing.MicrosPerUSD {
		t.Fatalf("balance %s", b)
	}
	var page struct {
		Items         []map[string]any `json:"items"`
		NextCursor    *string          `json:"next_cursor"`
		BalanceMicros int64            `json:"balance_micros"`
	}
	adm.Do("GET", "/api/v1/admin/users/2/ledger?limit=2", nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 2 || page.NextCursor == nil || page.BalanceMicros != 200_000_000 || page.Items[0]["note"] != "refund" {
		t.Fatalf("ledger %+v", page)
	}
	e.srv.User().Do("GET", "/api/v1/me/ledger?cursor="+*page.NextCursor, nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 1 || page.NextCursor != nil || page.Items[0]["note"] != "welcome" {
		t.Fatalf("own ledger %+v", page)
	}
	e.srv.User().Do("GET", "/api/v1/me/ledger?kind=bogus", nil).ExpectError(t, 422, "invalid", "kind")
	adm.Do("GET", "/api/v1/admin/users/99/ledger", nil).ExpectError(t, 404, "not_found", "")
	if m, err := e.ledger.Audit(t.Context()); err != nil || len(m) != 0 {
		t.Fatalf("books: %v %v", m, err)
	}
}

func TestTenancyCodes(t *testing.T) {
	e := newTenancy(t)
	adm, user := e.srv.Admin(), e.srv.User()
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"count": 0, "value_micros": 1}, "count"},
		{map[string]any{"count": 10_001, "value_micros": 1}, "count"},
		{map[string]any{"count": 1, "value_micros": 0}, "value_micros"},
		{map[string]any{"count": 1, "value_micros": 1, "expires_at": "2000-01-01T00:00:00Z"}, "expires_at"},
		{map[string]any{"count": 1, "value_micros": 1, "expires_at": "soon"}, "expires_at"},
		{map[string]any{"count": 1, "value_micros": 1, "batch": strings.Repeat("b", 65)}, "batch"},
		{map[string]any{"count": 1, "value_micros": 1, "batch": "invite:1"}, "batch"},
	} {
		adm.Do("POST", "/api/v1/admin/codes", c.body).ExpectError(t, 422, "invalid", c.field)
	}
	r := adm.Do("POST", "/api/v1/admin/codes", map[string]any{"count": 3, "value_micros": 5_000_000, "batch": "spring",
		"note": "=cmd()"}).Expect(t, 201)
	var gen struct{ Codes []string }
	r.Decode(t, &gen)
	if len(gen.Codes) != 3 {
		t.Fatalf("generated %s", r.Body)
	}
	r = user.Do("POST", "/api/v1/me/redeem", map[string]any{"code": strings.ToLower(gen.Codes[0])}).Expect(t, 200)
	if r.JSON["credited_micros"] != float64(5_000_000) || r.JSON["balance_micros"] != float64(5_000_000) {
		t.Fatalf("redeemed %s", r.Body)
	}
	user.Do("POST", "/api/v1/me/redeem", map[string]any{"code": gen.Codes[0]}).ExpectError(t, 409, "conflict", "")
	user.Do("POST", "/api/v1/me/redeem", map[string]any{"code": "SYR-nope"}).ExpectError(t, 422, "invalid", "code")

	var page struct {
		Items      []map[string]any `json:"items"`
		NextCursor *string          `json:"next_cursor"`
	}
	adm.Do("GET", "/api/v1/admin/codes?batch=spring&status=used", nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 1 || page.Items[0]["uses"] != float64(1) {
		t.Fatalf("used codes %+v", page)
	}
	adm.Do("GET", "/api/v1/admin/codes?status=lost", nil).ExpectError(t, 422, "invalid", "status")
	adm.Do("GET", "/api/v1/admin/codes?kind=gift", nil).ExpectError(t, 422, "invalid", "kind")
	adm.Do("GET", "/api/v1/admin/codes?limit=1", nil).Expect(t, 200).Decode(t, &page)
	newest := int64(page.Items[0]["id"].(float64))
	r = adm.Do("POST", fmt.Sprintf("/api/v1/admin/codes/%d/disable", newest), nil).Expect(t, 200)
	if r.JSON["status"] != "disabled" || r.JSON["disabled_at"] == nil {
		t.Fatalf("disabled %s", r.Body)
	}
	user.Do("POST", "/api/v1/me/redeem", map[string]any{"code": gen.Codes[2]}).ExpectError(t, 422, "invalid", "code")
	adm.Do("POST", "/api/v1/admin/codes/99/disable", nil).ExpectError(t, 404, "not_found", "")

	r = adm.Do("GET", "/api/v1/admin/codes.csv?batch=spring", nil).Expect(t, 200)
	lines := strings.Split(strings.TrimSpace(string(r.Body)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "id,prefix,kind,value_usd") || !strings.Contains(lines[1], ",5.000000,") ||
		!strings.Contains(lines[1], ",used,") || !strings.Contains(lines[1], "'=cmd()") || !strings.Contains(lines[3], ",disabled,") {
		t.Fatalf("csv:\n%s", r.Body)
	}
	for _, code := range gen.Codes {
		if strings.Contains(string(r.Body), code) {
			t.Fatal("the export holds a code")
		}
	}
	if r := adm.Do("GET", "/api/v1/admin/codes.csv?batch=autumn", nil).Expect(t, 200); strings.Count(string(r.Body), "\n") != 1 {
		t.Fatalf("empty export %q", r.Body)
	}
	adm.Do("GET", "/api/v1/admin/codes.csv?status=lost", nil).ExpectError(t, 422, "invalid", "status")
}

func TestTenancyInvites(t *testing.T) {
	e := newTenancy(t)
	adm, user := e.srv.Admin(), e.srv.User()
	r := user.Do("GET", "/api/v1/me/invite", nil).Expect(t, 200)
	code, _ := r.JSON["code"].(string)
	if !strings.HasPrefix(code, billing.CodePrefix) || r.JSON["kind"] != "invite" || r.JSON["value_micros"] != float64(2_000_000) ||
		r.JSON["inviter_bonus_micros"] != float64(1_000_000) || r.JSON["max_uses"] != nil {
		t.Fatalf("invite %s", r.Body)
	}
	if again := user.Do("GET", "/api/v1/me/invite", nil).Expect(t, 200); again.JSON["code"] != code {
		t.Fatalf("invite changed: %s", again.Body)
	}
	if r := adm.Do("POST", "/api/v1/admin/invites", map[string]any{"user_id": 2}).Expect(t, 200); r.JSON["code"] != code {
		t.Fatalf("admin's view of the invite %s", r.Body)
	}
	adm.Do("POST", "/api/v1/admin/invites", map[string]any{"user_id": 99}).ExpectError(t, 422, "invalid", "user_id")
	adm.Do("POST", "/api/v1/admin/invites", map[string]any{}).ExpectError(t, 422, "invalid", "user_id")

	// The admin (user 1) redeems user 2's invite: both are paid.
	adm.Do("POST", "/api/v1/me/redeem", map[string]any{"code": code}).Expect(t, 200)
	adm.Do("POST", "/api/v1/me/redeem", map[string]any{"code": code}).ExpectError(t, 409, "conflict", "")
	user.Do("POST", "/api/v1/me/redeem", map[string]any{"code": code}).ExpectError(t, 422, "invalid", "code")
	if b, _ := e.ledger.Balance(t.Context(), 2); b != billing.MicrosPerUSD {
		t.Fatalf("inviter's balance %s", b)
	}
	var page struct{ Items []map[string]any }
	adm.Do("GET", "/api/v1/admin/invites?user_id=2", nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 1 || page.Items[0]["uses"] != float64(1) || page.Items[0]["inviter_user_id"] != float64(2) {
		t.Fatalf("invites %+v", page)
	}
	adm.Do("GET", "/api/v1/admin/invites?kind=credit", nil).ExpectError(t, 422, "invalid", "kind")
}

// A key created, limited or revoked through the console is in force on
// this node at once: the write reloads the key directory.
func TestTenancyKeysLiveInDirectory(t *testing.T) {
	ctx := t.Context()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	as := auth.NewStore(db, nil)
	if err := as.ApplyConfig(ctx, []config.Group{{Name: "default", Ratio: 1}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"admin@example.com", "user@example.com"} {
		if _, err := as.CreateUser(ctx, auth.NewUser{Email: email}); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := auth.NewDirectory(ctx, db, auth.DirectoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dir.Close) // never started: every change must come from Changed
	ledger := billing.NewLedger(db, nil)
	srv := consoletest.New(t, func(a *console.API) {
		console.MountTenancy(a, console.TenancyDeps{Users: as, Groups: as, Keys: as, Wallets: ledger, Codes: ledger, Changed: dir.Reload})
	})
	authn := func(value string) (*auth.Key, error) {
		r, _ := http.NewRequest("GET", "/v1/models", nil)
		r.Header.Set("Authorization", "Bearer "+value)
		return dir.Authenticate(r, netip.MustParseAddr("192.0.2.1"))
	}
	r := srv.User().Do("POST", "/api/v1/me/keys", map[string]any{"name": "live"}).Expect(t, 201)
	value := r.JSON["key"].(string)
	path := fmt.Sprintf("/api/v1/me/keys/%d", int64(r.JSON["id"].(float64)))
	if k, err := authn(value); err != nil || k.UserID != 2 {
		t.Fatalf("new key: %v %v", k, err)
	}
	srv.User().Do("PATCH", path, map[string]any{"rpm": 7}).Expect(t, 200)
	if k, err := authn(value); err != nil || k.RPM != 7 {
		t.Fatalf("limited key: %v %v", k, err)
	}
	srv.Admin().Do("PATCH", "/api/v1/admin/users/2", map[string]any{"status": "disabled"}).Expect(t, 200)
	if _, err := authn(value); err == nil {
		t.Fatal("a disabled user's key still works")
	}
	srv.Admin().Do("PATCH", "/api/v1/admin/users/2", map[string]any{"status": "active"}).Expect(t, 200)
	srv.User().Do("DELETE", path, nil).Expect(t, 204)
	if _, err := authn(value); err == nil {
		t.Fatal("a revoked key still works")
	}
}
