package openai

import "encoding/json"

// Finish reasons of a chat choice.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
)

// ChatResponse is a non-streaming chat completion.
type ChatResponse struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"` // "chat.completion"
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	Choices           []ChatChoice `json:"choices"`
	Usage             *Usage       `json:"usage,omitempty"`
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	ServiceTier       string       `json:"service_tier,omitempty"`
}

// ChatChoice is one choice of a ChatResponse.
type ChatChoice struct {
	Index        int             `json:"index"`
	Message      ChatMessage     `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// Usage is token usage, as in responses and the final stream chunk.
type Usage struct {
	PromptTokens            int                     `json:"prompt_tokens"`
	CompletionTokens        int                     `json:"completion_tokens"`
	TotalTokens             int                     `json:"total_tokens"`
	PromptTokensDetails     PromptTokensDetails     `json:"prompt_tokens_details,omitzero"`
	CompletionTokensDetails CompletionTokensDetails `json:"completion_tokens_details,omitzero"`
	// WebSearches is not OpenAI's: the web searches an upstream billed
	// (Anthropic's usage.server_tool_use.web_search_requests).
	WebSearches int `json:"web_search_requests,omitempty"`
}

// PromptTokensDetails breaks down prompt tokens.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens,omitempty"`
}

// CompletionTokensDetails breaks down completion tokens.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
	AudioTokens     int `json:"audio_tokens,omitempty"`
}

// ChatChunk is one chunk of a streaming chat completion.
type ChatChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"` // "chat.completion.chunk"
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
}

// ChunkChoice is one choice of a ChatChunk.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	FinishReason *string         `json:"finish_reason"` // null until the last chunk
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// Delta is the incremental message of a chunk.
type Delta struct {
	Role             string          `json:"role,omitempty"`
	Content          *string         `json:"content,omitempty"`
	ReasoningContent *string         `json:"reasoning_content,omitempty"`
	Refusal          *string         `json:"refusal,omitempty"`
	ToolCalls        []ToolCallDelta `json:"tool_calls,omitempty"`
	Annotations      []Annotation    `json:"annotations,omitempty"`
	WebSearchCalls   []WebSearchCall `json:"web_search_calls,omitempty"` // see ChatMessage
	// ReasoningSignature ends the reasoning streamed so far with its
	// signature; ReasoningRedacted is a whole redacted reasoning block.
	// Neither is OpenAI's: see ChatMessage.ReasoningBlocks.
	ReasoningSignature *string `json:"reasoning_signature,omitempty"`
	ReasoningRedacted  *string `json:"reasoning_redacted,omitempty"`
}

// ToolCallDelta is a fragment of a tool call in a chunk. The first fragment
// of a call carries ID, Type and Function.Name; later ones only arguments.
type ToolCallDelta struct {
	Index    int               `json:"index"`
	ID       string            `json:"id,omitempty"`
	Type     string            `json:"type,omitempty"`
	Function FunctionCallDelta `json:"function"`
}

// FunctionCallDelta is the function part of a ToolCallDelta.
type FunctionCallDelta struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// FinishReasonPtr returns a pointer to a shared copy of a known finish
// reason, so stream translators do not allocate one per chunk.
func FinishReasonPtr(reason string) *string {
	switch reason {
	case FinishStop:
		return &finishStop
	case FinishLength:
		return &finishLength
	case FinishToolCalls:
		return &finishToolCalls
	case FinishContentFilter:
		return &finishContentFilter
	}
	return &reason
}

var (
	finishStop          = FinishStop
	finishLength        = FinishLength
	finishToolCalls     = FinishToolCalls
	finishContentFilter = FinishContentFilter
)

// MarshalJSON writes the members a response choice always carries, null
// when empty (refusal, logprobs), which request-side omitempty tags drop.
func (c ChatChoice) MarshalJSON() ([]byte, error) {
	logprobs := c.Logprobs
	if len(logprobs) == 0 {
		logprobs = json.RawMessage("null")
	}
	return json.Marshal(struct {
		Index   int `json:"index"`
		Message struct {
			ChatMessage
			Refusal *string `json:"refusal"`
		} `json:"message"`
		FinishReason string          `json:"finish_reason"`
		Logprobs     json.RawMessage `json:"logprobs"`
	}{c.Index, struct {
		ChatMessage
		Refusal *string `json:"refusal"`
	}{c.Message, c.Message.Refusal}, c.FinishReason, logprobs})
}
