package anthropic

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/switchyard/switchyard/internal/provider/openai"
)

// now is the clock for the "created" field; tests pin it.
var now = time.Now

// ToChatResponse translates a Messages response into a chat completion. model
// is the name the client asked for ("" keeps the upstream's).
func ToChatResponse(msg *Message, model string) *openai.ChatResponse {
	if model == "" {
		model = msg.Model
	}
	var text, reasoning []byte
	var calls []openai.ToolCall
	for i := range msg.Content {
		b := &msg.Content[i]
		switch b.Type {
		case BlockText:
			text = append(text, b.Text...)
		case BlockThinking:
			reasoning = append(reasoning, b.Thinking...)
		case BlockToolUse:
			calls = append(calls, openai.ToolCall{
				ID:       b.ID,
				Type:     "function",
				Function: openai.FunctionCall{Name: b.Name, Arguments: compactJSON(b.Input)},
			})
		}
	}
	out := openai.ChatMessage{Role: "assistant", ToolCalls: calls, ReasoningContent: string(reasoning)}
	switch {
	case len(text) > 0:
		out.Content = openai.TextContent(string(text))
	case len(calls) > 0:
		out.Content = openai.Content{Kind: openai.ContentNull}
	default:
		out.Content = openai.TextContent("")
	}
	reason := ""
	if msg.StopReason != nil {
		reason = *msg.StopReason
	}
	usage := chatUsage(msg.Usage)
	return &openai.ChatResponse{
		ID:      msg.ID,
		Object:  "chat.completion",
		Created: now().Unix(),
		Model:   model,
		Choices: []openai.ChatChoice{{Message: out, FinishReason: FinishReason(reason, len(calls) > 0)}},
		Usage:   &usage,
	}
}

// FinishReason maps an Anthropic stop reason to a chat finish reason.
func FinishReason(stop string, hasToolCalls bool) string {
	switch stop {
	case StopMaxTokens, StopContextLimit:
		return openai.FinishLength
	case StopToolUse:
		return openai.FinishToolCalls
	case StopRefusal:
		return openai.FinishContentFilter
	}
	if hasToolCalls {
		return openai.FinishToolCalls
	}
	return openai.FinishStop
}

// chatUsage converts usage: Anthropic's input_tokens exclude cache reads and
// writes, OpenAI's prompt_tokens include them.
func chatUsage(u Usage) openai.Usage {
	prompt := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	return openai.Usage{
		PromptTokens:        prompt,
		CompletionTokens:    u.OutputTokens,
		TotalTokens:         prompt + u.OutputTokens,
		PromptTokensDetails: openai.PromptTokensDetails{CachedTokens: u.CacheReadInputTokens},
	}
}

func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}
