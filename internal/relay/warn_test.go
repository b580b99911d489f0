package relay_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/testenv"
)

// A hosted tool dropped for a translated channel is both told to the client
// (X-Switchyard-Warning) and logged with the request id and channel.
func TestWarningsHeaderAndLog(t *testing.T) {
	var logs testenv.Output
	g := startMeterGateway(t, nil, func(o *relay.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	body := `{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"hi"}],` +
		`"tools":[{"type":"web_search_20250305","name":"web_search"}]}`
	resp := g.post(t, context.Background(), "/v1/messages", body)
	defer resp.Body.Close()
	_, _ = io.ReadAll(resp.Body)
	res := g.result(t)
	warn := resp.Header.Get(relay.WarningHeader)
	if resp.StatusCode != 200 || !strings.Contains(warn, "tools[0] (web_search_20250305)") {
		t.Fatalf("status %d, warning %q", resp.StatusCode, warn)
	}
	line := logs.String()
	if !strings.Contains(line, `"msg":"request changed for the upstream"`) || !strings.Contains(line, `"channel":"oa"`) ||
		!strings.Contains(line, `"request_id":"`+res.RequestID+`"`) || !strings.Contains(line, "web_search_20250305") {
		t.Fatalf("log: %s", line)
	}
	// The same tools passed through to an anthropic channel: no warning.
	resp = g.post(t, context.Background(), "/v1/messages", strings.Replace(body, "gpt-4o-mini", "claude-test", 1))
	defer resp.Body.Close()
	_, _ = io.ReadAll(resp.Body)
	g.result(t)
	if resp.StatusCode != 200 || resp.Header.Get(relay.WarningHeader) != "" {
		t.Fatalf("passthrough: status %d, warning %q", resp.StatusCode, resp.Header.Get(relay.WarningHeader))
	}
}
