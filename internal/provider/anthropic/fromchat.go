package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/openai"
)

// Thinking budgets for reasoning_effort.
var effortBudget = map[string]int{
	"minimal": 1024,
	"low":     1024,
	"medium":  4096,
	"high":    16384,
}

var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// FromChat translates a chat completions request into a Messages request.
func FromChat(req *openai.ChatRequest) (*MessagesRequest, error) {
	if err := rejectChatFields(req); err != nil {
		return nil, err
	}
	out := &MessagesRequest{
		Model:         req.Model,
		MaxTokens:     req.MaxOutputTokens(),
		StopSequences: req.Stop,
		TopP:          req.TopP,
		Stream:        req.Stream,
	}
	if out.MaxTokens <= 0 {
		out.MaxTokens = DefaultMaxTokens
	}
	if req.Temperature != nil {
		t := min(*req.Temperature, 1)
		out.Temperature = &t
	}
	if req.User != "" {
		out.Metadata = &Metadata{UserID: req.User}
	}
	if err := thinkingFromEffort(req, out); err != nil {
		return nil, err
	}
	if err := convertMessages(req.Messages, out); err != nil {
		return nil, err
	}
	if err := convertTools(req, out); err != nil {
		return nil, err
	}
	return out, nil
}

func rejectChatFields(req *openai.ChatRequest) error {
	if err := openai.RejectNonPortable(req, true); err != nil {
		return err
	}
	switch {
	case req.N != nil && *req.N > 1:
		return provider.Unsupported("n", "only one choice per request")
	case req.PresencePenalty != nil && *req.PresencePenalty != 0:
		return provider.Unsupported("presence_penalty", "")
	case req.FrequencyPenalty != nil && *req.FrequencyPenalty != 0:
		return provider.Unsupported("frequency_penalty", "")
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type != "" && rf.Type != "text" {
		return provider.Unsupported("response_format", rf.Type+" is not available on this upstream")
	}
	return nil
}

func thinkingFromEffort(req *openai.ChatRequest, out *MessagesRequest) error {
	if req.ReasoningEffort == "" || req.ReasoningEffort == "none" {
		return nil
	}
	budget, ok := effortBudget[req.ReasoningEffort]
	if !ok {
		return provider.Unsupported("reasoning_effort", "unknown value "+strconv.Quote(req.ReasoningEffort))
	}
	if req.Temperature != nil && *req.Temperature != 1 {
		return provider.Unsupported("temperature", "cannot be combined with reasoning_effort on this upstream")
	}
	out.Thinking = &Thinking{Type: "enabled", BudgetTokens: budget}
	if out.MaxTokens <= budget {
		out.MaxTokens += budget
	}
	return nil
}

// convertMessages fills out.System and out.Messages, merging consecutive
// turns of one role.
func convertMessages(msgs []openai.ChatMessage, out *MessagesRequest) error {
	for i := range msgs {
		m := &msgs[i]
		field := "messages[" + strconv.Itoa(i) + "]"
		switch m.Role {
		case "system", "developer":
			blocks, err := textOnly(m.Content, field)
			if err != nil {
				return err
			}
			out.System.Blocks = append(out.System.Blocks, blocks...)
		case "user":
			blocks, err := userBlocks(m.Content, field)
			if err != nil {
				return err
			}
			appendTurn(out, "user", blocks)
		case "assistant":
			blocks, err := assistantBlocks(m, field)
			if err != nil {
				return err
			}
			appendTurn(out, "assistant", blocks)
		case "tool":
			if m.ToolCallID == "" {
				return provider.Invalid(field+".tool_call_id", "required for tool messages")
			}
			content, err := toolResultContent(m.Content, field)
			if err != nil {
				return err
			}
			appendTurn(out, "user", []Block{{Type: BlockToolResult, ToolUseID: m.ToolCallID, Content: content}})
		case "function":
			return provider.Unsupported(field+".role", "the deprecated function role; use tool messages")
		default:
			return provider.Invalid(field+".role", "unknown role "+strconv.Quote(m.Role))
		}
	}
	return nil
}

func appendTurn(out *MessagesRequest, role string, blocks []Block) {
	if len(blocks) == 0 {
		return // Anthropic rejects empty turns; an empty message carries nothing
	}
	if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
		last := &out.Messages[n-1]
		last.Content.Blocks = append(last.Content.Blocks, blocks...)
		return
	}
	out.Messages = append(out.Messages, MessageParam{Role: role, Content: Blocks{Blocks: blocks}})
}

