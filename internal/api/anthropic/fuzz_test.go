package anthropic_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/mock"
)

// fuzzPaths are the Anthropic endpoints FuzzMessages sends bodies to; the
// fuzzer picks one by index.
var fuzzPaths = []string{"/v1/messages", "/v1/messages/count_tokens"}

// FuzzMessages sends arbitrary bodies to a real gateway on a loopback port
// (the harness keeps no handle on the app, and a kept-alive connection is
// fast enough) in front of the mock upstream, with Anthropic, OpenAI and
// Gemini channels behind it. Whatever the body, the answer is never a 500,
// and an error is Anthropic-shaped JSON.
func FuzzMessages(f *testing.F) {
	for _, seed := range []struct {
		path int
		body string
	}{
		{0, `{"model":"claude-test","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`},
		{0, `{"model":"gpt-4o-mini","max_tokens":64,"system":[{"type":"text","text":"be brief"}],` +
			`"messages":[{"role":"user","content":[{"type":"text","text":"hi"},` +
			`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]}]}`},
		{0, `{"model":"gemini-test","max_tokens":64,"messages":[{"role":"user","content":"weather?"}],` +
			`"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],` +
			`"tool_choice":{"type":"any"}}`},
		{0, `{"model":"claude-alias","max_tokens":64,"messages":[{"role":"user","content":"q"},` +
			`{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"42"}]}],"thinking":{"type":"enabled","budget_tokens":1024}}`},
		{0, `{"model":"claude-test","max_tokens":"many","messages":[]}`},
		{0, `{"messages":[{"role":"user","content":"no model"}]}`},
		{0, `{"model":"gemini-test","max_tokens":64,"messages":[{"role":"user","content":"a"},` +
			`{"role":"system","content":[{"type":"text","text":"plan mode"}]},{"role":"user","content":"b"}]}`},
		{0, `{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"q"}],` +
			`"tools":[{"type":"web_search_20250305","name":"web_search"}],"tool_choice":{"type":"tool","name":"web_search"}}`},
		{1, `{"model":"claude-test","messages":[{"role":"user","content":"count me"}]}`},
		{1, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"count me"}],"system":"s"}`},
		// Judged members the strict peek refuses (api.PeekJSON).
		{0, `{"model":"claude-test","MODEL":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`},
		{0, `{"model":"claude-test","max_tokens":5000,"MAX_TOKENS":1,"messages":[{"role":"user","content":"hi"}]}`},
		{0, `{"model":"gemini-test","max_tokens":"100000","stream":"yes","messages":[{"role":"user","content":"hi"}]}`},
		{0, `{"model":"claude-test","max_tokens":64.0,"max_tok\u0065ns":1,"messages":[]}`},
		{1, `{"mod\u0065l":"claude-test","messages":[{"role":"user","content":"count me"}]}`},
		{1, `{"model":"claude-test","Model":"gpt-4o-mini","messages":[{"role":"user","content":"count me"}]}`},
	} {
		f.Add(uint8(seed.path), []byte(seed.body))
	}
	g := startGateway(f, nil)
	f.Fuzz(func(t *testing.T, path uint8, body []byte) {
		if mock.CarriesDirective(body) {
			return // the mock would fail or stall on purpose
		}
		p := fuzzPaths[int(path)%len(fuzzPaths)]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.base+p, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-api-key", testKey)
		req.Header.Set("anthropic-version", "2023-06-01")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s %q: %v", p, body, err)
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("POST %s %q: read the answer: %v", p, body, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("POST %s %q took %v", p, body, d)
		}
		checkAnthropicAnswer(t, p, body, resp.StatusCode, answer)
	})
}

// checkAnthropicAnswer fails unless status is not 500 and, when it is not
// 2xx, answer is {"type":"error","error":{"type","message"}} with an
// optional request_id beside.
func checkAnthropicAnswer(t *testing.T, path string, body []byte, status int, answer []byte) {
	t.Helper()
	if status == http.StatusInternalServerError {
		t.Fatalf("POST %s %q: status 500: %.300s", path, body, answer)
	}
	if status >= 200 && status < 300 {
		return
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(answer, &top); err != nil {
		t.Fatalf("POST %s %q: status %d with a body that is not a JSON object (%v): %.300s", path, body, status, err, answer)
	}
	var e struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	_, hasID := top["request_id"]
	if string(top["type"]) != `"error"` || json.Unmarshal(top["error"], &e) != nil ||
		e.Type == "" || e.Message == "" || len(top) > 3 || (len(top) == 3 && !hasID) {
		t.Fatalf("POST %s %q: status %d without an Anthropic error: %.300s", path, body, status, answer)
	}
}
