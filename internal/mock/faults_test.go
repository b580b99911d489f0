package mock

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func chatBody(prompt string, stream bool) map[string]any {
	return map[string]any{"model": "gpt-4o-mini", "stream": stream, "messages": []map[string]any{{"role": "user", "content": prompt}}}
}

func anthropicBody(prompt string, stream bool) map[string]any {
	return map[string]any{"model": "claude", "max_tokens": 10, "stream": stream, "messages": []map[string]any{{"role": "user", "content": prompt}}}
}

func geminiBody(prompt string) map[string]any {
	return map[string]any{"contents": []any{map[string]any{"role": "user", "parts": []any{map[string]any{"text": prompt}}}}}
}

func TestParseDirective(t *testing.T) {
	tests := []struct {
		in      string
		want    Fault
		wantErr string
	}{
		{"status=429 retry_after=2", Fault{Status: 429, RetryAfter: 2}, ""},
		{"latency=200ms,chunk_delay=1s chunks=3", Fault{Latency: 200 * time.Millisecond, ChunkDelay: time.Second, Chunks: 3}, ""},
		{"malformed hangup=false drop_after=4 retry_after_ms=1500", Fault{Malformed: true, DropAfter: 4, RetryAfterMS: 1500}, ""},
		{"image_bytes=1000 line_bytes=70000 times=2 cached_tokens=5 cache_write_tokens=1", Fault{ImageBytes: 1000, LineBytes: 70000, Times: 2, CachedTokens: 5, CacheWriteTokens: 1}, ""},
		{"status=400 message=Bad+key+{key}%2C+host+{host} error_code=invalid_api_key", Fault{Status: 400, Message: "Bad key {key}, host {host}", Code: "invalid_api_key"}, ""},
		{"error_after=2", Fault{ErrorAfter: 2}, ""},
		{"status=abc", Fault{}, `"status=abc"`},
		{"bogus=1", Fault{}, `unknown key "bogus"`},
		{"latency=5", Fault{}, "latency=5"},
		{"status=700", Fault{}, "out of range"},
		{"chunks=-1", Fault{}, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseDirective(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			// The JSON form round-trips.
			b, _ := json.Marshal(got)
			var back Fault
			if err := json.Unmarshal(b, &back); err != nil || back != got {
				t.Fatalf("JSON round trip %s → %+v, %v", b, back, err)
			}
		})
	}
	if d, ok := findDirective([]byte(`{"content":"old [[mock status=500]] then [[mockery]] new [[mock status=429 retry_after=2]] end"}`)); !ok || d != "status=429 retry_after=2" {
		t.Fatalf("findDirective: %q %v", d, ok)
	}
	if _, ok := findDirective([]byte(`[[mockery]] and [[mock unterminated`)); ok {
		t.Fatal("found a directive in none")
	}
}

