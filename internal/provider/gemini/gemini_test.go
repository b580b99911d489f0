package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/internal/golden"
	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/sse"
)

func TestMain(m *testing.M) {
	now = func() time.Time { return time.Unix(1700000000, 0) }
	m.Run()
}

// pinIDs makes generated call ids count from 1 for each golden case.
func pinIDs() {
	n := 0
	newCallID = func() string { n++; return "call_test" + strconv.Itoa(n) }
}

func TestFromChatGolden(t *testing.T) {
	golden.Run(t, "testdata/fromchat", ".json", ".json", func(t *testing.T, in []byte) []byte {
		out, err := FromChat(golden.Decode[openai.ChatRequest](t, in))
		if err != nil {
			t.Fatal(err)
		}
		return golden.JSON(t, out)
	})
}

func TestToChatResponseGolden(t *testing.T) {
	golden.Run(t, "testdata/tochat_response", ".json", ".json", func(t *testing.T, in []byte) []byte {
		pinIDs()
		out := golden.JSON(t, ToChatResponse(golden.Decode[GenerateResponse](t, in), "gemini-client-name"))
		golden.ValidateOpenAI(t, "CreateChatCompletionResponse", out)
		return out
	})
}

func TestStreamToChatGolden(t *testing.T) {
	golden.Run(t, "testdata/stream_to_chat", ".sse", ".sse", func(t *testing.T, in []byte) []byte {
		pinIDs()
		var out bytes.Buffer
		w := sse.NewWriter(&out)
		emit := func(c *openai.ChatChunk) error {
			b, err := json.Marshal(c)
			if err != nil {
				return err
			}
			golden.ValidateOpenAI(t, "CreateChatCompletionStreamResponse", b)
			return w.WriteData(b)
		}
		s := NewStreamToChat("gemini-client-name", true)
		r := sse.NewReader(bytes.NewReader(in), 0)
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Feed(ev, emit); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Finish(emit); err != nil {
			t.Fatal(err)
		}
		_ = w.WriteDone()
		return out.Bytes()
	})
}

func TestUnsupported(t *testing.T) {
	tests := []struct{ name, req, feature string }{
		{"logprobs", `{"logprobs":true}`, "logprobs"},
		{"logit_bias", `{"logit_bias":{"1":1}}`, "logit_bias"},
		{"audio out", `{"audio":{"voice":"alloy","format":"wav"}}`, "audio"},
		{"prediction", `{"prediction":{"type":"content","content":"x"}}`, "prediction"},
		{"http image", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"audio format", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"flac"}}]}]}`, "messages[0].content[0].input_audio.format"},
		{"file id", `{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"f"}}]}]}`, "messages[0].content[0].file"},
		{"custom tool", `{"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type"},
		{"allowed_tools", `{"tool_choice":{"type":"allowed_tools"}}`, "tool_choice"},
		{"effort", `{"reasoning_effort":"max"}`, "reasoning_effort"},
		{"response format", `{"response_format":{"type":"grammar"}}`, "response_format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromChat(golden.Decode[openai.ChatRequest](t, []byte(tt.req)))
			var u *provider.UnsupportedError
			if !errors.As(err, &u) || u.Feature != tt.feature {
				t.Fatalf("err = %v, want UnsupportedError{%s}", err, tt.feature)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct{ name, req string }{
		{"orphan tool result", `{"messages":[{"role":"tool","tool_call_id":"nope","content":"x"}]}`},
		{"bad arguments", `{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{x"}}]}]}`},
		{"schema missing", `{"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromChat(golden.Decode[openai.ChatRequest](t, []byte(tt.req)))
			var inv *provider.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("err = %v, want InvalidError", err)
			}
		})
	}
}

func TestStreamTruncatedAndBlocked(t *testing.T) {
	var chunks []string
	emit := func(c *openai.ChatChunk) error {
		b, _ := json.Marshal(c)
		chunks = append(chunks, string(b))
		return nil
	}
	s := NewStreamToChat("m", false)
	if err := s.Feed(sse.Event{Data: []byte(`{"candidates":[{"content":{"parts":[{"text":"partial"}]},"index":0}]}`)}, emit); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(emit); !errors.Is(err, ErrStreamTruncated) {
		t.Fatalf("Finish = %v, want truncated", err)
	}

	chunks = nil
	s = NewStreamToChat("m", false)
	if err := s.Feed(sse.Event{Data: []byte(`{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}}`)}, emit); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(emit); err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 2 || !bytes.Contains([]byte(chunks[1]), []byte(`"finish_reason":"content_filter"`)) {
		t.Fatalf("blocked prompt chunks: %q", chunks)
	}
}

func FuzzFromChat(f *testing.F) { golden.FuzzTranslate(f, "testdata/fromchat", FromChat) }

func FuzzStreamToChat(f *testing.F) {
	for _, in := range golden.Inputs(f, "testdata/stream_to_chat", ".sse") {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := sse.NewReader(bytes.NewReader(in), 1<<16)
		s := NewStreamToChat("m", true)
		emit := func(c *openai.ChatChunk) error { _, err := json.Marshal(c); return err }
		for {
			ev, err := r.Next()
			if err != nil || s.Feed(ev, emit) != nil {
				break
			}
		}
		_ = s.Finish(emit)
	})
}
