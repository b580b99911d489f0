package openai_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

// Codex groups MCP tools in namespace tools. Translated channels get them
// flattened, and the function call comes back with its namespace.
func TestResponsesNamespaceTools(t *testing.T) {
	g := startGateway(t, nil)
	tools := []any{
		map[string]any{"type": "namespace", "name": "mcp__docs__", "description": "Documentation server.", "tools": []any{
			map[string]any{"type": "function", "name": "search", "description": "Search the docs",
				"parameters": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}, "required": []string{"q"}}}}},
		map[string]any{"type": "function", "name": "shell", "parameters": map[string]any{"type": "object"}},
	}
	input := []any{
		map[string]any{"role": "user", "content": "Find the install page."},
		map[string]any{"type": "function_call", "call_id": "call_0", "namespace": "mcp__docs__", "name": "search", "arguments": `{"q":"setup"}`},
		map[string]any{"type": "function_call_output", "call_id": "call_0", "output": "nothing"},
		map[string]any{"role": "assistant", "content": "Nothing found."},
		map[string]any{"role": "user", "content": "Try again."},
	}
	for _, up := range []struct{ name, model, cred string }{
		{"anthropic", "claude-test", "an-1"},
		{"gemini", "gemini-test", "ge-1"},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(up.name+map[bool]string{false: "/json", true: "/stream"}[stream], func(t *testing.T) {
				req := map[string]any{"model": up.model, "input": input, "tools": tools, "stream": stream,
					"tool_choice": map[string]any{"type": "function", "namespace": "mcp__docs__", "name": "search"}}
				resp := postTo(t, g.base+"/v1/responses", testKey, mustJSON(t, req))
				mustStatus(t, resp, 200)
				var raw []byte
				if stream {
					evs := readResponsesStream(t, resp)
					checkLifecycle(t, evs, up.model)
					for _, e := range evs {
						if e.typ == "response.output_item.added" && !strings.Contains(string(e.raw), `"namespace":"mcp__docs__","name":"search"`) {
							t.Fatalf("added item without its namespace: %s", e.raw)
						}
					}
					var done struct {
						Response json.RawMessage `json:"response"`
					}
					if err := json.Unmarshal(evs[len(evs)-1].raw, &done); err != nil {
						t.Fatal(err)
					}
					raw = done.Response
				} else {
					var err error
					if raw, err = io.ReadAll(resp.Body); err != nil {
						t.Fatal(err)
					}
				}
				var r struct {
					Output []struct {
						Type      string `json:"type"`
						Namespace string `json:"namespace"`
						Name      string `json:"name"`
						Arguments string `json:"arguments"`
					} `json:"output"`
				}
				if err := json.Unmarshal(raw, &r); err != nil {
					t.Fatal(err)
				}
				var call *struct {
					Type      string `json:"type"`
					Namespace string `json:"namespace"`
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				}
				for i := range r.Output {
					if r.Output[i].Type == "function_call" {
						call = &r.Output[i]
					}
				}
				if call == nil || call.Namespace != "mcp__docs__" || call.Name != "search" || !strings.Contains(call.Arguments, `"q"`) {
					t.Fatalf("function call %+v in %s", call, raw)
				}
				recs := g.mock.Requests(up.cred)
				body := recs[len(recs)-1].Body
				// Offered, chosen and replayed under the flat name; never the namespace shape.
				if strings.Count(body, `"mcp__docs__search"`) < 3 || strings.Contains(body, `"namespace"`) {
					t.Fatalf("upstream body: %s", body)
				}
			})
		}
	}
}

