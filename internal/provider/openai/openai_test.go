package openai

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
	"github.com/switchyard/switchyard/internal/sse"
)

func TestMain(m *testing.M) {
	now = func() time.Time { return time.Unix(1700000000, 0) }
	m.Run()
}

// Union fields marshal back to the form they arrived in.
func TestUnionRoundTrip(t *testing.T) {
	tests := []struct{ name, in string }{
		{"string content", `{"role":"user","content":"hi"}`},
		{"parts content", `{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]}`},
		{"null content", `{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}`},
		{"absent content", `{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":""}}]}`},
		{"empty parts", `{"role":"user","content":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := golden.Decode[ChatMessage](t, []byte(tt.in))
			got, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.in {
				t.Fatalf("got  %s\nwant %s", got, tt.in)
			}
		})
	}
	choices := []string{`"auto"`, `"none"`, `"required"`, `{"type":"function","function":{"name":"f"}}`, `{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}`}
	for _, in := range choices {
		tc := golden.Decode[ToolChoice](t, []byte(in))
		if got, _ := json.Marshal(tc); string(got) != in {
			t.Errorf("tool_choice %s -> %s", in, got)
		}
	}
	for in, want := range map[string]string{`"x"`: `["x"]`, `["a","b"]`: `["a","b"]`} {
		s := golden.Decode[StringList](t, []byte(in))
		if got, _ := json.Marshal(s); string(got) != want {
			t.Errorf("stop %s -> %s", in, got)
		}
	}
	var c Content
	if err := json.Unmarshal([]byte(`42`), &c); err == nil {
		t.Error("numeric content accepted")
	}
}

func TestParseDataURL(t *testing.T) {
	tests := []struct {
		in, mt, data string
		ok           bool
	}{
		{"data:image/png;base64,AAAA", "image/png", "AAAA", true},
		{"data:text/plain;charset=utf-8;base64,SGk=", "text/plain", "SGk=", true},
		{"data:image/png,AAAA", "", "", false},
		{"data:;base64,AAAA", "", "", false},
		{"data:image/png;base64,", "", "", false},
		{"https://example.com/a.png", "", "", false},
	}
	for _, tt := range tests {
		mt, data, ok := ParseDataURL(tt.in)
		if mt != tt.mt || data != tt.data || ok != tt.ok {
			t.Errorf("ParseDataURL(%q) = %q %q %v", tt.in, mt, data, ok)
		}
	}
}

func TestResponsesToChatGolden(t *testing.T) {
	golden.Run(t, "testdata/responses_to_chat", ".json", ".json", func(t *testing.T, in []byte) []byte {
		req := golden.Decode[ResponsesRequest](t, in)
		// signed_* fixtures translate for an upstream that takes the
		// gateway's signed reasoning back; reasoning_blocks is not OpenAI's.
		req.signed = strings.Contains(t.Name(), "/signed_")
		out, err := ResponsesToChat(req)
		if err != nil {
			t.Fatal(err)
		}
		b := golden.JSON(t, out)
		if !req.signed {
			golden.ValidateOpenAI(t, "CreateChatCompletionRequest", b)
		}
		return b
	})
}

var echoReq = &ResponsesRequest{Model: "m", Instructions: "Be brief.", Tools: []ResponsesTool{{Type: "function", Name: "get_weather"}}}

func TestChatToResponseGolden(t *testing.T) {
	golden.Run(t, "testdata/chat_to_response", ".json", ".json", func(t *testing.T, in []byte) []byte {
		out := golden.JSON(t, ChatToResponse(golden.Decode[ChatResponse](t, in), echoReq))
		golden.ValidateOpenAI(t, "Response", out)
		return out
	})
}

func TestResponsesStreamGolden(t *testing.T) {
	responsesStreamGolden(t, "testdata/responses_stream", echoReq)
}

// nsReq offers functions of namespace tools, with a top-level function
// whose name its second namespace's function would flatten to.
var nsReq = &ResponsesRequest{Model: "m", Tools: []ResponsesTool{
	{Type: "function", Name: "shell"},
	{Type: "function", Name: "crm__lookup"},
	{Type: "namespace", Name: "mcp__docs__", Description: "Documentation server.", Tools: []ResponsesTool{
		{Type: "function", Name: "search", Parameters: json.RawMessage(`{"type":"object"}`)}}},
	{Type: "namespace", Name: "crm", Description: "Customers.", Tools: []ResponsesTool{{Type: "function", Name: "lookup"}}},
}}

// Calls of flattened namespace functions come back with their namespace.
func TestNamespaceResponseGolden(t *testing.T) {
	golden.Run(t, "testdata/namespace_response", ".json", ".json", func(t *testing.T, in []byte) []byte {
		out := golden.JSON(t, ChatToResponse(golden.Decode[ChatResponse](t, in), nsReq))
		golden.ValidateOpenAI(t, "Response", out)
		return out
	})
}

func TestNamespaceStreamGolden(t *testing.T) {
	responsesStreamGolden(t, "testdata/namespace_stream", nsReq)
}

func responsesStreamGolden(t *testing.T, dir string, req *ResponsesRequest) {
	golden.Run(t, dir, ".sse", ".sse", func(t *testing.T, in []byte) []byte {
		var out bytes.Buffer
		w := sse.NewWriter(&out)
		s := NewChatToResponsesStream("client-model", "resp_test1")
		s.SetRequest(req)
		emit := func(name string, payload []byte) error {
			golden.ValidateOpenAI(t, "ResponseStreamEvent", payload)
			return w.WriteEvent(name, payload)
		}
		r := sse.NewReader(bytes.NewReader(in), 0)
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(ev.Data) == "[DONE]" {
				continue
			}
			if err := s.Feed(golden.Decode[ChatChunk](t, ev.Data), emit); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Finish(emit); err != nil {
			t.Fatal(err)
		}
		checkLifecycle(t, out.Bytes())
		return out.Bytes()
	})
}

// checkLifecycle replays a Responses stream and checks the invariants the
// SDKs rely on: sequence numbers count up from 0, every item is added before
// its deltas and done after them, and the final response holds exactly the
// items that were streamed, with the streamed text and arguments.
func checkLifecycle(t *testing.T, transcript []byte) {
	t.Helper()
	r := sse.NewReader(bytes.NewReader(transcript), 0)
	seq := 0
	type state struct {
		id, text, args string
		done           bool
	}
	var items []*state
	var final *Response
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		var e struct {
			Type        string          `json:"type"`
			Seq         int             `json:"sequence_number"`
			OutputIndex int             `json:"output_index"`
			ItemID      string          `json:"item_id"`
			Delta       string          `json:"delta"`
			Item        json.RawMessage `json:"item"`
			Response    json.RawMessage `json:"response"`
		}
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			t.Fatal(err)
		}
		if e.Type != ev.Name || e.Seq != seq {
			t.Fatalf("event %q type %q seq %d, want seq %d", ev.Name, e.Type, e.Seq, seq)
		}
		seq++
		switch e.Type {
		case "response.output_item.added":
			if e.OutputIndex != len(items) {
				t.Fatalf("item added at %d, want %d", e.OutputIndex, len(items))
			}
			var it struct{ ID string }
			_ = json.Unmarshal(e.Item, &it)
			items = append(items, &state{id: it.ID})
		case "response.output_text.delta", "response.reasoning_summary_text.delta", "response.function_call_arguments.delta":
			if e.OutputIndex >= len(items) || items[e.OutputIndex].done || items[e.OutputIndex].id != e.ItemID {
				t.Fatalf("%s for item %d (%s) not open", e.Type, e.OutputIndex, e.ItemID)
			}
			if e.Type == "response.function_call_arguments.delta" {
				items[e.OutputIndex].args += e.Delta
			} else {
				items[e.OutputIndex].text += e.Delta
			}
		case "response.output_item.done":
			items[e.OutputIndex].done = true
		case "response.completed", "response.incomplete":
			final = golden.Decode[Response](t, e.Response)
		}
	}
	if final == nil {
		t.Fatal("no final response event")
	}
	if len(final.Output) != len(items) {
		t.Fatalf("final output has %d items, streamed %d", len(final.Output), len(items))
	}
	for i, st := range items {
		o := final.Output[i]
		if !st.done || o.ID != st.id || (o.Type == "function_call" && o.Args != st.args) || (o.Type != "function_call" && o.Text != st.text) {
			t.Fatalf("item %d: streamed %+v, final %+v", i, st, o)
		}
	}
}

// UnmarshalJSON lets tests read back a marshaled OutputItem.
func (it *OutputItem) UnmarshalJSON(b []byte) error {
	var raw struct {
		Type      string `json:"type"`
		ID        string `json:"id"`
		Status    string `json:"status"`
		CallID    string `json:"call_id"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
		Content   []struct{ Text string }
		Summary   []struct{ Text string }
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*it = OutputItem{Type: raw.Type, ID: raw.ID, Status: raw.Status, CallID: raw.CallID, Name: raw.Name, Args: raw.Arguments}
	for _, c := range raw.Content {
		it.Text += c.Text
	}
	for _, s := range raw.Summary {
		it.Text += s.Text
	}
	return nil
}

func TestResponsesUnsupported(t *testing.T) {
	tests := []struct{ name, req, feature string }{
		{"previous_response_id", `{"previous_response_id":"resp_1"}`, "previous_response_id"},
		{"conversation", `{"conversation":"conv_1"}`, "conversation"},
		{"background", `{"background":true}`, "background"},
		{"file_search", `{"tools":[{"type":"function","name":"f"},{"type":"file_search","vector_store_ids":["v"]}]}`, "tools[1].type"},
		{"hosted tool choice", `{"tool_choice":{"type":"web_search_preview"}}`, "tool_choice"},
		{"item_reference", `{"input":[{"type":"item_reference","id":"msg_1"}]}`, "input[0].type"},
		{"image by file id", `{"input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1","detail":"auto"}]}]}`, "input[0].content[0].file_id"},
		{"grammar format", `{"text":{"format":{"type":"grammar"}}}`, "text.format.type"},
		{"max_tool_calls", `{"max_tool_calls":3}`, "max_tool_calls"},
		{"custom tool in a namespace", `{"tools":[{"type":"namespace","name":"n","description":"","tools":[{"type":"custom","name":"c"}]}]}`, "tools[0].tools[0].type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ResponsesToChat(golden.Decode[ResponsesRequest](t, []byte(tt.req)))
			var u *provider.UnsupportedError
			if !errors.As(err, &u) || u.Feature != tt.feature {
				t.Fatalf("err = %v, want UnsupportedError{%s}", err, tt.feature)
			}
		})
	}
}

// A stream with no chunks at all still produces a complete lifecycle.
func TestResponsesStreamEmpty(t *testing.T) {
	var out bytes.Buffer
	w := sse.NewWriter(&out)
	s := NewChatToResponsesStream("m", "resp_x")
	if err := s.Finish(w.WriteEvent); err != nil {
		t.Fatal(err)
	}
	checkLifecycle(t, out.Bytes())
}

func FuzzResponsesToChat(f *testing.F) {
	golden.FuzzTranslate(f, "testdata/responses_to_chat", ResponsesToChat)
}

func FuzzChatRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"stop":"a","tool_choice":"auto"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var req ChatRequest
		if json.Unmarshal(in, &req) != nil {
			return
		}
		b, err := json.Marshal(&req)
		if err != nil {
			t.Fatalf("decoded request does not marshal: %v", err)
		}
		var again ChatRequest
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("marshaled request does not decode: %v\n%s", err, b)
		}
	})
}

