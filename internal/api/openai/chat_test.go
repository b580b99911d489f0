package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

var weatherTool = []any{map[string]any{"type": "function", "function": map[string]any{
	"name": "get_weather", "description": "Weather for a city",
	"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required": []string{"city"}},
}}}

// tinyPNG is a 1x1 PNG as a data URL.
const tinyPNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func TestChatMatrix(t *testing.T) {
	g := startGateway(t, nil)
	upstreams := []struct{ name, model, cred string }{
		{"openai", "gpt-4o-mini", "oa-1"},
		{"azure", "az-deploy", "az-1"},
		{"anthropic", "claude-test", "an-1"},
		{"gemini", "gemini-test", "ge-1"},
	}
	for _, up := range upstreams {
		for _, stream := range []bool{false, true} {
			name := fmt.Sprintf("%s/stream=%v", up.name, stream)
			t.Run(name+"/text", func(t *testing.T) {
				req := map[string]any{"model": up.model, "stream": stream,
					"messages": []any{map[string]any{"role": "user", "content": "Hello there, relay"}}}
				if stream {
					req["stream_options"] = map[string]any{"include_usage": true}
				}
				r := roundTrip(t, g, stream, mustJSON(t, req))
				if r.Model != up.model || !strings.HasPrefix(r.Content, "Mock reply to: Hello there, relay") || r.Finish != "stop" {
					t.Fatalf("got model %q content %q finish %q", r.Model, r.Content, r.Finish)
				}
				if r.Usage == nil || r.Usage["prompt_tokens"].(float64) <= 0 || r.Usage["completion_tokens"].(float64) <= 0 {
					t.Fatalf("usage %v", r.Usage)
				}
			})
			t.Run(name+"/tools", func(t *testing.T) {
				msgs := []any{map[string]any{"role": "user", "content": "What is the weather in Paris?"}}
				req := map[string]any{"model": up.model, "stream": stream, "messages": msgs, "tools": weatherTool}
				r := roundTrip(t, g, stream, mustJSON(t, req))
				if r.ToolName != "get_weather" || r.Finish != "tool_calls" || r.ToolID == "" || r.Model != up.model {
					t.Fatalf("tool call: %+v", r)
				}
				var args map[string]any
				if err := json.Unmarshal([]byte(r.ToolArgs), &args); err != nil || args["city"] == nil {
					t.Fatalf("tool arguments %q: %v", r.ToolArgs, err)
				}
				if stream && r.Usage != nil {
					t.Fatalf("usage chunk sent without include_usage: %v", r.Usage)
				}
				// Second turn: the tool result goes back, text comes out.
				msgs = append(msgs,
					map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
						"id": r.ToolID, "type": "function", "function": map[string]any{"name": "get_weather", "arguments": r.ToolArgs}}}},
					map[string]any{"role": "tool", "tool_call_id": r.ToolID, "content": `{"temp_c": 21}`})
				req["messages"] = msgs
				r2 := roundTrip(t, g, stream, mustJSON(t, req))
				if !strings.HasPrefix(r2.Content, "Mock reply to tool result") || r2.Finish != "stop" {
					t.Fatalf("after tool result: content %q finish %q", r2.Content, r2.Finish)
				}
			})
			t.Run(name+"/image", func(t *testing.T) {
				req := map[string]any{"model": up.model, "stream": stream, "messages": []any{map[string]any{
					"role": "user", "content": []any{
						map[string]any{"type": "text", "text": "Describe this picture"},
						map[string]any{"type": "image_url", "image_url": map[string]any{"url": tinyPNG}},
					}}}}
				if !stream {
					r := roundTrip(t, g, stream, mustJSON(t, req))
					if !strings.HasPrefix(r.Content, "Mock reply to: Describe this picture") || r.Usage["prompt_tokens"].(float64) < 85 {
						t.Fatalf("image: content %q usage %v", r.Content, r.Usage)
					}
					return
				}
				r := roundTrip(t, g, stream, mustJSON(t, req))
				if !strings.HasPrefix(r.Content, "Mock reply to: Describe this picture") || r.Usage != nil {
					t.Fatalf("image stream: content %q usage %v", r.Content, r.Usage)
				}
			})
		}
		if up.name == "openai" || up.name == "azure" {
			// Every stream went upstream with include_usage, asked for or not.
			for _, rr := range g.mock.Requests(up.cred) {
				if strings.Contains(rr.Body, `"stream":true`) && !strings.Contains(rr.Body, `"include_usage":true`) {
					t.Errorf("%s stream sent without include_usage: %s", up.name, rr.Body)
				}
			}
		}
	}
}

