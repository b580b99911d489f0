package sdk

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
)

// The Anthropic SDK over every channel type: passed through to the
// anthropic channel, translated for openai, azure and gemini.

func userMessages(text string) []anthropic.MessageParam {
	return []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))}
}

func checkMessageUsage(t *testing.T, u anthropic.Usage) {
	t.Helper()
	if u.InputTokens <= 0 || u.OutputTokens <= 0 {
		t.Errorf("usage input %d output %d: want both > 0", u.InputTokens, u.OutputTokens)
	}
}

// TestAnthropicMessages: a message and its stream, put together by the
// SDK's Message.Accumulate, carry the mock's text, stop reason and the
// same usage on every channel type.
func TestAnthropicMessages(t *testing.T) {
	g := startGateway(t)
	c := g.anthropic(testKey)
	for _, ct := range channelTypes {
		t.Run(ct.typ, func(t *testing.T) {
			ctx := testContext(t)
			text := prompt(ct, "messages")
			params := anthropic.MessageNewParams{Model: anthropic.Model(ct.chat), MaxTokens: 256, Messages: userMessages(text)}
			msg, err := c.Messages.New(ctx, params)
			if err != nil {
				t.Fatalf("messages: %v", err)
			}
			if len(msg.Content) != 1 || msg.Content[0].Type != "text" {
				t.Fatalf("content %s, want one text block", msg.RawJSON())
			}
			got := msg.Content[0].Text
			if !strings.HasPrefix(got, mockReply(text)) {
				t.Errorf("text %q, want the mock's reply to %q", got, text)
			}
			if msg.StopReason != anthropic.StopReasonEndTurn || msg.Role != "assistant" || msg.Type != "message" || msg.ID == "" {
				t.Errorf("stop_reason %q role %q type %q id %q, want end_turn, assistant, message, an id",
					msg.StopReason, msg.Role, msg.Type, msg.ID)
			}
			checkMessageUsage(t, msg.Usage)

			stream := c.Messages.NewStreaming(ctx, params)
			var acc anthropic.Message
			var types []string
			for stream.Next() {
				ev := stream.Current()
				types = append(types, ev.Type)
				if err := acc.Accumulate(ev); err != nil {
					t.Fatalf("accumulate %s: %v", ev.RawJSON(), err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("messages stream: %v", err)
			}
			if len(types) < 4 || types[0] != "message_start" || types[len(types)-1] != "message_stop" {
				t.Errorf("events %v, want message_start … message_stop", types)
			}
			if len(acc.Content) != 1 || acc.Content[0].Text != got {
				t.Errorf("stream content %+v, want the one text block %q", acc.Content, got)
			}
			if acc.StopReason != anthropic.StopReasonEndTurn {
				t.Errorf("stream stop_reason %q, want end_turn", acc.StopReason)
			}
			checkMessageUsage(t, acc.Usage)
			if acc.Usage.InputTokens != msg.Usage.InputTokens || acc.Usage.OutputTokens != msg.Usage.OutputTokens {
				t.Errorf("stream usage %d+%d, non-stream %d+%d: want the same",
					acc.Usage.InputTokens, acc.Usage.OutputTokens, msg.Usage.InputTokens, msg.Usage.OutputTokens)
			}
		})
	}
}

func weatherToolParam() *anthropic.ToolParam {
	return &anthropic.ToolParam{
		Name:        toolName,
		Description: anthropic.String("Current weather in a city"),
		InputSchema: anthropic.ToolInputSchemaParam{
			Properties: weatherSchema["properties"],
			Required:   []string{"city"},
		},
	}
}

// checkToolUse: one tool_use block calling the declared tool with an id
// and the required city.
func checkToolUse(t *testing.T, m anthropic.Message) anthropic.ContentBlockUnion {
	t.Helper()
	var uses []anthropic.ContentBlockUnion
	for _, b := range m.Content {
		if b.Type == "tool_use" {
			uses = append(uses, b)
		}
	}
	if len(uses) != 1 || m.StopReason != anthropic.StopReasonToolUse {
		t.Fatalf("stop_reason %q, %d tool_use blocks: want tool_use, 1 (%+v)", m.StopReason, len(uses), m.Content)
	}
	u := uses[0]
	if u.ID == "" || u.Name != toolName {
		t.Errorf("tool_use id %q name %q, want an id and %s", u.ID, u.Name, toolName)
	}
	checkCityArgs(t, string(u.Input))
	return u
}

// TestAnthropicTools: a request declaring a tool gets a tool_use of it, in
// a message and in a stream (the input_json deltas put together by the
// SDK); the tool_result sent back gets text about that result.
func TestAnthropicTools(t *testing.T) {
	g := startGateway(t)
	c := g.anthropic(testKey)
	for _, ct := range channelTypes {
		t.Run(ct.typ, func(t *testing.T) {
			ctx := testContext(t)
			params := anthropic.MessageNewParams{
				Model: anthropic.Model(ct.chat), MaxTokens: 256, Messages: userMessages(prompt(ct, "tools")),
				Tools: []anthropic.ToolUnionParam{{OfTool: weatherToolParam()}},
			}
			msg, err := c.Messages.New(ctx, params)
			if err != nil {
				t.Fatalf("messages with tools: %v", err)
			}
			use := checkToolUse(t, *msg)
			checkMessageUsage(t, msg.Usage)

			stream := c.Messages.NewStreaming(ctx, params)
			var acc anthropic.Message
			for stream.Next() {
				if err := acc.Accumulate(stream.Current()); err != nil {
					t.Fatalf("accumulate: %v", err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("messages stream with tools: %v", err)
			}
			checkToolUse(t, acc)

			params.Messages = append(params.Messages, msg.ToParam(),
				anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, toolResult, false)))
			msg2, err := c.Messages.New(ctx, params)
			if err != nil {
				t.Fatalf("messages with the tool result: %v", err)
			}
			if len(msg2.Content) != 1 || msg2.Content[0].Type != "text" || !isToolResultReply(ct, msg2.Content[0].Text) {
				t.Errorf("after the tool result: %s, want one text block answering the result", msg2.RawJSON())
			}
			if msg2.StopReason != anthropic.StopReasonEndTurn {
				t.Errorf("after the tool result: stop_reason %q, want end_turn", msg2.StopReason)
			}
			checkMessageUsage(t, msg2.Usage)
		})
	}
}

// TestAnthropicCountTokens: count_tokens answers a positive count on every
// channel type that grows with the prompt (and, where the gateway counts,
// with a declared tool).
func TestAnthropicCountTokens(t *testing.T) {
	g := startGateway(t)
	c := g.anthropic(testKey)
	for _, ct := range channelTypes {
		t.Run(ct.typ, func(t *testing.T) {
			ctx := testContext(t)
			count := func(text string, tools []anthropic.MessageCountTokensToolUnionParam) int64 {
				t.Helper()
				n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{
					Model: anthropic.Model(ct.chat), Messages: userMessages(text), Tools: tools,
				})
				if err != nil {
					t.Fatalf("count_tokens: %v", err)
				}
				return n.InputTokens
			}
			short := count("Hello there", nil)
			long := count(strings.Repeat("Hello there, how are you doing today? ", 50), nil)
			tooled := count("Hello there", []anthropic.MessageCountTokensToolUnionParam{{OfTool: weatherToolParam()}})
			if short <= 0 || long <= short {
				t.Errorf("input_tokens short %d, long %d: want 0 < short < long", short, long)
			}
			// The anthropic channel passes count_tokens through to the
			// mock, which counts message text only; the gateway counts
			// tools too where it translates.
			if ct.typ != "anthropic" && tooled <= short {
				t.Errorf("input_tokens %d with a tool, %d without: want more with", tooled, short)
			}
		})
	}
}

// asAnthropicError unwraps err into the SDK's typed error and checks the
// body is Anthropic's error shape with the same type.
func asAnthropicError(t *testing.T, err error) *anthropic.Error {
	t.Helper()
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not an *anthropic.Error", err, err)
	}
	var body struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(apiErr.RawJSON()), &body) != nil || body.Type != "error" ||
		body.Error.Type != string(apiErr.Type()) || body.Error.Message == "" {
		t.Errorf("body %s is not Anthropic's error shape", apiErr.RawJSON())
	}
	return apiErr
}

