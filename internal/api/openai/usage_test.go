package openai_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/tokens"
)

// relayTokens reads switchyard_relay_tokens_total for model from /metrics.
func relayTokens(t *testing.T, g *gateway, model, direction string) int {
	t.Helper()
	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	want := fmt.Sprintf(`switchyard_relay_tokens_total{direction=%q,model=%q} `, direction, model)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %q: %v", sc.Text(), err)
			}
			return int(f)
		}
	}
	return 0
}

func usageInt(t *testing.T, u map[string]any, k string) int {
	t.Helper()
	f, ok := u[k].(float64)
	if !ok {
		t.Fatalf("usage %v has no %s", u, k)
	}
	return int(f)
}

// TestUsageFallback: an upstream that reports no usage gets its tokens
// counted by the gateway, in what the client sees and in the metrics.
func TestUsageFallback(t *testing.T) {
	g := startGateway(t, nil)
	const model = "gpt-4o-mini"
	enc := tokens.ForModel(model)
	msgs := []any{map[string]any{"role": "system", "content": "Be terse."},
		map[string]any{"role": "user", "content": "Tell me about the relay [[mock no_usage=true chunks=40]]"}}
	wantPrompt, err := enc.CountChatJSON(json.RawMessage(mustJSON(t, msgs)), nil)
	if err != nil || wantPrompt <= 0 {
		t.Fatalf("count prompt: %d %v", wantPrompt, err)
	}
	sumIn, sumOut := 0, 0
	for _, stream := range []bool{true, false} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			req := map[string]any{"model": model, "stream": stream, "messages": msgs}
			if stream {
				req["stream_options"] = map[string]any{"include_usage": true}
			}
			r := roundTrip(t, g, stream, mustJSON(t, req))
			if r.Content == "" || r.Finish != "stop" {
				t.Fatalf("answer: %+v", r)
			}
			if r.Usage == nil {
				t.Fatal("no usage in the answer")
			}
			in, out := usageInt(t, r.Usage, "prompt_tokens"), usageInt(t, r.Usage, "completion_tokens")
			if in != wantPrompt {
				t.Errorf("prompt_tokens %d, want %d", in, wantPrompt)
			}
			if want := enc.Count(r.Content); out != want {
				t.Errorf("completion_tokens %d, want %d for %q", out, want, r.Content)
			}
			if total := usageInt(t, r.Usage, "total_tokens"); total != in+out {
				t.Errorf("total_tokens %d, want %d", total, in+out)
			}
			sumIn, sumOut = sumIn+in, sumOut+out
		})
	}
	if got := relayTokens(t, g, model, "input"); got != sumIn {
		t.Errorf("relay input tokens %d, want %d", got, sumIn)
	}
	if got := relayTokens(t, g, model, "output"); got != sumOut {
		t.Errorf("relay output tokens %d, want %d", got, sumOut)
	}
}

// TestUsageFallbackToolArguments: streamed tool-call arguments count as
// completion tokens.
func TestUsageFallbackToolArguments(t *testing.T) {
	g := startGateway(t, nil)
	const model = "gpt-4o-mini"
	req := map[string]any{"model": model, "stream": true, "stream_options": map[string]any{"include_usage": true},
		"tools":    weatherTool,
		"messages": []any{map[string]any{"role": "user", "content": "Weather in Paris? [[mock no_usage]]"}}}
	r := roundTrip(t, g, true, mustJSON(t, req))
	if r.ToolArgs == "" || r.Usage == nil {
		t.Fatalf("answer: %+v", r)
	}
	if got, want := usageInt(t, r.Usage, "completion_tokens"), tokens.ForModel(model).Count(r.ToolArgs); got != want {
		t.Fatalf("completion_tokens %d, want %d for %q", got, want, r.ToolArgs)
	}
}

