package anthropic_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

var weatherTool = []any{map[string]any{
	"name": "get_weather", "description": "Weather for a city",
	"input_schema": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required": []string{"city"}},
}}

func read(t *testing.T, resp *http.Response, stream bool) message {
	t.Helper()
	if stream {
		return readStream(t, resp)
	}
	return readMessage(t, resp)
}

func TestMessagesMatrix(t *testing.T) {
	g := startGateway(t, nil)
	upstreams := []struct{ name, model, cred string }{
		{"anthropic", "claude-test", "an-1"},
		{"openai", "gpt-4o-mini", "oa-1"},
		{"azure", "az-deploy", "az-1"},
		{"gemini", "gemini-test", "ge-1"},
	}
	for _, up := range upstreams {
		for _, stream := range []bool{false, true} {
			name := up.name + "/json"
			if stream {
				name = up.name + "/stream"
			}
			t.Run(name+"/text", func(t *testing.T) {
				req := map[string]any{"model": up.model, "max_tokens": 64, "stream": stream, "system": "Be terse.",
					"messages": []any{map[string]any{"role": "user", "content": "Say hello"}}}
				m := read(t, g.post(t, "/v1/messages", nil, req), stream)
				if m.Model != up.model || !strings.HasPrefix(m.Text, "Mock reply to: Say hello") ||
					m.StopReason != "end_turn" || m.Input <= 0 || m.Output <= 0 {
					t.Fatalf("message %+v", m)
				}
				if n := len(g.mock.Requests(up.cred)); n == 0 {
					t.Fatalf("upstream %s not called", up.cred)
				}
			})
			t.Run(name+"/tools", func(t *testing.T) {
				msgs := []any{map[string]any{"role": "user", "content": "Weather in Paris?"}}
				req := map[string]any{"model": up.model, "max_tokens": 64, "stream": stream, "messages": msgs, "tools": weatherTool}
				m := read(t, g.post(t, "/v1/messages", nil, req), stream)
				if m.ToolName != "get_weather" || m.ToolID == "" || m.StopReason != "tool_use" || m.Model != up.model {
					t.Fatalf("tool call: %+v", m)
				}
				var input map[string]any
				if err := json.Unmarshal([]byte(m.ToolInput), &input); err != nil || input["city"] == nil {
					t.Fatalf("tool input %q: %v", m.ToolInput, err)
				}
				// Second turn: the tool result goes back, text comes out.
				msgs = append(msgs,
					map[string]any{"role": "assistant", "content": []any{map[string]any{
						"type": "tool_use", "id": m.ToolID, "name": "get_weather", "input": input}}},
					map[string]any{"role": "user", "content": []any{map[string]any{
						"type": "tool_result", "tool_use_id": m.ToolID, "content": `{"temp_c": 21}`}}})
				req["messages"] = msgs
				m2 := read(t, g.post(t, "/v1/messages", nil, req), stream)
				if !strings.HasPrefix(m2.Text, "Mock reply to tool result") || m2.StopReason != "end_turn" {
					t.Fatalf("after tool result: %+v", m2)
				}
			})
		}
	}
}

func TestMessagesAuthAndVersions(t *testing.T) {
	g := startGateway(t, nil)
	body := map[string]any{"model": "gpt-4o-mini", "max_tokens": 16,
		"messages": []any{map[string]any{"role": "user", "content": "hi"}}}
	cases := []struct {
		name   string
		header map[string]string
		body   any
		status int
		typ    string
	}{
		{"x-api-key", nil, body, 200, ""},
		{"bearer", map[string]string{"x-api-key": "", "Authorization": "Bearer " + testKey}, body, 200, ""},
		{"version 2023", map[string]string{"anthropic-version": "2023-06-01"}, body, 200, ""},
		{"version 2026", map[string]string{"anthropic-version": "2026-10-21"}, body, 200, ""},
		{"no key", map[string]string{"x-api-key": ""}, body, 401, "authentication_error"},
		{"wrong key", map[string]string{"x-api-key": "sk-nope"}, body, 401, "authentication_error"},
		{"unknown version", map[string]string{"anthropic-version": "1999-01-01"}, body, 400, "invalid_request_error"},
		{"unknown model", nil, map[string]any{"model": "nope", "max_tokens": 16,
			"messages": []any{map[string]any{"role": "user", "content": "hi"}}}, 404, "not_found_error"},
		{"no model", nil, map[string]any{"messages": []any{}}, 400, "invalid_request_error"},
		{"not an object", nil, []int{1}, 400, "invalid_request_error"},
		{"untranslatable", nil, map[string]any{"model": "gpt-4o-mini", "max_tokens": 16, "top_k": 3,
			"messages": []any{map[string]any{"role": "user", "content": "hi"}}}, 400, "invalid_request_error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := g.post(t, "/v1/messages", c.header, c.body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if c.status == 200 {
				readMessage(t, resp)
				return
			}
			if typ := errorType(t, resp); typ != c.typ {
				t.Fatalf("error type %q, want %q", typ, c.typ)
			}
		})
	}
}

func TestMessagesPassthroughHeadersAndModelMap(t *testing.T) {
	g := startGateway(t, nil)
	for _, stream := range []bool{false, true} {
		req := map[string]any{"model": "claude-alias", "max_tokens": 16, "stream": stream,
			"messages": []any{map[string]any{"role": "user", "content": "hi"}}}
		resp := g.post(t, "/v1/messages?beta=true", map[string]string{
			"anthropic-beta": "prompt-caching-2024-07-31", "anthropic-version": "2026-10-21"}, req)
		if m := read(t, resp, stream); m.Model != "claude-alias" {
			t.Fatalf("stream=%v: model %q, want the client's name", stream, m.Model)
		}
		recs := g.mock.Requests("an-1")
		last := recs[len(recs)-1]
		if last.Path != "/v1/messages" || last.Headers["anthropic-beta"] != "prompt-caching-2024-07-31" ||
			last.Headers["anthropic-version"] != "2026-10-21" {
			t.Fatalf("upstream request %s headers %v", last.Path, last.Headers)
		}
		if !strings.Contains(last.Body, `"model":"claude-test"`) {
			t.Fatalf("upstream body model not mapped: %.200s", last.Body)
		}
	}
}

func TestCountTokens(t *testing.T) {
	g := startGateway(t, nil)
	msgs := []any{map[string]any{"role": "user", "content": "How many tokens is this sentence?"}}
	for _, model := range []string{"claude-test", "gpt-4o-mini"} {
		t.Run(model, func(t *testing.T) {
			before := len(g.mock.Requests("an-1"))
			resp := g.post(t, "/v1/messages/count_tokens", nil, map[string]any{"model": model, "messages": msgs, "tools": weatherTool})
			var body struct {
				InputTokens int `json:"input_tokens"`
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.InputTokens <= 0 {
				t.Fatalf("input_tokens %d: %v", body.InputTokens, err)
			}
			recs := g.mock.Requests("an-1")
			passed := len(recs) > before && recs[len(recs)-1].Path == "/v1/messages/count_tokens"
			if passed != (model == "claude-test") {
				t.Fatalf("passthrough %v for %s", passed, model)
			}
		})
	}
	resp := g.post(t, "/v1/messages/count_tokens", nil, map[string]any{"model": "nope", "messages": msgs})
	if resp.StatusCode != 404 || errorType(t, resp) != "not_found_error" {
		t.Fatalf("unknown model: status %d", resp.StatusCode)
	}
}