// TestAnthropicErrors: the gateway's errors on /v1/messages reach the SDK
// as *anthropic.Error in Anthropic's shape: a bad key, an unknown model,
// an upstream's 400 and a malformed count_tokens on every channel type.
func TestAnthropicErrors(t *testing.T) {
	g := startGateway(t)
	c := g.anthropic(testKey)
	params := func(model, text string) anthropic.MessageNewParams {
		return anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 64, Messages: userMessages(text)}
	}

	t.Run("bad key", func(t *testing.T) {
		bad := g.anthropic(badKey)
		for _, ct := range channelTypes {
			_, err := bad.Messages.New(testContext(t), params(ct.chat, "hi"))
			if e := asAnthropicError(t, err); e.StatusCode != http.StatusUnauthorized || e.Type() != anthropic.ErrorTypeAuthenticationError {
				t.Errorf("%s: status %d type %q, want 401 authentication_error", ct.typ, e.StatusCode, e.Type())
			}
		}
		_, err := bad.Messages.CountTokens(testContext(t), anthropic.MessageCountTokensParams{
			Model: "claude-haiku-4-5", Messages: userMessages("hi")})
		if e := asAnthropicError(t, err); e.StatusCode != http.StatusUnauthorized || e.Type() != anthropic.ErrorTypeAuthenticationError {
			t.Errorf("count_tokens: status %d type %q, want 401 authentication_error", e.StatusCode, e.Type())
		}
	})

	t.Run("unknown model", func(t *testing.T) {
		_, err := c.Messages.New(testContext(t), params("claude-no-such-model", "hi"))
		if e := asAnthropicError(t, err); e.StatusCode != http.StatusNotFound || e.Type() != anthropic.ErrorTypeNotFoundError {
			t.Errorf("status %d type %q, want 404 not_found_error", e.StatusCode, e.Type())
		}
		stream := c.Messages.NewStreaming(testContext(t), params("claude-no-such-model", "hi"))
		for stream.Next() {
			t.Fatalf("event %s from an unknown model", stream.Current().RawJSON())
		}
		if e := asAnthropicError(t, stream.Err()); e.StatusCode != http.StatusNotFound || e.Type() != anthropic.ErrorTypeNotFoundError {
			t.Errorf("stream: status %d type %q, want 404 not_found_error", e.StatusCode, e.Type())
		}
	})

	// An upstream's own 400 (non-stream and before a stream's first byte)
	// and a count_tokens body the gateway cannot read, per channel type.
	t.Run("400", func(t *testing.T) {
		for _, ct := range channelTypes {
			t.Run(ct.typ, func(t *testing.T) {
				_, err := c.Messages.New(testContext(t), params(ct.chat, "bad request [[mock status=400]]"))
				if e := asAnthropicError(t, err); e.StatusCode != http.StatusBadRequest || e.Type() != anthropic.ErrorTypeInvalidRequestError {
					t.Errorf("status %d type %q, want 400 invalid_request_error (%s)", e.StatusCode, e.Type(), e.RawJSON())
				}
				stream := c.Messages.NewStreaming(testContext(t), params(ct.chat, "bad stream [[mock status=400]]"))
				for stream.Next() {
					t.Fatalf("event %s from a refused stream", stream.Current().RawJSON())
				}
				if e := asAnthropicError(t, stream.Err()); e.StatusCode != http.StatusBadRequest || e.Type() != anthropic.ErrorTypeInvalidRequestError {
					t.Errorf("stream: status %d type %q, want 400 invalid_request_error (%s)", e.StatusCode, e.Type(), e.RawJSON())
				}
				_, err = c.Messages.CountTokens(testContext(t), anthropic.MessageCountTokensParams{
					Model: anthropic.Model(ct.chat), Messages: userMessages("x")}, aoption.WithJSONSet("messages", "not a list"))
				if e := asAnthropicError(t, err); e.StatusCode != http.StatusBadRequest || e.Type() != anthropic.ErrorTypeInvalidRequestError {
					t.Errorf("count_tokens with bad messages: status %d type %q, want 400 invalid_request_error (%s)",
						e.StatusCode, e.Type(), e.RawJSON())
				}
			})
		}
	})
}
