package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/provider"
)

// The Responses API reaches a non-OpenAI upstream through chat completions:
// ResponsesToChat, then the upstream's FromChat; the answer comes back
// through ChatToResponse or ChatToResponsesStream. Decisions:
//   - Server-side state (previous_response_id, conversation, background,
//     item_reference, stored prompts) and hosted tools (web_search,
//     file_search, code_interpreter, computer use, MCP, image generation)
//     cannot exist on another upstream and are refused with
//     *provider.UnsupportedError, unless the channel drops hosted tools
//     (DropHostedTools before translating). web_search is the exception
//     when the upstream searches itself: it becomes chat's
//     web_search_options, which the anthropic adapter runs as Anthropic's
//     web search server tool.
//   - Namespace tools (Codex's MCP servers) are flattened into function
//     tools and their calls get namespace and name back; see
//     responses_namespace.go for the naming rule.
//   - Reasoning items in the input are OpenAI-encrypted state another
//     upstream cannot read; they are skipped (but for the gateway's own
//     signed reasoning, sent back to Bedrock: responses_reasoning.go), as
//     are web_search_call items (an earlier search, whose results the item
//     does not hold). include, truncation and
//     reasoning.summary are hints and are ignored.

// now is the clock for created timestamps; tests pin it.
var now = time.Now

// ResponsesRequest is a Responses API request.
type ResponsesRequest struct {
	Model string         `json:"model"`
	Input ResponsesInput `json:"input,omitzero"`
	// signed: translate for an upstream that takes the gateway's signed
	// reasoning items back (see responses_reasoning.go).
	signed             bool
	Instructions       string               `json:"instructions,omitempty"`
	Tools              []ResponsesTool      `json:"tools,omitempty"`
	ToolChoice         *ResponsesToolChoice `json:"tool_choice,omitempty"`
	ParallelToolCalls  *bool                `json:"parallel_tool_calls,omitempty"`
	MaxOutputTokens    *int                 `json:"max_output_tokens,omitempty"`
	Temperature        *float64             `json:"temperature,omitempty"`
	TopP               *float64             `json:"top_p,omitempty"`
	Reasoning          *Reasoning           `json:"reasoning,omitempty"`
	Text               *TextConfig          `json:"text,omitempty"`
	Stream             bool                 `json:"stream,omitempty"`
	User               string               `json:"user,omitempty"`
	Metadata           map[string]string    `json:"metadata,omitempty"`
	Store              *bool                `json:"store,omitempty"`
	PreviousResponseID string               `json:"previous_response_id,omitempty"`
	Conversation       json.RawMessage      `json:"conversation,omitempty"`
	Background         bool                 `json:"background,omitempty"`
	Prompt             json.RawMessage      `json:"prompt,omitempty"`
	Include            []string             `json:"include,omitempty"`
	Truncation         string               `json:"truncation,omitempty"`
	TopLogprobs        *int                 `json:"top_logprobs,omitempty"`
	MaxToolCalls       *int                 `json:"max_tool_calls,omitempty"`
	ServiceTier        string               `json:"service_tier,omitempty"`
	PromptCacheKey     string               `json:"prompt_cache_key,omitempty"`
	SafetyIdentifier   string               `json:"safety_identifier,omitempty"`

	names     *toolNames // namespaced function names, once computed
	namesDone bool
}

// toolNames returns the upstream names of the request's namespaced
// functions (see responses_namespace.go); nil when there are none.
func (r *ResponsesRequest) toolNames() *toolNames {
	if r == nil {
		return nil
	}
	if !r.namesDone {
		r.names, _ = namespaceNames(r)
		r.namesDone = true
	}
	return r.names
}

// ResponsesInput is input given as a string or a list of items.
type ResponsesInput struct {
	Text     string
	Items    []InputItem
	IsString bool
}

// IsZero lets omitzero drop absent input.
func (in ResponsesInput) IsZero() bool { return !in.IsString && in.Items == nil }