func textOnly(c openai.Content, field string) ([]Block, error) {
	if c.Kind != openai.ContentParts {
		if c.Text == "" {
			return nil, nil
		}
		return []Block{{Type: BlockText, Text: c.Text}}, nil
	}
	blocks := make([]Block, 0, len(c.Parts))
	for j, p := range c.Parts {
		if p.Type != openai.PartText {
			return nil, provider.Unsupported(partField(field, j), p.Type+" parts are only allowed in user messages")
		}
		if p.Text != "" {
			blocks = append(blocks, Block{Type: BlockText, Text: p.Text})
		}
	}
	return blocks, nil
}

func partField(field string, j int) string {
	return field + ".content[" + strconv.Itoa(j) + "]"
}

func userBlocks(c openai.Content, field string) ([]Block, error) {
	if c.Kind != openai.ContentParts {
		return textOnly(c, field)
	}
	blocks := make([]Block, 0, len(c.Parts))
	for j, p := range c.Parts {
		pf := partField(field, j)
		switch p.Type {
		case openai.PartText:
			if p.Text != "" {
				blocks = append(blocks, Block{Type: BlockText, Text: p.Text})
			}
		case openai.PartImageURL:
			if p.ImageURL == nil {
				return nil, provider.Invalid(pf+".image_url", "missing")
			}
			src, err := imageSource(p.ImageURL.URL, pf)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, Block{Type: BlockImage, Source: src})
		case openai.PartFile:
			b, err := documentBlock(p.File, pf)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		default:
			return nil, provider.Unsupported(pf+".type", p.Type)
		}
	}
	return blocks, nil
}

func imageSource(u, field string) (*Source, error) {
	if mt, data, ok := openai.ParseDataURL(u); ok {
		return &Source{Type: "base64", MediaType: mt, Data: data}, nil
	}
	if openai.IsHTTPURL(u) {
		return &Source{Type: "url", URL: u}, nil
	}
	return nil, provider.Invalid(field+".image_url.url", "must be an http(s) URL or a base64 data URL")
}

