package openai_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
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
