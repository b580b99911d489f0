package mock

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

type anthropicBlockOut struct {
	Type  string          `json:"type"`
	Text  string          `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

type anthropicUsageOut struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

type anthropicMessageOut struct {
	ID           string              `json:"id"`
	Type         string              `json:"type"`
	Role         string              `json:"role"`
	Model        string              `json:"model"`
	Content      []anthropicBlockOut `json:"content"`
	StopReason   *string             `json:"stop_reason"`
	StopSequence *string             `json:"stop_sequence"`
	Usage        anthropicUsageOut   `json:"usage"`
}

type anthropicEventOut struct {
	Type         string               `json:"type"`
	Message      *anthropicMessageOut `json:"message,omitempty"`
	Index        *int                 `json:"index,omitempty"`
	ContentBlock *anthropicBlockOut   `json:"content_block,omitempty"`
	Delta        *struct {
		Type         string  `json:"type,omitempty"`
		Text         string  `json:"text,omitempty"`
		PartialJSON  *string `json:"partial_json,omitempty"`
		StopReason   *string `json:"stop_reason,omitempty"`
		StopSequence *string `json:"stop_sequence,omitempty"`
	} `json:"delta,omitempty"`
	Usage *anthropicUsageOut `json:"usage,omitempty"`
}

// anthropicStreamed assembles a Messages stream after checking its order.
type anthropicStreamed struct {
	text, toolName, args, stop string
	deltas                     int
	input, output              int
}

func collectAnthropic(t *testing.T, body []byte) anthropicStreamed {
	t.Helper()
	evs := parseSSE(t, body)
	var out anthropicStreamed
	var names []string
	for _, ev := range evs {
		var e anthropicEventOut
		strictDecode(t, []byte(ev.data), &e)
		if e.Type != ev.name {
			t.Fatalf("event name %q, data type %q", ev.name, e.Type)
		}
		if len(names) == 0 || names[len(names)-1] != ev.name {
			names = append(names, ev.name)
		}
		switch e.Type {
		case "message_start":
			out.input = e.Message.Usage.InputTokens
			if e.Message.StopReason != nil || len(e.Message.Content) != 0 {
				t.Fatalf("message_start not empty: %s", ev.data)
			}
		case "content_block_start":
			if e.ContentBlock.Type == "tool_use" {
				out.toolName = e.ContentBlock.Name
				if !strings.HasPrefix(e.ContentBlock.ID, "toolu_") {
					t.Fatalf("tool_use id %q", e.ContentBlock.ID)
				}
			}
		case "content_block_delta":
			out.deltas++
			switch e.Delta.Type {
			case "text_delta":
				out.text += e.Delta.Text
			case "input_json_delta":
				out.args += *e.Delta.PartialJSON
			default:
				t.Fatalf("delta type %q", e.Delta.Type)
			}
		case "message_delta":
			out.stop = *e.Delta.StopReason
			out.output = e.Usage.OutputTokens
		}
	}
	want := "message_start,content_block_start,ping,content_block_delta,content_block_stop,message_delta,message_stop"
	if strings.Join(names, ",") != want {
		t.Fatalf("event order %v", names)
	}
	return out
}

func TestAnthropicMessages(t *testing.T) {
	_, ts := newServer(t, Options{})
	msgs := []map[string]any{{"role": "user", "content": []map[string]any{
		{"type": "text", "text": "What is in these two pictures, in detail?"},
		{"type": "image", "source": map[string]any{"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
		{"type": "image", "source": map[string]any{"type": "url", "url": "https://example.com/a.jpg"}},
	}}}
	body := map[string]any{"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "Be terse.", "messages": msgs}
	b := mustOK(t, ts, req{path: "/v1/messages", body: body})
	var m anthropicMessageOut
	strictDecode(t, b, &m)
	if m.Type != "message" || m.Role != "assistant" || len(m.Content) != 1 || m.Content[0].Type != "text" ||
		*m.StopReason != "end_turn" || m.StopSequence != nil || !strings.HasPrefix(m.Content[0].Text, "Mock reply to: What is in these two pictures, in d") {
		t.Fatalf("message: %s", b)
	}
	wantIn := (len("Be terse.")+len("What is in these two pictures, in detail?"))/4 + 2*imageTokens
	if m.Usage.InputTokens != wantIn || m.Usage.OutputTokens != len(strings.Fields(m.Content[0].Text)) {
		t.Fatalf("usage %+v, want input %d", m.Usage, wantIn)
	}
	body["stream"] = true
	st := collectAnthropic(t, mustOK(t, ts, req{path: "/v1/messages", body: body}))
	if st.text != m.Content[0].Text || st.deltas != defaultChunks || st.stop != "end_turn" || st.input != m.Usage.InputTokens || st.output != m.Usage.OutputTokens {
		t.Fatalf("stream %+v vs message %+v", st, m)
	}

	cb := mustOK(t, ts, req{path: "/v1/messages/count_tokens", body: map[string]any{"model": "claude-sonnet-4-5", "system": "Be terse.", "messages": msgs}})
	var ct map[string]int
	strictDecode(t, cb, &ct)
	if ct["input_tokens"] != wantIn {
		t.Fatalf("count_tokens %v, want %d", ct, wantIn)
	}
}

func TestAnthropicToolFlow(t *testing.T) {
	_, ts := newServer(t, Options{})
	tools := []map[string]any{{"name": "lookup", "input_schema": map[string]any{"type": "object"}},
		{"name": "get_weather", "description": "weather", "input_schema": weatherTool()}}
	user := map[string]any{"role": "user", "content": "weather in Paris?"}
	tests := []struct {
		name     string
		choice   any
		msgs     []map[string]any
		wantTool string
		wantArgs string
		wantText string
	}{
		{"auto picks first", nil, nil, "lookup", "{}", ""},
		{"named", map[string]any{"type": "tool", "name": "get_weather"}, nil, "get_weather", weatherArgs, ""},
		{"any", map[string]any{"type": "any"}, nil, "lookup", "{}", ""},
		{"none", map[string]any{"type": "none"}, nil, "", "", "Mock reply to: weather in Paris?"},
		{"after tool_result", nil, []map[string]any{
			{"role": "assistant", "content": []map[string]any{{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": map[string]any{"city": "Paris"}}}},
			{"role": "user", "content": []map[string]any{{"type": "tool_result", "tool_use_id": "toolu_1", "content": "cloudy and 12C"}}},
		}, "", "", "Mock reply to tool result: cloudy and 12C"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"model": "claude-haiku-4-5", "max_tokens": 50, "tools": tools, "messages": append([]map[string]any{user}, tc.msgs...)}
			if tc.choice != nil {
				body["tool_choice"] = tc.choice
			}
			var m anthropicMessageOut
			strictDecode(t, mustOK(t, ts, req{path: "/v1/messages", body: body}), &m)
			blk := m.Content[0]
			if tc.wantTool != "" {
				if blk.Type != "tool_use" || blk.Name != tc.wantTool || string(blk.Input) != tc.wantArgs || *m.StopReason != "tool_use" {
					t.Fatalf("got %+v stop %s", blk, *m.StopReason)
				}
			} else if blk.Type != "text" || !strings.HasPrefix(blk.Text, tc.wantText) || *m.StopReason != "end_turn" {
				t.Fatalf("got %+v", blk)
			}
			body["stream"] = true
			st := collectAnthropic(t, mustOK(t, ts, req{path: "/v1/messages", body: body}))
			if st.toolName != tc.wantTool || st.args != tc.wantArgs || st.output != m.Usage.OutputTokens || st.input != m.Usage.InputTokens {
				t.Fatalf("stream %+v vs %+v", st, m)
			}
		})
	}
}

func TestAnthropicErrors(t *testing.T) {
	_, ts := newServer(t, Options{})
	ok := map[string]any{"model": "m", "max_tokens": 10, "messages": []map[string]any{{"role": "user", "content": "hi"}}}
	tests := []struct {
		name     string
		r        req
		status   int
		wantType string
	}{
		{"no key", req{path: "/v1/messages", noAuth: true, body: ok}, 401, "authentication_error"},
		{"no version", req{path: "/v1/messages", header: map[string]string{"anthropic-version": ""}, body: ok}, 400, "invalid_request_error"},
		{"no max_tokens", req{path: "/v1/messages", body: map[string]any{"messages": ok["messages"]}}, 400, "invalid_request_error"},
		{"bad json", req{path: "/v1/messages", body: "{"}, 400, "invalid_request_error"},
		{"fault 529", req{path: "/v1/messages", header: map[string]string{"X-Mock-Fault": "status=529"}, body: ok}, 529, "overloaded_error"},
		{"fault 429", req{path: "/v1/messages", header: map[string]string{"X-Mock-Fault": "status=429"}, body: ok}, 429, "rate_limit_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := do(t, ts, tc.r)
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			strictDecode(t, b, &e)
			if resp.StatusCode != tc.status || e.Type != "error" || e.Error.Type != tc.wantType || e.Error.Message == "" {
				t.Fatalf("status %d body %s", resp.StatusCode, b)
			}
		})
	}
	// Bearer auth (OAuth-style clients) is accepted too.
	if resp, b := do(t, ts, req{path: "/v1/messages", noAuth: true, header: map[string]string{"Authorization": "Bearer k", "anthropic-version": "2023-06-01"}, body: ok}); resp.StatusCode != http.StatusOK {
		t.Fatalf("bearer: %d %s", resp.StatusCode, b)
	}
}

// A request declaring the web search server tool searches once before its
// text answer, stream or not; a tool=NAME directive calls the client tool
// instead.
func TestAnthropicWebSearch(t *testing.T) {
	_, ts := newServer(t, Options{})
	tools := []map[string]any{{"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
		{"name": "exec_command", "input_schema": map[string]any{"type": "object"}}}
	body := map[string]any{"model": "claude-haiku-4-5", "max_tokens": 50, "tools": tools[:1],
		"messages": []map[string]any{{"role": "user", "content": "news about Go?"}}}
	var m struct {
		Content []struct {
			Type      string          `json:"type"`
			Name      string          `json:"name"`
			ID        string          `json:"id"`
			ToolUseID string          `json:"tool_use_id"`
			Input     json.RawMessage `json:"input"`
			Content   []struct{ Type, URL, Title string }
			Text      string
			Citations []struct{ Type, URL, Title string }
		} `json:"content"`
		Usage struct {
			ServerToolUse struct {
				WebSearchRequests int `json:"web_search_requests"`
			} `json:"server_tool_use"`
		} `json:"usage"`
	}
	b := mustOK(t, ts, req{path: "/v1/messages", body: body})
	decodeInto(t, b, &m)
	if len(m.Content) != 3 || m.Content[0].Type != "server_tool_use" || string(m.Content[0].Input) != `{"query":"news about Go?"}` ||
		m.Content[1].Type != "web_search_tool_result" || m.Content[1].ToolUseID != m.Content[0].ID ||
		len(m.Content[1].Content) != 1 || m.Content[1].Content[0].URL != MockSearchURL ||
		m.Content[2].Type != "text" || len(m.Content[2].Citations) != 1 || m.Content[2].Citations[0].URL != MockSearchURL ||
		m.Usage.ServerToolUse.WebSearchRequests != 1 {
		t.Fatalf("message: %s", b)
	}
	body["stream"] = true
	sb := mustOK(t, ts, req{path: "/v1/messages", body: body})
	var names []string
	for _, ev := range parseSSE(t, sb) {
		names = append(names, ev.name)
	}
	want := "message_start,content_block_start,content_block_delta,content_block_stop,content_block_start,content_block_stop," +
		"content_block_start,content_block_delta,content_block_delta"
	if got := strings.Join(names, ","); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "content_block_stop,message_delta,message_stop") ||
		!strings.Contains(string(sb), `"citations_delta"`) || !strings.Contains(string(sb), `"web_search_requests":1`) {
		t.Fatalf("events %s\n%s", got, sb)
	}
	body["tools"], body["stream"] = tools, false
	body["messages"] = []map[string]any{{"role": "user", "content": "[[mock tool=exec_command]] run ls"}}
	decodeInto(t, mustOK(t, ts, req{path: "/v1/messages", body: body}), &m)
	if len(m.Content) != 1 || m.Content[0].Type != "tool_use" || m.Content[0].Name != "exec_command" {
		t.Fatalf("tool directive: %+v", m.Content)
	}
}