func BenchmarkChatToResponsesStream(b *testing.B) {
	text := "Hello there, how"
	chunk := &ChatChunk{ID: "chatcmpl-1", Choices: []ChunkChoice{{Delta: Delta{Content: &text}}}}
	s := NewChatToResponsesStream("m", "resp_1")
	emit := func(string, []byte) error { return nil }
	if err := s.Feed(chunk, emit); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Feed(chunk, emit); err != nil {
			b.Fatal(err)
		}
	}
}

// A channel set to drop hosted tools loses them, and a tool_choice forcing
// one, and keeps function and namespace tools.
func TestDropHostedTools(t *testing.T) {
	req := golden.Decode[ResponsesRequest](t, []byte(`{"model":"m","input":"q","tools":[{"type":"web_search"},
		{"type":"function","name":"shell"},{"type":"namespace","name":"mcp__d__","description":"","tools":[{"type":"function","name":"s"}]},
		{"type":"file_search","vector_store_ids":["v"]}],"tool_choice":{"type":"web_search_preview"}}`))
	got := req.DropHostedTools(false)
	want := []string{"tools[0] (web_search)", "tools[3] (file_search)", "tool_choice (web_search_preview)"}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(req.Tools) != 2 || req.ToolChoice != nil {
		t.Fatalf("dropped %q, tools %+v", got, req.Tools)
	}
	cr, err := ResponsesToChat(req)
	if err != nil || len(cr.Tools) != 2 || cr.Tools[1].Function.Name != "mcp__d__s" {
		t.Fatalf("%+v %v", cr, err)
	}
}

