package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/metrics"
	"github.com/switchyard/switchyard/internal/testenv"
)

type syncBuffer = testenv.Output

// lines returns the JSON log records whose msg is msg.
type testEnv struct {
	srv  *httptest.Server
	rt   *Router
	logs *syncBuffer
	m    *metrics.Metrics
}

func newTestEnv(t *testing.T, opts Options, mount func(*Router)) *testEnv {
	t.Helper()
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	rt := New(opts)
	if mount != nil {
		mount(rt)
	}
	srv := httptest.NewServer(rt.Handler())
	t.Cleanup(srv.Close)
	return &testEnv{srv: srv, rt: rt, logs: logs, m: opts.Metrics}
}

func (e *testEnv) do(t *testing.T, method, path string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", method, path, err)
	}
	return resp, b
}

type openAIErr struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Code    string  `json:"code"`
		Param   *string `json:"param"`
	} `json:"error"`
}

func decodeErr(t *testing.T, b []byte) openAIErr {
	t.Helper()
	var e openAIErr
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not an OpenAI error body: %q (%v)", b, err)
	}
	return e
}

func TestRequestID(t *testing.T) {
	env := newTestEnv(t, Options{}, func(rt *Router) {
		rt.Handle("GET /echo-id", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, RequestID(r.Context()))
		}))
	})
	tests := []struct {
		name, in string
		keep     bool
	}{
		{"honoured", "abc-123_X.y:z", true},
		{"max length", strings.Repeat("a", 128), true},
		{"too long", strings.Repeat("a", 129), false},
		{"bad chars", "abc def", false},
		{"quotes", `x"}{"evil":1`, false},
		{"absent", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.in != "" {
				hdr[RequestIDHeader] = tt.in
			}
			resp, body := env.do(t, "GET", "/echo-id", nil, hdr)
			got := resp.Header.Get(RequestIDHeader)
			if string(body) != got {
				t.Fatalf("context id %q != header id %q", body, got)
			}
			if tt.keep {
				if got != tt.in {
					t.Fatalf("id = %q, want %q", got, tt.in)
				}
				return
			}
			if len(got) != 24 || !validRequestID(got) || got == tt.in {
				t.Fatalf("generated id %q", got)
			}
		})
	}
	// Two generated ids differ.
	r1, _ := env.do(t, "GET", "/echo-id", nil, nil)
	r2, _ := env.do(t, "GET", "/echo-id", nil, nil)
	if r1.Header.Get(RequestIDHeader) == r2.Header.Get(RequestIDHeader) {
		t.Fatal("generated ids repeat")
	}
}

func TestPanicRecovery(t *testing.T) {
	env := newTestEnv(t, Options{}, func(rt *Router) {
		rt.Handle("GET /panic", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			panic("kaboom")
		}))
		rt.Handle("GET /panic-midstream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "data: partial\n\n")
			http.NewResponseController(w).Flush()
			panic("kaboom mid-stream")
		}))
	})
	resp, body := env.do(t, "GET", "/panic", nil, map[string]string{RequestIDHeader: "panic-req"})
	if resp.StatusCode != 500 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if e := decodeErr(t, body); e.Error.Code != "server_error" || strings.Contains(string(body), "kaboom") {
		t.Fatalf("body %s", body)
	}
	// The server keeps serving.
	if resp, _ := env.do(t, "GET", "/healthz", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("healthz after panic: %d", resp.StatusCode)
	}
	panics := env.logs.Records(t, "handler panic")
	if len(panics) != 1 || panics[0]["request_id"] != "panic-req" || panics[0]["level"] != "ERROR" ||
		!strings.Contains(fmt.Sprint(panics[0]["stack"]), "api_test.go") {
		t.Fatalf("panic log: %v", panics)
	}

	// After the response started, the stream is cut rather than completed.
	req, _ := http.NewRequest("GET", env.srv.URL+"/panic-midstream", nil)
	resp, err := env.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatal("mid-stream panic: body ended cleanly, want a cut connection")
	}
	access := env.logs.Records(t, "http request")
	found := false
	for _, l := range access {
		if l["path"] == "/panic" && l["status"] == float64(500) {
			found = true
		}
	}
	if !found {
		t.Fatalf("panic request not in access log: %v", access)
	}
}

