package openai_test

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

// rawPost sends body as is to path; chunked hides the length so the limit
// trips while reading rather than on the declared Content-Length.
func (g *gateway) rawPost(t *testing.T, path string, header map[string]string, body string, chunked bool) *http.Response {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd) // not a type NewRequest measures
	}
	req, err := http.NewRequest(http.MethodPost, g.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
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

type openAIErr struct {
	Type    string  `json:"type"`
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
}

func readOpenAIError(t *testing.T, resp *http.Response) openAIErr {
	t.Helper()
	var body struct {
		Error *openAIErr `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil || body.Error == nil {
		t.Fatalf("not an OpenAI error (%v): %.300s", err, b)
	}
	return *body.Error
}

func TestRequestErrors(t *testing.T) {
	g := startGateway(t, func(cfg *config.Config) { cfg.Server.MaxBodyBytes = errLimit })
	big := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` +
		strings.Repeat("a", errLimit+1000) + `"}]}`
	tests := []struct {
		name    string
		header  map[string]string
		body    string
		chunked bool
		status  int
		code    string
		msgHas  string
		param   string
	}{
		{name: "text/plain", header: map[string]string{"Content-Type": "text/plain"},
			body: `{"model":"gpt-4o-mini"}`, status: 415, code: "unsupported_media_type", msgHas: "Content-Type"},
		{name: "too large declared", body: big, status: 413, code: "request_too_large", msgHas: "limit"},
		{name: "too large chunked", body: big, chunked: true, status: 413, code: "request_too_large", msgHas: "limit"},
		{name: "malformed", body: `{"model":"gpt-4o-mini",}`, status: 400, code: "invalid_request_error", msgHas: "offset 24"},
		{name: "deeply nested", body: strings.Repeat("[", 100000), status: 400, code: "invalid_request_error"},
		{name: "deeply nested object", body: `{"model":"gpt-4o-mini","x":` + strings.Repeat(`{"a":`, 30000) + `}`,
			status: 400, code: "invalid_request_error"},
		{name: "empty", body: "", status: 400, code: "invalid_request_error", msgHas: "empty"},
		{name: "stream string", body: `{"model":"gpt-4o-mini","stream":"yes","messages":[{"role":"user","content":"hi"}]}`,
			status: 400, code: "invalid_request_error", msgHas: "stream", param: "stream"},
		{name: "not an object", body: `[1,2]`, status: 400, code: "invalid_request_error"},
	}
	for _, path := range []string{"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"} {
		for _, tc := range tests {
			if tc.name == "stream string" && path == "/v1/embeddings" {
				continue // embeddings has no stream field
			}
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				start := time.Now()
				resp := g.rawPost(t, path, tc.header, tc.body, tc.chunked)
				if resp.StatusCode != tc.status {
					b, _ := io.ReadAll(resp.Body)
					t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.status, b)
				}
				e := readOpenAIError(t, resp)
				if e.Code != tc.code || e.Type != "invalid_request_error" {
					t.Errorf("code %q type %q, want code %q (%s)", e.Code, e.Type, tc.code, e.Message)
				}
				if !strings.Contains(e.Message, tc.msgHas) {
					t.Errorf("message %q does not mention %q", e.Message, tc.msgHas)
				}
				if tc.param != "" && (e.Param == nil || *e.Param != tc.param) {
					t.Errorf("param %v, want %q", e.Param, tc.param)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("took %v", d)
				}
			})
		}
	}
	// Still serving after all of that.
	resp := g.post(t, testKey, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	defer resp.Body.Close()
	if r := readJSONResult(t, resp); r.Content == "" {
		t.Fatal("no answer after the error cases")
	}
}

// TestStreamIgnoresAccept: the body decides streaming, not Accept.
func TestStreamIgnoresAccept(t *testing.T) {
	g := startGateway(t, nil)
	for _, model := range []string{"gpt-4o-mini", "claude-test", "gemini-test"} {
		resp := g.rawPost(t, "/v1/chat/completions", map[string]string{"Accept": "application/json"},
			`{"model":"`+model+`","stream":true,"messages":[{"role":"user","content":"hi"}]}`, false)
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s: status %d: %s", model, resp.StatusCode, b)
		}
		r := readStreamResult(t, resp) // fails unless text/event-stream
		if !r.Done || r.Content == "" {
			t.Errorf("%s: incomplete stream %+v", model, r)
		}
	}
}
