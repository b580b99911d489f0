// Package anthropic holds the Anthropic Messages API wire types and their
// translation to and from the OpenAI chat pivot, non-streaming and streaming.
//
// Chat → Messages (FromChat) decisions:
//   - system and developer messages, wherever they appear, become the
//     top-level system blocks in order; consecutive messages of one role are
//     merged (Messages requires alternation); tool messages become tool_result
//     blocks of a user turn, placed before any user text that follows.
//   - max_tokens is required by Anthropic; when the client sets none,
//     DefaultMaxTokens (4096) is sent. reasoning_effort becomes an extended
//     thinking budget (minimal/low 1024, medium 4096, high 16384) and
//     max_tokens grows by the budget when it would not exceed it, because
//     the budget counts against max_tokens.
//   - temperature above 1 is clamped to 1 (OpenAI's range is 0–2, Anthropic's
//     0–1); temperature together with reasoning_effort is refused, as
//     Anthropic rejects sampling changes while thinking.
//   - response_format json_object/json_schema is refused rather than
//     emulated: an emulation through a forced tool changes the response
//     shape (tool_calls instead of content) in ways clients do not expect.
//   - web_search_options becomes the web_search_20250305 server tool
//     (user_location, and the gateway's filters.allowed_domains that carry
//     a Responses web_search tool's; search_context_size has no equivalent).
//   - Refused with *provider.UnsupportedError: n > 1, logprobs, top_logprobs,
//     logit_bias, audio/modalities, prediction, non-zero
//     presence/frequency penalties, deprecated functions/function_call,
//     allowed_tools tool choice, custom tools, audio and file-id parts.
//   - Ignored hints: seed, store, metadata, service_tier, prompt_cache_key,
//     safety_identifier, verbosity, message names, tool "strict", and
//     reasoning_content of earlier assistant turns (Anthropic needs a
//     signature that chat history does not carry).
//
// Messages → chat (ToChatRequest) decisions: the system prompt becomes one
// system message; a system message inside messages[] (Claude Code sends
// them) stays a system message at its place, except that the tool results
// of the next user turn move before it, as chat needs them right after the
// calls; thinking becomes reasoning_effort (budget < 2048 low,
// < 8192 medium, else high) and moves the limit to max_completion_tokens
// (reasoning models reject max_tokens); streaming requests ask for
// stream_options.include_usage so message_delta can carry usage; is_error
// tool results are prefixed "Error: "; thinking blocks of earlier turns and
// cache_control are dropped (ToChatRequestSigned keeps signed thinking, as
// the pivot's reasoning_blocks, for Bedrock, which serves Claude too). top_k, server tools (unless the channel drops
// them: DropServerTools), MCP servers, containers and images inside tool
// results are refused.
package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
)

// DefaultMaxTokens is sent when a chat request sets no output limit.
const DefaultMaxTokens = 4096

// MessagesRequest is a Messages API request.
type MessagesRequest struct {
	Model         string          `json:"model"`
	System        Blocks          `json:"system,omitzero"`
	Messages      []MessageParam  `json:"messages"`
	MaxTokens     int             `json:"max_tokens"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int            `json:"top_k,omitempty"`
	Tools         []Tool          `json:"tools,omitempty"`
	ToolChoice    *ToolChoice     `json:"tool_choice,omitempty"`
	Metadata      *Metadata       `json:"metadata,omitempty"`
	Thinking      *Thinking       `json:"thinking,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	ServiceTier   string          `json:"service_tier,omitempty"`
	MCPServers    json.RawMessage `json:"mcp_servers,omitempty"`
	Container     json.RawMessage `json:"container,omitempty"`
}

// MessageParam is one turn of a request.
type MessageParam struct {
	Role    string `json:"role"` // user | assistant | system (mid-conversation)
	Content Blocks `json:"content"`
}

// Blocks is content given as a plain string or as an array of blocks.
type Blocks struct {
	Text     string
	Blocks   []Block
	IsString bool
	IsObject bool // one block given as an object (web_search_tool_result_error)
}

