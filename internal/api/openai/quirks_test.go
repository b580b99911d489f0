package openai_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

// quirkNode is a node in front of the mock's quirky OpenAI-compatible
// servers: a DeepSeek-like one that reasons, one that refuses
// stream_options and max_completion_tokens and reports no usage, and a
// keyless local one; all priced by tokens, with a payer key.
func quirkNode(t *testing.T) (*gateway, *mock.Server, func() billing.Micros) {
	t.Helper()
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	cfg.Channels = []config.Channel{
		{Name: "deepseek", Type: "openai", Flavor: "deepseek", BaseURL: up.URL + "/quirks/reasoning",
			Models: []string{"deepseek-reasoner"}, Credentials: []config.Credential{{Key: "ds-1"}}},
		{Name: "strict", Type: "openai", Flavor: "legacy", BaseURL: up.URL + "/quirks/no_stream_options,no_max_completion_tokens,no_usage/v1",
			Models: []string{"strict-model"}, Credentials: []config.Credential{{Key: "st-1"}}},
		{Name: "local", Type: "openai", Flavor: "vllm", BaseURL: up.URL + "/quirks/keyless",
			Models: []string{"local-model"}, Credentials: []config.Credential{{}}},
	}
	cfg.Keys = []config.Key{{Name: "all", Key: testKey}}
	pricedImages(cfg)
	for _, model := range []string{"deepseek-reasoner", "strict-model", "local-model"} {
		cfg.Pricing[model] = config.Price{Input: 1, Output: 2}
	}
	g, _ := runNode(t, cfg)
	g.mock = m
	return g, m, apptest.Balance(t, g.app, "payer@example.com")
}

func postJSON(t *testing.T, url, key, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestQuirkReasoning: a DeepSeek-like server's reasoning_content reaches
// chat clients as is, /v1/messages clients as a thinking block before the
// text, and /v1/responses clients as a reasoning item, streamed or not.
func TestQuirkReasoning(t *testing.T) {
	g, _, _ := quirkNode(t)
	const ask = `"model":"deepseek-reasoner","messages":[{"role":"user","content":"hello"}]`
	const reasoning = "The user wants a reply. I will answer briefly."

	resp := postJSON(t, g.base+"/v1/chat/completions", payerKey, `{`+ask+`}`, nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"reasoning_content":"`+reasoning+`"`) {
		t.Errorf("chat: %d %s", resp.StatusCode, b)
	}
	resp = postJSON(t, g.base+"/v1/chat/completions", payerKey, `{`+ask+`,"stream":true}`, nil)
	b, _ = io.ReadAll(resp.Body)
	if got := deltas(t, b, "reasoning_content"); got != reasoning {
		t.Errorf("chat stream reasoning %q, want %q", got, reasoning)
	}

	msgs := `{"model":"deepseek-reasoner","max_tokens":200,"messages":[{"role":"user","content":"hello"}]`
	hdr := map[string]string{"anthropic-version": "2023-06-01"}
	resp = postJSON(t, g.base+"/v1/messages", payerKey, msgs+`}`, hdr)
	var m struct {
		Content []struct {
			Type     string `json:"type"`
			Thinking string `json:"thinking"`
			Text     string `json:"text"`
		} `json:"content"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("messages: %d %v", resp.StatusCode, err)
	}
	if len(m.Content) < 2 || m.Content[0].Type != "thinking" || m.Content[0].Thinking != reasoning || m.Content[1].Type != "text" {
		t.Errorf("messages content: %+v", m.Content)
	}
	resp = postJSON(t, g.base+"/v1/messages", payerKey, msgs+`,"stream":true}`, hdr)
	b, _ = io.ReadAll(resp.Body)
	s := string(b)
	th, tx := strings.Index(s, `"thinking_delta"`), strings.Index(s, `"text_delta"`)
	if th < 0 || tx < 0 || th > tx || !strings.Contains(s, `"type":"thinking"`) {
		t.Errorf("messages stream: thinking at %d, text at %d:\n%.1500s", th, tx, s)
	}

	resp = postJSON(t, g.base+"/v1/responses", payerKey, `{"model":"deepseek-reasoner","input":"hello"}`, nil)
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"type":"reasoning"`) || !strings.Contains(string(b), "answer briefly") {
		t.Errorf("responses: %d %.800s", resp.StatusCode, b)
	}
}

// deltas joins the member name of every chunk's first delta.
func deltas(t *testing.T, stream []byte, name string) string {
	t.Helper()
	var out strings.Builder
	for line := range strings.SplitSeq(string(stream), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ch struct {
			Choices []struct {
				Delta map[string]any `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			t.Fatalf("chunk: %v: %s", err, data)
		}
		if len(ch.Choices) > 0 {
			if v, ok := ch.Choices[0].Delta[name].(string); ok {
				out.WriteString(v)
			}
		}
	}
	return out.String()
}