func TestBodyLimit(t *testing.T) {
	env := newTestEnv(t, Options{MaxBodyBytes: 64, MaxUploadBytes: 256}, func(rt *Router) {
		rt.Handle("POST /json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var v map[string]any
			if err := DecodeJSON(r, &v); err != nil {
				apierror.WriteOpenAI(w, r, err)
				return
			}
			w.WriteHeader(204)
		}))
		rt.Handle("POST /upload", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.ReadAll(r.Body); err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					apierror.WriteOpenAI(w, r, apierror.RequestTooLarge(mbe.Limit))
					return
				}
				apierror.WriteOpenAI(w, r, err)
				return
			}
			w.WriteHeader(204)
		}))
	})
	big := `{"k":"` + strings.Repeat("x", 100) + `"}`
	// chunked hides the length, so the limit must trip while reading.
	chunked := func(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) }
	tests := []struct {
		name, path, ct string
		body           io.Reader
		status         int
	}{
		{"small json", "/json", "application/json", strings.NewReader(`{"a":1}`), 204},
		{"big json, length known", "/json", "application/json", strings.NewReader(big), 413},
		{"big json, chunked", "/json", "application/json", chunked(big), 413},
		{"multipart gets upload limit", "/upload", "multipart/form-data; boundary=x", strings.NewReader(strings.Repeat("y", 200)), 204},
		{"multipart over upload limit", "/upload", "multipart/form-data; boundary=x", chunked(strings.Repeat("y", 300)), 413},
		{"non-multipart gets body limit", "/upload", "application/octet-stream", chunked(strings.Repeat("y", 200)), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := env.do(t, "POST", tt.path, tt.body, map[string]string{"Content-Type": tt.ct})
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 413 {
				if e := decodeErr(t, body); e.Error.Code != "request_too_large" {
					t.Fatalf("code %q", e.Error.Code)
				}
			}
		})
	}
}

func TestDecodeJSON(t *testing.T) {
	type req struct {
		Model     string `json:"model"`
		MaxTokens int    `json:"max_tokens"`
	}
	env := newTestEnv(t, Options{MaxBodyBytes: 1 << 20}, func(rt *Router) {
		rt.Handle("POST /v1/test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var v req
			if err := DecodeJSON(r, &v); err != nil {
				apierror.WriteOpenAI(w, r, err)
				return
			}
			json.NewEncoder(w).Encode(v)
		}))
	})
	tests := []struct {
		name, ct, body string
		status         int
		code, param    string
		msgHas         string
	}{
		{"ok", "application/json", `{"model":"m","max_tokens":5}`, 200, "", "", ""},
		{"ok with charset", "application/json; charset=utf-8", `{"model":"m"}`, 200, "", "", ""},
		{"ok without content type", "", `{"model":"m"}`, 200, "", "", ""},
		{"unknown fields pass", "application/json", `{"model":"m","new_field":[1]}`, 200, "", "", ""},
		{"syntax error", "application/json", `{"model": "m",, }`, 400, "invalid_request_error", "", "byte offset 15"},
		{"truncated", "application/json", `{"model": "m"`, 400, "invalid_request_error", "", "truncated"},
		{"empty", "application/json", ``, 400, "invalid_request_error", "", "empty"},
		{"wrong type", "application/json", `{"model":"m","max_tokens":"five"}`, 400, "invalid_request_error", "max_tokens", "max_tokens"},
		{"not an object", "application/json", `[1,2]`, 400, "invalid_request_error", "", "JSON object"},
		{"trailing data", "application/json", `{"model":"m"} {"x":1}`, 400, "invalid_request_error", "", "after the JSON value"},
		{"form content type", "application/x-www-form-urlencoded", `{"model":"m"}`, 415, "unsupported_media_type", "", "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.ct != "" {
				hdr["Content-Type"] = tt.ct
			}
			resp, body := env.do(t, "POST", "/v1/test", strings.NewReader(tt.body), hdr)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 200 {
				return
			}
			e := decodeErr(t, body)
			param := ""
			if e.Error.Param != nil {
				param = *e.Error.Param
			}
			if e.Error.Code != tt.code || param != tt.param || !strings.Contains(e.Error.Message, tt.msgHas) {
				t.Fatalf("got %+v param %q", e.Error, param)
			}
		})
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	env := newTestEnv(t, Options{}, func(rt *Router) {
		rt.Handle("POST /v1/chat/completions", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	})
	tests := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/nope", 404, "not_found", ""},
		{"POST", "/v1/unknown", 404, "not_found", ""},
		{"DELETE", "/healthz", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/v1/chat/completions", 405, "method_not_allowed", "POST"},
		{"POST", "/metrics", 405, "method_not_allowed", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := env.do(t, tt.method, tt.path, nil, nil)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if e := decodeErr(t, body); e.Error.Code != tt.code {
				t.Fatalf("code %q", e.Error.Code)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Fatalf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	env := newTestEnv(t, Options{}, func(rt *Router) {
		rt.Handle("POST /v1/items/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
		}))
	})
	const key = "sk-very-secret-value-123"
	env.do(t, "POST", "/v1/items/42?token=zzz", nil, map[string]string{
		"Authorization": "Bearer " + key, RequestIDHeader: "log-req-1",
	})
	env.do(t, "GET", "/healthz", nil, nil)
	if strings.Contains(env.logs.String(), key) || strings.Contains(env.logs.String(), "zzz") {
		t.Fatalf("secret or query in log: %s", env.logs.String())
	}
	lines := env.logs.Records(t, "http request")
	if len(lines) != 2 {
		t.Fatalf("want 2 access lines, got %v", lines)
	}
	want := map[string]any{
		"request_id": "log-req-1", "method": "POST", "path": "/v1/items/42",
		"route": "POST /v1/items/{id}", "status": float64(200), "bytes": float64(5),
		"remote_ip": "127.0.0.1", "level": "INFO",
	}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("%s = %v, want %v", k, lines[0][k], v)
		}
	}
	if _, ok := lines[0]["duration"]; !ok {
		t.Error("no duration")
	}
	if lines[1]["path"] != "/healthz" || lines[1]["level"] != "DEBUG" {
		t.Errorf("healthz line %v", lines[1])
	}
}

