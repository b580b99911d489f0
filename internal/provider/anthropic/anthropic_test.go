package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
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
		out := golden.JSON(t, ToChatResponse(golden.Decode[Message](t, in), "claude-client-name"))
		golden.ValidateOpenAI(t, "CreateChatCompletionResponse", out)
		return out
	})
}

func TestToChatRequestGolden(t *testing.T) {
	golden.Run(t, "testdata/torequest", ".json", ".json", func(t *testing.T, in []byte) []byte {
		// signed_* fixtures translate for an upstream that takes signed
		// thinking back (ToChatRequestSigned); reasoning_blocks is the
		// pivot's, not OpenAI's.
		signed := strings.Contains(t.Name(), "/signed_")
		to := ToChatRequest
		if signed {
			to = ToChatRequestSigned
		}
		out, err := to(golden.Decode[MessagesRequest](t, in))
		if err != nil {
			t.Fatal(err)
		}
		b := golden.JSON(t, out)
		if !signed {
			golden.ValidateOpenAI(t, "CreateChatCompletionRequest", b)
		}
		return b
	})
}

func TestFromChatResponseGolden(t *testing.T) {
	golden.Run(t, "testdata/fromchat_response", ".json", ".json", func(t *testing.T, in []byte) []byte {
		return golden.JSON(t, FromChatResponse(golden.Decode[openai.ChatResponse](t, in), ""))
	})
}

// readEvents reads an SSE transcript fixture.
func readEvents(t testing.TB, in []byte) []sse.Event {
	t.Helper()
	r := sse.NewReader(bytes.NewReader(in), 0)
	var out []sse.Event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sse.Event{Name: ev.Name, Data: bytes.Clone(ev.Data)})
	}
}

