// Package openai holds the OpenAI wire types that serve as the pivot of every
// cross-format translation (chat completions), and the translation between
// the Responses API and chat completions.
//
// The structs decode the fields a translator needs and a few it must notice
// in order to refuse them (n, logprobs, audio, ...). Fields the structs do not
// declare are not decoded; same-format traffic is relayed as raw bytes and
// never passes through here, so only cross-format requests are affected, and
// for those an undeclared field is one no other upstream could honour anyway.
//
// Union-typed fields (content as string or parts, stop as string or list,
// tool_choice as string or object) have custom JSON methods that remember
// which form arrived, so a decoded request marshals back to the same shape.
package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/switchyard/switchyard/internal/provider"
)

// ChatRequest is a chat completions request.
type ChatRequest struct {
	Model               string            `json:"model"`
	Messages            []ChatMessage     `json:"messages"`
	Tools               []Tool            `json:"tools,omitempty"`
	ToolChoice          *ToolChoice       `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool             `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *ResponseFormat   `json:"response_format,omitempty"`
	Temperature         *float64          `json:"temperature,omitempty"`
	TopP                *float64          `json:"top_p,omitempty"`
	MaxTokens           *int              `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int              `json:"max_completion_tokens,omitempty"`
	Stop                StringList        `json:"stop,omitempty"`
	N                   *int              `json:"n,omitempty"`
	Stream              bool              `json:"stream,omitempty"`
	StreamOptions       *StreamOptions    `json:"stream_options,omitempty"`
	ReasoningEffort     string            `json:"reasoning_effort,omitempty"`
	User                string            `json:"user,omitempty"`
	Seed                *int64            `json:"seed,omitempty"`
	PresencePenalty     *float64          `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64          `json:"frequency_penalty,omitempty"`
	Logprobs            bool              `json:"logprobs,omitempty"`
	TopLogprobs         *int              `json:"top_logprobs,omitempty"`
	LogitBias           map[string]int    `json:"logit_bias,omitempty"`
	Modalities          []string          `json:"modalities,omitempty"`
	Audio               json.RawMessage   `json:"audio,omitempty"`
	Prediction          json.RawMessage   `json:"prediction,omitempty"`
	WebSearchOptions    *WebSearchOptions `json:"web_search_options,omitempty"`
	Functions           json.RawMessage   `json:"functions,omitempty"`     // deprecated form of tools
	FunctionCall        json.RawMessage   `json:"function_call,omitempty"` // deprecated form of tool_choice
	Metadata            map[string]string `json:"metadata,omitempty"`
	Store               *bool             `json:"store,omitempty"`
	ServiceTier         string            `json:"service_tier,omitempty"`
	PromptCacheKey      string            `json:"prompt_cache_key,omitempty"`
	SafetyIdentifier    string            `json:"safety_identifier,omitempty"`
	Verbosity           string            `json:"verbosity,omitempty"`
}

// MaxOutputTokens returns max_completion_tokens, else max_tokens, else 0.
func (r *ChatRequest) MaxOutputTokens() int {
	if r.MaxCompletionTokens != nil {
		return *r.MaxCompletionTokens
	}
	if r.MaxTokens != nil {
		return *r.MaxTokens
	}
	return 0
}

// ChatMessage is one message of a request, or the message of a response choice.
type ChatMessage struct {
	Role             string          `json:"role"`
	Content          Content         `json:"content,omitzero"`
	Name             string          `json:"name,omitempty"`
	ToolCalls        []ToolCall      `json:"tool_calls,omitempty"`
	ToolCallID       string          `json:"tool_call_id,omitempty"`
	Refusal          *string         `json:"refusal,omitempty"`
	ReasoningContent string          `json:"reasoning_content,omitempty"`
	Audio            json.RawMessage `json:"audio,omitempty"`
	FunctionCall     json.RawMessage `json:"function_call,omitempty"` // deprecated
	Annotations      []Annotation    `json:"annotations,omitempty"`   // url citations of a web search
	// WebSearchCalls is not OpenAI's: the searches an upstream ran for
	// web_search_options, which ChatToResponse makes web_search_call items.
	WebSearchCalls []WebSearchCall `json:"web_search_calls,omitempty"`
	// ReasoningBlocks is not OpenAI's: an assistant turn's signed
	// reasoning (Anthropic thinking with its signature, or redacted
	// thinking), which Bedrock must be sent back unchanged in later turns.
	// Only surfaces that can hand it back to the client (Messages,
	// Responses) ask for it: see relay.ChatCall.SignedReasoning.
	ReasoningBlocks []ReasoningBlock `json:"reasoning_blocks,omitempty"`
}