// TextBlocks returns string-form content.
func TextBlocks(s string) Blocks { return Blocks{Text: s, IsString: true} }

// IsZero lets omitzero drop an absent system prompt.
func (b Blocks) IsZero() bool { return !b.IsString && b.Blocks == nil }

// MarshalJSON writes the string or the array form.
func (b Blocks) MarshalJSON() ([]byte, error) {
	if b.IsString {
		return json.Marshal(b.Text)
	}
	if b.IsObject && len(b.Blocks) == 1 {
		return json.Marshal(b.Blocks[0])
	}
	if b.Blocks == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(b.Blocks)
}

// UnmarshalJSON accepts a string or an array of blocks.
func (b *Blocks) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		*b = Blocks{IsString: true}
		return json.Unmarshal(data, &b.Text)
	}
	if len(data) > 0 && data[0] == '[' {
		*b = Blocks{Blocks: []Block{}}
		return json.Unmarshal(data, &b.Blocks)
	}
	if len(data) > 0 && data[0] == '{' {
		// a web_search_tool_result's content is an error object when the
		// search failed
		*b = Blocks{Blocks: []Block{{}}, IsObject: true}
		return json.Unmarshal(data, &b.Blocks[0])
	}
	return errors.New("content: must be a string or an array of blocks")
}

// Block types.
const (
	BlockText             = "text"
	BlockImage            = "image"
	BlockDocument         = "document"
	BlockToolUse          = "tool_use"
	BlockToolResult       = "tool_result"
	BlockThinking         = "thinking"
	BlockRedactedThinking = "redacted_thinking"
	BlockServerToolUse    = "server_tool_use"
	BlockWebSearchResult  = "web_search_tool_result"
)

