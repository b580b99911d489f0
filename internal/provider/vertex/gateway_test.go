package vertex_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

const gwKey = "sk-test-vertex-0123456789"

const (
	saA = "sa-a@proj.iam.gserviceaccount.com"
	saB = "sa-b@proj.iam.gserviceaccount.com"
)

type gw struct {
	base string
	mock *mock.Server
	app  *app.App
}

// startGateway runs a node with one vertex channel of two service accounts
// in front of the mock, which is also their token endpoint.
func startGateway(t *testing.T, mutate ...func(*config.Config)) *gw {
	t.Helper()
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	// The key files name Google's endpoint; the channel's token_url sends
	// the exchange to the mock instead.
	sa := func(email string) config.Credential {
		return config.Credential{ServiceAccount: config.Secret(mock.VertexServiceAccount(email, "https://oauth2.googleapis.com/token"))}
	}
	cfg := apptest.Config(t)
	cfg.Channels = []config.Channel{{Name: "vx", Type: "vertex", Project: "proj", Location: "us-east5", BaseURL: up.URL,
		TokenURL: up.URL + mock.VertexTokenPath, Models: []string{"gemini-2.5-flash", "claude-sonnet-4-5"},
		ModelMap:    map[string]string{"claude-sonnet-4-5": "claude-sonnet-4-5@20250929"},
		Credentials: []config.Credential{sa(saA), sa(saB)}}}
	cfg.Keys = []config.Key{{Name: "all", Key: gwKey}}
	for _, m := range mutate {
		m(cfg)
	}
	a := apptest.Start(t, cfg)
	g := &gw{base: "http://" + a.Addr(), mock: m, app: a}
	return g
}