// MarshalJSON writes the form the input was decoded with.
func (in ResponsesInput) MarshalJSON() ([]byte, error) {
	if in.IsString {
		return json.Marshal(in.Text)
	}
	return json.Marshal(in.Items)
}

// UnmarshalJSON accepts a string or an array of items.
func (in *ResponsesInput) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*in = ResponsesInput{IsString: true}
		return json.Unmarshal(b, &in.Text)
	}
	*in = ResponsesInput{Items: []InputItem{}}
	return json.Unmarshal(b, &in.Items)
}

// InputItem is one input item: a message, a function call or a function
// call output (other types are refused by ResponsesToChat).
type InputItem struct {
	Type      string          `json:"type,omitempty"` // "message" may be omitted
	Role      string          `json:"role,omitempty"`
	Content   ItemContent     `json:"content,omitzero"`
	ID        string          `json:"id,omitempty"`
	CallID    string          `json:"call_id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Arguments string          `json:"arguments,omitempty"`
	Namespace string          `json:"namespace,omitempty"` // function_call of a namespace tool
	Output    json.RawMessage `json:"output,omitempty"`
	Status    string          `json:"status,omitempty"`
	// Summary and EncryptedContent are a reasoning item's.
	Summary          []summaryText `json:"summary,omitempty"`
	EncryptedContent string        `json:"encrypted_content,omitempty"`
}

// ItemContent is message content as a string or a list of parts.
type ItemContent struct {
	Text     string
	Parts    []ItemPart
	IsString bool
}

// IsZero lets omitzero drop absent content.
func (c ItemContent) IsZero() bool { return !c.IsString && c.Parts == nil }

// MarshalJSON writes the decoded form.
func (c ItemContent) MarshalJSON() ([]byte, error) {
	if c.IsString {
		return json.Marshal(c.Text)
	}
	return json.Marshal(c.Parts)
}

// UnmarshalJSON accepts a string or an array of parts.
func (c *ItemContent) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*c = ItemContent{IsString: true}
		return json.Unmarshal(b, &c.Text)
	}
	*c = ItemContent{Parts: []ItemPart{}}
	return json.Unmarshal(b, &c.Parts)
}

// ItemPart is one content part of an input message.
type ItemPart struct {
	Type     string `json:"type"` // input_text | output_text | input_image | input_file | refusal
	Text     string `json:"text,omitempty"`
	ImageURL string `json:"image_url,omitempty"`
	Detail   string `json:"detail,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	FileData string `json:"file_data,omitempty"`
	Filename string `json:"filename,omitempty"`
	Refusal  string `json:"refusal,omitempty"`
}

// ResponsesTool is a tool; function tools are flat (name at top level), and
// a namespace tool groups function tools under its name.
type ResponsesTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
	Tools       []ResponsesTool `json:"tools,omitempty"` // namespace

	// web_search / web_search_preview
	Filters           *WebSearchFilters `json:"filters,omitempty"`
	UserLocation      *UserLocation     `json:"user_location,omitempty"`
	SearchContextSize string            `json:"search_context_size,omitempty"`
}

// WebSearchFilters are a web_search tool's filters.
type WebSearchFilters struct {
	AllowedDomains []string `json:"allowed_domains,omitempty"`
}

// UserLocation is a web search's approximate user location, as the
// Responses web_search tool gives it (flat).
type UserLocation struct {
	Type     string `json:"type,omitempty"` // "approximate"
	City     string `json:"city,omitempty"`
	Region   string `json:"region,omitempty"`
	Country  string `json:"country,omitempty"`
	Timezone string `json:"timezone,omitempty"`
}

// IsWebSearch reports whether a Responses tool type is OpenAI's hosted web
// search, which ResponsesToChat carries as chat's web_search_options.
func IsWebSearch(toolType string) bool {
	return toolType == "web_search" || toolType == "web_search_preview" || toolType == "web_search_2025_08_26" || toolType == "web_search_preview_2025_03_11"
}

