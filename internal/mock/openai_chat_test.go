package mock

import (
	"encoding/json"
	"strings"
	"testing"
)

type chatOut struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content   *string `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
			FunctionCall *struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function_call"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens        int `json:"prompt_tokens"`
		CompletionTokens    int `json:"completion_tokens"`
		TotalTokens         int `json:"total_tokens"`
		PromptTokensDetails struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
}

type chunkOut struct {
	ID      string `json:"id"`
	Choices []struct {
		Delta struct {
			Role      string  `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
			FunctionCall *struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function_call"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

// streamedChat is what a client assembles from a chat stream.
type streamedChat struct {
	chunks        int // content deltas
	text          string
	toolName      string
	toolArgs      string
	finish        string
	prompt, compl int
	ids           map[string]bool
}

func collectChat(t *testing.T, body []byte, validateChunks bool) streamedChat {
	t.Helper()
	evs := parseSSE(t, body)
	if len(evs) == 0 || evs[len(evs)-1].data != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]: %s", clip(body))
	}
	out := streamedChat{ids: map[string]bool{}}
	for _, ev := range evs[:len(evs)-1] {
		if validateChunks {
			validate(t, "CreateChatCompletionStreamResponse", []byte(ev.data))
		}
		var ch chunkOut
		decodeInto(t, []byte(ev.data), &ch)
		out.ids[ch.ID] = true
		if ch.Usage != nil {
			if len(ch.Choices) != 0 {
				t.Fatalf("usage chunk has choices: %s", ev.data)
			}
			out.prompt, out.compl = ch.Usage.PromptTokens, ch.Usage.CompletionTokens
		}
		for _, c := range ch.Choices {
			if c.Delta.Content != nil && *c.Delta.Content != "" {
				out.chunks++
				out.text += *c.Delta.Content
			}
			for _, tc := range c.Delta.ToolCalls {
				if tc.Index != 0 {
					t.Fatalf("tool call index %d", tc.Index)
				}
				out.toolName += tc.Function.Name
				out.toolArgs += tc.Function.Arguments
			}
			if fc := c.Delta.FunctionCall; fc != nil {
				out.toolName += fc.Name
				out.toolArgs += fc.Arguments
			}
			if c.FinishReason != nil {
				out.finish = *c.FinishReason
			}
		}
	}
	return out
}

func TestChatCompletions(t *testing.T) {
	_, ts := newServer(t, Options{})
	user := "What is the capital of France? Please answer briefly and well."
	msgs := []map[string]any{{"role": "system", "content": "Be nice."}, {"role": "user", "content": user}}
	wantPrompt := (len("Be nice.") + len(user)) / 4

	b := mustOK(t, ts, req{path: "/v1/chat/completions", body: map[string]any{"model": "gpt-4o-mini", "messages": msgs}})
	validate(t, "CreateChatCompletionResponse", b)
	var out chatOut
	decodeInto(t, b, &out)
	text := *out.Choices[0].Message.Content
	if want := "Mock reply to: " + user[:40]; !strings.HasPrefix(text, want) {
		t.Fatalf("content %q, want prefix %q", text, want)
	}
	if out.Usage.PromptTokens != wantPrompt || out.Usage.CompletionTokens != len(strings.Fields(text)) ||
		out.Usage.TotalTokens != out.Usage.PromptTokens+out.Usage.CompletionTokens {
		t.Fatalf("usage %+v for text %q", out.Usage, text)
	}
	if out.Choices[0].FinishReason != "stop" || out.Model != "gpt-4o-mini" {
		t.Fatalf("finish %q model %q", out.Choices[0].FinishReason, out.Model)
	}

	// The same request streamed: same text, same usage, 8 content chunks.
	sb := mustOK(t, ts, req{path: "/v1/chat/completions", body: map[string]any{
		"model": "gpt-4o-mini", "messages": msgs, "stream": true, "stream_options": map[string]any{"include_usage": true}}})
	st := collectChat(t, sb, true)
	if st.text != text || st.chunks != defaultChunks || st.finish != "stop" {
		t.Fatalf("stream text %q (%d chunks, finish %q), non-stream %q", st.text, st.chunks, st.finish, text)
	}
	if st.prompt != out.Usage.PromptTokens || st.compl != out.Usage.CompletionTokens {
		t.Fatalf("stream usage %d/%d, non-stream %d/%d", st.prompt, st.compl, out.Usage.PromptTokens, out.Usage.CompletionTokens)
	}
	if len(st.ids) != 1 {
		t.Fatalf("chunk ids not consistent: %v", st.ids)
	}

	// Without include_usage no chunk carries usage.
	sb = mustOK(t, ts, req{path: "/v1/chat/completions", body: map[string]any{"messages": msgs, "stream": true}})
	if strings.Contains(string(sb), `"usage"`) {
		t.Fatalf("usage present without include_usage: %s", clip(sb))
	}
}

