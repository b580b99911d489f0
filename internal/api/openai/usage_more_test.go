package openai_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/tokens"
)

// answer is what a client assembled from any endpoint's answer.
type answer struct {
	text          string
	input, output int
	sawUsage      bool
}

// postPath sends body to path with the test key in both auth headers.
func postPath(t *testing.T, g *gateway, path, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	return resp
}

// num reads a JSON number at path in v.
func num(v any, path ...string) (int, bool) {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return 0, false
		}
		v = m[p]
	}
	f, ok := v.(float64)
	return int(f), ok
}

func str(v any, path ...string) string {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func list(v any, key string) []any {
	m, _ := v.(map[string]any)
	l, _ := m[key].([]any)
	return l
}

// usageFrom fills a's usage from the object u with the given key names.
func usageFrom(a *answer, u any, in, out string) {
	i, ok1 := num(u, in)
	o, ok2 := num(u, out)
	if ok1 && ok2 {
		a.input, a.output, a.sawUsage = i, o, true
	}
}

func readSSE(t *testing.T, resp *http.Response, each func(event string, v any)) {
	t.Helper()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event:"); ok {
			event = strings.TrimSpace(e)
			continue
		}
		d, ok := strings.CutPrefix(line, "data:")
		if !ok {
			if line == "" {
				event = ""
			}
			continue
		}
		d = strings.TrimSpace(d)
		if d == "[DONE]" {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(d), &v); err != nil {
			t.Fatalf("event %q: %v", d, err)
		}
		each(event, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func readBody(t *testing.T, resp *http.Response) any {
	t.Helper()
	var v any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestUsageFallbackOtherEndpoints: /v1/messages, /v1/responses and
// /v1/completions to an upstream that reports no usage get the tokens
// counted, in the answer's usage and in the metrics.
func TestUsageFallbackOtherEndpoints(t *testing.T) {
	g := startGateway(t, nil)
	const model = "gpt-4o-mini"
	const prompt = "Tell me about the relay [[mock no_usage chunks=30]]"
	enc := tokens.ForModel(model)
	cases := []struct {
		name, path string
		stream     bool
		body       map[string]any
		read       func(t *testing.T, resp *http.Response) answer
	}{
		{"messages stream", "/v1/messages", true,
			map[string]any{"max_tokens": 200, "messages": []any{map[string]any{"role": "user", "content": prompt}}},
			func(t *testing.T, resp *http.Response) (a answer) {
				readSSE(t, resp, func(event string, v any) {
					switch event {
					case "content_block_delta":
						a.text += str(v, "delta", "text")
					case "message_delta":
						usageFrom(&a, v.(map[string]any)["usage"], "input_tokens", "output_tokens")
					}
				})
				return a
			}},
		{"messages", "/v1/messages", false,
			map[string]any{"max_tokens": 200, "messages": []any{map[string]any{"role": "user", "content": prompt}}},
			func(t *testing.T, resp *http.Response) (a answer) {
				v := readBody(t, resp)
				for _, b := range list(v, "content") {
					a.text += str(b, "text")
				}
				usageFrom(&a, v.(map[string]any)["usage"], "input_tokens", "output_tokens")
				return a
			}},
		{"responses stream", "/v1/responses", true, map[string]any{"input": prompt},
			func(t *testing.T, resp *http.Response) (a answer) {
				readSSE(t, resp, func(event string, v any) {
					switch event {
					case "response.output_text.delta":
						a.text += str(v, "delta")
					case "response.completed":
						usageFrom(&a, v.(map[string]any)["response"].(map[string]any)["usage"], "input_tokens", "output_tokens")
					}
				})
				return a
			}},
		{"responses", "/v1/responses", false, map[string]any{"input": prompt},
			func(t *testing.T, resp *http.Response) (a answer) {
				v := readBody(t, resp)
				for _, o := range list(v, "output") {
					for _, c := range list(o, "content") {
						a.text += str(c, "text")
					}
				}
				usageFrom(&a, v.(map[string]any)["usage"], "input_tokens", "output_tokens")
				return a
			}},
		{"completions stream", "/v1/completions", true,
			map[string]any{"prompt": prompt, "stream_options": map[string]any{"include_usage": true}},
			func(t *testing.T, resp *http.Response) (a answer) {
				readSSE(t, resp, func(_ string, v any) {
					for _, c := range list(v, "choices") {
						a.text += str(c, "text")
					}
					if u, ok := v.(map[string]any)["usage"]; ok && u != nil {
						usageFrom(&a, u, "prompt_tokens", "completion_tokens")
					}
				})
				return a
			}},
		{"completions", "/v1/completions", false, map[string]any{"prompt": prompt},
			func(t *testing.T, resp *http.Response) (a answer) {
				v := readBody(t, resp)
				for _, c := range list(v, "choices") {
					a.text += str(c, "text")
				}
				usageFrom(&a, v.(map[string]any)["usage"], "prompt_tokens", "completion_tokens")
				return a
			}},
	}
	sumOut := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.body["model"], tc.body["stream"] = model, tc.stream
			a := tc.read(t, postPath(t, g, tc.path, mustJSON(t, tc.body)))
			if a.text == "" || !a.sawUsage {
				t.Fatalf("answer %+v: no text or no usage", a)
			}
			if want := enc.Count(a.text); a.output != want {
				t.Errorf("output tokens %d, want %d for %q", a.output, want, a.text)
			}
			if a.input <= 0 {
				t.Errorf("input tokens %d, want > 0", a.input)
			}
			t.Logf("%s: in=%d out=%d text=%.40q", tc.name, a.input, a.output, a.text)
			sumOut += a.output
		})
	}
	if got := relayTokens(t, g, model, "output"); got != sumOut {
		t.Errorf("relay output tokens %d, want %d", got, sumOut)
	}
	if got := relayTokens(t, g, model, "input"); got <= 0 {
		t.Errorf("relay input tokens %d, want > 0", got)
	}
}