func roundTrip(t *testing.T, g *gateway, stream bool, body string) chatResult {
	t.Helper()
	resp := g.post(t, testKey, body)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, errorCode(t, resp))
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no x-request-id")
	}
	if !stream {
		return readJSONResult(t, resp)
	}
	if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Errorf("stream headers %v", resp.Header)
	}
	r := readStreamResult(t, resp)
	if !r.Done || r.ErrorSeen {
		t.Fatalf("stream done=%v error=%v", r.Done, r.ErrorSeen)
	}
	return r
}

func TestPassthroughAndModelMap(t *testing.T) {
	g := startGateway(t, nil)
	body := `{"model":"alias-mini","messages":[{"role":"user","content":"hi"}],"x_vendor_field":{"keep":[1,2]},"stream":false}`
	resp := g.post(t, testKey, body)
	defer resp.Body.Close()
	r := readJSONResult(t, resp)
	if r.Model != "alias-mini" {
		t.Fatalf("client saw model %q", r.Model)
	}
	reqs := g.mock.Requests("oa-1")
	if len(reqs) != 1 {
		t.Fatalf("%d upstream requests", len(reqs))
	}
	up := reqs[0].Body
	if !strings.Contains(up, `"x_vendor_field":{"keep":[1,2]}`) || !strings.Contains(up, `"model":"gpt-4o-mini"`) {
		t.Fatalf("upstream body %s", up)
	}
}

func TestChatErrors(t *testing.T) {
	g := startGateway(t, nil)
	ok := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	cases := []struct {
		name, key, body string
		status          int
		code            string
	}{
		{"missing key", "", ok, 401, "invalid_api_key"},
		{"unknown key", "sk-nope", ok, 401, "invalid_api_key"},
		{"expired key", expiredKey, ok, 401, "invalid_api_key"},
		{"ip not allowed", ipKey, ok, 403, "ip_not_allowed"},
		{"model not allowed", limitedKey, `{"model":"claude-test","messages":[]}`, 403, "model_not_allowed"},
		{"unknown model", testKey, `{"model":"no-such-model","messages":[]}`, 404, "model_not_found"},
		{"malformed JSON", testKey, `{"model":`, 400, "invalid_request_error"},
		{"no model", testKey, `{"messages":[]}`, 400, "invalid_request_error"},
		{"stream not bool", testKey, `{"model":"gpt-4o-mini","stream":"yes"}`, 400, "invalid_request_error"},
		{"upstream 400 passed on", testKey, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"[[mock status=400]]"}]}`, 400, "invalid_request_error"},
		{"unsupported by translator", testKey, `{"model":"claude-test","n":3,"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := g.post(t, c.key, c.body)
			defer resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if code := errorCode(t, resp); code != c.code {
				t.Fatalf("code %q, want %q", code, c.code)
			}
		})
	}
	// The upstream 400 is not retried; the translator's refusal never went upstream.
	if n := g.mock.Counters().ByCredential["oa-1"]; n != 1 {
		t.Errorf("openai upstream saw %d requests, want 1", n)
	}
	if n := g.mock.Counters().ByCredential["an-1"]; n != 0 {
		t.Errorf("anthropic upstream saw %d requests, want 0", n)
	}
}

