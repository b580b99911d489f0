package mock

import (
	"net/http"
	"strings"
	"testing"
)

func TestQuirkyChat(t *testing.T) {
	s, ts := newServer(t, Options{})
	msgs := []map[string]string{{"role": "user", "content": "hello there"}}

	// reasoning_content in the message and, before the text, in the stream.
	b := mustOK(t, ts, req{path: "/quirks/reasoning/v1/chat/completions", body: map[string]any{"model": "deepseek-reasoner", "messages": msgs}})
	if !strings.Contains(string(b), `"reasoning_content":"`+reasoningText+`"`) || !strings.Contains(string(b), `"usage"`) {
		t.Errorf("reasoning answer: %s", b)
	}
	b = mustOK(t, ts, req{path: "/quirks/reasoning,no_usage/v1/chat/completions", body: map[string]any{"model": "m", "messages": msgs,
		"stream": true, "stream_options": map[string]bool{"include_usage": true}}})
	evs := parseSSE(t, b)
	r, c := -1, -1
	for i, e := range evs {
		if r < 0 && strings.Contains(e.data, `"reasoning_content"`) {
			r = i
		}
		if c < 0 && strings.Contains(e.data, `"content":"`) && !strings.Contains(e.data, `"content":""`) {
			c = i
		}
		if strings.Contains(e.data, `"usage":{`) {
			t.Errorf("no_usage stream carries usage: %s", e.data)
		}
	}
	if r < 0 || c < 0 || r > c {
		t.Errorf("reasoning at %d, content at %d:\n%s", r, c, b)
	}

	// Refused parameters.
	for _, tc := range []struct {
		path string
		body map[string]any
	}{
		{"/quirks/no_stream_options/v1/chat/completions", map[string]any{"messages": msgs, "stream": true, "stream_options": map[string]bool{"include_usage": true}}},
		{"/quirks/no_max_completion_tokens/v1/chat/completions", map[string]any{"messages": msgs, "max_completion_tokens": 10}},
	} {
		resp, b := do(t, ts, req{path: tc.path, body: tc.body})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "Unrecognized request argument") {
			t.Errorf("%s: %d %s", tc.path, resp.StatusCode, b)
		}
	}
	mustOK(t, ts, req{path: "/quirks/no_stream_options/v1/chat/completions", body: map[string]any{"messages": msgs, "stream": true}})

	// keyless: no credential needed, counted as "local"; elsewhere still 401.
	mustOK(t, ts, req{path: "/quirks/keyless/v1/chat/completions", noAuth: true, body: map[string]any{"messages": msgs}})
	if n := len(s.Requests(LocalCredential)); n != 1 {
		t.Errorf("%d requests under %q", n, LocalCredential)
	}
	if resp, _ := do(t, ts, req{path: "/quirks/reasoning/v1/chat/completions", noAuth: true, body: map[string]any{"messages": msgs}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no key without keyless: %d", resp.StatusCode)
	}

	// Faults apply as on /v1.
	resp, _ := do(t, ts, req{path: "/quirks/reasoning/v1/chat/completions", body: map[string]any{"messages": []map[string]string{
		{"role": "user", "content": "hi [[mock status=429]]"}}}})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("fault: %d", resp.StatusCode)
	}
}

func TestGeminiImageOutput(t *testing.T) {
	_, ts := newServer(t, Options{})
	b := mustOK(t, ts, req{path: "/v1beta/models/gemini-2.5-flash-image:generateContent", body: map[string]any{
		"contents":         []map[string]any{{"role": "user", "parts": []map[string]any{{"text": "a cat"}}}},
		"generationConfig": map[string]any{"responseModalities": []string{"TEXT", "IMAGE"}, "imageConfig": map[string]string{"aspectRatio": "16:9"}}}})
	if !strings.Contains(string(b), `"inlineData":{"data":"iVBOR`) {
		t.Errorf("image answer: %.300s", b)
	}
	resp, _ := do(t, ts, req{path: "/v1beta/models/gemini-2.5-flash:generateContent", body: map[string]any{
		"contents":         []map[string]any{{"role": "user", "parts": []map[string]any{{"text": "a cat"}}}},
		"generationConfig": map[string]any{"responseModalities": []string{"IMAGE"}}}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("text model asked for images: %d", resp.StatusCode)
	}
	b = mustOK(t, ts, req{path: "/v1beta/models/imagen-4.0-generate-001:predict", body: map[string]any{
		"instances": []map[string]string{{"prompt": "a cat"}}, "parameters": map[string]any{"sampleCount": 2, "aspectRatio": "3:4"}}})
	if n := strings.Count(string(b), `"bytesBase64Encoded"`); n != 2 {
		t.Errorf("%d predictions: %.300s", n, b)
	}
	b = mustOK(t, ts, req{path: "/v1beta/models/imagen-4.0-generate-001:predict", body: map[string]any{
		"instances": []map[string]string{{"prompt": "a cat [[mock images_delivered=1]]"}}, "parameters": map[string]any{"sampleCount": 3}}})
	if n := strings.Count(string(b), `"bytesBase64Encoded"`); n != 1 {
		t.Errorf("images_delivered=1: %d predictions", n)
	}
	resp, _ = do(t, ts, req{path: "/v1beta/models/imagen-4.0-generate-001:predict", body: map[string]any{
		"instances": []map[string]string{{"prompt": "a cat [[mock status=503]]"}}}})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("fault on predict: %d", resp.StatusCode)
	}
}