// A web_search tool is kept, as web_search_options, for an adapter that
// searches itself, and refused (or dropped) for the others.
func TestWebSearchTool(t *testing.T) {
	body := []byte(`{"model":"m","input":"q","tools":[{"type":"function","name":"shell"},{"type":"web_search_preview"},
		{"type":"file_search","vector_store_ids":["v"]}],"tool_choice":{"type":"web_search_preview"}}`)
	req, cc, dropped, err := ResponsesChatCallDropping(body, "r", "m", "u", true, WebSearchAlways)
	if err != nil || fmt.Sprint(dropped) != "[tools[2] (file_search)]" || len(req.Tools) != 2 {
		t.Fatalf("dropped %q, %v", dropped, err)
	}
	cr := golden.Decode[ChatRequest](t, cc.Body)
	if cr.WebSearchOptions == nil || len(cr.Tools) != 1 || cr.ToolChoice != nil {
		t.Fatalf("chat request %s", cc.Body)
	}
	_, _, _, err = ResponsesChatCallDropping(body, "r", "m", "u", false, NoWebSearch)
	var u *provider.UnsupportedError
	if !errors.As(err, &u) || u.Feature != "tools[1].type" {
		t.Fatalf("refuse without a search of its own: %v", err)
	}
	_, _, dropped, err = ResponsesChatCallDropping(body, "r", "m", "u", true, NoWebSearch)
	if err != nil || len(dropped) != 3 {
		t.Fatalf("drop without a search of its own: %q %v", dropped, err)
	}
	_, _, _, err = ResponsesChatCallDropping([]byte(`{"model":"m","input":"q","tools":[{"type":"web_search"},{"type":"web_search"}]}`), "r", "m", "u", false, WebSearchAlways)
	if !provider.IsClientError(err) {
		t.Fatalf("two web search tools: %v", err)
	}
}
