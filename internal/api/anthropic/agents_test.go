package anthropic_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

// Claude Code 2.1 sends system messages inside messages[]. Translated to
// another upstream they must keep their place instead of failing the turn.
func TestMessagesMidConversationSystem(t *testing.T) {
	g := startGateway(t, nil)
	msgs := []any{
		map[string]any{"role": "user", "content": "List the files."},
		map[string]any{"role": "assistant", "content": "Which directory?"},
		map[string]any{"role": "system", "content": []any{map[string]any{"type": "text", "text": "Plan mode is on."}}},
		map[string]any{"role": "user", "content": "This one."},
	}
	for _, up := range []struct{ name, model, cred string }{
		{"openai", "gpt-4o-mini", "oa-1"},
		{"azure", "az-deploy", "az-1"},
		{"gemini", "gemini-test", "ge-1"},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(up.name+map[bool]string{false: "/json", true: "/stream"}[stream], func(t *testing.T) {
				req := map[string]any{"model": up.model, "max_tokens": 64, "stream": stream, "system": "You are a coder.", "messages": msgs}
				m := read(t, g.post(t, "/v1/messages", nil, req), stream)
				// The mock quotes the last user turn, which on Gemini holds the tagged system text too.
				if !strings.HasPrefix(m.Text, "Mock reply to: ") || !strings.Contains(m.Text, "This one.") && up.name != "gemini" {
					t.Fatalf("message %+v", m)
				}
				recs := g.mock.Requests(up.cred)
				body := recs[len(recs)-1].Body
				if up.name == "gemini" {
					var gr struct {
						Contents []struct {
							Role  string `json:"role"`
							Parts []struct {
								Text string `json:"text"`
							} `json:"parts"`
						} `json:"contents"`
						SystemInstruction struct {
							Parts []struct {
								Text string `json:"text"`
							} `json:"parts"`
						} `json:"systemInstruction"`
					}
					if err := json.Unmarshal([]byte(body), &gr); err != nil {
						t.Fatal(err)
					}
					// user, model, then one user turn: the tagged system text before the user's words.
					if len(gr.Contents) != 3 || gr.Contents[2].Role != "user" || len(gr.Contents[2].Parts) != 2 ||
						gr.Contents[2].Parts[0].Text != "<system_message>\nPlan mode is on.\n</system_message>" ||
						gr.Contents[2].Parts[1].Text != "This one." ||
						len(gr.SystemInstruction.Parts) != 1 || gr.SystemInstruction.Parts[0].Text != "You are a coder." {
						t.Fatalf("gemini upstream body: %s", body)
					}
					return
				}
				var cr struct {
					Messages []struct {
						Role    string `json:"role"`
						Content string `json:"content"`
					} `json:"messages"`
				}
				if err := json.Unmarshal([]byte(body), &cr); err != nil {
					t.Fatal(err)
				}
				roles := make([]string, len(cr.Messages))
				for i, m := range cr.Messages {
					roles[i] = m.Role
				}
				if strings.Join(roles, ",") != "system,user,assistant,system,user" || cr.Messages[3].Content != "Plan mode is on." {
					t.Fatalf("upstream messages %v: %s", roles, body)
				}
			})
		}
	}
}

