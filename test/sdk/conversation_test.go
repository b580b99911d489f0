package sdk

import (
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
)

// TestConversations: a second turn after the assistant's first answer, with
// a leading system prompt (chat), instructions (Responses) or top-level
// system (messages), on every channel type: the reply answers the newest
// user text, and the history counts in the prompt tokens.
func TestConversations(t *testing.T) {
	g := startGateway(t)
	oc, ac := g.openai(testKey), g.anthropic(testKey)
	const system = "You are a terse assistant."
	for _, ct := range channelTypes {
		t.Run(ct.typ, func(t *testing.T) {
			ctx := testContext(t)
			first, second := prompt(ct, "turn one"), prompt(ct, "turn two")

			t.Run("chat", func(t *testing.T) {
				msgs := []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(system), openai.UserMessage(first)}
				r1, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: ct.chat, Messages: msgs})
				if err != nil {
					t.Fatalf("turn one: %v", err)
				}
				msgs = append(msgs, r1.Choices[0].Message.ToParam(), openai.UserMessage(second))
				r2, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: ct.chat, Messages: msgs})
				if err != nil {
					t.Fatalf("turn two: %v", err)
				}
				if got := r2.Choices[0].Message.Content; !strings.HasPrefix(got, mockReply(second)) {
					t.Errorf("turn two: %q, want the mock's reply to %q", got, second)
				}
				if r2.Usage.PromptTokens <= r1.Usage.PromptTokens {
					t.Errorf("prompt tokens %d in turn two, %d in turn one: the history did not count", r2.Usage.PromptTokens, r1.Usage.PromptTokens)
				}
			})

			t.Run("responses", func(t *testing.T) {
				input := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage(first, responses.EasyInputMessageRoleUser)}
				params := responses.ResponseNewParams{Model: ct.chat, Instructions: openai.String(system),
					Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input}}
				r1, err := oc.Responses.New(ctx, params)
				if err != nil {
					t.Fatalf("turn one: %v", err)
				}
				input = append(input,
					responses.ResponseInputItemParamOfMessage(r1.OutputText(), responses.EasyInputMessageRoleAssistant),
					responses.ResponseInputItemParamOfMessage(second, responses.EasyInputMessageRoleUser))
				params.Input.OfInputItemList = input
				r2, err := oc.Responses.New(ctx, params)
				if err != nil {
					t.Fatalf("turn two: %v", err)
				}
				if got := r2.OutputText(); !strings.HasPrefix(got, mockReply(second)) {
					t.Errorf("turn two: %q, want the mock's reply to %q", got, second)
				}
				if r2.Usage.InputTokens <= r1.Usage.InputTokens {
					t.Errorf("input tokens %d in turn two, %d in turn one: the history did not count", r2.Usage.InputTokens, r1.Usage.InputTokens)
				}
			})

			t.Run("messages", func(t *testing.T) {
				params := anthropic.MessageNewParams{Model: anthropic.Model(ct.chat), MaxTokens: 128,
					System: []anthropic.TextBlockParam{{Text: system}}, Messages: userMessages(first)}
				m1, err := ac.Messages.New(ctx, params)
				if err != nil {
					t.Fatalf("turn one: %v", err)
				}
				params.Messages = append(params.Messages, m1.ToParam(), anthropic.NewUserMessage(anthropic.NewTextBlock(second)))
				m2, err := ac.Messages.New(ctx, params)
				if err != nil {
					t.Fatalf("turn two: %v", err)
				}
				if len(m2.Content) != 1 || !strings.HasPrefix(m2.Content[0].Text, mockReply(second)) {
					t.Errorf("turn two: %s, want the mock's reply to %q", m2.RawJSON(), second)
				}
				if m2.Usage.InputTokens <= m1.Usage.InputTokens {
					t.Errorf("input tokens %d in turn two, %d in turn one: the history did not count", m2.Usage.InputTokens, m1.Usage.InputTokens)
				}
			})
		})
	}
}
