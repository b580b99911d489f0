package openai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/mock"
)

// fuzzPaths are the OpenAI endpoints FuzzEndpoints sends bodies to; the
// fuzzer picks one by index.
var fuzzPaths = []string{"/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions"}

// FuzzEndpoints sends arbitrary bodies through the whole handler stack of a
// real gateway (middleware, authentication, body limit, decoding, relay to
// the mock upstream, translation for Anthropic and Gemini channels). Whatever
// the body, the answer is never a 500, and an error is OpenAI-shaped JSON.
// The handler is called in-process, without a socket, to keep an iteration
// at a fraction of a millisecond.
func FuzzEndpoints(f *testing.F) {
	for _, seed := range []struct {
		path int
		body string
	}{
		{0, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
		{0, `{"model":"claude-test","max_tokens":64,"messages":[{"role":"system","content":"be brief"},` +
			`{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}`},
		{0, `{"model":"gemini-test","messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function",` +
			`"function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}`},
		{0, `{"model":"gpt-4o-mini","messages":[{"role":"assistant","tool_calls":[{"id":"c1","type":"function",` +
			`"function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"42"}],"n":1,"temperature":2}`},
		{0, `{"model":"alias-mini","messages":"not an array"}`},
		{0, `{"model":"","messages":[]}`},
		{1, `{"model":"gpt-4o-mini","input":"hi","instructions":"be brief"}`},
		{1, `{"model":"claude-test","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}],"max_output_tokens":32}`},
		{1, `{"model":"gemini-test","input":[{"role":"user","content":"q"},{"type":"function_call","call_id":"c","namespace":"mcp__d__",` +
			`"name":"s","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"x"}],"tools":[{"type":"namespace",` +
			`"name":"mcp__d__","description":"d","tools":[{"type":"function","name":"s","parameters":{"type":"object"}}]}]}`},
		{1, `{"model":"claude-test","input":"q","tools":[{"type":"web_search"},{"type":"function","name":"f"}],"tool_choice":{"type":"web_search"}}`},
		{2, `{"model":"gpt-4o-mini","input":["a","b"],"encoding_format":"float"}`},
		{2, `{"model":"gemini-test","input":[[1,2,3]]}`},
		{3, `{"model":"gpt-4o-mini","prompt":"Once upon","max_tokens":5}`},
		{3, `{"model":"gpt-4o-mini","prompt":[1,2,3],"echo":true}`},
		// Judged members the strict peek refuses (api.PeekJSON): case
		// variants, duplicates, escaped names, wrong types, choices.
		{0, `{"model":"claude-test","MODEL":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
		{0, `{"model":"gpt-4o-mini","max_tokens":5000,"MAX_TOKENS":1,"messages":[{"role":"user","content":"hi"}]}`},
		{0, `{"model":"gpt-4o-mini","max_tokens":"100000","n":10,"messages":[{"role":"user","content":"hi"}]}`},
		{0, `{"model":"gpt-4o-mini","max_completion_tokens":100.0,"stream":true,"stream_options":{"include_usage":true,"include_usage":false},"messages":[]}`},
		{0, `{"model":"gemini-test","n":3,"max_tokens":16,"stream":false,"ſtream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{1, `{"model":"gpt-4o-mini","input":"hi","max_output_tokens":16,"max_output_tokens":99999}`},
		{1, `{"model":"gpt-4o-mini","input":"hi","Max_Output_Tokens":16,"stream":null}`},
		{2, `{"mod\u0065l":"gpt-4o-mini","input":"hi"}`},
		{3, `{"model":"gpt-4o-mini","prompt":"x","max_tokens":16,"n":2,"best_of":4}`},
		{3, `{"model":"gpt-4o-mini","prompt":"x","best_of":"20","BEST_OF":1,"n":1e2}`},
	} {
		f.Add(uint8(seed.path), []byte(seed.body))
	}
	g := startGateway(f, nil)
	h := g.app.Router().Handler()
	f.Fuzz(func(t *testing.T, path uint8, body []byte) {
		if mock.CarriesDirective(body) {
			return // the mock would fail or stall on purpose
		}
		p := fuzzPaths[int(path)%len(fuzzPaths)]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, p, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testKey)
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("POST %s %q took %v", p, body, d)
		}
		checkOpenAIAnswer(t, p, body, rec.Code, rec.Body.Bytes())
	})
}

// checkOpenAIAnswer fails unless status is not 500 and, when it is not 2xx,
// answer is exactly {"error":{"message","type","code","param"}} with a
// message and a type.
func checkOpenAIAnswer(t *testing.T, path string, body []byte, status int, answer []byte) {
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
	var e map[string]any
	if err := json.Unmarshal(top["error"], &e); err != nil || len(top) != 1 || e == nil {
		t.Fatalf("POST %s %q: status %d without an OpenAI error object: %.300s", path, body, status, answer)
	}
	msg, _ := e["message"].(string)
	typ, _ := e["type"].(string)
	_, codeOK := e["code"].(string)
	param, hasParam := e["param"]
	_, paramString := param.(string)
	if msg == "" || typ == "" || !codeOK || !hasParam || (param != nil && !paramString) || len(e) != 4 {
		t.Fatalf("POST %s %q: status %d with a malformed OpenAI error: %.300s", path, body, status, answer)
	}
}
