package relay_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/testenv"
)

// TestUpstream4xxIsScrubbed: an upstream 400 that quotes the gateway's key,
// its own address and internal host names reaches the client with its
// type and code but none of those, on every path an upstream 4xx takes
// (passthrough and translated, chat and Messages, stream or not); the log
// keeps the original, marked upstream_message, under the request id.
func TestUpstream4xxIsScrubbed(t *testing.T) {
	var logs testenv.Output
	g := startMeterGateway(t, nil, func(o *relay.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	msg := "Incorrect API key provided: {key}. Upstream http://{host}/v1/chat answered via vllm-0.ml.svc.cluster.local (10.2.3.4)"
	directive := "[[mock status=400 message=" + url.QueryEscape(msg) + " error_code=bad_key_test]]"
	chat := func(model string, stream bool) string {
		b, _ := json.Marshal(map[string]any{"model": model, "stream": stream,
			"messages": []map[string]any{{"role": "user", "content": "hello " + directive}}})
		return string(b)
	}
	messages := func(model string) string {
		b, _ := json.Marshal(map[string]any{"model": model, "max_tokens": 16,
			"messages": []map[string]any{{"role": "user", "content": "hello " + directive}}})
		return string(b)
	}
	upHost := strings.TrimPrefix(g.up, "http://")
	cases := []struct {
		name, path, body, channel string
		anthropicShape            bool
		code                      string // OpenAI shape: the upstream's code
	}{
		{"chat, openai passthrough", "/v1/chat/completions", chat("gpt-4o-mini", false), "oa", false, "bad_key_test"},
		{"chat stream, openai passthrough", "/v1/chat/completions", chat("gpt-4o-mini", true), "oa", false, "bad_key_test"},
		{"chat, translated to anthropic", "/v1/chat/completions", chat("claude-test", false), "an", false, "invalid_request_error"},
		{"chat, translated to gemini", "/v1/chat/completions", chat("gemini-test", false), "ge", false, "INVALID_ARGUMENT"},
		{"messages, anthropic passthrough", "/v1/messages", messages("claude-test"), "an", true, ""},
		{"messages, translated to openai", "/v1/messages", messages("gpt-4o-mini"), "oa", true, ""},
		{"messages, translated to gemini", "/v1/messages", messages("gemini-test"), "ge", true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := g.post(t, context.Background(), c.path, c.body)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			res := g.result(t)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			key := string(upstreamKeys[c.channel])
			for _, leak := range []string{key, key[4:14], upHost, "127.0.0.1", "svc.cluster.local", "10.2.3.4"} {
				if strings.Contains(string(b), leak) {
					t.Errorf("client saw %q: %s", leak, b)
				}
			}
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Message, Type string
					Code          *string
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			if !strings.HasPrefix(e.Error.Message, "Incorrect API key provided: [redacted]. Upstream [internal-url] answered via [internal-host]") {
				t.Errorf("message %q", e.Error.Message)
			}
			if e.Error.Type != "invalid_request_error" {
				t.Errorf("type %q", e.Error.Type)
			}
			if c.anthropicShape {
				if e.Type != "error" {
					t.Errorf("not Anthropic-shaped: %s", b)
				}
			} else if e.Error.Code == nil || *e.Error.Code != c.code {
				t.Errorf("code %v, want %q: %s", e.Error.Code, c.code, b)
			}
			// The operator's log has the original, under the request id.
			var found bool
			for line := range strings.SplitSeq(logs.String(), "\n") {
				if strings.Contains(line, `"request_id":"`+res.RequestID+`"`) && strings.Contains(line, `"upstream_message":"Incorrect API key provided:`) {
					found = true
					if !strings.Contains(line, "vllm-0.ml.svc.cluster.local") {
						t.Errorf("log line lost the original message: %s", line)
					}
				}
			}
			if !found {
				t.Errorf("no upstream_message logged for %s:\n%s", res.RequestID, logs.String())
			}
		})
	}
	if strings.Contains(logs.String(), string(upstreamKeys["oa"])) || strings.Contains(logs.String(), string(upstreamKeys["ge"])) {
		t.Error("a credential reached the log")
	}
}

// TestUpstreamStreamErrorIsScrubbed: OpenAI chat and Responses
// passthrough streams relay the upstream's own mid-stream error event; its
// message is cleaned like a 4xx answer's. (Messages passthrough answers
// with its own error event instead; checked for leaks all the same.)
func TestUpstreamStreamErrorIsScrubbed(t *testing.T) {
	var logs testenv.Output
	g := startMeterGateway(t, nil, func(o *relay.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	msg := "Key {key} failed at http://{host}/v1 via vllm-0.ml.svc.cluster.local"
	directive := "[[mock error_after=2 message=" + url.QueryEscape(msg) + "]]"
	body := func(v map[string]any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	upHost := strings.TrimPrefix(g.up, "http://")
	cases := []struct {
		name, path, body, channel, event string
		relayed                          bool // the upstream's event, not the gateway's own
	}{
		{"chat, openai passthrough", "/v1/chat/completions", body(map[string]any{"model": "gpt-4o-mini", "stream": true,
			"messages": []map[string]any{{"role": "user", "content": "hello " + directive}}}), "oa", `data: {"error":`, true},
		{"responses, openai passthrough", "/v1/responses", body(map[string]any{"model": "gpt-4o-mini", "stream": true,
			"input": "hello " + directive}), "oa", "event: error", true},
		{"messages, anthropic passthrough", "/v1/messages", body(map[string]any{"model": "claude-test", "stream": true, "max_tokens": 16,
			"messages": []map[string]any{{"role": "user", "content": "hello " + directive}}}), "an", "event: error", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := g.post(t, context.Background(), c.path, c.body)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			g.result(t)
			if resp.StatusCode != 200 || !strings.Contains(string(b), c.event) {
				t.Fatalf("status %d, no %q in:\n%s", resp.StatusCode, c.event, b)
			}
			key := string(upstreamKeys[c.channel])
			for _, leak := range []string{key, key[4:14], upHost, "svc.cluster.local"} {
				if strings.Contains(string(b), leak) {
					t.Errorf("client saw %q:\n%s", leak, b)
				}
			}
			if c.relayed && !strings.Contains(string(b), "Key [redacted] failed at [internal-url] via [internal-host]") {
				t.Errorf("scrubbed message missing:\n%s", b)
			}
		})
	}
	if !strings.Contains(logs.String(), `"upstream_message":"Key [redacted] failed at http://`+upHost) {
		t.Errorf("original not logged:\n%s", logs.String())
	}
}