func TestStreamToChatGolden(t *testing.T) {
	golden.Run(t, "testdata/stream_to_chat", ".sse", ".sse", func(t *testing.T, in []byte) []byte {
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
		s := NewStreamToChat("client-model", true)
		for _, ev := range readEvents(t, in) {
			if err := s.Feed(ev, emit); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Finish(emit); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteDone(); err != nil {
			t.Fatal(err)
		}
		u, _ := json.Marshal(s.Usage())
		_ = w.WriteComment("billing usage " + string(u))
		return out.Bytes()
	})
}

func TestChatStreamToMessagesGolden(t *testing.T) {
	golden.Run(t, "testdata/chatstream", ".sse", ".sse", func(t *testing.T, in []byte) []byte {
		var out bytes.Buffer
		w := sse.NewWriter(&out)
		s := NewChatStreamToMessages("claude-client-name")
		for _, ev := range readEvents(t, in) {
			if string(ev.Data) == "[DONE]" {
				continue
			}
			if err := s.Feed(golden.Decode[openai.ChatChunk](t, ev.Data), w.WriteEvent); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Finish(w.WriteEvent); err != nil {
			t.Fatal(err)
		}
		checkAccumulates(t, out.Bytes())
		return out.Bytes()
	})
}

// checkAccumulates replays events the way the Anthropic SDKs' stream
// accumulators do and fails on anything they would reject.
func checkAccumulates(t *testing.T, transcript []byte) {
	t.Helper()
	var msg *Message
	open := map[int]bool{}
	partial := map[int]string{}
	stopped := false
	for _, ev := range readEvents(t, transcript) {
		var e StreamEvent
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			t.Fatalf("event %s: invalid JSON %s", ev.Name, ev.Data)
		}
		if e.Type != ev.Name {
			t.Fatalf("event name %q but type %q", ev.Name, e.Type)
		}
		if msg == nil && e.Type != "message_start" {
			t.Fatalf("%s before message_start", e.Type)
		}
		switch e.Type {
		case "message_start":
			msg = e.Message
		case "content_block_start":
			if e.Index != len(msg.Content) {
				t.Fatalf("block index %d, want %d", e.Index, len(msg.Content))
			}
			msg.Content = append(msg.Content, *e.ContentBlock)
			open[e.Index] = true
		case "content_block_delta":
			if !open[e.Index] {
				t.Fatalf("delta for closed block %d", e.Index)
			}
			b := &msg.Content[e.Index]
			switch e.Delta.Type {
			case "text_delta":
				b.Text += e.Delta.Text
			case "thinking_delta":
				b.Thinking += e.Delta.Thinking
			case "input_json_delta":
				partial[e.Index] += e.Delta.PartialJSON
			}
		case "content_block_stop":
			if !open[e.Index] {
				t.Fatalf("stop for unopened block %d", e.Index)
			}
			open[e.Index] = false
			if p, ok := partial[e.Index]; ok {
				if !json.Valid([]byte(p)) {
					t.Fatalf("block %d: accumulated input %q is not JSON", e.Index, p)
				}
				msg.Content[e.Index].Input = json.RawMessage(p)
			}
		case "message_delta":
			msg.StopReason = &e.Delta.StopReason
		case "message_stop":
			stopped = true
		}
	}
	if !stopped {
		t.Fatal("no message_stop")
	}
	for i, o := range open {
		if o {
			t.Fatalf("block %d never stopped", i)
		}
	}
}

func TestUnsupported(t *testing.T) {
	tests := []struct {
		name, req, feature string
	}{
		{"n", `{"n":2}`, "n"},
		{"logprobs", `{"logprobs":true}`, "logprobs"},
		{"top_logprobs", `{"top_logprobs":2}`, "logprobs"},
		{"logit_bias", `{"logit_bias":{"50256":-100}}`, "logit_bias"},
		{"audio", `{"modalities":["text","audio"]}`, "audio"},
		{"json_schema", `{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}}}`, "response_format"},
		{"json_object", `{"response_format":{"type":"json_object"}}`, "response_format"},
		{"presence_penalty", `{"presence_penalty":0.5}`, "presence_penalty"},
		{"functions", `{"functions":[{"name":"f"}]}`, "functions"},
		{"custom tool", `{"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type"},
		{"allowed_tools", `{"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}}`, "tool_choice"},
		{"input_audio part", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}`, "messages[0].content[0].type"},
		{"file id", `{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}`, "messages[0].content[0].file"},
		{"image in system", `{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}]}`, "messages[0].content[0]"},
		{"effort unknown", `{"reasoning_effort":"extreme"}`, "reasoning_effort"},
		{"effort with temperature", `{"reasoning_effort":"low","temperature":0.2}`, "temperature"},
		{"function role", `{"messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := golden.Decode[openai.ChatRequest](t, []byte(tt.req))
			_, err := FromChat(req)
			var u *provider.UnsupportedError
			if !errors.As(err, &u) || u.Feature != tt.feature {
				t.Fatalf("err = %v, want UnsupportedError{%s}", err, tt.feature)
			}
		})
	}
	reverse := []struct {
		name, req, feature string
	}{
		{"top_k", `{"top_k":5}`, "top_k"},
		{"server tool", `{"tools":[{"type":"web_search_20250305","name":"web_search"}]}`, "tools[0].type"},
		{"mcp", `{"mcp_servers":[{"type":"url","url":"https://x","name":"y"}]}`, "mcp_servers"},
		{"image in tool result", `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"https://x"}}]}]}]}`, "messages[0].content[0].content[0].type"},
		{"search result", `{"messages":[{"role":"user","content":[{"type":"search_result"}]}]}`, "messages[0].content[0].type"},
	}
	for _, tt := range reverse {
		t.Run("reverse "+tt.name, func(t *testing.T) {
			_, err := ToChatRequest(golden.Decode[MessagesRequest](t, []byte(tt.req)))
			var u *provider.UnsupportedError
			if !errors.As(err, &u) || u.Feature != tt.feature {
				t.Fatalf("err = %v, want UnsupportedError{%s}", err, tt.feature)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct{ name, req string }{
		{"bad arguments", `{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}`},
		{"array arguments", `{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`},
		{"tool without id", `{"messages":[{"role":"tool","content":"x"}]}`},
		{"ftp image", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`},
		{"unknown role", `{"messages":[{"role":"robot","content":"x"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromChat(golden.Decode[openai.ChatRequest](t, []byte(tt.req)))
			var inv *provider.InvalidError
			if !errors.As(err, &inv) || !provider.IsClientError(err) {
				t.Fatalf("err = %v, want InvalidError", err)
			}
		})
	}
}

// chat → anthropic → chat keeps roles, text and tool calls.
func TestRoundTripChat(t *testing.T) {
	for _, name := range []string{"plain", "tool_round_trip", "images"} {
		t.Run(name, func(t *testing.T) {
			in := golden.Inputs(t, "testdata/fromchat", name+".json")
			orig := golden.Decode[openai.ChatRequest](t, in[0])
			mid, err := FromChat(orig)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ToChatRequest(mid)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := summarize(back.Messages), summarize(orig.Messages); got != want {
				t.Fatalf("round trip changed messages:\n got %s\nwant %s", got, want)
			}
			if len(back.Tools) != len(orig.Tools) {
				t.Fatalf("tools %d -> %d", len(orig.Tools), len(back.Tools))
			}
		})
	}
}

func summarize(msgs []openai.ChatMessage) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "[%s %q", m.Role, m.Content.JoinText())
		if m.Content.Kind == openai.ContentParts {
			for _, p := range m.Content.Parts {
				if p.Type == openai.PartImageURL {
					fmt.Fprintf(&b, " img=%s", p.ImageURL.URL)
				}
			}
		}
		for _, tc := range m.ToolCalls {
			var args any
			_ = json.Unmarshal([]byte(tc.Function.Arguments), &args)
			fmt.Fprintf(&b, " call=%s/%s/%v", tc.ID, tc.Function.Name, args)
		}
		if m.ToolCallID != "" {
			fmt.Fprintf(&b, " result-for=%s", m.ToolCallID)
		}
		b.WriteString("]")
	}
	return b.String()
}

func TestStreamErrorsAndTruncation(t *testing.T) {
	s := NewStreamToChat("m", false)
	nop := func(*openai.ChatChunk) error { return nil }
	err := s.Feed(sse.Event{Name: "error", Data: []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)}, nop)
	var se *provider.StreamError
	if !errors.As(err, &se) || se.Type != "overloaded_error" {
		t.Fatalf("err = %v", err)
	}
	if err := s.Finish(nop); !errors.Is(err, ErrStreamTruncated) {
		t.Fatalf("Finish err = %v", err)
	}
	if err := s.Feed(sse.Event{Data: []byte(`{"type":`)}, nop); err == nil {
		t.Fatal("malformed event accepted")
	}
}

// An empty upstream stream still yields a well-formed Messages stream.
func TestChatStreamEmpty(t *testing.T) {
	var out bytes.Buffer
	w := sse.NewWriter(&out)
	s := NewChatStreamToMessages("m")
	if err := s.Finish(w.WriteEvent); err != nil {
		t.Fatal(err)
	}
	checkAccumulates(t, out.Bytes())
}

func FuzzFromChat(f *testing.F) { golden.FuzzTranslate(f, "testdata/fromchat", FromChat) }

func FuzzToChatRequest(f *testing.F) {
	golden.FuzzTranslate(f, "testdata/torequest", ToChatRequest)
}

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
			if err != nil {
				break
			}
			if s.Feed(ev, emit) != nil {
				break
			}
		}
		_ = s.Finish(emit)
	})
}