// documentBlock maps a chat file part carrying inline PDF data to a
// document block; file ids and other types have no Anthropic equivalent.
func documentBlock(raw json.RawMessage, field string) (Block, error) {
	var f struct {
		FileData string `json:"file_data"`
		FileID   string `json:"file_id"`
		Filename string `json:"filename"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return Block{}, provider.Invalid(field+".file", "malformed")
	}
	mt, data, ok := openai.ParseDataURL(f.FileData)
	if !ok || mt != "application/pdf" {
		return Block{}, provider.Unsupported(field+".file", "only inline PDF data (file_data) is supported")
	}
	return Block{Type: BlockDocument, Title: f.Filename, Source: &Source{Type: "base64", MediaType: mt, Data: data}}, nil
}

func assistantBlocks(m *openai.ChatMessage, field string) ([]Block, error) {
	var blocks []Block
	if m.Content.Kind == openai.ContentParts {
		for j, p := range m.Content.Parts {
			switch p.Type {
			case openai.PartText:
				if p.Text != "" {
					blocks = append(blocks, Block{Type: BlockText, Text: p.Text})
				}
			case openai.PartRefusal:
				if p.Refusal != "" {
					blocks = append(blocks, Block{Type: BlockText, Text: p.Refusal})
				}
			default:
				return nil, provider.Unsupported(partField(field, j)+".type", p.Type+" in an assistant message")
			}
		}
	} else if m.Content.Text != "" {
		blocks = append(blocks, Block{Type: BlockText, Text: m.Content.Text})
	}
	if m.Refusal != nil && *m.Refusal != "" {
		blocks = append(blocks, Block{Type: BlockText, Text: *m.Refusal})
	}
	if len(m.Audio) > 0 || len(m.FunctionCall) > 0 {
		return nil, provider.Unsupported(field+".audio", "")
	}
	for k := range m.ToolCalls {
		tc := &m.ToolCalls[k]
		tf := field + ".tool_calls[" + strconv.Itoa(k) + "]"
		if tc.Type != "" && tc.Type != "function" {
			return nil, provider.Unsupported(tf+".type", tc.Type)
		}
		input, err := argumentsToInput(tc.Function.Arguments, tf+".function.arguments")
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, Block{Type: BlockToolUse, ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return blocks, nil
}

// argumentsToInput parses a tool call's JSON arguments into a tool_use
// input, which Anthropic requires to be an object.
func argumentsToInput(args, field string) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace([]byte(args))
	if len(trimmed) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(trimmed) || trimmed[0] != '{' {
		return nil, provider.Invalid(field, "must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, trimmed); err != nil {
		return nil, provider.Invalid(field, err.Error())
	}
	return buf.Bytes(), nil
}

func toolResultContent(c openai.Content, field string) (*Blocks, error) {
	if c.Kind != openai.ContentParts {
		b := TextBlocks(c.Text)
		return &b, nil
	}
	blocks, err := textOnly(c, field)
	if err != nil {
		return nil, err
	}
	return &Blocks{Blocks: blocks}, nil
}

func convertTools(req *openai.ChatRequest, out *MessagesRequest) error {
	for i := range req.Tools {
		t := &req.Tools[i]
		if t.Type != "function" {
			return provider.Unsupported(fmt.Sprintf("tools[%d].type", i), t.Type)
		}
		schema := t.Function.Parameters
		if len(schema) == 0 || bytes.Equal(schema, []byte("null")) {
			schema = emptySchema
		}
		out.Tools = append(out.Tools, Tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	if o := req.WebSearchOptions; o != nil {
		out.Tools = append(out.Tools, webSearchTool(o))
	}
	noParallel := req.ParallelToolCalls != nil && !*req.ParallelToolCalls
	tc := req.ToolChoice
	if tc == nil {
		if noParallel && len(out.Tools) > 0 {
			out.ToolChoice = &ToolChoice{Type: "auto", DisableParallelToolUse: true}
		}
		return nil
	}
	var choice ToolChoice
	switch {
	case tc.Mode == openai.ToolChoiceNone:
		choice.Type = "none"
		noParallel = false // not accepted with "none"
	case tc.Mode == openai.ToolChoiceAuto:
		choice.Type = "auto"
	case tc.Mode == openai.ToolChoiceRequired:
		choice.Type = "any"
	case tc.Mode == "" && tc.Type == "function" && tc.Function != "":
		choice.Type, choice.Name = "tool", tc.Function
	default:
		return provider.Unsupported("tool_choice", "only none, auto, required or a named function")
	}
	choice.DisableParallelToolUse = noParallel
	out.ToolChoice = &choice
	return nil
}

// webSearchTool is Anthropic's web search server tool for chat's
// web_search_options. search_context_size has no equivalent and is left
// out; the allowed domains come from the gateway's filters member (a
// Responses web_search tool's filters.allowed_domains).
func webSearchTool(o *openai.WebSearchOptions) Tool {
	t := Tool{Type: WebSearchTool, Name: "web_search"}
	if o.Filters != nil {
		t.AllowedDomains = o.Filters.AllowedDomains
	}
	if l := o.UserLocation; l != nil {
		a := l.Approximate
		if a != (openai.UserLocation{}) {
			t.UserLocation = &UserLocation{Type: "approximate", City: a.City, Region: a.Region, Country: a.Country, Timezone: a.Timezone}
		}
	}
	return t
}