// ResponsesToolChoice is "none" | "auto" | "required" or {type, name}
// (with namespace for a function of a namespace tool).
type ResponsesToolChoice struct {
	Mode      string
	Type      string
	Name      string
	Namespace string
}

// MarshalJSON writes the decoded form.
func (t ResponsesToolChoice) MarshalJSON() ([]byte, error) {
	if t.Mode != "" {
		return json.Marshal(t.Mode)
	}
	return json.Marshal(struct {
		Type      string `json:"type"`
		Namespace string `json:"namespace,omitempty"`
		Name      string `json:"name,omitempty"`
	}{t.Type, t.Namespace, t.Name})
}

// UnmarshalJSON accepts both forms.
func (t *ResponsesToolChoice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*t = ResponsesToolChoice{}
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &t.Mode)
	}
	var o struct {
		Type      string `json:"type"`
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return errors.New("tool_choice: must be a string or an object")
	}
	t.Type, t.Name, t.Namespace = o.Type, o.Name, o.Namespace
	return nil
}

// Reasoning is the reasoning configuration.
type Reasoning struct {
	Effort  string `json:"effort,omitempty"`
	Summary string `json:"summary,omitempty"`
}

// TextConfig is the text output configuration.
type TextConfig struct {
	Format    *TextFormat `json:"format,omitempty"`
	Verbosity string      `json:"verbosity,omitempty"`
}

// TextFormat is text.format: text | json_object | json_schema (flat).
type TextFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ResponsesToChat translates a Responses request into a chat request for a
// non-OpenAI upstream.
func ResponsesToChat(req *ResponsesRequest) (*ChatRequest, error) {
	switch {
	case req.PreviousResponseID != "":
		return nil, provider.Unsupported("previous_response_id", "this upstream keeps no response state; send the full input")
	case len(req.Conversation) > 0:
		return nil, provider.Unsupported("conversation", "")
	case req.Background:
		return nil, provider.Unsupported("background", "")
	case len(req.Prompt) > 0:
		return nil, provider.Unsupported("prompt", "stored prompts")
	case req.MaxToolCalls != nil:
		return nil, provider.Unsupported("max_tool_calls", "")
	case req.TopLogprobs != nil && *req.TopLogprobs > 0:
		return nil, provider.Unsupported("top_logprobs", "")
	}
	out := &ChatRequest{
		Model:               req.Model,
		Temperature:         req.Temperature,
		TopP:                req.TopP,
		MaxCompletionTokens: req.MaxOutputTokens,
		ParallelToolCalls:   req.ParallelToolCalls,
		Stream:              req.Stream,
		User:                req.User,
		Metadata:            req.Metadata,
		Store:               req.Store,
		ServiceTier:         req.ServiceTier,
		PromptCacheKey:      req.PromptCacheKey,
		SafetyIdentifier:    req.SafetyIdentifier,
	}
	if req.Stream {
		out.StreamOptions = &StreamOptions{IncludeUsage: true}
	}
	if req.Reasoning != nil {
		out.ReasoningEffort = req.Reasoning.Effort
	}
	if req.Text != nil {
		out.Verbosity = req.Text.Verbosity
		if f := req.Text.Format; f != nil {
			switch f.Type {
			case "", "text":
			case "json_object":
				out.ResponseFormat = &ResponseFormat{Type: "json_object"}
			case "json_schema":
				out.ResponseFormat = &ResponseFormat{Type: "json_schema", JSONSchema: &JSONSchema{
					Name: f.Name, Description: f.Description, Schema: f.Schema, Strict: f.Strict,
				}}
			default:
				return nil, provider.Unsupported("text.format.type", f.Type)
			}
		}
	}
	names, err := namespaceNames(req)
	if err != nil {
		return nil, err
	}
	req.names, req.namesDone = names, true
	if req.Instructions != "" {
		out.Messages = append(out.Messages, ChatMessage{Role: "system", Content: TextContent(req.Instructions)})
	}
	if req.Input.IsString {
		out.Messages = append(out.Messages, ChatMessage{Role: "user", Content: TextContent(req.Input.Text)})
	}
	for i := range req.Input.Items {
		var err error
		if out.Messages, err = appendItem(out.Messages, &req.Input.Items[i], "input["+strconv.Itoa(i)+"]", names, req.signed); err != nil {
			return nil, err
		}
	}
	for i, t := range req.Tools {
		switch t.Type {
		case "function":
			out.Tools = append(out.Tools, Tool{Type: "function", Function: FunctionDef{
				Name: t.Name, Description: t.Description, Parameters: t.Parameters, Strict: t.Strict,
			}})
		case "namespace":
			for j, f := range t.Tools {
				if f.Type != "function" {
					return nil, provider.Unsupported(fmt.Sprintf("tools[%d].tools[%d].type", i, j), f.Type+" tools in a namespace")
				}
				out.Tools = append(out.Tools, Tool{Type: "function", Function: FunctionDef{
					Name: names.upstream(t.Name, f.Name), Description: namespacedDescription(t.Description, f.Description),
					Parameters: f.Parameters, Strict: f.Strict,
				}})
			}
		case "web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11":
			if out.WebSearchOptions != nil {
				return nil, provider.Invalid(fmt.Sprintf("tools[%d].type", i), "web search is declared twice")
			}
			out.WebSearchOptions = webSearchOptions(&t)
		default:
			return nil, provider.Unsupported(fmt.Sprintf("tools[%d].type", i), t.Type+" is a hosted tool of OpenAI")
		}
	}
	if tc := req.ToolChoice; tc != nil {
		switch {
		case tc.Mode != "":
			out.ToolChoice = &ToolChoice{Mode: tc.Mode}
		case tc.Type == "function" && tc.Name != "":
			out.ToolChoice = &ToolChoice{Type: "function", Function: names.upstream(tc.Namespace, tc.Name)}
		case IsWebSearch(tc.Type) && out.WebSearchOptions != nil:
			// chat cannot force a search; the search stays offered
		default:
			return nil, provider.Unsupported("tool_choice", tc.Type)
		}
	}
	return out, nil
}