// ReasoningBlock is one block of signed reasoning: Text with its
// Signature, or Redacted, the provider's encrypted reasoning (base64).
type ReasoningBlock struct {
	Text      string `json:"text,omitempty"`
	Signature string `json:"signature,omitempty"`
	Redacted  string `json:"redacted,omitempty"`
}

// Annotation is a chat message annotation: a url_citation.
type Annotation struct {
	Type        string      `json:"type"` // "url_citation"
	URLCitation URLCitation `json:"url_citation"`
}

// URLCitation is a cited span of the message text, in characters (Unicode
// code points), end exclusive.
type URLCitation struct {
	StartIndex int    `json:"start_index"`
	EndIndex   int    `json:"end_index"`
	URL        string `json:"url"`
	Title      string `json:"title"`
}

// WebSearchCall is one web search an upstream ran.
type WebSearchCall struct {
	ID      string   `json:"id"`
	Query   string   `json:"query"`
	Sources []string `json:"sources,omitempty"` // result URLs
	Failed  bool     `json:"failed,omitempty"`
}

// Content is a message's content: a plain string, an array of parts, or null.
// The zero value is "absent" and is omitted by omitzero.
type Content struct {
	Text  string        // the string form, or "" when Parts is used
	Parts []ContentPart // the array form
	Kind  ContentKind
}

// ContentKind tells which JSON form a Content has.
type ContentKind uint8

// The forms of Content.
const (
	ContentAbsent ContentKind = iota
	ContentNull
	ContentString
	ContentParts
)

// TextContent returns string-form content.
func TextContent(s string) Content { return Content{Text: s, Kind: ContentString} }

// PartsContent returns array-form content.
func PartsContent(p []ContentPart) Content { return Content{Parts: p, Kind: ContentParts} }

// IsZero makes omitzero omit absent content.
func (c Content) IsZero() bool { return c.Kind == ContentAbsent }

// MarshalJSON writes the form the content was built or decoded with.
func (c Content) MarshalJSON() ([]byte, error) {
	switch c.Kind {
	case ContentString:
		return json.Marshal(c.Text)
	case ContentParts:
		if c.Parts == nil {
			return []byte("[]"), nil
		}
		return json.Marshal(c.Parts)
	default:
		return []byte("null"), nil
	}
}

// UnmarshalJSON accepts a string, an array of parts or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errors.New("content: empty value")
	case b[0] == '"':
		*c = Content{Kind: ContentString}
		return json.Unmarshal(b, &c.Text)
	case b[0] == '[':
		*c = Content{Kind: ContentParts, Parts: []ContentPart{}}
		return json.Unmarshal(b, &c.Parts)
	case bytes.Equal(b, []byte("null")):
		*c = Content{Kind: ContentNull}
		return nil
	}
	return errors.New("content: must be a string, an array of parts or null")
}

// JoinText returns the string form, or the text parts joined with "\n"
// (other parts are skipped), which is how single-string targets read it.
func (c Content) JoinText() string {
	if c.Kind != ContentParts {
		return c.Text
	}
	if len(c.Parts) == 1 && c.Parts[0].Type == PartText {
		return c.Parts[0].Text
	}
	var b []byte
	for _, p := range c.Parts {
		if p.Type != PartText {
			continue
		}
		if len(b) > 0 {
			b = append(b, '\n')
		}
		b = append(b, p.Text...)
	}
	return string(b)
}

// Content part types.
const (
	PartText       = "text"
	PartImageURL   = "image_url"
	PartInputAudio = "input_audio"
	PartFile       = "file"
	PartRefusal    = "refusal"
)

// ContentPart is one element of array-form content.
type ContentPart struct {
	Type       string          `json:"type"`
	Text       string          `json:"text,omitempty"`
	ImageURL   *ImageURL       `json:"image_url,omitempty"`
	InputAudio json.RawMessage `json:"input_audio,omitempty"`
	File       json.RawMessage `json:"file,omitempty"`
	Refusal    string          `json:"refusal,omitempty"`
}