func TestFailover(t *testing.T) {
	g := startGateway(t, nil)
	g.mock.SetFault("fo-a", mock.Fault{Status: 500})
	for i := range 2 { // round robin: one of the two starts on the broken credential
		resp := g.post(t, testKey, `{"model":"failover-model","messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		resp.Body.Close()
	}
	c := g.mock.Counters()
	if c.ByCredential["fo-a"] < 1 || c.ByCredential["fo-b"] != 2 {
		t.Fatalf("counters %v", c.ByCredential)
	}
}

func TestAllRateLimited(t *testing.T) {
	g := startGateway(t, nil)
	g.mock.SetFault("rl-a", mock.Fault{Status: 429, RetryAfter: 7})
	g.mock.SetFault("rl-b", mock.Fault{Status: 429, RetryAfter: 3})
	resp := g.post(t, testKey, `{"model":"limited-model","messages":[{"role":"user","content":"hi"}]}`)
	defer resp.Body.Close()
	if resp.StatusCode != 429 && resp.StatusCode != 503 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "3" {
		t.Fatalf("Retry-After %q", ra)
	}
	if c := g.mock.Counters(); c.ByCredential["rl-a"] != 1 || c.ByCredential["rl-b"] != 1 {
		t.Fatalf("counters %v", c.ByCredential)
	}
}

func TestStreamDroppedNotRetried(t *testing.T) {
	g := startGateway(t, nil)
	resp := g.post(t, testKey, `{"model":"failover-model","stream":true,"messages":[{"role":"user","content":"hi [[mock drop_after=3]]"}]}`)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r := readStreamResult(t, resp)
	if r.Done || !r.ErrorSeen || r.Chunks == 0 {
		t.Fatalf("dropped stream: %+v", r)
	}
	if c := g.mock.Counters(); c.Total != 1 {
		t.Fatalf("upstream attempts %d, want 1", c.Total)
	}
}

func TestClientCancelStopsUpstream(t *testing.T) {
	g := startGateway(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := g.postCtx(t, ctx, testKey, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi [[mock chunk_delay=50ms chunks=1000]]"}]}`)
	buf := make([]byte, 1)
	lines := 0
	for lines < 6 { // three events: data line + blank line each
		if _, err := resp.Body.Read(buf); err != nil {
			t.Fatalf("read: %v", err)
		}
		if buf[0] == '\n' {
			lines++
		}
	}
	start := time.Now()
	cancel()
	resp.Body.Close()
	rm := g.app.RelayMetrics()
	for rm.StreamsOpen() != 0 {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("stream still open %s after cancel", time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// 1000 chunks at 50ms would take 50s: the relay stopped reading at once.
	if time.Since(start) > time.Second {
		t.Fatalf("handler took %s to notice", time.Since(start))
	}
}

func TestLongStreamBounded(t *testing.T) {
	g := startGateway(t, nil)
	resp := g.post(t, testKey, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi [[mock chunks=20000]]"}]}`)
	defer resp.Body.Close()
	// Live heap only (after a GC), from a baseline taken once the stream is
	// flowing: the ~19000 chunks after it are about 4 MB, so a relay that
	// kept them would grow the heap by that much.
	live := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	var before, peak int64
	r := sseCount(t, resp, func(n int) {
		switch {
		case n == 1000:
			before = live()
		case n%5000 == 0:
			peak = max(peak, live())
		}
	})
	if r < 20000 {
		t.Fatalf("%d events", r)
	}
	growth := peak - before
	t.Logf("live heap growth over the stream: %d bytes", growth)
	if growth > 2<<20 {
		t.Fatalf("live heap grew by %d bytes during a 20000-chunk stream: something buffers it", growth)
	}
}

func sseCount(t *testing.T, resp *http.Response, each func(n int)) int {
	t.Helper()
	r := readStreamCounting(t, resp, each)
	return r
}

func TestLongSSELine(t *testing.T) {
	g := startGateway(t, nil)
	resp := g.post(t, testKey, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi [[mock line_bytes=100000]]"}]}`)
	defer resp.Body.Close()
	r := readStreamResult(t, resp)
	if !r.Done || len(r.Content) < 100000 {
		t.Fatalf("done=%v content %d bytes", r.Done, len(r.Content))
	}
}

func TestStreamIdleTimeout(t *testing.T) {
	g := startGateway(t, func(cfg *config.Config) { cfg.Upstream.StreamIdle = 150 * time.Millisecond })
	start := time.Now()
	resp := g.post(t, testKey, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi [[mock chunk_delay=2s chunks=3]]"}]}`)
	defer resp.Body.Close()
	r := readStreamResult(t, resp)
	if r.Done || !r.ErrorSeen {
		t.Fatalf("idle stream: %+v", r)
	}
	if time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("idle timeout took %s", time.Since(start))
	}
}
