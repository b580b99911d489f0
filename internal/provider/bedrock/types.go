package bedrock

import "encoding/json"

// The Converse API's wire types: only the members the translations use.
// Request and response share ContentBlock, as in the API.

// ConverseRequest is the body of POST /model/{modelId}/converse and
// /converse-stream; the model travels in the path.
type ConverseRequest struct {
	Messages                     []Message        `json:"messages"`
	System                       []SystemBlock    `json:"system,omitempty"`
	InferenceConfig              *InferenceConfig `json:"inferenceConfig,omitempty"`
	ToolConfig                   *ToolConfig      `json:"toolConfig,omitempty"`
	AdditionalModelRequestFields json.RawMessage  `json:"additionalModelRequestFields,omitempty"`
}

// Message is one turn; role is "user" or "assistant".
type Message struct {
	Role    string         `json:"role"`
	Content []ContentBlock `json:"content"`
}

// SystemBlock is one system prompt block.
type SystemBlock struct {
	Text string `json:"text"`
}

// ContentBlock is a union: exactly one member is set.
type ContentBlock struct {
	Text             string            `json:"text,omitempty"`
	Image            *ImageBlock       `json:"image,omitempty"`
	Document         *DocumentBlock    `json:"document,omitempty"`
	ToolUse          *ToolUseBlock     `json:"toolUse,omitempty"`
	ToolResult       *ToolResultBlock  `json:"toolResult,omitempty"`
	ReasoningContent *ReasoningContent `json:"reasoningContent,omitempty"`
}

// ImageBlock is an inline image; Bytes is base64 in JSON.
type ImageBlock struct {
	Format string `json:"format"` // png | jpeg | gif | webp
	Source Source `json:"source"`
}

// DocumentBlock is an inline document (pdf, csv, txt, …).
type DocumentBlock struct {
	Format string `json:"format"`
	Name   string `json:"name"`
	Source Source `json:"source"`
}

// Source carries a blob's bytes, base64 in JSON.
type Source struct {
	Bytes string `json:"bytes"`
}

// ToolUseBlock is a tool call by the model.
type ToolUseBlock struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

// ToolResultBlock answers a tool call.
type ToolResultBlock struct {
	ToolUseID string              `json:"toolUseId"`
	Content   []ToolResultContent `json:"content"`
	Status    string              `json:"status,omitempty"` // success | error
}

// ToolResultContent is a union of text and json.
type ToolResultContent struct {
	Text string          `json:"text,omitempty"`
	JSON json.RawMessage `json:"json,omitempty"`
}

// ReasoningContent is a model's reasoning (Anthropic's thinking): a union
// of reasoningText and redactedContent (encrypted reasoning, base64 in
// JSON). A multi-turn conversation sends earlier reasoning back as it came.
type ReasoningContent struct {
	ReasoningText   *ReasoningText `json:"reasoningText,omitempty"`
	RedactedContent string         `json:"redactedContent,omitempty"`
}

// ReasoningText is reasoning with its signature.
type ReasoningText struct {
	Text      string `json:"text"`
	Signature string `json:"signature,omitempty"`
}

// InferenceConfig holds the portable sampling settings.
type InferenceConfig struct {
	MaxTokens     *int     `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

// ToolConfig declares tools and how the model may use them.
type ToolConfig struct {
	Tools      []Tool      `json:"tools"`
	ToolChoice *ToolChoice `json:"toolChoice,omitempty"`
}

// Tool is a union; Converse has only toolSpec for function tools.
type Tool struct {
	ToolSpec ToolSpec `json:"toolSpec"`
}

// ToolSpec is a function tool.
type ToolSpec struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	InputSchema InputSchema `json:"inputSchema"`
}

// InputSchema wraps a JSON schema.
type InputSchema struct {
	JSON json.RawMessage `json:"json"`
}

// ToolChoice is a union of auto, any and tool.
type ToolChoice struct {
	Auto *struct{}     `json:"auto,omitempty"`
	Any  *struct{}     `json:"any,omitempty"`
	Tool *ToolChoiceOf `json:"tool,omitempty"`
}

// ToolChoiceOf names the tool the model must call.
type ToolChoiceOf struct {
	Name string `json:"name"`
}

// ConverseResponse is a Converse answer.
type ConverseResponse struct {
	Output struct {
		Message *Message `json:"message"`
	} `json:"output"`
	StopReason string      `json:"stopReason"`
	Usage      *TokenUsage `json:"usage"`
}

// TokenUsage is Converse's usage; inputTokens leaves out cached tokens.
type TokenUsage struct {
	InputTokens           int `json:"inputTokens"`
	OutputTokens          int `json:"outputTokens"`
	TotalTokens           int `json:"totalTokens"`
	CacheReadInputTokens  int `json:"cacheReadInputTokens,omitempty"`
	CacheWriteInputTokens int `json:"cacheWriteInputTokens,omitempty"`
}

// The payloads of ConverseStream events, by :event-type.

// ContentBlockStartEvent starts a tool use block (text blocks start with
// their first delta).
type ContentBlockStartEvent struct {
	ContentBlockIndex int `json:"contentBlockIndex"`
	Start             struct {
		ToolUse *struct {
			ToolUseID string `json:"toolUseId"`
			Name      string `json:"name"`
		} `json:"toolUse"`
	} `json:"start"`
}

// ContentBlockDeltaEvent is a piece of a block.
type ContentBlockDeltaEvent struct {
	ContentBlockIndex int `json:"contentBlockIndex"`
	Delta             struct {
		Text    *string `json:"text"`
		ToolUse *struct {
			Input string `json:"input"` // a fragment of the JSON arguments
		} `json:"toolUse"`
		ReasoningContent *struct {
			Text            *string `json:"text"`
			Signature       string  `json:"signature"`
			RedactedContent string  `json:"redactedContent"`
		} `json:"reasoningContent"`
	} `json:"delta"`
}

// MessageStopEvent ends the message.
type MessageStopEvent struct {
	StopReason string `json:"stopReason"`
}

// MetadataEvent carries usage, after messageStop.
type MetadataEvent struct {
	Usage *TokenUsage `json:"usage"`
}