func TestMetricsEndpoint(t *testing.T) {
	env := newTestEnv(t, Options{}, func(rt *Router) {
		rt.Handle("GET /v1/models/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	})
	env.do(t, "GET", "/v1/models/a", nil, nil)
	env.do(t, "GET", "/v1/models/b", nil, nil)
	env.do(t, "GET", "/does/not/exist", nil, nil)
	_, body := env.do(t, "GET", "/metrics", nil, nil)
	out := string(body)
	for _, want := range []string{
		`switchyard_http_requests_total{method="GET",route="GET /v1/models/{id}",status="200"} 2`,
		`switchyard_http_requests_total{method="GET",route="/",status="404"} 1`,
		`switchyard_http_requests_in_flight 1`, // the scrape itself
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics missing %s", want)
		}
	}
	if strings.Contains(out, "/v1/models/a") || strings.Contains(out, "/does/not/exist") {
		t.Error("raw path used as a label")
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name, remote string
		xff          []string
		trusted      []netip.Prefix
		want         string
	}{
		{"no proxies configured", "10.1.1.1:5000", []string{"1.2.3.4"}, nil, "10.1.1.1"},
		{"untrusted peer ignores xff", "8.8.8.8:5000", []string{"1.2.3.4"}, trusted, "8.8.8.8"},
		{"trusted peer", "10.1.1.1:5000", []string{"1.2.3.4"}, trusted, "1.2.3.4"},
		{"rightmost untrusted wins", "10.1.1.1:5000", []string{"6.6.6.6, 1.2.3.4, 10.2.2.2"}, trusted, "1.2.3.4"},
		{"several headers", "10.1.1.1:5000", []string{"6.6.6.6", "1.2.3.4"}, trusted, "1.2.3.4"},
		{"all trusted", "10.1.1.1:5000", []string{"10.3.3.3"}, trusted, "10.3.3.3"},
		{"garbage stops", "10.1.1.1:5000", []string{"1.2.3.4, nonsense"}, trusted, "10.1.1.1"},
		{"ipv6 peer", "[::1]:5000", []string{"2001:db8::1"}, trusted, "2001:db8::1"},
		{"mapped v4", "[::ffff:10.1.1.1]:5000", []string{"1.2.3.4"}, trusted, "1.2.3.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, tt.trusted).String(); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes([]string{"10.0.0.0/8", "192.168.1.7", "::1", "172.16.5.4/12"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.1.7/32", "::1/128", "172.16.0.0/12"}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("[%d] = %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := ParsePrefixes([]string{"10.0.0.0/8", "bogus"}); err == nil || !strings.Contains(err.Error(), "[1]") {
		t.Fatalf("err = %v", err)
	}
}

func TestRequestIDWithoutMiddleware(t *testing.T) {
	if RequestID(context.Background()) != "" || ClientIP(context.Background()).IsValid() {
		t.Fatal("values outside a request")
	}
}