func BenchmarkFromChat(b *testing.B) {
	in := golden.Inputs(b, "testdata/fromchat", "tool_round_trip.json")[0]
	var req openai.ChatRequest
	if err := json.Unmarshal(in, &req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromChat(&req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamToChat(b *testing.B) {
	ev := sse.Event{Name: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello there, how"}}`)}
	s := NewStreamToChat("m", true)
	emit := func(*openai.ChatChunk) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Feed(ev, emit); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChatStreamToMessages(b *testing.B) {
	text := "Hello there, how"
	chunk := &openai.ChatChunk{ID: "chatcmpl-1", Choices: []openai.ChunkChoice{{Delta: openai.Delta{Content: &text}}}}
	s := NewChatStreamToMessages("m")
	emit := func(string, []byte) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Feed(chunk, emit); err != nil {
			b.Fatal(err)
		}
	}
}

// A channel set to drop hosted tools loses the server tools, and a
// tool_choice naming one, and keeps the client tools.
func TestDropServerTools(t *testing.T) {
	req := golden.Decode[MessagesRequest](t, []byte(`{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"q"}],
		"tools":[{"type":"web_search_20250305","name":"web_search"},{"name":"f","input_schema":{"type":"object"}},
		{"type":"custom","name":"g","input_schema":{"type":"object"}},{"type":"code_execution_20250522","name":"code_execution"}],
		"tool_choice":{"type":"tool","name":"web_search"}}`))
	got := req.DropServerTools()
	want := []string{"tools[0] (web_search_20250305)", "tools[3] (code_execution_20250522)", "tool_choice (web_search)"}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(req.Tools) != 2 || req.Tools[0].Name != "f" || req.Tools[1].Name != "g" || req.ToolChoice != nil {
		t.Fatalf("dropped %q, tools %+v, choice %+v", got, req.Tools, req.ToolChoice)
	}
	if _, err := ToChatRequest(req); err != nil {
		t.Fatal(err)
	}
	if again := req.DropServerTools(); again != nil {
		t.Fatalf("second drop: %q", again)
	}
}
