package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/live"
	"github.com/switchyard/switchyard/internal/testenv"
)

// messages sends one Anthropic Messages request to n and returns the
// status and body.
func messages(t *testing.T, n *app.App, key string) (int, string) {
	t.Helper()
	body := `{"model":"m","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`
	req, err := http.NewRequestWithContext(t.Context(), "POST", "http://"+n.Addr()+"/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", key)
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Two nodes on PostgreSQL and Redis: a key disabled on node A is refused
// on A at once and on B within a second, as disabled, in the OpenAI shape
// on /v1/chat/completions and the Anthropic shape on /v1/messages; enabled
// again it works on both; and its last use reaches the database off the
// request path.
func TestKeyDisableTwoNodes(t *testing.T) {
	cfg, _ := liveConfig(t)
	cfg.Database.URL = config.Secret(testenv.FreshPostgresURL(t))
	cfg.SecretKey = config.Secret(strings.Repeat("ab", 32))
	cfg.Redis.URL = config.Secret(testenv.RedisURL(t))
	cfg.Redis.Prefix = testenv.RedisPrefix(t, cfg.Redis.URL.Value())
	opts := []app.Option{app.WithLastUsedInterval(100 * time.Millisecond)}
	a := apptest.StartWith(t, cfg, nil, opts...)
	bcfg := *cfg
	bcfg.Server.DataDir = t.TempDir()
	b := apptest.StartWith(t, &bcfg, nil, opts...)
	ctx := t.Context()

	s := auth.NewStore(a.DB(), time.Now)
	value, k, err := s.CreateKey(ctx, auth.NewKey{User: liveEmail, Name: "console"})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, a, live.Tenancy)
	within(t, "new key on B", func() bool { st, _ := chat(t, b, value, "m"); return st == 200 })
	within(t, "last use flushed", func() bool {
		k2, err := s.GetKey(ctx, k.ID)
		return err == nil && k2.LastUsedAt != nil && time.Since(*k2.LastUsedAt) < time.Minute
	})

	if _, _, err := s.SetKeyDisabled(ctx, k.ID, true); err != nil {
		t.Fatal(err)
	}
	publish(t, a, live.Tenancy)
	isDisabled := func(st int, body string) bool {
		var v struct {
			Error struct{ Code, Message string }
		}
		return st == 401 && json.Unmarshal([]byte(body), &v) == nil && v.Error.Code == "api_key_disabled" &&
			strings.Contains(v.Error.Message, "disabled")
	}
	if st, body := chat(t, a, value, "m"); !isDisabled(st, body) {
		t.Fatalf("disabled key on A (the writer): %d %s, want 401 api_key_disabled at once", st, body)
	}
	within(t, "disabled key on B", func() bool { return isDisabled(chat(t, b, value, "m")) })

	st, body := messages(t, b, value)
	var am struct {
		Type  string
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal([]byte(body), &am); err != nil || st != 401 || am.Type != "error" ||
		am.Error.Type != "authentication_error" || !strings.Contains(am.Error.Message, "disabled") {
		t.Fatalf("/v1/messages with a disabled key: %d %s, want 401 in the Anthropic shape saying disabled", st, body)
	}
	// The other keys are untouched.
	if st, body := chat(t, b, liveKey, "m"); st != 200 {
		t.Fatalf("another key on B: %d %s", st, body)
	}

	if _, _, err := s.SetKeyDisabled(ctx, k.ID, false); err != nil {
		t.Fatal(err)
	}
	publish(t, a, live.Tenancy)
	if st, body := chat(t, a, value, "m"); st != 200 {
		t.Fatalf("enabled key on A: %d %s", st, body)
	}
	within(t, "enabled key on B", func() bool { st, _ := chat(t, b, value, "m"); return st == 200 })
}