// TestUsageUpstreamKept: when the upstream reports usage, its numbers pass
// through unchanged, not the gateway's count.
func TestUsageUpstreamKept(t *testing.T) {
	g := startGateway(t, nil)
	direct := httptest.NewServer(g.mock)
	defer direct.Close()
	const model = "gpt-4o-mini"
	msgs := []any{map[string]any{"role": "user", "content": "Tell me about the relay in some detail please"}}
	body := mustJSON(t, map[string]any{"model": model, "messages": msgs})
	hr, err := http.NewRequest(http.MethodPost, direct.URL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer oa-1")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	up := readJSONResult(t, resp)
	resp.Body.Close()
	upIn, upOut := usageInt(t, up.Usage, "prompt_tokens"), usageInt(t, up.Usage, "completion_tokens")
	// The mock's own figures differ from the tokenizer's, so passing the
	// upstream's numbers through is distinguishable from counting.
	enc := tokens.ForModel(model)
	if upOut == enc.Count(up.Content) {
		t.Fatalf("mock completion usage %d equals the tokenizer count; test cannot tell them apart", upOut)
	}
	sumIn, sumOut := 0, 0
	for _, stream := range []bool{false, true} {
		req := map[string]any{"model": model, "stream": stream, "messages": msgs}
		if stream {
			req["stream_options"] = map[string]any{"include_usage": true}
		}
		r := roundTrip(t, g, stream, mustJSON(t, req))
		in, out := usageInt(t, r.Usage, "prompt_tokens"), usageInt(t, r.Usage, "completion_tokens")
		if in != upIn || out != upOut {
			t.Errorf("stream=%v: usage %d/%d, upstream said %d/%d", stream, in, out, upIn, upOut)
		}
		sumIn, sumOut = sumIn+in, sumOut+out
	}
	if got := relayTokens(t, g, model, "output"); got != sumOut {
		t.Errorf("relay output tokens %d, want %d", got, sumOut)
	}
	if got := relayTokens(t, g, model, "input"); got != sumIn {
		t.Errorf("relay input tokens %d, want %d", got, sumIn)
	}
}

// TestUsageLearnedPerChannel: once a channel's stream reported usage, its
// streams skip exact counting; one that then reports none is estimated at 4
// bytes a token, and the channel's next stream is counted exactly again.
func TestUsageLearnedPerChannel(t *testing.T) {
	g := startGateway(t, nil)
	const model = "gpt-4o-mini"
	enc := tokens.ForModel(model)
	stream := func(t *testing.T, prompt string) chatResult {
		t.Helper()
		req := map[string]any{"model": model, "stream": true, "stream_options": map[string]any{"include_usage": true},
			"messages": []any{map[string]any{"role": "user", "content": prompt}}}
		r := roundTrip(t, g, true, mustJSON(t, req))
		if r.Content == "" || r.Usage == nil {
			t.Fatalf("answer: %+v", r)
		}
		return r
	}
	// The upstream reports usage: the channel is learned as reporting.
	stream(t, "Tell me about the relay, with usage")
	// It then reports none: a byte estimate, not the tokenizer's count.
	r := stream(t, "Tell me about the relay, an unusually long reply [[mock no_usage chunks=60]]")
	got := usageInt(t, r.Usage, "completion_tokens")
	if want := (len(r.Content) + 3) / 4; got != want {
		t.Fatalf("after a reporting stream: completion_tokens %d, want the byte estimate %d", got, want)
	}
	if exact := enc.Count(r.Content); exact == got {
		t.Fatalf("byte estimate %d equals the exact count; pick a reply where they differ", got)
	}
	// The channel went back to exact counting.
	r = stream(t, "Tell me about the relay, an unusually long reply [[mock no_usage chunks=60]]")
	if got, want := usageInt(t, r.Usage, "completion_tokens"), enc.Count(r.Content); got != want {
		t.Fatalf("after an unreporting stream: completion_tokens %d, want the exact %d", got, want)
	}
}
