package anthropic_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
)

// TestMessagesRateLimitedOnRedis: on Redis the admission is deferred to
// the relay's pipeline; a refused request still gets Anthropic's 429 with
// Retry-After, and before any error about its body (the order of answers
// of the gate it replaced).
func TestMessagesRateLimitedOnRedis(t *testing.T) {
	pg := testenv.FreshPostgresURL(t)
	rurl := testenv.RedisURL(t)
	g := startGateway(t, func(cfg *config.Config) {
		cfg.Database.URL = config.Secret(pg)
		cfg.SecretKey = config.Secret(strings.Repeat("ab", 32))
		cfg.Redis.URL = config.Secret(rurl)
		cfg.Redis.Prefix = testenv.RedisPrefix(t, rurl)
		cfg.Keys[0].RPM = 1
	})
	valid := map[string]any{"model": "claude-test", "max_tokens": 10,
		"messages": []map[string]any{{"role": "user", "content": "hi"}}}
	if resp := g.post(t, "/v1/messages", nil, valid); resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("first: status %d: %s", resp.StatusCode, b)
	}
	for i, body := range []any{
		map[string]any{"max_tokens": 10, "messages": []any{}}, // no model: a 400 once admitted
		valid,
	} {
		resp := g.post(t, "/v1/messages", nil, body)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("request %d: status %d, want 429: %s", i+2, resp.StatusCode, b)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("request %d: no Retry-After", i+2)
		}
		var e struct {
			Type  string `json:"type"`
			Error struct {
				Type string `json:"type"`
			} `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Type != "error" || e.Error.Type != "rate_limit_error" {
			t.Errorf("request %d: body %s, want an Anthropic rate_limit_error", i+2, b)
		}
	}
}
