// Package e2e_test runs the bedrock channel end to end, through a whole
// gateway and the mock. It is apart from package bedrock so that the
// bedrock test binary, which FuzzConverseStream is built into, does not link
// the gateway: under -fuzz every linked package is coverage-instrumented,
// and the fuzzer resets and scans those counters on every exec.
package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

const (
	gwKey = "sk-sy-bedrock0123456789abcdefghijklmnopqrstuvwxyzABCD"
	model = "claude-on-bedrock"
)

type gateway struct {
	t    *testing.T
	base string
	mock *mock.Server
}

// startGateway runs a gateway with one bedrock channel of the given access
// key ids in front of the mock.
func startGateway(t *testing.T, keyIDs ...string) *gateway {
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	var creds []config.Credential
	for _, id := range keyIDs {
		creds = append(creds, config.Credential{Key: config.Secret(mock.AWSKey(id)), Weight: 1})
	}
	cfg.Scheduler.CircuitFailures = 1000
	cfg.Channels = []config.Channel{{Name: "bedrock", Type: "bedrock", Region: "us-east-1", BaseURL: up.URL,
		Models: []string{model, "titan-embed", "cohere-embed"}, ModelMap: map[string]string{model: "anthropic.claude-3-5-haiku-20241022-v1:0",
			"titan-embed": "amazon.titan-embed-text-v2:0", "cohere-embed": "cohere.embed-english-v3"},
		Weight: 1, Groups: []string{config.DefaultGroup}, Credentials: creds}}
	cfg.Keys = []config.Key{{Name: "k", Key: gwKey}}
	a := apptest.Start(t, cfg)
	return &gateway{t: t, base: "http://" + a.Addr(), mock: m}
}

func (g *gateway) post(path, body string) (int, string) {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+gwKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestGatewaySurfaces(t *testing.T) {
	g := startGateway(t, "AKIDE2E1")
	cases := []struct {
		name, path, body string
		want             []string // substrings of the answer, in order
	}{
		{"chat", "/v1/chat/completions", `{"model":"` + model + `","messages":[{"role":"user","content":"Hello Bedrock"}]}`,
			[]string{`"object":"chat.completion"`, `"content":"Mock reply to: Hello Bedrock`, `"finish_reason":"stop"`, `"prompt_tokens":`}},
		{"chat stream", "/v1/chat/completions", `{"model":"` + model + `","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello Bedrock"}]}`,
			[]string{`"role":"assistant"`, `"content":"Mock reply to: Hello Bedrock`, `"finish_reason":"stop"`, `"completion_tokens":`, "data: [DONE]"}},
		{"chat tools", "/v1/chat/completions", `{"model":"` + model + `","messages":[{"role":"user","content":"Weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}`,
			[]string{`"tool_calls":[{"id":"call_`, `"name":"get_weather"`, `"finish_reason":"tool_calls"`}},
		{"chat tools stream", "/v1/chat/completions", `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"Weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}`,
			[]string{`"name":"get_weather"`, `"arguments":"`, `"finish_reason":"tool_calls"`, "[DONE]"}},
		{"messages", "/v1/messages", `{"model":"` + model + `","max_tokens":100,"messages":[{"role":"user","content":"Hello Bedrock"}]}`,
			[]string{`"type":"message"`, `"text":"Mock reply to: Hello Bedrock`, `"stop_reason":"end_turn"`, `"output_tokens":`}},
		{"messages stream", "/v1/messages", `{"model":"` + model + `","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Hello Bedrock"}]}`,
			[]string{"event: message_start", "event: content_block_delta", `Mock reply to: Hello Bedrock`, "event: message_stop"}},
		{"responses", "/v1/responses", `{"model":"` + model + `","input":"Hello Bedrock"}`,
			[]string{`"object":"response"`, `"status":"completed"`, `"text":"Mock reply to: Hello Bedrock`, `"output_tokens":`}},
		{"embeddings titan", "/v1/embeddings", `{"model":"titan-embed","input":"Hello Bedrock","dimensions":256}`,
			[]string{`"object":"list"`, `"index":0,"embedding":[`, `"model":"titan-embed"`, `"prompt_tokens":3`}},
		{"embeddings cohere", "/v1/embeddings", `{"model":"cohere-embed","input":["a","b"],"encoding_format":"base64"}`,
			[]string{`"index":0,"embedding":"`, `"index":1,"embedding":"`, `"prompt_tokens":`}},
		{"responses stream", "/v1/responses", `{"model":"` + model + `","stream":true,"input":"Hello Bedrock"}`,
			[]string{"event: response.created", "event: response.output_text.delta", "event: response.completed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := g.post(c.path, c.body)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			rest := body
			for _, w := range c.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("answer lacks %q (in order):\n%s", w, body)
				}
				rest = rest[i+len(w):]
			}
		})
	}
	// Every upstream call went to a mapped model, signed and accepted.
	for _, r := range g.mock.Requests("AKIDE2E1") {
		if r.Status != 200 || !strings.HasPrefix(r.Path, "/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse") && !strings.HasSuffix(r.Path, "/invoke") {
			t.Errorf("upstream request %s answered %d", r.Path, r.Status)
		}
	}
}