func TestFaultStatusAndRetryHeaders(t *testing.T) {
	_, ts := newServer(t, Options{})
	fault := map[string]string{"X-Mock-Fault": "status=429 retry_after=3 retry_after_ms=2500"}
	tests := []struct {
		name string
		r    req
		code string // a distinctive part of the provider's error body
	}{
		{"openai", req{path: "/v1/chat/completions", body: chatBody("x", false)}, `"code":"rate_limit_exceeded"`},
		{"openai stream", req{path: "/v1/chat/completions", body: chatBody("x", true)}, `"type":"requests"`},
		{"anthropic", req{path: "/v1/messages", body: anthropicBody("x", true)}, `"type":"rate_limit_error"`},
		{"gemini", req{path: "/v1beta/models/g:streamGenerateContent?alt=sse", body: geminiBody("x")}, `"status":"RESOURCE_EXHAUSTED"`},
		{"azure", req{path: "/openai/deployments/d/chat/completions?api-version=1", body: chatBody("x", false)}, `"code":"429"`},
		{"embeddings", req{path: "/v1/embeddings", body: map[string]any{"input": "x"}}, `"code":"rate_limit_exceeded"`},
		{"images", req{path: "/v1/images/generations", body: map[string]any{"prompt": "x"}}, `"code":"rate_limit_exceeded"`},
		{"models", req{method: "GET", path: "/v1/models"}, `"code":"rate_limit_exceeded"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.header = fault
			resp, b := do(t, ts, tc.r)
			if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" || resp.Header.Get("retry-after-ms") != "2500" {
				t.Fatalf("status %d Retry-After %q retry-after-ms %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("retry-after-ms"))
			}
			if !strings.Contains(string(b), tc.code) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("body %s, want %s", b, tc.code)
			}
		})
	}
}

// TestFaultMessage: a fault's message quotes the credential and host it
// was sent, as real upstreams do, in each provider's error shape.
func TestFaultMessage(t *testing.T) {
	_, ts := newServer(t, Options{})
	host := strings.TrimPrefix(ts.URL, "http://")
	fault := map[string]string{"X-Mock-Fault": "status=403 message=key+{key}+at+{host} error_code=account_deactivated"}
	tests := []struct {
		name string
		r    req
		want []string
	}{
		{"openai", req{path: "/v1/chat/completions", body: chatBody("x", false)},
			[]string{`"message":"key sk-test at ` + host + `"`, `"code":"account_deactivated"`}},
		{"anthropic", req{path: "/v1/messages", body: anthropicBody("x", false)},
			[]string{`"message":"key sk-test at ` + host + `"`, `"type":"permission_error"`}},
		{"gemini", req{path: "/v1beta/models/g:generateContent", body: geminiBody("x")},
			[]string{`"message":"key sk-test at ` + host + `"`, `"status":"PERMISSION_DENIED"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.header = fault
			resp, b := do(t, ts, tc.r)
			if resp.StatusCode != 403 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("body %s, want %s", b, w)
				}
			}
		})
	}
}

func TestFaultLatencyAndChunkDelay(t *testing.T) {
	_, ts := newServer(t, Options{})
	for _, stream := range []bool{false, true} {
		start := time.Now()
		resp, err := ts.Client().Do(req{path: "/v1/chat/completions", header: map[string]string{"X-Mock-Fault": "latency=150ms"}, body: chatBody("x", stream)}.build(t, ts.URL))
		if err != nil {
			t.Fatal(err)
		}
		// Headers arrive only after the latency: the delay precedes the first byte.
		if got := time.Since(start); got < 150*time.Millisecond {
			t.Fatalf("stream=%v: first byte after %v, want ≥150ms", stream, got)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	start := time.Now()
	b := mustOK(t, ts, req{path: "/v1/chat/completions", body: chatBody("[[mock chunk_delay=20ms chunks=5]] go", true)})
	// 5 content chunks plus role, finish and [DONE] events: 7 gaps of 20ms.
	if got := time.Since(start); got < 7*20*time.Millisecond {
		t.Fatalf("stream took %v, want ≥140ms", got)
	}
	if st := collectChat(t, b, false); st.chunks != 5 {
		t.Fatalf("%d chunks, want 5", st.chunks)
	}
}

// readEvents reads data lines until the body ends, returning the count and
// the error that ended it.
func readEvents(body io.Reader) (int, error) {
	br := bufio.NewReader(body)
	n := 0
	for {
		line, err := br.ReadString('\n')
		if strings.HasPrefix(line, "data: ") {
			n++
		}
		if err != nil {
			return n, err
		}
	}
}

func TestFaultDropAfter(t *testing.T) {
	_, ts := newServer(t, Options{})
	tests := []struct {
		name string
		r    req
	}{
		{"openai", req{path: "/v1/chat/completions", body: chatBody("[[mock drop_after=3]]", true)}},
		{"anthropic", req{path: "/v1/messages", body: anthropicBody("[[mock drop_after=3]]", true)}},
		{"gemini", req{path: "/v1beta/models/g:streamGenerateContent?alt=sse", body: geminiBody("[[mock drop_after=3]]")}},
		{"responses", req{path: "/v1/responses", body: map[string]any{"input": "[[mock drop_after=3]]", "stream": true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := ts.Client().Do(tc.r.build(t, ts.URL))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			n, err := readEvents(resp.Body)
			if resp.StatusCode != 200 || n != 3 || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("status %d, %d events, err %v; want 3 events then unexpected EOF", resp.StatusCode, n, err)
			}
		})
	}
	t.Run("non-stream", func(t *testing.T) {
		resp, err := ts.Client().Do(req{path: "/v1/chat/completions", header: map[string]string{"X-Mock-Fault": "drop_after=1"}, body: chatBody("x", false)}.build(t, ts.URL))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) || int64(len(b)) != resp.ContentLength/2 {
			t.Fatalf("read %d of %d bytes, err %v", len(b), resp.ContentLength, err)
		}
	})
	t.Run("hangup", func(t *testing.T) {
		resp, err := ts.Client().Do(req{path: "/v1/chat/completions", header: map[string]string{"X-Mock-Fault": "hangup"}, body: chatBody("x", false)}.build(t, ts.URL))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("hangup: got status %d, want a transport error", resp.StatusCode)
		}
	})
}