// webSearchOptions carries a Responses web_search tool as chat's
// web_search_options: user_location in chat's nested shape, and the
// allowed domains as filters.allowed_domains, a member OpenAI's chat lacks
// that the anthropic adapter reads.
func webSearchOptions(t *ResponsesTool) *WebSearchOptions {
	o := &WebSearchOptions{SearchContextSize: t.SearchContextSize}
	if t.Filters != nil && len(t.Filters.AllowedDomains) > 0 {
		o.Filters = &WebSearchFilters{AllowedDomains: t.Filters.AllowedDomains}
	}
	if l := t.UserLocation; l != nil {
		a := *l
		a.Type = ""
		o.UserLocation = &ChatUserLocation{Type: "approximate", Approximate: a}
	}
	return o
}

// namespacedDescription tells the model what a flattened function's
// namespace was for, since the grouping itself is gone.
func namespacedDescription(namespace, function string) string {
	switch {
	case namespace == "":
		return function
	case function == "":
		return namespace
	}
	return namespace + "\n\n" + function
}

func appendItem(dst []ChatMessage, it *InputItem, field string, names *toolNames, signed bool) ([]ChatMessage, error) {
	switch it.Type {
	case "", "message":
		m, err := itemMessage(it, field)
		if err != nil {
			return nil, err
		}
		if n := len(dst); m.Role == "assistant" && n > 0 && reasoningOnly(&dst[n-1]) {
			// The text of the turn whose signed reasoning came just before.
			dst[n-1].Content = m.Content
			return dst, nil
		}
		return append(dst, m), nil
	case "function_call":
		tc := ToolCall{ID: it.CallID, Type: "function", Function: FunctionCall{Name: names.upstream(it.Namespace, it.Name), Arguments: it.Arguments}}
		// Consecutive calls (and text just before them) are one assistant turn in chat.
		if n := len(dst); n > 0 && dst[n-1].Role == "assistant" {
			dst[n-1].ToolCalls = append(dst[n-1].ToolCalls, tc)
			return dst, nil
		}
		return append(dst, ChatMessage{Role: "assistant", Content: Content{Kind: ContentNull}, ToolCalls: []ToolCall{tc}}), nil
	case "function_call_output":
		text, err := functionOutputText(it.Output, field+".output")
		if err != nil {
			return nil, err
		}
		return append(dst, ChatMessage{Role: "tool", ToolCallID: it.CallID, Content: TextContent(text)}), nil
	case "reasoning":
		// OpenAI-encrypted state is meaningless to another upstream; the
		// gateway's own signed reasoning goes back to one that takes it.
		if rb, ok := signedReasoning(it); ok && signed {
			return appendReasoning(dst, rb), nil
		}
		return dst, nil
	case "web_search_call":
		// an earlier turn's search (Codex sends its history back): its
		// results are not in the item, and the answer that used them is
		return dst, nil
	}
	return nil, provider.Unsupported(field+".type", it.Type)
}

