package console_test

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/api/console/consoletest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/pool"
	openaiup "github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
)

const (
	fileKey = "sk-file-main-0000000000000001"
	badKey  = "sk-api-refused-00000000000001"
)

type channelsEnv struct {
	srv     *consoletest.Server
	mock    *mock.Server
	upURL   string
	pool    *pool.Pool
	changes atomic.Int32
	mainID  int64 // the file's channel
	fileCr  int64 // its credential
}

// newChannelsEnv serves the channel routes over a real store and pool on
// SQLite, whose file channel "main" points at a mock upstream, with the
// relay's real probe as the pool's prober.
func newChannelsEnv(t *testing.T) *channelsEnv {
	t.Helper()
	ctx := t.Context()
	e := &channelsEnv{mock: mock.New(mock.Options{})}
	up := httptest.NewServer(e.mock)
	t.Cleanup(up.Close)
	e.upURL = up.URL
	db, err := store.Open(ctx, "sqlite://"+t.TempDir()+"/sy.db", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	kr, err := secret.New(bytes.Repeat([]byte{9}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st := pool.NewStore(db, kr)
	if err := st.ApplyConfig(ctx, []config.Channel{{Name: "main", Type: "openai", BaseURL: up.URL,
		Models: []string{"gpt-4o-mini"}, Weight: 1, Credentials: []config.Credential{{Key: fileKey, Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	e.pool, err = pool.New(ctx, pool.Options{Store: st, State: pool.NewMemoryState(),
		Clients: relay.NewTransports(config.Upstream{}).Client})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pool.Close)
	rl, err := relay.New(relay.Options{Pool: e.pool, Adapters: map[string]relay.ChatAdapter{"openai": openaiup.NewUpstream()}})
	if err != nil {
		t.Fatal(err)
	}
	e.pool.SetProber(rl.Probe)
	chs, creds, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.mainID, e.fileCr = chs[0].ID, creds[0].ID
	e.srv = consoletest.New(t, func(a *console.API) {
		console.MountChannels(a, console.ChannelsDeps{
			Store: st, Pool: e.pool,
			Groups:   func(context.Context) ([]string, error) { return []string{"default", "vip"}, nil },
			OnChange: func(context.Context) error { e.changes.Add(1); return nil },
		})
	})
	return e
}

func path(format string, id int64, rest ...string) string {
	return strings.Replace(format, "{id}", itoa(id), 1) + strings.Join(rest, "")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func num(m map[string]any, k string) int64 {
	f, _ := m[k].(float64)
	return int64(f)
}

func newChannel() map[string]any {
	return map[string]any{"name": "api1", "type": "openai", "base_url": "http://127.0.0.1:1", "models": []string{"m1"}}
}

func TestChannelRoutesAccess(t *testing.T) {
	e := newChannelsEnv(t)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/admin/channels"},
		{"POST", "/api/v1/admin/channels"},
		{"PATCH", "/api/v1/admin/channels/1"},
		{"GET", "/api/v1/admin/channels/1/credentials"},
		{"POST", "/api/v1/admin/channels/1/credentials/import"},
		{"POST", "/api/v1/admin/credentials/1/reveal"},
	} {
		e.srv.Anon().Do(tc.method, tc.path, map[string]any{}).ExpectError(t, 401, "unauthenticated", "")
		e.srv.User().Do(tc.method, tc.path, map[string]any{}).ExpectError(t, 403, "forbidden", "")
	}
	// A cookie session from another origin cannot write.
	e.srv.Admin().With("Origin", "http://evil.test").Do("POST", "/api/v1/admin/channels", newChannel()).
		ExpectError(t, 403, "csrf_failed", "")
}

func TestChannelCRUDRoutes(t *testing.T) {
	e := newChannelsEnv(t)
	admin := e.srv.Admin()
	res := admin.Do("POST", "/api/v1/admin/channels", newChannel()).Expect(t, 201)
	id := num(res.JSON, "id")
	if res.JSON["managed_by"] != "api" || num(res.JSON, "weight") != 1 {
		t.Errorf("created %s", res.Body)
	}
	if e.changes.Load() != 1 {
		t.Errorf("OnChange ran %d times after a create", e.changes.Load())
	}
	admin.Do("POST", "/api/v1/admin/channels", newChannel()).ExpectError(t, 409, "conflict", "")

	// Each invalid member → 422 naming it.
	for _, tc := range []struct {
		member string
		value  any
		field  string
	}{
		{"name", "", "name"},
		{"type", "bogus", "type"},
		{"base_url", "ftp://x", "base_url"},
		{"models", []string{}, "models"},
		{"groups", []string{"nope"}, "groups[0]"},
		{"weight", 0, "weight"},
		{"proxy", "gopher://x", "proxy"},
		{"strategy", "best", "strategy"},
		{"max_images", 11, "max_images"},
		{"test_model", "m*", "test_model"},
		{"hosted_tools", "keep", "hosted_tools"},
		{"token_url", "nope", "token_url"},
		{"model_map", map[string]string{"a": ""}, "model_map.a"},
		{"priority", "high", "priority"}, // wrong JSON type
		{"colour", "red", "colour"},      // unknown member
	} {
		body := newChannel()
		body["name"] = "bad"
		body[tc.member] = tc.value
		admin.Do("POST", "/api/v1/admin/channels", body).ExpectError(t, 422, "invalid", tc.field)
		admin.Do("PATCH", path("/api/v1/admin/channels/{id}", id), map[string]any{tc.member: tc.value}).
			ExpectError(t, 422, "invalid", tc.field)
	}

	res = admin.Do("PATCH", path("/api/v1/admin/channels/{id}", id), map[string]any{"priority": 3, "groups": []string{"vip"}}).Expect(t, 200)
	if num(res.JSON, "priority") != 3 || res.JSON["base_url"] != "http://127.0.0.1:1" {
		t.Errorf("patched %s", res.Body)
	}
	res = admin.Do("POST", path("/api/v1/admin/channels/{id}", id, "/disable"), nil).Expect(t, 200)
	if res.JSON["disabled"] != true {
		t.Errorf("disabled %s", res.Body)
	}
	admin.Do("POST", path("/api/v1/admin/channels/{id}", id, "/enable"), nil).Expect(t, 200)
	res = admin.Do("GET", path("/api/v1/admin/channels/{id}", id), nil).Expect(t, 200)
	if res.JSON["disabled"] != false || num(res.JSON, "priority") != 3 {
		t.Errorf("read back %s", res.Body)
	}

	// Keyset pages, newest first.
	res = admin.Do("GET", "/api/v1/admin/channels?limit=1", nil).Expect(t, 200)
	var page struct {
		Items      []struct{ ID int64 }
		NextCursor *string `json:"next_cursor"`
	}
	res.Decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != id || page.NextCursor == nil {
		t.Fatalf("first page %s", res.Body)
	}
	res = admin.Do("GET", "/api/v1/admin/channels?limit=1&cursor="+*page.NextCursor, nil).Expect(t, 200)
	res.Decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != e.mainID || page.NextCursor != nil {
		t.Fatalf("last page %s", res.Body)
	}
	admin.Do("GET", "/api/v1/admin/channels?limit=0", nil).ExpectError(t, 422, "invalid", "limit")
	admin.Do("GET", "/api/v1/admin/channels?cursor=!!!", nil).ExpectError(t, 422, "invalid", "cursor")

	// Unknown ids → 404.
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/admin/channels/9999"},
		{"PATCH", "/api/v1/admin/channels/9999"},
		{"DELETE", "/api/v1/admin/channels/9999"},
		{"POST", "/api/v1/admin/channels/9999/enable"},
		{"POST", "/api/v1/admin/channels/9999/test"},
		{"GET", "/api/v1/admin/channels/9999/credentials"},
		{"POST", "/api/v1/admin/channels/9999/credentials"},
		{"POST", "/api/v1/admin/channels/9999/credentials/import"},
		{"GET", "/api/v1/admin/credentials/9999"},
		{"PATCH", "/api/v1/admin/credentials/9999"},
		{"DELETE", "/api/v1/admin/credentials/9999"},
		{"POST", "/api/v1/admin/credentials/9999/enable"},
		{"POST", "/api/v1/admin/credentials/9999/disable"},
		{"POST", "/api/v1/admin/credentials/9999/refresh"},
		{"POST", "/api/v1/admin/credentials/9999/test"},
		{"POST", "/api/v1/admin/credentials/9999/reveal"},
		{"GET", "/api/v1/admin/channels/abc"},
	} {
		var body any
		switch {
		case strings.HasSuffix(tc.path, "/import"):
			body = map[string]any{"lines": "sk-aaaaaaaaaaaaaaaaaaaaaaaa"}
		case strings.HasSuffix(tc.path, "/credentials") && tc.method == "POST":
			body = map[string]any{"key": "sk-aaaaaaaaaaaaaaaaaaaaaaaa"}
		case tc.method == "PATCH":
			body = map[string]any{"weight": 2}
		}
		admin.Do(tc.method, tc.path, body).ExpectError(t, 404, "not_found", "")
	}

	// Delete needs a step-up, then takes the channel away.
	noStepUp := e.srv.As(&console.Principal{UserID: 1, Email: "admin@example.com", Role: console.RoleAdmin})
	noStepUp.Do("DELETE", path("/api/v1/admin/channels/{id}", id), nil).ExpectError(t, 403, "step_up_required", "")
	admin.Do("DELETE", path("/api/v1/admin/channels/{id}", id), nil).Expect(t, 204)
	admin.Do("GET", path("/api/v1/admin/channels/{id}", id), nil).ExpectError(t, 404, "not_found", "")

	// Every write was audited with its action.
	actions := map[string]bool{}
	for _, a := range e.srv.Audits() {
		actions[a.Action] = true
	}
	for _, want := range []string{"channel.create", "channel.update", "channel.disable", "channel.enable", "channel.delete"} {
		if !actions[want] {
			t.Errorf("no audit entry %s in %v", want, actions)
		}
	}
}

func TestFileManagedRefusals(t *testing.T) {
	e := newChannelsEnv(t)
	admin := e.srv.Admin()
	const field = "channels[name=main]"
	admin.Do("PATCH", path("/api/v1/admin/channels/{id}", e.mainID), map[string]any{"priority": 1}).
		ExpectError(t, 409, "managed_by_file", field)
	admin.Do("POST", path("/api/v1/admin/channels/{id}", e.mainID, "/disable"), nil).ExpectError(t, 409, "managed_by_file", field)
	admin.Do("POST", path("/api/v1/admin/channels/{id}", e.mainID, "/enable"), nil).ExpectError(t, 409, "managed_by_file", field)
	admin.Do("DELETE", path("/api/v1/admin/channels/{id}", e.mainID), nil).ExpectError(t, 409, "managed_by_file", field)
	admin.Do("PATCH", path("/api/v1/admin/credentials/{id}", e.fileCr), map[string]any{"weight": 2}).
		ExpectError(t, 409, "managed_by_file", field+".credentials")
	admin.Do("DELETE", path("/api/v1/admin/credentials/{id}", e.fileCr), nil).ExpectError(t, 409, "managed_by_file", field+".credentials")
	res := admin.Do("GET", path("/api/v1/admin/channels/{id}", e.mainID), nil).Expect(t, 200)
	if res.JSON["managed_by"] != "file" {
		t.Errorf("file channel shown as %s", res.Body)
	}

	// A credential added through the API to the file's channel is the API's.
	res = admin.Do("POST", path("/api/v1/admin/channels/{id}", e.mainID, "/credentials"),
		map[string]any{"key": "sk-api-added-000000000000001", "daily_limit": 100}).Expect(t, 201)
	id := num(res.JSON, "id")
	if res.JSON["managed_by"] != "api" || num(res.JSON, "daily_limit") != 100 || res.JSON["hint"] != "sk-…0001" {
		t.Errorf("added %s", res.Body)
	}
	res = admin.Do("PATCH", path("/api/v1/admin/credentials/{id}", id), map[string]any{"weight": 3, "proxy": "socks5://127.0.0.1:1080"}).Expect(t, 200)
	if num(res.JSON, "weight") != 3 || res.JSON["proxy"] != "socks5://127.0.0.1:1080" {
		t.Errorf("patched %s", res.Body)
	}
	admin.Do("PATCH", path("/api/v1/admin/credentials/{id}", id), map[string]any{"proxy": "http://u:hunter2@127.0.0.1:3128"}).Expect(t, 200)
	masked := false
	for _, a := range e.srv.Audits() {
		if strings.Contains(string(a.Before)+string(a.After), "hunter2") {
			t.Errorf("audit %s keeps a proxy password", a.Action)
		}
		masked = masked || strings.Contains(string(a.After), "u:redacted@127.0.0.1")
	}
	if !masked {
		t.Error("no audit entry shows the changed proxy")
	}
	admin.Do("DELETE", path("/api/v1/admin/credentials/{id}", id), nil).Expect(t, 204)
	// Live state is the operator's to change even for a file credential.
	res = admin.Do("POST", path("/api/v1/admin/credentials/{id}", e.fileCr, "/disable"), nil).Expect(t, 200)
	if res.JSON["status"] != "disabled" || res.JSON["disabled_reason"] != pool.OperatorDisabled {
		t.Errorf("disabled %s", res.Body)
	}
	res = admin.Do("POST", path("/api/v1/admin/credentials/{id}", e.fileCr, "/enable"), nil).Expect(t, 200)
	if res.JSON["status"] != "active" {
		t.Errorf("enabled %s", res.Body)
	}
}

func TestCredentialRoutes(t *testing.T) {
	e := newChannelsEnv(t)
	admin := e.srv.Admin()
	base := path("/api/v1/admin/channels/{id}", e.mainID, "/credentials")
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{}, "key"},
		{map[string]any{"key": "sk-x", "access_token": "at"}, "access_token"},
		{map[string]any{"access_token": "at", "refresh_token": "rt"}, "refresh_token"}, // main has no token_url
		{map[string]any{"key": "sk with space"}, "key"},
		{map[string]any{"key": "sk-x", "weight": 0}, "weight"},
		{map[string]any{"key": "sk-x", "daily_limit": -1}, "daily_limit"},
		{map[string]any{"key": "sk-x", "daily_tokens": -1}, "daily_tokens"},
		{map[string]any{"key": "sk-x", "daily_spend": -1}, "daily_spend"},
		{map[string]any{"key": "sk-x", "email": "nope"}, "email"},
		{map[string]any{"key": "sk-x", "proxy": "gopher://h"}, "proxy"},
		{map[string]any{"access_token": "at", "expires_at": "soon"}, "expires_at"},
		{map[string]any{"key": 12}, "key"},
		{map[string]any{"key": "sk-x", "secret": "y"}, "secret"},
	} {
		admin.Do("POST", base, tc.body).ExpectError(t, 422, "invalid", tc.field)
	}
	admin.Do("POST", base, map[string]any{"key": fileKey}).ExpectError(t, 409, "conflict", "")
	res := admin.Do("POST", base, map[string]any{"key": badKey}).Expect(t, 201)
	bad := num(res.JSON, "id")
	admin.Do("PATCH", path("/api/v1/admin/credentials/{id}", bad), map[string]any{"weight": -2}).ExpectError(t, 422, "invalid", "weight")

	// The list carries the live scheduler state.
	res = admin.Do("GET", base, nil).Expect(t, 200)
	var list struct {
		Items []pool.CredentialView
	}
	res.Decode(t, &list)
	if len(list.Items) != 2 || list.Items[0].ID != bad || list.Items[1].ManagedBy != "file" || list.Items[1].Circuit != "closed" {
		t.Fatalf("list %s", res.Body)
	}

	// Reveal: step-up first.
	noStepUp := e.srv.As(&console.Principal{UserID: 1, Email: "admin@example.com", Role: console.RoleAdmin})
	noStepUp.Do("POST", path("/api/v1/admin/credentials/{id}", bad, "/reveal"), nil).ExpectError(t, 403, "step_up_required", "")
	res = admin.Do("POST", path("/api/v1/admin/credentials/{id}", bad, "/reveal"), nil).Expect(t, 200)
	if res.JSON["key"] != badKey || res.JSON["kind"] != "key" {
		t.Errorf("revealed %s", res.Body)
	}
	for _, a := range e.srv.Audits() {
		if a.Action == "credential.reveal" && (strings.Contains(string(a.After), badKey) || a.Target != "credential:"+itoa(bad)) {
			t.Errorf("reveal audit %+v", a)
		}
	}
	// Refresh: an API key has nothing to refresh.
	admin.Do("POST", path("/api/v1/admin/credentials/{id}", bad, "/refresh"), nil).ExpectError(t, 409, "conflict", "")
}

func TestImportRoute(t *testing.T) {
	e := newChannelsEnv(t)
	admin := e.srv.Admin()
	imp := path("/api/v1/admin/channels/{id}", e.mainID, "/credentials/import")
	lines := "# keys for main\nsk-import-aaaaaaaaaaaaaaaa01\n\n" + fileKey + "\nsk bad key\nsk-import-aaaaaaaaaaaaaaaa01\n"
	res := admin.Do("POST", imp, map[string]any{"lines": lines}).Expect(t, 200)
	var rep struct {
		Added, Duplicate, Invalid int
		Lines                     []struct {
			Line    int
			Outcome string
			ID      int64
			Reason  string
		}
	}
	res.Decode(t, &rep)
	want := []struct {
		line    int
		outcome string
	}{{2, "added"}, {4, "duplicate"}, {5, "invalid"}, {6, "duplicate"}}
	if rep.Added != 1 || rep.Duplicate != 2 || rep.Invalid != 1 || len(rep.Lines) != len(want) {
		t.Fatalf("report %s", res.Body)
	}
	for i, w := range want {
		if rep.Lines[i].Line != w.line || rep.Lines[i].Outcome != w.outcome {
			t.Errorf("line %d: %+v, want %+v", i, rep.Lines[i], w)
		}
	}
	if rep.Lines[1].ID != e.fileCr || !strings.Contains(rep.Lines[2].Reason, "whitespace") {
		t.Errorf("report %s", res.Body)
	}
	if strings.Contains(string(res.Body), "sk bad key") {
		t.Error("the report quotes a secret")
	}
	// JSON objects, with settings.
	res = admin.Do("POST", imp, map[string]any{"credentials": []any{
		map[string]any{"key": "sk-import-json-000000000001", "daily_limit": 5},
		map[string]any{"key": "sk-x", "colour": "red"},
		"not an object",
	}}).Expect(t, 200)
	res.Decode(t, &rep)
	if rep.Added != 1 || rep.Invalid != 2 || rep.Lines[1].Reason != "unknown field \"colour\"" {
		t.Errorf("JSON report %s", res.Body)
	}
	admin.Do("POST", imp, map[string]any{}).ExpectError(t, 422, "invalid", "lines")
	admin.Do("POST", imp, map[string]any{"lines": "[{"}).ExpectError(t, 422, "invalid", "lines")
	admin.Do("POST", imp, map[string]any{"lines": "x", "credentials": []any{}}).ExpectError(t, 422, "invalid", "credentials")
	// The pool routes to what was imported at once.
	if v, err := e.pool.ViewsOf(t.Context(), e.mainID, 0, 0); err != nil || len(v) != 3 {
		t.Errorf("views after import: %d %v", len(v), err)
	}
}

func TestTestNowRoute(t *testing.T) {
	e := newChannelsEnv(t)
	admin := e.srv.Admin()
	e.mock.SetFault(fileKey, mock.Fault{Latency: 30 * time.Millisecond, Times: 1})
	res := admin.Do("POST", path("/api/v1/admin/channels/{id}", e.mainID, "/test"), map[string]any{"model": "gpt-4o-mini"}).Expect(t, 200)
	if res.JSON["ok"] != true || num(res.JSON, "latency_ms") < 30 || num(res.JSON, "credential_id") != e.fileCr {
		t.Errorf("test %s", res.Body)
	}
	// No body: the channel's test model.
	res = admin.Do("POST", path("/api/v1/admin/channels/{id}", e.mainID, "/test"), nil).Expect(t, 200)
	if res.JSON["ok"] != true || res.JSON["model"] != "gpt-4o-mini" {
		t.Errorf("test without a body %s", res.Body)
	}
	// An upstream refusal is reported, not raised, and teaches the pool
	// nothing.
	res = admin.Do("POST", path("/api/v1/admin/channels/{id}", e.mainID, "/credentials"), map[string]any{"key": badKey}).Expect(t, 201)
	bad := num(res.JSON, "id")
	e.mock.SetFault(badKey, mock.Fault{Status: 401, Message: "Incorrect API key provided", Code: "invalid_api_key"})
	res = admin.Do("POST", path("/api/v1/admin/credentials/{id}", bad, "/test"), map[string]any{}).Expect(t, 200)
	if res.JSON["ok"] != false || num(res.JSON, "status") != 401 || !strings.Contains(res.JSON["error"].(string), "Incorrect API key") {
		t.Errorf("refused test %s", res.Body)
	}
	if strings.Contains(string(res.Body), badKey) {
		t.Error("the test result quotes the key")
	}
	res = admin.Do("GET", path("/api/v1/admin/credentials/{id}", bad), nil).Expect(t, 200)
	if res.JSON["status"] != "active" {
		t.Errorf("a test changed the state: %s", res.Body)
	}
	admin.Do("POST", path("/api/v1/admin/channels/{id}", e.mainID, "/test"), map[string]any{"model": "other"}).
		ExpectError(t, 422, "invalid", "model")
	admin.Do("POST", path("/api/v1/admin/channels/{id}", e.mainID, "/test"), map[string]any{"credential_id": 9999}).
		ExpectError(t, 422, "invalid", "credential_id")
}

func TestRefreshRoute(t *testing.T) {
	e := newChannelsEnv(t)
	admin := e.srv.Admin()
	ch := newChannel()
	ch["name"], ch["base_url"], ch["token_url"] = "oauth", e.upURL, e.upURL+"/oauth/token"
	chID := num(admin.Do("POST", "/api/v1/admin/channels", ch).Expect(t, 201).JSON, "id")
	creds := path("/api/v1/admin/channels/{id}", chID, "/credentials")
	soon := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	res := admin.Do("POST", creds, map[string]any{"access_token": "at-console-1", "refresh_token": "rt-console-1",
		"expires_at": soon, "email": "ops@example.com"}).Expect(t, 201)
	id := num(res.JSON, "id")
	if res.JSON["kind"] != "oauth" || res.JSON["expires_at"] != soon {
		t.Fatalf("added %s", res.Body)
	}
	res = admin.Do("POST", path("/api/v1/admin/credentials/{id}", id, "/refresh"), nil).Expect(t, 200)
	var out struct {
		OK         bool
		Error      string
		Credential pool.CredentialView
	}
	res.Decode(t, &out)
	if !out.OK || out.Credential.ExpiresAt.Before(time.Now().Add(30*time.Minute)) {
		t.Fatalf("refresh %s", res.Body)
	}
	res = admin.Do("POST", path("/api/v1/admin/credentials/{id}", id, "/reveal"), nil).Expect(t, 200)
	if res.JSON["refresh_token"] == "rt-console-1" || res.JSON["access_token"] == "at-console-1" {
		t.Errorf("the refreshed tokens were not stored: %s", res.Body)
	}
	// A refresh token the endpoint refuses (already redeemed): reported,
	// and the credential is disabled, as the pool does on its own.
	res = admin.Do("POST", creds, map[string]any{"access_token": "at-console-2", "refresh_token": "rt-console-1"}).Expect(t, 201)
	id2 := num(res.JSON, "id")
	res = admin.Do("POST", path("/api/v1/admin/credentials/{id}", id2, "/refresh"), nil).Expect(t, 200)
	res.Decode(t, &out)
	if out.OK || out.Error == "" || out.Credential.Status != "disabled" {
		t.Errorf("refused refresh %s", res.Body)
	}
	// A disabled channel's credentials are not loaded: nothing to refresh with.
	admin.Do("POST", path("/api/v1/admin/channels/{id}", chID, "/disable"), nil).Expect(t, 200)
	admin.Do("POST", path("/api/v1/admin/credentials/{id}", id, "/refresh"), nil).ExpectError(t, 409, "conflict", "")
}

// Bedrock and vertex credentials added through the routes: listed by a
// hint that gives no secret away, revealed (after step-up) in their own
// shape, and never written to the audit log.
func TestUpstreamCredentialRoutes(t *testing.T) {
	e := newChannelsEnv(t)
	admin := e.srv.Admin()
	res := admin.Do("POST", "/api/v1/admin/channels", map[string]any{"name": "br", "type": "bedrock", "region": "us-east-1",
		"models": []string{"claude"}}).Expect(t, 201)
	br := num(res.JSON, "id")
	if res.JSON["region"] != "us-east-1" || res.JSON["base_url"] != "https://bedrock-runtime.us-east-1.amazonaws.com" {
		t.Errorf("bedrock channel %s", res.Body)
	}
	admin.Do("POST", path("/api/v1/admin/channels/{id}", br, "/credentials"), map[string]any{"access_key_id": "AKIDROUTES0000000001"}).
		ExpectError(t, 422, "invalid", "secret_access_key")
	const secret = "routes/Secret+Access+Key+0000000000000wxyz"
	res = admin.Do("POST", path("/api/v1/admin/channels/{id}", br, "/credentials"), map[string]any{
		"access_key_id": "AKIDROUTES0000000001", "secret_access_key": secret, "session_token": "sessiontok"}).Expect(t, 201)
	cr := num(res.JSON, "id")
	if strings.Contains(string(res.Body), secret) || strings.Contains(string(res.Body), "wxyz") || res.JSON["hint"] != "AKI…0001" {
		t.Errorf("added bedrock credential shows %s", res.Body)
	}
	res = admin.Do("POST", path("/api/v1/admin/credentials/{id}", cr, "/reveal"), nil).Expect(t, 200)
	if res.JSON["access_key_id"] != "AKIDROUTES0000000001" || res.JSON["secret_access_key"] != secret || res.JSON["session_token"] != "sessiontok" {
		t.Errorf("revealed %s", res.Body)
	}

	res = admin.Do("POST", "/api/v1/admin/channels", map[string]any{"name": "vx", "type": "vertex", "project": "p", "location": "us-east5",
		"models": []string{"gemini-2.5-flash"}}).Expect(t, 201)
	vx := num(res.JSON, "id")
	sa := `{"type":"service_account","client_email":"r@p.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"}`
	res = admin.Do("POST", path("/api/v1/admin/channels/{id}", vx, "/credentials/import"), map[string]any{"lines": strings.ReplaceAll(sa, ",", ",\n ")}).Expect(t, 200)
	if res.JSON["added"] != float64(1) {
		t.Fatalf("import key file: %s", res.Body)
	}
	id := num(res.JSON["lines"].([]any)[0].(map[string]any), "id")
	res = admin.Do("GET", path("/api/v1/admin/channels/{id}", vx, "/credentials"), nil).Expect(t, 200)
	if strings.Contains(string(res.Body), "PRIVATE KEY") || strings.Contains(string(res.Body), "MIIB") {
		t.Errorf("listing shows the key file: %s", res.Body)
	}
	res = admin.Do("POST", path("/api/v1/admin/credentials/{id}", id, "/reveal"), nil).Expect(t, 200)
	if res.JSON["service_account"] != sa || res.JSON["refresh_token"] != nil {
		t.Errorf("revealed %s", res.Body)
	}
	for _, a := range e.srv.Audits() {
		if strings.Contains(string(a.After)+string(a.Before), secret) || strings.Contains(string(a.After)+string(a.Before), "MIIB") {
			t.Errorf("audit %s carries a secret", a.Action)
		}
	}
}

// The document's enums of channel types, flavors and quirks are the
// file's: the console's form is generated from them, so a flavor added to
// internal/config must reach the document too.
func TestChannelEnumsMatchTheFile(t *testing.T) {
	raw, err := console.DocumentWith()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	in := doc.Components.Schemas["ChannelInput"].Value
	enum := func(s *openapi3.Schema) []string {
		var out []string
		for _, v := range s.Enum {
			if v != "" {
				out = append(out, v.(string))
			}
		}
		slices.Sort(out)
		return out
	}
	flavors := slices.Sorted(maps.Keys(config.Flavors))
	if got := enum(in.Properties["flavor"].Value); !slices.Equal(got, flavors) {
		t.Errorf("flavor enum %v, the file's %v", got, flavors)
	}
	if got, want := enum(in.Properties["quirks"].Value.Items.Value), slices.Sorted(slices.Values(config.Quirks)); !slices.Equal(got, want) {
		t.Errorf("quirks enum %v, the file's %v", got, want)
	}
	if got, want := enum(in.Properties["type"].Value), slices.Sorted(slices.Values(config.ChannelTypes)); !slices.Equal(got, want) {
		t.Errorf("type enum %v, the file's %v", got, want)
	}
}
