package mock

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/switchyard/switchyard/internal/testenv/openaispec"
)

// validate checks a JSON document against a component schema of the
// OpenAI spec.
func validate(t *testing.T, schema string, doc []byte) {
	t.Helper()
	s, err := openaispec.Schema(schema)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("%s: invalid JSON: %v\n%s", schema, err, clip(doc))
	}
	if err := s.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
		t.Fatalf("%s: does not match spec: %v\n%s", schema, err, clip(doc))
	}
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

func newServer(t testing.TB, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

type req struct {
	method  string
	path    string
	key     string // sent the way the path's provider expects
	header  map[string]string
	body    any // marshalled unless []byte or string
	ctype   string
	noAuth  bool
	version bool // add anthropic-version
}

func (r req) build(t testing.TB, base string) *http.Request {
	t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	hr, err := http.NewRequest(method, base+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		ct := r.ctype
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	key := r.key
	if key == "" {
		key = "sk-test"
	}
	if !r.noAuth {
		switch {
		case strings.HasPrefix(r.path, "/v1/messages"):
			hr.Header.Set("x-api-key", key)
		case strings.HasPrefix(r.path, "/v1beta/"):
			hr.Header.Set("x-goog-api-key", key)
		case strings.HasPrefix(r.path, "/openai/"):
			hr.Header.Set("api-key", key)
		default:
			hr.Header.Set("Authorization", "Bearer "+key)
		}
	}
	if strings.HasPrefix(r.path, "/v1/messages") && !r.noAuth {
		hr.Header.Set("anthropic-version", "2023-06-01")
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	return hr
}

// do sends r and returns the response with its whole body read.
func do(t testing.TB, ts *httptest.Server, r req) (*http.Response, []byte) {
	t.Helper()
	resp, err := ts.Client().Do(r.build(t, ts.URL))
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", r.method, r.path, err)
	}
	return resp, b
}

// mustOK is do that fails the test on a non-200 answer.
func mustOK(t testing.TB, ts *httptest.Server, r req) []byte {
	t.Helper()
	resp, b := do(t, ts, r)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d: %s", r.path, resp.StatusCode, clip(b))
	}
	return b
}

type sseEvent struct {
	name string
	data string
}

// parseSSE splits an event stream (LF or CRLF line endings) into events.
func parseSSE(t testing.TB, body []byte) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		switch {
		case line == "":
			if cur.data != "" || cur.name != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[len("data: "):]
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scan SSE: %v", err)
	}
	if cur.data != "" {
		t.Fatalf("stream ended inside an event: %q", cur.data)
	}
	return out
}

func decodeInto(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, clip(b))
	}
}

// strictDecode fails on any field v does not declare.
func strictDecode(t testing.TB, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("strict decode %T: %v\n%s", v, err, clip(b))
	}
}

func weatherTool() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"city":   map[string]any{"type": "string"},
			"days":   map[string]any{"type": "integer"},
			"metric": map[string]any{"type": "boolean"},
			"unit":   map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}},
			"note":   map[string]any{"type": "string"},
		},
		"required": []string{"city", "days", "metric", "unit"},
	}
}

const weatherArgs = `{"city":"mock","days":1,"metric":true,"unit":"celsius"}`