// TestThrottledFailover: a credential Bedrock throttles (HTTP 429, a quota
// error sent as 400, or a throttling exception in the event stream before
// any content) rests, and the request is served by the next one.
func TestThrottledFailover(t *testing.T) {
	faults := []struct {
		name   string
		fault  mock.Fault
		stream bool
	}{
		{"429", mock.Fault{Status: 429}, false},
		{"quota 400", mock.Fault{Status: 400, Code: "ServiceQuotaExceededException"}, false},
		{"stream exception", mock.Fault{ErrorAfter: 1, Code: "throttlingException"}, true},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			g := startGateway(t, "AKIDHOT", "AKIDCOOL")
			g.mock.SetFault("AKIDHOT", f.fault)
			body := `{"model":"` + model + `","stream":` + map[bool]string{true: "true", false: "false"}[f.stream] +
				`,"messages":[{"role":"user","content":"hi"}]}`
			for i := range 4 {
				status, out := g.post("/v1/chat/completions", body)
				if status != 200 || !strings.Contains(out, "Mock reply to: hi") {
					t.Fatalf("request %d: %d %s", i, status, out)
				}
			}
			hot := g.mock.Requests("AKIDHOT")
			if len(hot) != 1 {
				t.Fatalf("the throttled credential got %d requests, want 1 (then rested): %+v", len(hot), hot)
			}
			if n := len(g.mock.Requests("AKIDCOOL")); n != 4 {
				t.Errorf("the other credential served %d requests, want 4", n)
			}
		})
	}
}

// TestWrongSecretFailsOver: a credential whose secret the mock refuses
// (SigV4 verification, 403) fails over to the next, and the pool's probe of
// the suspect is refused the same way.
func TestWrongSecretFailsOver(t *testing.T) {
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	cfg.Channels = []config.Channel{{Name: "bedrock", Type: "bedrock", Region: "eu-central-1", BaseURL: up.URL,
		Models: []string{model}, Weight: 1, Groups: []string{config.DefaultGroup}, Credentials: []config.Credential{
			{Key: "AKIDBAD:not-the-secret", Weight: 1}, {Key: config.Secret(mock.AWSKey("AKIDOK")), Weight: 1}}}}
	cfg.Keys = []config.Key{{Name: "k", Key: gwKey}}
	a := apptest.Start(t, cfg)
	g := &gateway{t: t, base: "http://" + a.Addr(), mock: m}
	for range 3 {
		if status, out := g.post("/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`); status != 200 {
			t.Fatalf("%d %s", status, out)
		}
	}
	bad := m.Requests("AKIDBAD")
	if len(bad) == 0 {
		t.Fatal("the bad credential was never tried")
	}
	for _, r := range bad {
		if r.Status != http.StatusForbidden {
			t.Errorf("bad credential answered %d", r.Status)
		}
	}
}