// Block is one content block; which fields apply depends on Type.
type Block struct {
	Type string `json:"type"`

	Text string `json:"text,omitempty"` // text

	Source *Source `json:"source,omitempty"` // image, document
	Title  string  `json:"title,omitempty"`  // document

	ID    string          `json:"id,omitempty"` // tool_use
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`

	ToolUseID string  `json:"tool_use_id,omitempty"` // tool_result
	Content   *Blocks `json:"content,omitempty"`
	IsError   bool    `json:"is_error,omitempty"`

	Thinking  string `json:"thinking,omitempty"` // thinking
	Signature string `json:"signature,omitempty"`
	Data      string `json:"data,omitempty"` // redacted_thinking

	CacheControl json.RawMessage `json:"cache_control,omitempty"`
	Citations    []Citation      `json:"citations,omitempty"`

	URL              string `json:"url,omitempty"` // web_search_result
	PageAge          string `json:"page_age,omitempty"`
	EncryptedContent string `json:"encrypted_content,omitempty"`
	ErrorCode        string `json:"error_code,omitempty"` // web_search_tool_result_error
}

// Citation is one citation of a text block. Only web search citations
// (web_search_result_location) are read; the others keep their members
// in Raw.
type Citation struct {
	Type           string          `json:"type"`
	URL            string          `json:"url,omitempty"`
	Title          string          `json:"title,omitempty"`
	CitedText      string          `json:"cited_text,omitempty"`
	EncryptedIndex string          `json:"encrypted_index,omitempty"`
	Raw            json.RawMessage `json:"-"`
}

// MarshalJSON writes a citation as it came.
func (c Citation) MarshalJSON() ([]byte, error) {
	if len(c.Raw) > 0 {
		return c.Raw, nil
	}
	type plain Citation
	return json.Marshal(plain(c))
}

// UnmarshalJSON keeps the raw citation besides the members it reads.
func (c *Citation) UnmarshalJSON(b []byte) error {
	type plain Citation
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*c = Citation(p)
	c.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// Source is where an image or document comes from.
type Source struct {
	Type      string `json:"type"` // base64 | url | text | file
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
	FileID    string `json:"file_id,omitempty"`
}

// Tool is a tool definition. Client tools have no Type (or "custom");
// anything else is a server tool (web_search_…, bash_…).
type Tool struct {
	Type         string          `json:"type,omitempty"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`

	// web_search_20250305
	MaxUses        *int          `json:"max_uses,omitempty"`
	AllowedDomains []string      `json:"allowed_domains,omitempty"`
	UserLocation   *UserLocation `json:"user_location,omitempty"`
}

// WebSearchTool is the type of Anthropic's web search server tool.
const WebSearchTool = "web_search_20250305"

// UserLocation is a web search's approximate user location.
type UserLocation struct {
	Type     string `json:"type"` // "approximate"
	City     string `json:"city,omitempty"`
	Region   string `json:"region,omitempty"`
	Country  string `json:"country,omitempty"`
	Timezone string `json:"timezone,omitempty"`
}

// ToolChoice is {type: auto|any|tool|none}.
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// Metadata is request metadata.
type Metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// Thinking configures extended thinking.
type Thinking struct {
	Type         string `json:"type"` // enabled | disabled
	BudgetTokens int    `json:"budget_tokens,omitempty"`
}

// Stop reasons.
const (
	StopEndTurn      = "end_turn"
	StopMaxTokens    = "max_tokens"
	StopSequence     = "stop_sequence"
	StopToolUse      = "tool_use"
	StopPauseTurn    = "pause_turn"
	StopRefusal      = "refusal"
	StopContextLimit = "model_context_window_exceeded"
)

// Message is a Messages API response (and the message of message_start).
type Message struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"` // "message"
	Role         string  `json:"role"` // "assistant"
	Content      []Block `json:"content"`
	Model        string  `json:"model"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

// Usage is token usage. InputTokens excludes cached tokens.
type Usage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	// ServerToolUse counts the server tools' billed uses (web searches).
	ServerToolUse *ServerToolUse `json:"server_tool_use,omitempty"`
}

// ServerToolUse is usage.server_tool_use.
type ServerToolUse struct {
	WebSearchRequests int `json:"web_search_requests"`
}

// StreamEvent is the data of any streaming event; Type tells which fields
// apply.
type StreamEvent struct {
	Type         string       `json:"type"`
	Message      *Message     `json:"message,omitempty"`       // message_start
	Index        int          `json:"index"`                   // content_block_*
	ContentBlock *Block       `json:"content_block,omitempty"` // content_block_start
	Delta        *StreamDelta `json:"delta,omitempty"`         // content_block_delta, message_delta
	Usage        *Usage       `json:"usage,omitempty"`         // message_delta (cumulative)
	Error        *ErrorBody   `json:"error,omitempty"`         // error
}

// StreamDelta is the delta of content_block_delta or message_delta.
type StreamDelta struct {
	Type         string    `json:"type,omitempty"`
	Text         string    `json:"text,omitempty"`
	PartialJSON  string    `json:"partial_json,omitempty"`
	Thinking     string    `json:"thinking,omitempty"`
	Signature    string    `json:"signature,omitempty"`
	Citation     *Citation `json:"citation,omitempty"` // citations_delta
	StopReason   string    `json:"stop_reason,omitempty"`
	StopSequence *string   `json:"stop_sequence,omitempty"`
}

// ErrorBody is the error of an error event.
type ErrorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// MarshalJSON keeps the members the SDKs treat as required even when empty
// (text of a text block, thinking and signature of a thinking block), which
// the omitempty tags of the shared struct would drop.
func (b Block) MarshalJSON() ([]byte, error) {
	type plain Block
	switch b.Type {
	case BlockText:
		return json.Marshal(struct {
			Type         string          `json:"type"`
			Text         string          `json:"text"`
			Citations    []Citation      `json:"citations,omitempty"`
			CacheControl json.RawMessage `json:"cache_control,omitempty"`
		}{b.Type, b.Text, b.Citations, b.CacheControl})
	case BlockThinking:
		return json.Marshal(struct {
			Type      string `json:"type"`
			Thinking  string `json:"thinking"`
			Signature string `json:"signature"`
		}{b.Type, b.Thinking, b.Signature})
	}
	return json.Marshal(plain(b))
}
