package anthropic_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
)

const errLimit = 200 << 10 // server.max_body_bytes in these tests

// rawPost sends body as is; chunked hides the length so the limit trips
// while reading rather than on the declared Content-Length.
func (g *gateway) rawPost(t *testing.T, header map[string]string, body string, chunked bool) *http.Response {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd) // not a type NewRequest measures
	}
	req, err := http.NewRequest(http.MethodPost, g.base+"/v1/messages", rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", testKey)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// anthropicError reads an Anthropic-shaped error body.
func anthropicError(t *testing.T, resp *http.Response) (typ, msg string) {
	t.Helper()
	var body struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("error body is not JSON: %v: %.300s", err, b)
	}
	if body.Type != "error" {
		t.Fatalf("not an Anthropic error (type %q): %.300s", body.Type, b)
	}
	return body.Error.Type, body.Error.Message
}

func TestMessagesRequestErrors(t *testing.T) {
	g := startGateway(t, func(cfg *config.Config) { cfg.Server.MaxBodyBytes = errLimit })
	big := `{"model":"claude-test","max_tokens":5,"messages":[{"role":"user","content":"` +
		strings.Repeat("a", errLimit+1000) + `"}]}`
	tests := []struct {
		name    string
		header  map[string]string
		body    string
		chunked bool
		status  int
		typ     string
		msgHas  string
	}{
		{name: "text/plain", header: map[string]string{"Content-Type": "text/plain"},
			body: `{"model":"claude-test"}`, status: 415, typ: "invalid_request_error", msgHas: "Content-Type"},
		{name: "too large declared", body: big, status: 413, typ: "request_too_large", msgHas: "limit"},
		{name: "too large chunked", body: big, chunked: true, status: 413, typ: "request_too_large", msgHas: "limit"},
		{name: "malformed", body: `{"model":"claude-test",}`, status: 400, typ: "invalid_request_error", msgHas: "offset 24"},
		{name: "deeply nested", body: strings.Repeat("[", 100000), status: 400, typ: "invalid_request_error"},
		{name: "deeply nested object", body: `{"model":"claude-test","x":` + strings.Repeat(`{"a":`, 30000) + `}`,
			status: 400, typ: "invalid_request_error"},
		{name: "empty", body: "", status: 400, typ: "invalid_request_error", msgHas: "empty"},
		{name: "stream string", body: `{"model":"claude-test","max_tokens":5,"stream":"yes","messages":[{"role":"user","content":"hi"}]}`,
			status: 400, typ: "invalid_request_error", msgHas: "stream"},
		{name: "not an object", body: `[1,2]`, status: 400, typ: "invalid_request_error"},
		{name: "duplicated model", body: `{"model":"claude-test","model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			status: 400, typ: "invalid_request_error", msgHas: "more than once"},
		{name: "escaped model", body: `{"mod\u0065l":"claude-test","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			status: 400, typ: "invalid_request_error", msgHas: "escape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp := g.rawPost(t, tc.header, tc.body, tc.chunked)
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.status, b)
			}
			typ, msg := anthropicError(t, resp)
			if typ != tc.typ {
				t.Errorf("error type %q, want %q (%s)", typ, tc.typ, msg)
			}
			if !strings.Contains(msg, tc.msgHas) {
				t.Errorf("message %q does not mention %q", msg, tc.msgHas)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	// Still serving after all of that.
	m := readMessage(t, g.post(t, "/v1/messages", nil, map[string]any{"model": "claude-test", "max_tokens": 5,
		"messages": []map[string]any{{"role": "user", "content": "hi"}}}))
	if m.Text == "" {
		t.Fatal("no answer after the error cases")
	}
}

// TestMessagesStreamIgnoresAccept: the body decides streaming, not Accept.
func TestMessagesStreamIgnoresAccept(t *testing.T) {
	g := startGateway(t, nil)
	for _, model := range []string{"claude-test", "gpt-4o-mini"} {
		resp := g.post(t, "/v1/messages", map[string]string{"Accept": "application/json"}, map[string]any{
			"model": model, "max_tokens": 5, "stream": true,
			"messages": []map[string]any{{"role": "user", "content": "hi"}}})
		m := readStream(t, resp) // checks text/event-stream and the event grammar
		if m.Text == "" {
			t.Errorf("%s: empty stream", model)
		}
	}
}

const pngB64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

// TestMessagesImages: image blocks reach an Anthropic upstream as sent and
// an OpenAI upstream as image_url parts, in both modes.
func TestMessagesImages(t *testing.T) {
	g := startGateway(t, nil)
	sources := []struct {
		name   string
		source map[string]any
		url    string // what an OpenAI upstream must receive
	}{
		{"base64", map[string]any{"type": "base64", "media_type": "image/png", "data": pngB64},
			"data:image/png;base64," + pngB64},
		{"url", map[string]any{"type": "url", "url": "https://example.com/cat.png"}, "https://example.com/cat.png"},
	}
	upstreams := []struct{ model, cred string }{{"claude-test", "an-1"}, {"gpt-4o-mini", "oa-1"}}
	for _, src := range sources {
		for _, up := range upstreams {
			for _, stream := range []bool{false, true} {
				t.Run(src.name+"/"+up.model+map[bool]string{false: "", true: "/stream"}[stream], func(t *testing.T) {
					before := len(g.mock.Requests(up.cred))
					resp := g.post(t, "/v1/messages", nil, map[string]any{
						"model": up.model, "max_tokens": 5, "stream": stream,
						"messages": []map[string]any{{"role": "user", "content": []map[string]any{
							{"type": "text", "text": "what is this?"},
							{"type": "image", "source": src.source},
						}}}})
					if stream {
						readStream(t, resp)
					} else {
						readMessage(t, resp)
					}
					reqs := g.mock.Requests(up.cred)
					if len(reqs) != before+1 {
						t.Fatalf("mock saw %d new requests", len(reqs)-before)
					}
					checkUpstreamImage(t, up.cred, reqs[len(reqs)-1].Body, src.source, src.url)
				})
			}
		}
	}
}

func checkUpstreamImage(t *testing.T, cred, body string, source map[string]any, url string) {
	t.Helper()
	var req struct {
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(body), &req); err != nil || len(req.Messages) == 0 {
		t.Fatalf("upstream body: %v: %.300s", err, body)
	}
	var parts []map[string]any
	if err := json.Unmarshal(req.Messages[len(req.Messages)-1].Content, &parts); err != nil {
		t.Fatalf("content is not a part list: %v: %.300s", err, body)
	}
	for _, p := range parts {
		if cred == "an-1" && p["type"] == "image" {
			got, _ := json.Marshal(p["source"])
			want, _ := json.Marshal(source)
			if string(got) != string(want) {
				t.Errorf("Anthropic upstream got source %s, want %s", got, want)
			}
			return
		}
		if cred == "oa-1" && p["type"] == "image_url" {
			iu, _ := p["image_url"].(map[string]any)
			if iu["url"] != url {
				t.Errorf("OpenAI upstream got image_url %v, want %q", iu["url"], url)
			}
			return
		}
	}
	t.Errorf("no image part upstream: %.500s", body)
}

// TestMessagesJudgedMembers: the members the gateway judges on a Messages
// body (model, max_tokens, stream) are read as the upstream reads them: one
// plainly written member of the right type. A duplicate, a case variant or
// a wrong type is a 400 naming the member, before any upstream call. Each
// case used to pass: {"model":"claude-test","MODEL":"gpt-4o-mini"} was
// allowed as gpt-4o-mini for a key limited to it and sent to the Anthropic
// upstream, which reads "model"; "max_tokens":"100000" reserved the default.
func TestMessagesJudgedMembers(t *testing.T) {
	const limitedKey = "sk-test-limited-0123456789"
	g := startGateway(t, func(cfg *config.Config) {
		cfg.Keys = append(cfg.Keys, config.Key{Name: "limited", Key: limitedKey, Models: []string{"gpt-4o-mini"}})
	})
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	both := []string{"/v1/messages", "/v1/messages/count_tokens"}
	messages := []string{"/v1/messages"}
	tests := []struct {
		name, members, named string
		paths                []string
	}{
		{"model in upper case, the allowed one last", `"model":"claude-test","MODEL":"gpt-4o-mini","max_tokens":5`, "MODEL", both},
		{"model in upper case, the allowed one first", `"model":"gpt-4o-mini","MODEL":"claude-test","max_tokens":5`, "MODEL", both},
		{"model twice", `"model":"claude-test","model":"gpt-4o-mini","max_tokens":5`, "model", both},
		{"model twice, escaped", `"model":"claude-test","mod\u0065l":"gpt-4o-mini","max_tokens":5`, "model", both},
		{"model a number", `"model":1,"max_tokens":5`, "model", both},
		{"max_tokens in upper case", `"model":"gpt-4o-mini","max_tokens":5000,"MAX_TOKENS":1`, "MAX_TOKENS", messages},
		{"max_tokens twice", `"model":"gpt-4o-mini","max_tokens":5000,"max_tokens":1`, "max_tokens", messages},
		{"max_tokens a string", `"model":"gpt-4o-mini","max_tokens":"100000"`, "max_tokens", messages},
		{"max_tokens a float", `"model":"gpt-4o-mini","max_tokens":100.0`, "max_tokens", messages},
		{"max_tokens a bool", `"model":"gpt-4o-mini","max_tokens":true`, "max_tokens", messages},
		{"max_tokens an array", `"model":"gpt-4o-mini","max_tokens":[1]`, "max_tokens", messages},
		{"max_tokens beyond int64", `"model":"gpt-4o-mini","max_tokens":100000000000000000000`, "max_tokens", messages},
		{"max_tokens zero", `"model":"gpt-4o-mini","max_tokens":0`, "max_tokens", messages},
		{"stream a string", `"model":"gpt-4o-mini","max_tokens":5,"stream":"true"`, "stream", messages},
		{"messages in upper case", `"model":"gpt-4o-mini","max_tokens":5,"MESSAGES":[]`, "MESSAGES", both},
		{"messages twice", `"model":"gpt-4o-mini","max_tokens":5,"messages":[]`, "messages", both},
		{"system in mixed case", `"model":"gpt-4o-mini","max_tokens":5,"system":"a","System":"b"`, "System", both},
		{"stream in mixed case", `"model":"gpt-4o-mini","max_tokens":5,"stream":false,"Stream":true`, "Stream", messages},
	}
	for _, tc := range tests {
		for _, path := range tc.paths {
			t.Run(tc.name+path, func(t *testing.T) {
				calls := g.mock.Counters().Total
				req, err := http.NewRequest(http.MethodPost, g.base+path, strings.NewReader("{"+tc.members+","+msgs+"}"))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("x-api-key", limitedKey)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				typ, msg := anthropicError(t, resp)
				if resp.StatusCode != http.StatusBadRequest || typ != "invalid_request_error" || !strings.Contains(msg, tc.named) {
					t.Errorf("status %d %s %q, want 400 naming %s", resp.StatusCode, typ, msg, tc.named)
				}
				if n := g.mock.Counters().Total - calls; n != 0 {
					t.Errorf("%d upstream calls", n)
				}
			})
		}
	}
}