// When every credential is refused with 429 the client is told to wait
// (429, Retry-After at the first credential's return, x-should-retry), on
// the request that met the 429s and on the next, which finds them all
// cooling down. Disabled credentials are an outage: 503.
func TestCapacityErrors(t *testing.T) {
	g := startGateway(t, nil)
	g.mock.SetFault("rl-a", mock.Fault{Status: 429, RetryAfter: 7})
	g.mock.SetFault("rl-b", mock.Fault{Status: 429, RetryAfter: 3})
	body := `{"model":"limited-model","messages":[{"role":"user","content":"hi"}]}`
	for i, wantRetry := range []string{"3", "3"} {
		resp := g.post(t, testKey, body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != wantRetry || resp.Header.Get("X-Should-Retry") != "true" ||
			!strings.Contains(string(b), `"code":"no_available_channel"`) || !strings.Contains(string(b), `"type":"rate_limit_error"`) {
			t.Fatalf("request %d: %d %v %s", i, resp.StatusCode, resp.Header, b)
		}
	}
	if c := g.mock.Counters(); c.ByCredential["rl-a"] != 1 || c.ByCredential["rl-b"] != 1 {
		t.Fatalf("cooling credentials were called again: %v", c.ByCredential)
	}

	// Credentials the upstream refuses as unauthorised are disabled: no wait helps.
	g.mock.SetFault("fo-a", mock.Fault{Status: 401})
	g.mock.SetFault("fo-b", mock.Fault{Status: 401})
	fo := `{"model":"failover-model","messages":[{"role":"user","content":"hi"}]}`
	resp := g.post(t, testKey, fo)
	resp.Body.Close()
	if resp.StatusCode == 429 {
		t.Fatalf("401s answered as a rate limit")
	}
	// The pool disables them once its own probe confirms the 401s; until
	// then a request still tries them (and fails with 502).
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp = g.post(t, testKey, fo)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 && strings.Contains(string(b), `"code":"no_available_channel"`) {
			break
		}
		if resp.StatusCode == 429 || time.Now().After(deadline) {
			t.Fatalf("all disabled: %d %s", resp.StatusCode, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A 429 from one credential and a 500 from the other is not a pure rate
// limit: the answer stays 503.
func TestCapacityMixedFailures(t *testing.T) {
	g := startGateway(t, nil)
	g.mock.SetFault("rl-a", mock.Fault{Status: 429, RetryAfter: 7})
	g.mock.SetFault("rl-b", mock.Fault{Status: 500})
	resp := g.post(t, testKey, `{"model":"limited-model","messages":[{"role":"user","content":"hi"}]}`)
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
}

// Codex sends {"type":"web_search"} by default. A translated channel that
// cannot run it drops it with a warning (the default) or refuses it.
func TestResponsesHostedToolsDropped(t *testing.T) {
	g := startGateway(t, func(cfg *config.Config) {
		for i := range cfg.Channels {
			if cfg.Channels[i].Name == "an" {
				cfg.Channels[i].HostedTools = config.HostedToolsRefuse
			}
		}
	})
	tools := []any{map[string]any{"type": "web_search"},
		map[string]any{"type": "function", "name": "shell", "parameters": map[string]any{"type": "object"}}}
	for _, up := range []struct{ name, model, cred string }{
		{"gemini", "gemini-test", "ge-1"},
		{"openai passthrough", "gpt-4o-mini", "oa-1"},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(up.name+map[bool]string{false: "/json", true: "/stream"}[stream], func(t *testing.T) {
				req := map[string]any{"model": up.model, "input": "Search the web.", "tools": tools, "stream": stream}
				resp := postTo(t, g.base+"/v1/responses", testKey, mustJSON(t, req))
				mustStatus(t, resp, 200)
				_, _ = io.ReadAll(resp.Body)
				warn := resp.Header.Values("X-Switchyard-Warning")
				recs := g.mock.Requests(up.cred)
				body := recs[len(recs)-1].Body
				if up.cred == "oa-1" {
					if len(warn) != 0 || !strings.Contains(body, `"web_search"`) {
						t.Fatalf("passthrough changed: warnings %q, body %s", warn, body)
					}
					return
				}
				if len(warn) != 1 || !strings.Contains(warn[0], "tools[0] (web_search)") ||
					strings.Contains(body, "web_search") || !strings.Contains(body, `"shell"`) {
					t.Fatalf("warnings %q, upstream body %s", warn, body)
				}
			})
		}
	}
	t.Run("refused on a channel set to refuse", func(t *testing.T) {
		// web_search runs as Anthropic's own search there; file_search has no equivalent
		req := map[string]any{"model": "claude-test", "input": "Search the web.",
			"tools": append(tools, map[string]any{"type": "file_search", "vector_store_ids": []string{"v"}})}
		resp := postTo(t, g.base+"/v1/responses", testKey, mustJSON(t, req))
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "tools[2].type") {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
}