func (g *gw) post(t *testing.T, path string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, g.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+gwKey)
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// streamText joins the text deltas of an SSE answer in any of the three
// inbound shapes, and reports whether it ended as its shape ends.
func streamText(t *testing.T, body []byte) (string, bool) {
	t.Helper()
	var text strings.Builder
	ended := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			ended = true
			continue
		}
		var ev struct {
			Type    string          `json:"type"`
			Delta   json.RawMessage `json:"delta"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		switch ev.Type {
		case "content_block_delta":
			var d struct {
				Text string `json:"text"`
			}
			_ = json.Unmarshal(ev.Delta, &d)
			text.WriteString(d.Text)
		case "response.output_text.delta":
			var d string
			_ = json.Unmarshal(ev.Delta, &d)
			text.WriteString(d)
		case "message_stop", "response.completed":
			ended = true
		case "":
			for _, c := range ev.Choices {
				text.WriteString(c.Delta.Content)
			}
		}
	}
	return text.String(), ended
}

// Every inbound surface, stream or not, on a Gemini and a Claude model.
func TestGatewaySurfaces(t *testing.T) {
	g := startGateway(t)
	const prompt = "hello vertex"
	want := "Mock reply to: " + prompt
	for _, model := range []string{"gemini-2.5-flash", "claude-sonnet-4-5"} {
		for _, stream := range []bool{false, true} {
			for _, tc := range []struct {
				path string
				body map[string]any
				text func([]byte) string
			}{
				{"/v1/chat/completions", map[string]any{"messages": []any{map[string]any{"role": "user", "content": prompt}}},
					func(b []byte) string {
						var r struct {
							Choices []struct{ Message struct{ Content string } }
							Usage   struct {
								PromptTokens int `json:"prompt_tokens"`
							}
						}
						_ = json.Unmarshal(b, &r)
						if len(r.Choices) == 0 || r.Usage.PromptTokens == 0 {
							return ""
						}
						return r.Choices[0].Message.Content
					}},
				{"/v1/messages", map[string]any{"max_tokens": 100, "messages": []any{map[string]any{"role": "user", "content": prompt}}},
					func(b []byte) string {
						var r struct {
							Content []struct{ Text string }
							Usage   struct {
								InputTokens int `json:"input_tokens"`
							}
						}
						_ = json.Unmarshal(b, &r)
						if len(r.Content) == 0 || r.Usage.InputTokens == 0 {
							return ""
						}
						return r.Content[0].Text
					}},
				{"/v1/responses", map[string]any{"input": prompt},
					func(b []byte) string {
						var r struct {
							Output []struct {
								Content []struct{ Text string }
							}
						}
						_ = json.Unmarshal(b, &r)
						for _, o := range r.Output {
							for _, c := range o.Content {
								return c.Text
							}
						}
						return ""
					}},
			} {
				name := model + tc.path
				if stream {
					name += "/stream"
				}
				t.Run(name, func(t *testing.T) {
					tc.body["model"], tc.body["stream"] = model, stream
					st, body := g.post(t, tc.path, tc.body)
					if st != http.StatusOK {
						t.Fatalf("status %d: %s", st, body)
					}
					var got string
					if stream {
						var ended bool
						if got, ended = streamText(t, body); !ended {
							t.Errorf("stream did not end properly:\n%s", body)
						}
					} else {
						got = tc.text(body)
					}
					if !strings.HasPrefix(got, want) {
						t.Errorf("text %q, want it to start with %q; body:\n%s", got, want, body)
					}
				})
			}
		}
	}
	// The upstream saw Vertex's URLs, with the mapped model in the path.
	paths := map[string]bool{}
	for _, sa := range []string{saA, saB} {
		for _, r := range g.mock.Requests(sa) {
			paths[r.Path+"?"+r.Query] = true
		}
	}
	for _, p := range []string{
		"/v1/projects/proj/locations/us-east5/publishers/google/models/gemini-2.5-flash:generateContent?",
		"/v1/projects/proj/locations/us-east5/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
		"/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict?",
		"/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict?",
	} {
		if !paths[p] {
			t.Errorf("mock never saw %s; saw %v", p, paths)
		}
	}
	if n := g.mock.VertexTokensIssued(); n != 2 {
		t.Errorf("%d token exchanges, want one per service account (2)", n)
	}
}

// A service account answered with 429 cools down; the request is served
// by the next one, and the throttled account is not asked again.
func TestGatewayFailoverOn429(t *testing.T) {
	g := startGateway(t)
	g.mock.SetFault(saA, mock.Fault{Status: http.StatusTooManyRequests})
	for i := range 4 {
		st, body := g.post(t, "/v1/chat/completions", map[string]any{"model": "claude-sonnet-4-5",
			"messages": []any{map[string]any{"role": "user", "content": "hi"}}})
		if st != http.StatusOK {
			t.Fatalf("request %d: status %d: %s", i, st, body)
		}
	}
	a := g.mock.Requests(saA)
	if len(a) != 1 || a[0].Status != http.StatusTooManyRequests {
		t.Fatalf("throttled account saw %d requests (%v), want exactly one 429", len(a), a)
	}
	if b := g.mock.Requests(saB); len(b) != 4 {
		t.Fatalf("next account served %d requests, want 4", len(b))
	}
}

// A token the upstream no longer accepts (401) is exchanged again once and
// the same service account is asked again.
func TestGatewayRenewsAfter401(t *testing.T) {
	g := startGateway(t)
	chat := func() {
		t.Helper()
		st, body := g.post(t, "/v1/chat/completions", map[string]any{"model": "gemini-2.5-flash",
			"messages": []any{map[string]any{"role": "user", "content": "hi"}}})
		if st != http.StatusOK {
			t.Fatalf("status %d: %s", st, body)
		}
	}
	chat()
	chat()
	if n := g.mock.VertexTokensIssued(); n != 2 {
		t.Fatalf("%d exchanges, want 2", n)
	}
	g.mock.Reset() // forgets every issued token: each next call is a 401
	for range 4 {
		chat()
	}
	// Round robin meets both revoked tokens; each is renewed once.
	if n := g.mock.VertexTokensIssued(); n != 2 {
		t.Fatalf("%d exchanges after the tokens were revoked, want 2 (one renewal each)", n)
	}
}

// A service account the token endpoint refuses (a deleted key) is disabled
// and the next one serves.
func TestGatewayRefusedKeyFailsOver(t *testing.T) {
	g := startGateway(t)
	g.mock.SetFault("token:"+saA, mock.Fault{Status: http.StatusBadRequest})
	for i := range 3 {
		st, body := g.post(t, "/v1/messages", map[string]any{"model": "claude-sonnet-4-5", "max_tokens": 50,
			"messages": []any{map[string]any{"role": "user", "content": "hi"}}})
		if st != http.StatusOK {
			t.Fatalf("request %d: status %d: %s", i, st, body)
		}
	}
	// The first request that meets the key disables it (after the pool's
	// retry on 401 and its probe); later requests leave it alone.
	if got := len(g.mock.Requests("token:" + saA)); got == 0 || got > 3 {
		t.Errorf("refused key tried %d times at the token endpoint, want 1 to 3", got)
	}
	unauthorized := 0
	for _, r := range g.mock.Requests("") {
		if r.Status == http.StatusUnauthorized {
			unauthorized++
		}
	}
	if unauthorized > 1 {
		t.Errorf("%d model calls without a valid token, want at most the first request's", unauthorized)
	}
	if got := len(g.mock.Requests(saB)); got != 3 {
		t.Errorf("next account served %d requests, want 3", got)
	}
}

// /v1/messages to Claude on Vertex passes the client's body through (only
// model moved to the URL and anthropic_version added), so what the chat
// pivot cannot carry still reaches the model.
func TestGatewayMessagesPassThrough(t *testing.T) {
	g := startGateway(t)
	for _, stream := range []bool{false, true} {
		st, body := g.post(t, "/v1/messages", map[string]any{"model": "claude-sonnet-4-5", "max_tokens": 100, "top_k": 5,
			"stream": stream, "messages": []any{map[string]any{"role": "user", "content": "pass me through"}}})
		if st != http.StatusOK {
			t.Fatalf("stream=%v: status %d: %s", stream, st, body)
		}
		if !bytes.Contains(body, []byte(`"model":"claude-sonnet-4-5"`)) {
			t.Errorf("stream=%v: answer does not name the client's model:\n%s", stream, body)
		}
	}
	var bodies []string
	for _, sa := range []string{saA, saB} {
		for _, r := range g.mock.Requests(sa) {
			bodies = append(bodies, r.Body)
		}
	}
	if len(bodies) != 2 {
		t.Fatalf("%d upstream calls, want 2", len(bodies))
	}
	for _, b := range bodies {
		if !strings.Contains(b, `"top_k":5`) || !strings.Contains(b, `"anthropic_version":"vertex-2023-10-16"`) || strings.Contains(b, `"model"`) {
			t.Errorf("upstream body %s", b)
		}
	}
}

// Tool calls come back in chat shape from both publishers, stream or not.
func TestGatewayToolCalls(t *testing.T) {
	g := startGateway(t)
	tools := []any{map[string]any{"type": "function", "function": map[string]any{"name": "get_weather",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}},
			"required": []string{"city"}}}}}
	for _, model := range []string{"gemini-2.5-flash", "claude-sonnet-4-5"} {
		for _, stream := range []bool{false, true} {
			st, body := g.post(t, "/v1/chat/completions", map[string]any{"model": model, "stream": stream, "tools": tools,
				"messages": []any{map[string]any{"role": "user", "content": "weather in Paris?"}}})
			if st != http.StatusOK {
				t.Fatalf("%s stream=%v: status %d: %s", model, stream, st, body)
			}
			if !bytes.Contains(body, []byte(`"get_weather"`)) || !bytes.Contains(body, []byte(`"finish_reason":"tool_calls"`)) {
				t.Errorf("%s stream=%v: no tool call in\n%s", model, stream, body)
			}
		}
	}
}

// Vertex answers are charged like any other: usage from both publishers'
// answers, stream or not, reaches the ledger.
func TestGatewayBilling(t *testing.T) {
	const email = "payer@example.com"
	g := startGateway(t, func(cfg *config.Config) {
		cfg.Users = []config.User{{Email: email, Credit: 10}}
		cfg.Keys[0].User = email
		cfg.Pricing = map[string]config.Price{"gemini-2.5-flash": {Input: 1, Output: 1}, "claude-sonnet-4-5": {Input: 1, Output: 1}}
	})
	balance := apptest.Balance(t, g.app, email)
	before := balance()
	for _, model := range []string{"gemini-2.5-flash", "claude-sonnet-4-5"} {
		for _, stream := range []bool{false, true} {
			last := balance()
			req := map[string]any{"model": model, "stream": stream,
				"messages": []any{map[string]any{"role": "user", "content": "charge me"}}}
			if stream {
				req["stream_options"] = map[string]any{"include_usage": true}
			}
			st, body := g.post(t, "/v1/chat/completions", req)
			if st != http.StatusOK {
				t.Fatalf("%s stream=%v: status %d: %s", model, stream, st, body)
			}
			if now := balance(); now >= last {
				t.Errorf("%s stream=%v: balance %d → %d, want a charge", model, stream, last, now)
			}
		}
	}
	if balance() >= before {
		t.Fatal("nothing charged")
	}
}
