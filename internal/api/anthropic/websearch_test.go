package anthropic_test

import (
	"io"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
)

// Claude Code's web_search_20250305 on an anthropic channel passes through;
// each search the upstream reports in usage.server_tool_use is charged at
// per_web_search, streamed or not.
func TestMessagesWebSearchBilled(t *testing.T) {
	const payerKey = "sk-test-payer-0123456789"
	g := startGateway(t, func(cfg *config.Config) {
		cfg.Pricing["claude-test"] = config.Price{PerWebSearch: 0.01}
		cfg.Users = append(cfg.Users, config.User{Email: "payer@example.com", Credit: 10})
		cfg.Keys = append(cfg.Keys, config.Key{Name: "payer", User: "payer@example.com", Key: payerKey})
	})
	balance := apptest.Balance(t, g.app, "payer@example.com")
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "stream"}[stream], func(t *testing.T) {
			before := balance()
			req := map[string]any{"model": "claude-test", "max_tokens": 64, "stream": stream,
				"messages": []any{map[string]any{"role": "user", "content": "Go news?"}},
				"tools":    []any{map[string]any{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}}}
			resp := g.post(t, "/v1/messages", map[string]string{"x-api-key": payerKey}, req)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.Contains(string(b), "web_search_tool_result") {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if got := before - balance(); got != 10_000 {
				t.Fatalf("charged %d micro-USD, want 10000 for one search", got)
			}
		})
	}
}