func itemMessage(it *InputItem, field string) (ChatMessage, error) {
	switch it.Role {
	case "user", "system", "developer", "assistant":
	default:
		return ChatMessage{}, provider.Invalid(field+".role", "unknown role "+strconv.Quote(it.Role))
	}
	m := ChatMessage{Role: it.Role}
	if it.Content.IsString {
		m.Content = TextContent(it.Content.Text)
		return m, nil
	}
	parts := make([]ContentPart, 0, len(it.Content.Parts))
	for j, p := range it.Content.Parts {
		pf := field + ".content[" + strconv.Itoa(j) + "]"
		switch p.Type {
		case "input_text", "output_text":
			parts = append(parts, ContentPart{Type: PartText, Text: p.Text})
		case "refusal":
			parts = append(parts, ContentPart{Type: PartText, Text: p.Refusal})
		case "input_image":
			if p.ImageURL == "" {
				return ChatMessage{}, provider.Unsupported(pf+".file_id", "images must be given by image_url")
			}
			parts = append(parts, ContentPart{Type: PartImageURL, ImageURL: &ImageURL{URL: p.ImageURL, Detail: p.Detail}})
		case "input_file":
			if p.FileData == "" {
				return ChatMessage{}, provider.Unsupported(pf+".file_id", "files must be given inline by file_data")
			}
			f, _ := json.Marshal(struct {
				Filename string `json:"filename,omitempty"`
				FileData string `json:"file_data"`
			}{p.Filename, p.FileData})
			parts = append(parts, ContentPart{Type: PartFile, File: f})
		default:
			return ChatMessage{}, provider.Unsupported(pf+".type", p.Type)
		}
	}
	if len(parts) == 1 && parts[0].Type == PartText {
		m.Content = TextContent(parts[0].Text)
	} else if it.Role == "assistant" {
		m.Content = TextContent(PartsContent(parts).JoinText()) // chat assistants take text only
	} else {
		m.Content = PartsContent(parts)
	}
	return m, nil
}

// functionOutputText reads a function_call_output: a string or a list of text parts.
func functionOutputText(raw json.RawMessage, field string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var parts []ItemPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", provider.Invalid(field, "must be a string or a list of content parts")
	}
	var sb strings.Builder
	for j, p := range parts {
		if p.Type != "input_text" && p.Type != "output_text" {
			return "", provider.Unsupported(fmt.Sprintf("%s[%d].type", field, j), p.Type+" in a function call output")
		}
		sb.WriteString(p.Text)
	}
	return sb.String(), nil
}