func TestFaultMalformed(t *testing.T) {
	_, ts := newServer(t, Options{})
	resp, b := do(t, ts, req{path: "/v1/chat/completions", body: chatBody("[[mock malformed]]", false)})
	var v any
	if resp.StatusCode != 200 || json.Unmarshal(b, &v) == nil {
		t.Fatalf("status %d, body decodes: %s", resp.StatusCode, b)
	}
	for _, tc := range []req{
		{path: "/v1/chat/completions", body: chatBody("[[mock malformed]]", true)},
		{path: "/v1/messages", body: anthropicBody("[[mock malformed]]", true)},
	} {
		bad := 0
		for _, ev := range parseSSE(t, mustOK(t, ts, tc)) {
			if ev.data != "[DONE]" && json.Unmarshal([]byte(ev.data), &v) != nil {
				bad++
			}
		}
		if bad != 1 {
			t.Fatalf("%s: %d corrupt events, want 1", tc.path, bad)
		}
	}
}

func TestFaultPrecedenceAndTimes(t *testing.T) {
	s, ts := newServer(t, Options{})
	s.SetFault("k1", Fault{Status: 500})
	s.SetFault("k2", Fault{Status: 429, RetryAfter: 1, Times: 2})
	status := func(r req) int {
		resp, _ := do(t, ts, r)
		return resp.StatusCode
	}
	tests := []struct {
		name string
		r    req
		want int
	}{
		{"credential rule", req{key: "k1", path: "/v1/chat/completions", body: chatBody("x", false)}, 500},
		{"header beats credential", req{key: "k1", path: "/v1/chat/completions", header: map[string]string{"X-Mock-Fault": "chunks=2"}, body: chatBody("x", false)}, 200},
		{"prompt beats credential", req{key: "k1", path: "/v1/chat/completions", body: chatBody("[[mock status=418]]", false)}, 418},
		{"header beats prompt", req{key: "k1", path: "/v1/chat/completions", header: map[string]string{"X-Mock-Fault": "status=404"}, body: chatBody("[[mock status=418]]", false)}, 404},
		{"other key unaffected", req{key: "k3", path: "/v1/chat/completions", body: chatBody("x", false)}, 200},
		{"times 1/2", req{key: "k2", path: "/v1/embeddings", body: map[string]any{"input": "x"}}, 429},
		{"times 2/2", req{key: "k2", path: "/v1/chat/completions", body: chatBody("x", false)}, 429},
		{"times expired", req{key: "k2", path: "/v1/chat/completions", body: chatBody("x", false)}, 200},
		{"bad header directive", req{key: "k3", path: "/v1/chat/completions", header: map[string]string{"X-Mock-Fault": "status=abc"}, body: chatBody("x", false)}, 400},
	}
	for _, tc := range tests {
		if got := status(tc.r); got != tc.want {
			t.Fatalf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	// A bad prompt directive is a 400 that names it, in the provider's shape.
	resp, b := do(t, ts, req{path: "/v1/messages", body: anthropicBody("hi [[mock bogus=1 status=429]]", false)})
	if resp.StatusCode != 400 || !strings.Contains(string(b), "bogus=1") || !strings.Contains(string(b), `"type":"invalid_request_error"`) {
		t.Fatalf("bad directive: %d %s", resp.StatusCode, b)
	}
	// A directive survives a multipart form field too.
	body, ctype := multipartBody(t, map[string]string{"prompt": "[[mock status=503]] edit"}, []filePart{{"image", "a.png", "image/png", []byte("x")}})
	if got := status(req{path: "/v1/images/edits", body: body, ctype: ctype}); got != 503 {
		t.Fatalf("multipart directive: %d", got)
	}
	s.ClearFaults()
	if got := status(req{key: "k1", path: "/v1/chat/completions", body: chatBody("x", false)}); got != 200 {
		t.Fatalf("after ClearFaults: %d", got)
	}
}

func TestFaultShapesUsageAndLines(t *testing.T) {
	_, ts := newServer(t, Options{})
	// A 100 KB content chunk: longer than bufio.Scanner's default 64 KiB line.
	b := mustOK(t, ts, req{path: "/v1/chat/completions", body: chatBody("[[mock line_bytes=100000 chunks=3]]", true)})
	longest := 0
	for _, ev := range parseSSE(t, b) {
		longest = max(longest, len(ev.data))
	}
	st := collectChat(t, b, false)
	if longest < 100_000 || st.chunks != 3 || !strings.Contains(st.text, strings.Repeat("x", 99_999)) {
		t.Fatalf("longest event %d bytes, %d chunks", longest, st.chunks)
	}

	// Cache accounting reaches every provider's usage fields.
	long := strings.Repeat("word ", 200) + "[[mock cached_tokens=100 cache_write_tokens=50]]"
	var oc chatOut
	decodeInto(t, mustOK(t, ts, req{path: "/v1/chat/completions", body: chatBody(long, false)}), &oc)
	if oc.Usage.PromptTokensDetails.CachedTokens != 100 || oc.Usage.PromptTokens != len(long)/4 {
		t.Fatalf("openai usage %+v", oc.Usage)
	}
	var am anthropicMessageOut
	strictDecode(t, mustOK(t, ts, req{path: "/v1/messages", body: anthropicBody(long, false)}), &am)
	if am.Usage.CacheReadInputTokens != 100 || am.Usage.CacheCreationInputTokens != 50 || am.Usage.InputTokens != len(long)/4-150 {
		t.Fatalf("anthropic usage %+v", am.Usage)
	}
	var g geminiOut
	strictDecode(t, mustOK(t, ts, req{path: "/v1beta/models/g:generateContent", body: geminiBody(long)}), &g)
	if g.UsageMetadata.CachedContentTokenCount != 100 {
		t.Fatalf("gemini usage %+v", g.UsageMetadata)
	}
	// The reply quotes the prompt without the directive, so history cannot re-trigger it.
	if c := *oc.Choices[0].Message.Content; strings.Contains(c, "[[mock") {
		t.Fatalf("directive echoed: %q", c)
	}
}

func TestControlAPI(t *testing.T) {
	s, ts := newServer(t, Options{})
	ctl := func(method, path, body string) (*http.Response, []byte) {
		return do(t, ts, req{method: method, path: path, noAuth: true, body: body})
	}
	if resp, b := ctl("PUT", "/_mock/faults", `{"credential":"kc","fault":{"status":503,"latency":"10ms","times":1}}`); resp.StatusCode != 200 || !strings.Contains(string(b), `"latency":"10ms"`) {
		t.Fatalf("PUT faults: %d %s", resp.StatusCode, b)
	}
	for _, bad := range []string{`{"credential":"kc","fault":{"stauts":503}}`, `{"credential":"kc","fault":{"latency":"soon"}}`, `{"fault":{}}`} {
		if resp, _ := ctl("PUT", "/_mock/faults", bad); resp.StatusCode != 400 {
			t.Fatalf("PUT %s: %d", bad, resp.StatusCode)
		}
	}
	resp, _ := do(t, ts, req{key: "kc", path: "/v1/chat/completions", body: chatBody("x", false)})
	if resp.StatusCode != 503 {
		t.Fatalf("fault via control API: %d", resp.StatusCode)
	}
	if _, b := ctl("GET", "/_mock/faults", ""); string(b) != "{}" {
		t.Fatalf("expired rule still listed: %s", b)
	}
	mustOK(t, ts, req{key: "kc", path: "/v1/chat/completions", header: map[string]string{"User-Agent": "ua-test"}, body: chatBody("second", false)})
	mustOK(t, ts, req{key: "kd", path: "/v1/embeddings", body: map[string]any{"input": "x"}})
	do(t, ts, req{noAuth: true, path: "/v1/embeddings", body: map[string]any{"input": "x"}})

	var c Counters
	_, b := ctl("GET", "/_mock/counters", "")
	strictDecode(t, b, &c)
	if c.Total != 4 || c.ByCredential["kc"] != 2 || c.ByCredential["kd"] != 1 || c.ByCredentialPath["kc"]["/v1/chat/completions"] != 2 ||
		c.Status["200"] != 2 || c.Status["503"] != 1 || c.Status["401"] != 1 {
		t.Fatalf("counters %+v", c)
	}
	if got := s.Counters(); got.Total != c.Total {
		t.Fatalf("Counters() %+v", got)
	}

	var recs []RecordedRequest
	_, b = ctl("GET", "/_mock/requests?credential=kc", "")
	strictDecode(t, b, &recs)
	if len(recs) != 2 || recs[0].Status != 503 || recs[1].Status != 200 || recs[1].Headers["user-agent"] != "ua-test" ||
		!strings.Contains(recs[1].Body, `"second"`) || recs[1].Path != "/v1/chat/completions" || recs[1].Headers["authorization"] != "" {
		t.Fatalf("recorded %+v", recs)
	}
	_, b = ctl("GET", "/_mock/requests", "")
	strictDecode(t, b, &recs)
	if len(recs) != 4 || recs[3].Credential != "" || recs[3].Status != 401 {
		t.Fatalf("all recorded: %+v", recs)
	}

	if resp, _ := ctl("POST", "/_mock/reset", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	if c := s.Counters(); c.Total != 0 || len(c.ByCredential) != 0 || len(s.Requests("")) != 0 {
		t.Fatalf("after reset: %+v", c)
	}
	s.SetFault("kx", Fault{Status: 500})
	if resp, _ := ctl("DELETE", "/_mock/faults", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	mustOK(t, ts, req{key: "kx", path: "/v1/chat/completions", body: chatBody("x", false)})
}

func TestRecordingRingAndCap(t *testing.T) {
	s, ts := newServer(t, Options{})
	big := strings.Repeat("a", recordBodyCap+1000)
	for i := 0; i < recordRing+5; i++ {
		mustOK(t, ts, req{key: "ring", path: "/v1/embeddings", body: map[string]any{"input": "x"}})
	}
	mustOK(t, ts, req{key: "ring", path: "/v1/embeddings", body: map[string]any{"input": big}})
	recs := s.Requests("ring")
	last := recs[len(recs)-1]
	if len(recs) != recordRing || !last.Truncated || len(last.Body) != recordBodyCap || last.BodySize <= recordBodyCap || recs[0].Seq >= last.Seq {
		t.Fatalf("%d records; last truncated=%v body %d size %d", len(recs), last.Truncated, len(last.Body), last.BodySize)
	}

	quiet, qts := newServer(t, Options{DisableRecording: true})
	mustOK(t, qts, req{key: "q", path: "/v1/embeddings", body: map[string]any{"input": "x"}})
	if len(quiet.Requests("q")) != 0 || quiet.Counters().ByCredential["q"] != 1 {
		t.Fatalf("DisableRecording: %d records, counters %+v", len(quiet.Requests("q")), quiet.Counters())
	}
}