// TestQuirkNoStreamOptions: a server that refuses stream_options and
// max_completion_tokens and reports no usage still streams, to chat and
// /v1/messages clients (which send max_tokens as max_completion_tokens
// after translation), and the requests are billed from the tokenizer's
// counts; a chat client that asked for usage gets it.
func TestQuirkNoStreamOptions(t *testing.T) {
	g, m, balance := quirkNode(t)
	before := balance()
	resp := postJSON(t, g.base+"/v1/chat/completions", payerKey,
		`{"model":"strict-model","max_completion_tokens":300,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"tell me something"}]}`, nil)
	r := readStreamResult(t, resp)
	if resp.StatusCode != http.StatusOK || !r.Done || r.Content == "" {
		t.Fatalf("stream: %d %+v", resp.StatusCode, r)
	}
	if r.Usage == nil || r.Usage["completion_tokens"].(float64) < 1 || r.Usage["prompt_tokens"].(float64) < 1 {
		t.Errorf("usage chunk %v", r.Usage)
	}
	charged := before - balance()
	if charged <= 0 {
		t.Errorf("charged %d for a counted stream", charged)
	}
	for _, rq := range m.Requests("st-1") {
		if strings.Contains(rq.Body, "stream_options") || strings.Contains(rq.Body, "max_completion_tokens") || !strings.Contains(rq.Body, `"max_tokens":300`) {
			t.Errorf("upstream body: %s", rq.Body)
		}
	}

	before = balance()
	resp = postJSON(t, g.base+"/v1/messages", payerKey,
		`{"model":"strict-model","max_tokens":200,"stream":true,"messages":[{"role":"user","content":"tell me something"}]}`,
		map[string]string{"anthropic-version": "2023-06-01"})
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "message_stop") || !strings.Contains(string(b), `"output_tokens":`) {
		t.Errorf("messages stream: %d %.600s", resp.StatusCode, b)
	}
	if charged := before - balance(); charged <= 0 {
		t.Errorf("messages stream charged %d", charged)
	}
	if n := len(m.Requests("st-1")); n != 2 {
		t.Errorf("%d upstream requests, want 2 (no refusal retried)", n)
	}
}

// TestQuirkKeyless: a local server channel without a key is served, sends
// no Authorization header, and is billed like any other.
func TestQuirkKeyless(t *testing.T) {
	g, m, balance := quirkNode(t)
	before := balance()
	for _, stream := range []bool{false, true} {
		body := `{"model":"local-model","messages":[{"role":"user","content":"hi"}]`
		if stream {
			body += `,"stream":true`
		}
		resp := postJSON(t, g.base+"/v1/chat/completions", payerKey, body+`}`, nil)
		var r chatResult
		if stream {
			r = readStreamResult(t, resp)
		} else {
			r = readJSONResult(t, resp)
		}
		if resp.StatusCode != http.StatusOK || r.Content == "" {
			t.Fatalf("stream=%v: %d %+v", stream, resp.StatusCode, r)
		}
	}
	reqs := m.Requests(mock.LocalCredential)
	if len(reqs) != 2 {
		t.Fatalf("%d keyless upstream requests", len(reqs))
	}
	for _, rq := range reqs {
		if _, ok := rq.Headers["Authorization"]; ok {
			t.Errorf("Authorization sent to a keyless server: %v", rq.Headers)
		}
	}
	if charged := before - balance(); charged <= 0 {
		t.Errorf("charged %d", charged)
	}
}