// An Anthropic-compatible upstream without count_tokens answers 404 or 405:
// the gateway counts locally, marks the answer as an estimate, and does not
// hold it against the credential.
func TestCountTokensFallback(t *testing.T) {
	g := startGateway(t, nil)
	msgs := []any{map[string]any{"role": "user", "content": "How many tokens is this sentence?"}}
	count := func(t *testing.T) (*http.Response, int) {
		t.Helper()
		resp := g.post(t, "/v1/messages/count_tokens", nil, map[string]any{"model": "claude-test", "messages": msgs})
		var body struct {
			InputTokens int `json:"input_tokens"`
		}
		if resp.StatusCode == 200 {
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
		}
		return resp, body.InputTokens
	}
	if resp, n := count(t); resp.StatusCode != 200 || n <= 0 || resp.Header.Get("X-Switchyard-Token-Count") != "" {
		t.Fatalf("passthrough: %d %d %v", resp.StatusCode, n, resp.Header)
	}
	for _, status := range []int{404, 405} {
		g.mock.SetFault("an-1", mock.Fault{Status: status})
		before := len(g.mock.Requests("an-1"))
		// More times than scheduler.circuit_failures (5) would tolerate.
		for i := range 7 {
			resp, n := count(t)
			if resp.StatusCode != 200 || n <= 0 || resp.Header.Get("X-Switchyard-Token-Count") != "estimated" {
				t.Fatalf("upstream %d, request %d: %d %d %v", status, i, resp.StatusCode, n, resp.Header)
			}
		}
		if got := len(g.mock.Requests("an-1")) - before; got != 7 {
			t.Fatalf("upstream asked %d times, want 7", got)
		}
	}
	// Other failures are still the upstream's.
	g.mock.SetFault("an-1", mock.Fault{Status: 500})
	if resp, _ := count(t); resp.StatusCode != 502 {
		t.Fatalf("upstream 500: status %d, want 502", resp.StatusCode)
	}
	g.mock.ClearFaults()
	req := map[string]any{"model": "claude-test", "max_tokens": 16, "messages": msgs}
	if m := readMessage(t, g.post(t, "/v1/messages", nil, req)); m.Text == "" {
		t.Fatalf("credential unusable after the fallbacks: %+v", m)
	}
	// The local count for a model no anthropic channel serves is marked too.
	resp := g.post(t, "/v1/messages/count_tokens", nil, map[string]any{"model": "gpt-4o-mini", "messages": msgs})
	if resp.StatusCode != 200 || resp.Header.Get("X-Switchyard-Token-Count") != "estimated" {
		t.Fatalf("local count: %d %v", resp.StatusCode, resp.Header)
	}
}

// Anthropic server tools (web_search_20250305) reach an anthropic channel
// as they are; a translated channel drops them with a warning by default,
// or refuses them when its hosted_tools says so.
func TestMessagesServerToolsDropped(t *testing.T) {
	g := startGateway(t, func(cfg *config.Config) {
		for i := range cfg.Channels {
			if cfg.Channels[i].Name == "az" {
				cfg.Channels[i].HostedTools = config.HostedToolsRefuse
			}
		}
	})
	tools := append([]any{map[string]any{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}}, weatherTool...)
	msgs := []any{map[string]any{"role": "user", "content": "Weather in Paris?"}}
	for _, up := range []struct{ name, model, cred string }{
		{"anthropic", "claude-test", "an-1"},
		{"openai", "gpt-4o-mini", "oa-1"},
		{"gemini", "gemini-test", "ge-1"},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(up.name+map[bool]string{false: "/json", true: "/stream"}[stream], func(t *testing.T) {
				req := map[string]any{"model": up.model, "max_tokens": 64, "stream": stream, "messages": msgs, "tools": tools}
				resp := g.post(t, "/v1/messages", nil, req)
				warn := resp.Header.Values("X-Switchyard-Warning")
				if m := read(t, resp, stream); m.ToolName != "get_weather" {
					t.Fatalf("message %+v", m)
				}
				recs := g.mock.Requests(up.cred)
				body := recs[len(recs)-1].Body
				if up.name == "anthropic" {
					if len(warn) != 0 || !strings.Contains(body, `"web_search_20250305"`) {
						t.Fatalf("passthrough changed: warnings %q, body %s", warn, body)
					}
					return
				}
				if len(warn) != 1 || !strings.Contains(warn[0], "tools[0] (web_search_20250305)") || strings.Contains(body, "web_search") {
					t.Fatalf("warnings %q, upstream body %s", warn, body)
				}
			})
		}
	}
	t.Run("refused on a channel set to refuse", func(t *testing.T) {
		req := map[string]any{"model": "az-deploy", "max_tokens": 64, "messages": msgs, "tools": tools}
		resp := g.post(t, "/v1/messages", nil, req)
		if resp.StatusCode != 400 || errorType(t, resp) != "invalid_request_error" {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("count_tokens counts around server tools", func(t *testing.T) {
		resp := g.post(t, "/v1/messages/count_tokens", nil, map[string]any{"model": "gpt-4o-mini", "messages": msgs, "tools": tools})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}