// ImageURL is an image part: an http(s) URL or a data: URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// ToolCall is a complete tool call in a message.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall names a function and carries its arguments as a JSON string.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Tool is a tool definition.
type Tool struct {
	Type     string          `json:"type"` // "function"; "custom" is refused by translators
	Function FunctionDef     `json:"function,omitzero"`
	Custom   json.RawMessage `json:"custom,omitempty"`
}

// FunctionDef describes a callable function.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Tool choice modes (the string form).
const (
	ToolChoiceNone     = "none"
	ToolChoiceAuto     = "auto"
	ToolChoiceRequired = "required"
)

// ToolChoice is "none" | "auto" | "required" or an object naming a function.
// Other object forms (allowed_tools, custom) keep their raw JSON in Raw.
type ToolChoice struct {
	Mode     string // the string form
	Type     string // the object form's "type"
	Function string // the named function, for type "function"
	Raw      json.RawMessage
}

// MarshalJSON writes the string form when Mode is set, else the object.
func (t ToolChoice) MarshalJSON() ([]byte, error) {
	switch {
	case t.Mode != "":
		return json.Marshal(t.Mode)
	case t.Type == "function":
		return json.Marshal(toolChoiceObject{Type: "function", Function: &struct {
			Name string `json:"name"`
		}{t.Function}})
	case len(t.Raw) > 0:
		return t.Raw, nil
	}
	return []byte("null"), nil
}

type toolChoiceObject struct {
	Type     string `json:"type"`
	Function *struct {
		Name string `json:"name"`
	} `json:"function,omitempty"`
}

// UnmarshalJSON accepts both forms.
func (t *ToolChoice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*t = ToolChoice{}
		return json.Unmarshal(b, &t.Mode)
	}
	var o toolChoiceObject
	if err := json.Unmarshal(b, &o); err != nil {
		return fmt.Errorf("tool_choice: %w", err)
	}
	*t = ToolChoice{Type: o.Type}
	if o.Function != nil {
		t.Function = o.Function.Name
	}
	if o.Type != "function" {
		t.Raw = append(json.RawMessage(nil), b...)
	}
	return nil
}

// ResponseFormat is response_format: text, json_object or json_schema.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is the json_schema member of a response format.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// StreamOptions are the stream_options of a streaming request.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage,omitempty"`
}

// StringList is a field that may be a string or an array of strings (stop).
type StringList []string

// UnmarshalJSON accepts a string, an array of strings or null.
func (s *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = StringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("must be a string or an array of strings")
	}
	*s = many
	return nil
}

// WebSearchOptions is chat's web_search_options. Filters is not OpenAI's:
// it carries a Responses web_search tool's allowed domains to an adapter
// that can search (anthropic).
type WebSearchOptions struct {
	SearchContextSize string            `json:"search_context_size,omitempty"`
	UserLocation      *ChatUserLocation `json:"user_location,omitempty"`
	Filters           *WebSearchFilters `json:"filters,omitempty"`
}

// ChatUserLocation is web_search_options.user_location.
type ChatUserLocation struct {
	Type        string       `json:"type"` // "approximate"
	Approximate UserLocation `json:"approximate"`
}

// RejectNonPortable refuses the chat fields no other upstream type can
// carry, so a translator never drops them silently; translators add their
// own checks for what only their target lacks. web_search_options is
// refused unless webSearch (the target runs a search of its own).
func RejectNonPortable(req *ChatRequest, webSearch bool) error {
	switch {
	case req.Logprobs || req.TopLogprobs != nil:
		return provider.Unsupported("logprobs", "")
	case len(req.LogitBias) > 0:
		return provider.Unsupported("logit_bias", "")
	case len(req.Audio) > 0 || slices.Contains(req.Modalities, "audio"):
		return provider.Unsupported("audio", "audio output")
	case len(req.Prediction) > 0:
		return provider.Unsupported("prediction", "")
	case req.WebSearchOptions != nil && !webSearch:
		return provider.Unsupported("web_search_options", "")
	case len(req.Functions) > 0 || len(req.FunctionCall) > 0:
		return provider.Unsupported("functions", "use tools instead of the deprecated functions")
	}
	return nil
}