func TestChatVisionAndDeterminism(t *testing.T) {
	_, ts := newServer(t, Options{})
	body := map[string]any{"model": "gpt-4o", "messages": []map[string]any{{"role": "user", "content": []map[string]any{
		{"type": "text", "text": "describe this"},
		{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
	}}}}
	var a, b chatOut
	decodeInto(t, mustOK(t, ts, req{path: "/v1/chat/completions", body: body}), &a)
	decodeInto(t, mustOK(t, ts, req{path: "/v1/chat/completions", body: body}), &b)
	if *a.Choices[0].Message.Content != *b.Choices[0].Message.Content || a.ID == b.ID {
		t.Fatalf("replies differ or ids equal: %q %q %s %s", *a.Choices[0].Message.Content, *b.Choices[0].Message.Content, a.ID, b.ID)
	}
	if want := len("describe this")/4 + imageTokens; a.Usage.PromptTokens != want {
		t.Fatalf("prompt tokens %d, want %d", a.Usage.PromptTokens, want)
	}
}

func TestChatToolFlow(t *testing.T) {
	_, ts := newServer(t, Options{})
	tools := []map[string]any{
		{"type": "function", "function": map[string]any{"name": "lookup", "parameters": map[string]any{"type": "object"}}},
		{"type": "function", "function": map[string]any{"name": "get_weather", "parameters": weatherTool()}},
	}
	user := map[string]any{"role": "user", "content": "weather in Paris?"}
	tests := []struct {
		name       string
		body       map[string]any
		wantTool   string
		wantArgs   string
		wantFinish string
		wantText   string
	}{
		{"first tool by default", map[string]any{"tools": tools}, "lookup", "{}", "tool_calls", ""},
		{"named by tool_choice", map[string]any{"tools": tools, "tool_choice": map[string]any{"type": "function", "function": map[string]any{"name": "get_weather"}}},
			"get_weather", weatherArgs, "tool_calls", ""},
		{"tool_choice none", map[string]any{"tools": tools, "tool_choice": "none"}, "", "", "stop", "Mock reply to: weather in Paris?"},
		{"named by directive", map[string]any{"tools": tools, "user_text": "weather? [[mock tool=get_weather tool_arg=city:Oslo]]"},
			"get_weather", `{"city":"Oslo","days":1,"metric":true,"unit":"celsius"}`, "tool_calls", ""},
		{"directive names an undeclared tool", map[string]any{"tools": tools, "user_text": "[[mock tool=nope]]"},
			"lookup", "{}", "tool_calls", ""},
		{"legacy functions", map[string]any{"functions": []map[string]any{{"name": "get_weather", "parameters": weatherTool()}}},
			"get_weather", weatherArgs, "function_call", ""},
		{"after tool result", map[string]any{"tools": tools, "extra": []map[string]any{
			{"role": "assistant", "content": nil, "tool_calls": []map[string]any{{"id": "call_1", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": weatherArgs}}}},
			{"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 degrees"}}},
			"", "", "stop", "Mock reply to tool result: sunny, 21 degrees"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs := []any{user}
			if text, ok := tc.body["user_text"]; ok {
				msgs = []any{map[string]any{"role": "user", "content": text}}
				delete(tc.body, "user_text")
			}
			if extra, ok := tc.body["extra"]; ok {
				for _, m := range extra.([]map[string]any) {
					msgs = append(msgs, m)
				}
				delete(tc.body, "extra")
			}
			tc.body["messages"] = msgs
			b := mustOK(t, ts, req{path: "/v1/chat/completions", body: tc.body})
			validate(t, "CreateChatCompletionResponse", b)
			var out chatOut
			decodeInto(t, b, &out)
			m := out.Choices[0].Message
			gotTool, gotArgs := "", ""
			if len(m.ToolCalls) > 0 {
				gotTool, gotArgs = m.ToolCalls[0].Function.Name, m.ToolCalls[0].Function.Arguments
				if !strings.HasPrefix(m.ToolCalls[0].ID, "call_") {
					t.Fatalf("tool call id %q", m.ToolCalls[0].ID)
				}
			}
			if m.FunctionCall != nil {
				gotTool, gotArgs = m.FunctionCall.Name, m.FunctionCall.Arguments
			}
			if gotTool != tc.wantTool || gotArgs != tc.wantArgs || out.Choices[0].FinishReason != tc.wantFinish {
				t.Fatalf("got tool %q args %s finish %q", gotTool, gotArgs, out.Choices[0].FinishReason)
			}
			if tc.wantText != "" && (m.Content == nil || !strings.HasPrefix(*m.Content, tc.wantText)) {
				t.Fatalf("content %v, want prefix %q", m.Content, tc.wantText)
			}

			tc.body["stream"] = true
			tc.body["stream_options"] = map[string]any{"include_usage": true}
			st := collectChat(t, mustOK(t, ts, req{path: "/v1/chat/completions", body: tc.body}), tc.name != "legacy functions")
			if st.toolName != tc.wantTool || st.toolArgs != tc.wantArgs || st.finish != tc.wantFinish {
				t.Fatalf("stream: tool %q args %s finish %q", st.toolName, st.toolArgs, st.finish)
			}
			if tc.wantTool != "" && !json.Valid([]byte(st.toolArgs)) {
				t.Fatalf("streamed args not JSON: %s", st.toolArgs)
			}
			if st.compl != out.Usage.CompletionTokens || st.prompt != out.Usage.PromptTokens {
				t.Fatalf("stream usage %d/%d, non-stream %d/%d", st.prompt, st.compl, out.Usage.PromptTokens, out.Usage.CompletionTokens)
			}
		})
	}
}

func TestChatToolArgumentsStreamInFragments(t *testing.T) {
	_, ts := newServer(t, Options{})
	b := mustOK(t, ts, req{path: "/v1/chat/completions", body: map[string]any{"stream": true,
		"messages": []map[string]any{{"role": "user", "content": "hi"}},
		"tools":    []map[string]any{{"type": "function", "function": map[string]any{"name": "get_weather", "parameters": weatherTool()}}}}})
	evs := parseSSE(t, b)
	var first chunkOut
	decodeInto(t, []byte(evs[0].data), &first)
	tc := first.Choices[0].Delta.ToolCalls
	if len(tc) != 1 || tc[0].ID == "" || tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != "" {
		t.Fatalf("first tool chunk: %s", evs[0].data)
	}
	fragments := 0
	for _, ev := range evs[1 : len(evs)-1] {
		var ch chunkOut
		decodeInto(t, []byte(ev.data), &ch)
		if len(ch.Choices) == 1 && len(ch.Choices[0].Delta.ToolCalls) == 1 {
			fragments++
			if tc := ch.Choices[0].Delta.ToolCalls[0]; tc.ID != "" || tc.Function.Name != "" || tc.Function.Arguments == "" {
				t.Fatalf("argument fragment repeats name/id or is empty: %s", ev.data)
			}
		}
	}
	if fragments != defaultChunks {
		t.Fatalf("%d argument fragments, want %d", fragments, defaultChunks)
	}
}

func TestCompletions(t *testing.T) {
	_, ts := newServer(t, Options{})
	tests := []struct {
		name       string
		prompt     any
		wantPrompt int
	}{
		{"string", "Say this is a test please", len("Say this is a test please") / 4},
		{"strings", []string{"one two", "three four five"}, (7 + 15) / 4},
		{"tokens", []int{1, 2, 3, 4, 5}, 5},
		{"token arrays", [][]int{{1, 2}, {3, 4, 5}}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustOK(t, ts, req{path: "/v1/completions", body: map[string]any{"model": "gpt-3.5-turbo-instruct", "prompt": tc.prompt}})
			validate(t, "CreateCompletionResponse", b)
			var out struct {
				Choices []struct {
					Text string `json:"text"`
				} `json:"choices"`
				Usage struct {
					PromptTokens     int `json:"prompt_tokens"`
					CompletionTokens int `json:"completion_tokens"`
				} `json:"usage"`
			}
			decodeInto(t, b, &out)
			if out.Usage.PromptTokens != tc.wantPrompt || out.Usage.CompletionTokens != len(strings.Fields(out.Choices[0].Text)) {
				t.Fatalf("usage %+v for %q", out.Usage, out.Choices[0].Text)
			}
			sb := mustOK(t, ts, req{path: "/v1/completions", body: map[string]any{"prompt": tc.prompt, "stream": true, "stream_options": map[string]any{"include_usage": true}}})
			evs := parseSSE(t, sb)
			var text string
			var usage map[string]int
			for _, ev := range evs[:len(evs)-1] {
				if !strings.Contains(ev.data, `"finish_reason":null`) {
					// The spec reuses the non-stream schema for chunks, whose
					// finish_reason is not nullable; real streams send null.
					validate(t, "CreateCompletionResponse", []byte(ev.data))
				}
				var ch struct {
					Choices []struct {
						Text string `json:"text"`
					} `json:"choices"`
					Usage map[string]any `json:"usage"`
				}
				decodeInto(t, []byte(ev.data), &ch)
				for _, c := range ch.Choices {
					text += c.Text
				}
				if ch.Usage != nil {
					usage = map[string]int{"prompt": int(ch.Usage["prompt_tokens"].(float64)), "completion": int(ch.Usage["completion_tokens"].(float64))}
				}
			}
			if text != out.Choices[0].Text || usage["prompt"] != out.Usage.PromptTokens || usage["completion"] != out.Usage.CompletionTokens {
				t.Fatalf("stream %q %v, non-stream %q %+v", text, usage, out.Choices[0].Text, out.Usage)
			}
		})
	}
}
