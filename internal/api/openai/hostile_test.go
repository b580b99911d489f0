package openai_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/config"
)

// hostileLimit is server.max_body_bytes in TestHostileInput: above the
// 10 MB single-line body, which must be served, not refused for its size.
const hostileLimit = 12 << 20

// TestHostileInput sends what a broken or malicious client might, through a
// real gateway on a socket: every answer is the right status in OpenAI's
// error shape (or a normal answer), fast, and never a 5xx.
func TestHostileInput(t *testing.T) {
	g := startGateway(t, func(cfg *config.Config) { cfg.Server.MaxBodyBytes = hostileLimit })
	const msgs = `"messages":[{"role":"user","content":"hi"}],"input":"hi"` // chat + responses/embeddings
	nested := strings.Repeat("[", 100_000)
	line := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` +
		strings.Repeat("long line ", 1<<20) + `"}],"input":"hi"}`
	tests := []struct {
		name    string
		key     string // testKey when empty
		header  map[string]string
		body    string
		chunked bool
		status  int
		code    string // "" for a 2xx
		paths   []string
		budget  time.Duration // how long the answer may take; 5s when zero
	}{
		{name: "over max_body_bytes declared", body: `{"model":"gpt-4o-mini","input":"` + strings.Repeat("a", hostileLimit) + `"}`,
			status: 413, code: "request_too_large"},
		{name: "over max_body_bytes chunked", body: `{"model":"gpt-4o-mini","input":"` + strings.Repeat("a", hostileLimit) + `"}`,
			chunked: true, status: 413, code: "request_too_large"},
		{name: "100k nested arrays in a field", body: `{"model":"gpt-4o-mini",` + msgs + `,"x":` + nested + strings.Repeat("]", 100_000) + `}`,
			status: 400, code: "invalid_request_error"},
		{name: "100k unclosed arrays in a field", body: `{"model":"gpt-4o-mini",` + msgs + `,"x":` + nested,
			status: 400, code: "invalid_request_error"},
		{name: "100k nested arrays as the content", body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":` +
			nested + strings.Repeat("]", 100_000) + `}],"input":` + nested + strings.Repeat("]", 100_000) + `}`,
			status: 400, code: "invalid_request_error"},
		// Go's decoder reads invalid UTF-8 as U+FFFD; a pass-through body
		// keeps the bytes. Either way the upstream answers.
		{name: "invalid UTF-8 in the content", body: "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"a\xff\xfe\xc3(b\"}],\"input\":\"a\xffb\"}",
			status: 200},
		{name: "invalid UTF-8 in the model", body: "{\"model\":\"gpt-4o\xff-mini\"," + msgs + "}",
			status: 404, code: "model_not_found"},
		{name: "lone surrogate escape in the model", body: `{"model":"gpt-4o-mini\ud800",` + msgs + `}`,
			status: 404, code: "model_not_found"},
		{name: "raw NUL in the model", body: "{\"model\":\"gpt-4o-mini\x00\"," + msgs + "}",
			status: 400, code: "invalid_request_error"},
		{name: "escaped NUL in the model", body: `{"model":"gpt-4o-mini\u0000",` + msgs + `}`,
			status: 404, code: "model_not_found"},
		{name: "raw control characters in the model", body: "{\"model\":\"gpt\x1b[31m\x07\"," + msgs + "}",
			status: 400, code: "invalid_request_error"},
		{name: "escaped control characters and a newline in the model", body: `{"model":"gpt\u001b[31m\r\nX-Forged: 1",` + msgs + `}`,
			status: 404, code: "model_not_found"},
		// Relayed for real: the gateway and the mock each decode 10 MB,
		// several seconds under the race detector.
		{name: "10 MB on one line", body: line, status: 200, paths: []string{"/v1/chat/completions"}, budget: 30 * time.Second},
		{name: "10 MB without a newline, not JSON", body: strings.Repeat("a", 10<<20),
			status: 400, code: "invalid_request_error"},
		// A duplicated or escaped model member is refused: the gateway
		// judges the value Go's decoder reads (the last) while the upstream
		// may read the first, so a key limited to one model could be
		// served another.
		{name: "duplicated model, the allowed one last", key: limitedKey,
			body: `{"model":"claude-test","model":"gpt-4o-mini",` + msgs + `}`, status: 400, code: "invalid_request_error"},
		{name: "duplicated model, the allowed one first", key: limitedKey,
			body: `{"model":"gpt-4o-mini","model":"claude-test",` + msgs + `}`, status: 400, code: "invalid_request_error"},
		{name: "escaped model member", body: `{"mod\u0065l":"gpt-4o-mini",` + msgs + `}`, status: 400, code: "invalid_request_error"},
		{name: "model inside another member is no duplicate", body: `{"model":"gpt-4o-mini","metadata":{"model":"x"},` + msgs + `}`, status: 200},
		{name: "text/plain", header: map[string]string{"Content-Type": "text/plain"},
			body: `{"model":"gpt-4o-mini",` + msgs + `}`, status: 415, code: "unsupported_media_type"},
		{name: "form", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			body: "model=gpt-4o-mini&input=hi", status: 415, code: "unsupported_media_type"},
		{name: "multipart", header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"},
			body:   "--x\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngpt-4o-mini\r\n--x--\r\n",
			status: 415, code: "unsupported_media_type"},
		{name: "unparsable Content-Type", header: map[string]string{"Content-Type": "application/json; charset"},
			body: `{"model":"gpt-4o-mini",` + msgs + `}`, status: 415, code: "unsupported_media_type"},
		{name: "+json Content-Type", header: map[string]string{"Content-Type": "application/vnd.api+json; charset=utf-8"},
			body: `{"model":"gpt-4o-mini",` + msgs + `}`, status: 200},
	}
	for _, tc := range tests {
		paths := tc.paths
		if paths == nil {
			paths = []string{"/v1/chat/completions", "/v1/responses", "/v1/embeddings"}
		}
		for _, path := range paths {
			t.Run(tc.name+path, func(t *testing.T) {
				header := map[string]string{}
				if tc.key != "" {
					header["Authorization"] = "Bearer " + tc.key
				}
				for k, v := range tc.header {
					header[k] = v
				}
				start := time.Now()
				resp := g.rawPost(t, path, header, tc.body, tc.chunked)
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("read the answer: %v", err)
				}
				budget := tc.budget
				if budget == 0 {
					budget = 5 * time.Second
				}
				if d := time.Since(start); d > budget {
					t.Errorf("took %v, more than %v", d, budget)
				}
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.status, b)
				}
				if tc.code == "" {
					return
				}
				checkHostileError(t, b, tc.code)
			})
		}
	}

	// net/http refuses a header block over the server's MaxHeaderBytes
	// (1 MiB, plus the 4 KiB of slack it always allows) before any handler
	// runs, so that answer is its plain text.
	t.Run("header over 1 MiB", func(t *testing.T) {
		start := time.Now()
		resp := g.rawPost(t, "/v1/chat/completions", map[string]string{"X-Padding": strings.Repeat("p", 1<<20+64<<10)},
			`{"model":"gpt-4o-mini",`+msgs+`}`, false)
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})

	// Still serving after all of that.
	resp := g.post(t, testKey, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	defer resp.Body.Close()
	if r := readJSONResult(t, resp); r.Content == "" {
		t.Fatal("no answer after the hostile cases")
	}
}

// checkHostileError fails unless b is exactly an OpenAI error with the given
// code, in valid UTF-8 and without raw control characters that could forge
// a log line or a terminal escape where it is shown.
func checkHostileError(t *testing.T, b []byte, code string) {
	t.Helper()
	var body struct {
		Error *openAIErr `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Error == nil {
		t.Fatalf("not an OpenAI error (%v): %.300q", err, b)
	}
	e := body.Error
	if e.Code != code || e.Type == "" || e.Message == "" {
		t.Errorf("code %q type %q message %q, want code %q", e.Code, e.Type, e.Message, code)
	}
	if !utf8.Valid(b) {
		t.Errorf("answer is not valid UTF-8: %.300q", b)
	}
	if i := strings.IndexFunc(strings.TrimSuffix(string(b), "\n"), func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
		t.Errorf("raw control character at byte %d of the answer: %.300q", i, b)
	}
}
