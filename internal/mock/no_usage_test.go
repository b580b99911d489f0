package mock

import (
	"bytes"
	"testing"
)

// TestNoUsage checks that the no_usage fault strips usage from every
// OpenAI-shaped answer while the answer itself stays complete.
func TestNoUsage(t *testing.T) {
	_, ts := newServer(t, Options{})
	msgs := []map[string]any{{"role": "user", "content": "Say hello [[mock no_usage=true]]"}}
	tests := []struct {
		name string
		path string
		body map[string]any
	}{
		{"chat", "/v1/chat/completions", map[string]any{"model": "gpt-4o-mini", "messages": msgs}},
		{"chat stream", "/v1/chat/completions", map[string]any{"model": "gpt-4o-mini", "messages": msgs,
			"stream": true, "stream_options": map[string]any{"include_usage": true}}},
		{"completions", "/v1/completions", map[string]any{"model": "gpt-3.5-turbo-instruct", "prompt": "Say hello [[mock no_usage]]"}},
		{"completions stream", "/v1/completions", map[string]any{"model": "gpt-3.5-turbo-instruct", "prompt": "Say hello [[mock no_usage]]",
			"stream": true, "stream_options": map[string]any{"include_usage": true}}},
		{"responses", "/v1/responses", map[string]any{"model": "gpt-4o-mini", "input": "Say hello [[mock no_usage]]"}},
		{"responses stream", "/v1/responses", map[string]any{"model": "gpt-4o-mini", "input": "Say hello [[mock no_usage]]", "stream": true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustOK(t, ts, req{path: tc.path, body: tc.body})
			if bytes.Contains(b, []byte(`"prompt_tokens"`)) || bytes.Contains(b, []byte(`"input_tokens"`)) ||
				bytes.Contains(b, []byte(`"completion_tokens"`)) || bytes.Contains(b, []byte(`"output_tokens"`)) {
				t.Fatalf("answer carries usage: %s", clip(b))
			}
			if len(b) < 100 {
				t.Fatalf("answer too short to be complete: %s", b)
			}
			if tc.name == "chat stream" {
				if got := collectChat(t, b, false); got.text == "" || got.finish != "stop" {
					t.Fatalf("stream incomplete: %+v", got)
				}
			}
		})
	}
	// Without the fault the same request reports usage, so the check above
	// cannot pass vacuously.
	b := mustOK(t, ts, req{path: "/v1/chat/completions", body: map[string]any{"model": "gpt-4o-mini",
		"messages": []map[string]any{{"role": "user", "content": "Say hello"}}}})
	if !bytes.Contains(b, []byte(`"prompt_tokens"`)) {
		t.Fatalf("normal answer lacks usage: %s", clip(b))
	}
}