// TestMessagesThinkingRoundTrip: on /v1/messages with thinking, Claude on
// Bedrock answers with signed reasoning, which reaches the client as a
// thinking block with its signature (streamed as a signature_delta); the
// client sends the turn back with its tool result, and Converse receives
// the reasoning as a reasoningContent block with the same signature,
// first in its turn — which the mock, like Claude, insists on when a
// thinking turn called a tool.
func TestMessagesThinkingRoundTrip(t *testing.T) {
	g := startGateway(t, "AKIDTHINK")
	const tools = `"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]`
	first := `{"model":"` + model + `","max_tokens":8000,"thinking":{"type":"enabled","budget_tokens":2048},` + tools +
		`,"messages":[{"role":"user","content":"Weather?"}]`
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "stream"}[stream], func(t *testing.T) {
			body := first + `}`
			if stream {
				body = first + `,"stream":true}`
			}
			status, out := g.post("/v1/messages", body)
			if status != 200 {
				t.Fatalf("first turn: %d %s", status, out)
			}
			content := assistantContent(t, out, stream)
			if len(content) < 2 || content[0]["type"] != "thinking" || content[0]["signature"] == "" || content[0]["thinking"] == "" {
				t.Fatalf("first turn's content does not start with signed thinking: %v", content)
			}
			var toolID string
			for _, b := range content {
				if b["type"] == "tool_use" {
					toolID, _ = b["id"].(string)
				}
			}
			if toolID == "" {
				t.Fatalf("no tool_use in %v", content)
			}
			turn, _ := json.Marshal(content)
			second := first + `,{"role":"assistant","content":` + string(turn) + `},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + toolID + `","content":"18C sunny"}]}]}`
			second = strings.Replace(second, `"content":"Weather?"}]`, `"content":"Weather?"}`, 1)
			status, out = g.post("/v1/messages", second)
			if status != 200 {
				t.Fatalf("second turn: %d %s", status, out)
			}
			reqs := g.mock.Requests("AKIDTHINK")
			last := reqs[len(reqs)-1].Body
			want := `{"reasoningContent":{"reasoningText":{"text":` + mustJSON(content[0]["thinking"]) + `,"signature":` + mustJSON(content[0]["signature"]) + `}}`
			if !strings.Contains(last, want) {
				t.Errorf("Converse did not receive the signed reasoning %s:\n%.1500s", want, last)
			}

			// Edited reasoning is refused by the upstream, as Claude
			// refuses it, and never silently dropped by the gateway.
			forged := strings.Replace(second, `"thinking":`+mustJSON(content[0]["thinking"]), `"thinking":"something else"`, 1)
			if status, out := g.post("/v1/messages", forged); status != 400 || !strings.Contains(out, "signature") {
				t.Errorf("edited thinking: %d %s", status, out)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// assistantContent is the content blocks of a Messages answer, JSON or
// rebuilt from its stream as the Anthropic SDKs accumulate it.
func assistantContent(t *testing.T, out string, stream bool) []map[string]any {
	t.Helper()
	if !stream {
		var m struct {
			Content []map[string]any `json:"content"`
		}
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return m.Content
	}
	var blocks []map[string]any
	partial := map[int]string{}
	for _, line := range strings.Split(out, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Type         string         `json:"type"`
			Index        int            `json:"index"`
			ContentBlock map[string]any `json:"content_block"`
			Delta        map[string]any `json:"delta"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
		switch ev.Type {
		case "content_block_start":
			blocks = append(blocks, ev.ContentBlock)
		case "content_block_delta":
			b := blocks[ev.Index]
			switch ev.Delta["type"] {
			case "thinking_delta":
				b["thinking"] = b["thinking"].(string) + ev.Delta["thinking"].(string)
			case "signature_delta":
				b["signature"] = ev.Delta["signature"]
			case "text_delta":
				b["text"] = b["text"].(string) + ev.Delta["text"].(string)
			case "input_json_delta":
				partial[ev.Index] += ev.Delta["partial_json"].(string)
			}
		case "content_block_stop":
			if js, ok := partial[ev.Index]; ok {
				var in any
				if err := json.Unmarshal([]byte(js), &in); err != nil {
					t.Fatalf("tool input %q: %v", js, err)
				}
				blocks[ev.Index]["input"] = in
			}
		}
	}
	return blocks
}

// TestResponsesReasoningRoundTrip: on /v1/responses, Claude's signed
// reasoning comes out as a reasoning item whose encrypted_content carries
// the signature; a client that sends its output items back (as Codex
// does) has the reasoning reach Converse as reasoningContent with the same
// signature, so a thinking turn with tools goes on.
func TestResponsesReasoningRoundTrip(t *testing.T) {
	g := startGateway(t, "AKIDRESP")
	const head = `{"model":"` + model + `","reasoning":{"effort":"low"},"max_output_tokens":4000,` +
		`"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],`
	user := `{"role":"user","content":"Weather?"}`
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "stream"}[stream], func(t *testing.T) {
			st := map[bool]string{false: "false", true: "true"}[stream]
			status, out := g.post("/v1/responses", head+`"stream":`+st+`,"input":[`+user+`]}`)
			if status != 200 {
				t.Fatalf("first turn: %d %s", status, out)
			}
			var output []map[string]any
			if !stream {
				var r struct {
					Output []map[string]any `json:"output"`
				}
				if err := json.Unmarshal([]byte(out), &r); err != nil {
					t.Fatal(err)
				}
				output = r.Output
			} else {
				for _, line := range strings.Split(out, "\n") {
					data, ok := strings.CutPrefix(line, "data: ")
					if !ok {
						continue
					}
					var ev struct {
						Type string         `json:"type"`
						Item map[string]any `json:"item"`
					}
					_ = json.Unmarshal([]byte(data), &ev)
					if ev.Type == "response.output_item.done" {
						output = append(output, ev.Item)
					}
				}
			}
			if len(output) < 2 || output[0]["type"] != "reasoning" {
				t.Fatalf("output does not start with reasoning: %v", output)
			}
			enc, _ := output[0]["encrypted_content"].(string)
			sig, ok := strings.CutPrefix(enc, "switchyard.anthropic.signature:")
			if !ok || sig == "" {
				t.Fatalf("reasoning item's encrypted_content %q carries no signature", enc)
			}
			var callID string
			for _, it := range output {
				if it["type"] == "function_call" {
					callID, _ = it["call_id"].(string)
				}
			}
			if callID == "" {
				t.Fatalf("no function_call in %v", output)
			}
			items, _ := json.Marshal(output)
			input := user + `,` + strings.Trim(string(items), "[]") +
				`,{"type":"function_call_output","call_id":"` + callID + `","output":"18C sunny"}`
			status, out = g.post("/v1/responses", head+`"stream":false,"input":[`+input+`]}`)
			if status != 200 {
				t.Fatalf("second turn: %d %s", status, out)
			}
			reqs := g.mock.Requests("AKIDRESP")
			last := reqs[len(reqs)-1].Body
			if want := `"signature":` + mustJSON(sig) + `}}`; !strings.Contains(last, `{"reasoningContent":{"reasoningText":{"text":"Mock thinking about: Weather?",`) ||
				!strings.Contains(last, want) {
				t.Errorf("Converse did not receive the signed reasoning (%s):\n%.1500s", want, last)
			}
		})
	}
}
