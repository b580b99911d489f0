package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/openai"
)

// Thinking budgets for reasoning_effort on Anthropic models, as the
// anthropic provider maps them.
var effortBudget = map[string]int{
	"minimal": 1024,
	"low":     1024,
	"medium":  4096,
	"high":    16384,
}

// DefaultMaxTokens is sent when the client sets no limit: Anthropic models
// on Bedrock require one, and Converse passes none of its own.
const DefaultMaxTokens = 4096

var imageFormats = map[string]string{
	"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp",
}

var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// FromChat translates a chat completions request into a Converse request
// for model (the Bedrock model id, which decides whether reasoning_effort
// can be expressed).
//
// Ignored hints: seed (Converse has none), user, store, metadata,
// service_tier, prompt_cache_key. Refused: n > 1, penalties,
// response_format other than text, tool_choice none with tools.
func FromChat(req *openai.ChatRequest, model string) (*ConverseRequest, error) {
	if err := rejectChatFields(req); err != nil {
		return nil, err
	}
	out := &ConverseRequest{}
	ic := &InferenceConfig{Temperature: req.Temperature, TopP: req.TopP, StopSequences: req.Stop}
	if n := req.MaxOutputTokens(); n > 0 {
		ic.MaxTokens = &n
	} else if isAnthropic(model) {
		n := DefaultMaxTokens
		ic.MaxTokens = &n
	}
	if err := thinking(req, model, ic, out); err != nil {
		return nil, err
	}
	if ic.MaxTokens != nil || ic.Temperature != nil || ic.TopP != nil || len(ic.StopSequences) > 0 {
		out.InferenceConfig = ic
	}
	if err := convertMessages(req.Messages, out); err != nil {
		return nil, err
	}
	if err := convertTools(req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// isAnthropic reports a Claude model id, with or without an inference
// profile's region prefix ("us.anthropic.claude-…") or an ARN around it.
func isAnthropic(model string) bool { return strings.Contains(model, "anthropic.") }

func rejectChatFields(req *openai.ChatRequest) error {
	if err := openai.RejectNonPortable(req, false); err != nil {
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

// thinking maps reasoning_effort to Anthropic's thinking setting, which
// Converse passes through additionalModelRequestFields; other model
// families name it differently or not at all.
func thinking(req *openai.ChatRequest, model string, ic *InferenceConfig, out *ConverseRequest) error {
	if req.ReasoningEffort == "" || req.ReasoningEffort == "none" {
		return nil
	}
	if !isAnthropic(model) {
		return provider.Unsupported("reasoning_effort", "only for Anthropic models on this upstream")
	}
	budget, ok := effortBudget[req.ReasoningEffort]
	if !ok {
		return provider.Unsupported("reasoning_effort", "unknown value "+strconv.Quote(req.ReasoningEffort))
	}
	if req.Temperature != nil && *req.Temperature != 1 {
		return provider.Unsupported("temperature", "cannot be combined with reasoning_effort on this upstream")
	}
	if *ic.MaxTokens <= budget {
		n := *ic.MaxTokens + budget
		ic.MaxTokens = &n
	}
	out.AdditionalModelRequestFields = json.RawMessage(`{"thinking":{"type":"enabled","budget_tokens":` + strconv.Itoa(budget) + `}}`)
	return nil
}

// convertMessages fills out.System and out.Messages. Converse keeps the
// system prompt apart, so every system message joins it; consecutive turns
// of one role merge, as Converse wants them alternating.
func convertMessages(msgs []openai.ChatMessage, out *ConverseRequest) error {
	for i := range msgs {
		m := &msgs[i]
		field := "messages[" + strconv.Itoa(i) + "]"
		switch m.Role {
		case "system", "developer":
			texts, err := textOnly(m.Content, field)
			if err != nil {
				return err
			}
			for _, t := range texts {
				out.System = append(out.System, SystemBlock{Text: t})
			}
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
				return provider.Invalid(field+".tool_call_id", "required")
			}
			appendTurn(out, "user", []ContentBlock{{ToolResult: &ToolResultBlock{
				ToolUseID: m.ToolCallID, Content: []ToolResultContent{{Text: m.Content.JoinText()}},
			}}})
		case "function":
			return provider.Unsupported(field+".role", "the deprecated function role; use tool messages")
		default:
			return provider.Invalid(field+".role", "unknown role "+strconv.Quote(m.Role))
		}
	}
	return nil
}

func appendTurn(out *ConverseRequest, role string, blocks []ContentBlock) {
	if len(blocks) == 0 {
		return
	}
	if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
		out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
		return
	}
	out.Messages = append(out.Messages, Message{Role: role, Content: blocks})
}

func partField(field string, j int) string { return field + ".content[" + strconv.Itoa(j) + "]" }

// textOnly returns the non-empty texts of c (Converse refuses blank text
// blocks).
func textOnly(c openai.Content, field string) ([]string, error) {
	if c.Kind != openai.ContentParts {
		if strings.TrimSpace(c.Text) == "" {
			return nil, nil
		}
		return []string{c.Text}, nil
	}
	var out []string
	for j, p := range c.Parts {
		if p.Type != openai.PartText {
			return nil, provider.Unsupported(partField(field, j), p.Type+" parts are only allowed in user messages")
		}
		if strings.TrimSpace(p.Text) != "" {
			out = append(out, p.Text)
		}
	}
	return out, nil
}

func userBlocks(c openai.Content, field string) ([]ContentBlock, error) {
	if c.Kind != openai.ContentParts {
		texts, err := textOnly(c, field)
		return textBlocks(texts), err
	}
	blocks := make([]ContentBlock, 0, len(c.Parts))
	for j, p := range c.Parts {
		pf := partField(field, j)
		switch p.Type {
		case openai.PartText:
			if strings.TrimSpace(p.Text) != "" {
				blocks = append(blocks, ContentBlock{Text: p.Text})
			}
		case openai.PartImageURL:
			if p.ImageURL == nil {
				return nil, provider.Invalid(pf+".image_url", "missing")
			}
			mt, data, ok := openai.ParseDataURL(p.ImageURL.URL)
			if !ok {
				if openai.IsHTTPURL(p.ImageURL.URL) {
					return nil, provider.Unsupported(pf+".image_url.url", "this upstream needs images inline as base64 data URLs")
				}
				return nil, provider.Invalid(pf+".image_url.url", "must be a base64 data URL")
			}
			format, ok := imageFormats[strings.ToLower(mt)]
			if !ok {
				return nil, provider.Unsupported(pf+".image_url.url", "image type "+mt+" (png, jpeg, gif and webp are)")
			}
			blocks = append(blocks, ContentBlock{Image: &ImageBlock{Format: format, Source: Source{Bytes: data}}})
		case openai.PartFile:
			var f struct {
				FileData string `json:"file_data"`
				Filename string `json:"filename"`
			}
			_ = json.Unmarshal(p.File, &f)
			mt, data, ok := openai.ParseDataURL(f.FileData)
			if !ok || mt != "application/pdf" {
				return nil, provider.Unsupported(pf+".file", "only inline PDF file_data is supported")
			}
			blocks = append(blocks, ContentBlock{Document: &DocumentBlock{Format: "pdf", Name: documentName(f.Filename, j), Source: Source{Bytes: data}}})
		default:
			return nil, provider.Unsupported(pf+".type", p.Type)
		}
	}
	return blocks, nil
}

// documentName makes a name Converse accepts (letters, digits, spaces,
// hyphens, parentheses, brackets) from a file name.
func documentName(name string, j int) string {
	name = strings.TrimSuffix(name, ".pdf")
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == ' ', r == '-', r == '(', r == ')', r == '[', r == ']':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "document-" + strconv.Itoa(j+1)
	}
	return b.String()
}

func textBlocks(texts []string) []ContentBlock {
	if len(texts) == 0 {
		return nil
	}
	out := make([]ContentBlock, len(texts))
	for i, t := range texts {
		out[i].Text = t
	}
	return out
}

func assistantBlocks(m *openai.ChatMessage, field string) ([]ContentBlock, error) {
	blocks := reasoningBlocks(m.ReasoningBlocks)
	if m.Content.Kind == openai.ContentParts {
		for j, p := range m.Content.Parts {
			switch {
			case p.Type == openai.PartText && strings.TrimSpace(p.Text) != "":
				blocks = append(blocks, ContentBlock{Text: p.Text})
			case p.Type == openai.PartRefusal && strings.TrimSpace(p.Refusal) != "":
				blocks = append(blocks, ContentBlock{Text: p.Refusal})
			case p.Type != openai.PartText && p.Type != openai.PartRefusal:
				return nil, provider.Unsupported(partField(field, j)+".type", p.Type+" in an assistant message")
			}
		}
	} else if strings.TrimSpace(m.Content.Text) != "" {
		blocks = append(blocks, ContentBlock{Text: m.Content.Text})
	}
	if len(m.Audio) > 0 || len(m.FunctionCall) > 0 {
		return nil, provider.Unsupported(field+".audio", "")
	}
	for k := range m.ToolCalls {
		tc := &m.ToolCalls[k]
		tf := fmt.Sprintf("%s.tool_calls[%d]", field, k)
		if tc.Type != "" && tc.Type != "function" {
			return nil, provider.Unsupported(tf+".type", tc.Type)
		}
		input, err := parseArgs(tc.Function.Arguments, tf+".function.arguments")
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, ContentBlock{ToolUse: &ToolUseBlock{ToolUseID: tc.ID, Name: tc.Function.Name, Input: input}})
	}
	return blocks, nil
}

// reasoningBlocks sends an earlier turn's signed reasoning back first in
// its turn, as Converse wants it (Claude refuses a turn whose thinking was
// dropped or changed while it used tools). Reasoning without a signature
// (a chat client's reasoning_content) cannot be verified and is left out.
func reasoningBlocks(rbs []openai.ReasoningBlock) []ContentBlock {
	var out []ContentBlock
	for _, rb := range rbs {
		switch {
		case rb.Redacted != "":
			out = append(out, ContentBlock{ReasoningContent: &ReasoningContent{RedactedContent: rb.Redacted}})
		case rb.Signature != "":
			out = append(out, ContentBlock{ReasoningContent: &ReasoningContent{
				ReasoningText: &ReasoningText{Text: rb.Text, Signature: rb.Signature}}})
		}
	}
	return out
}

func parseArgs(args, field string) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace([]byte(args))
	if len(trimmed) == 0 {
		return json.RawMessage("{}"), nil
	}
	if trimmed[0] != '{' || !json.Valid(trimmed) {
		return nil, provider.Invalid(field, "must be a JSON object")
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, trimmed)
	return buf.Bytes(), nil
}

func convertTools(req *openai.ChatRequest, out *ConverseRequest) error {
	var tools []Tool
	for i := range req.Tools {
		t := &req.Tools[i]
		if t.Type != "function" {
			return provider.Unsupported(fmt.Sprintf("tools[%d].type", i), t.Type)
		}
		schema := t.Function.Parameters
		if len(schema) == 0 || bytes.Equal(schema, []byte("null")) {
			schema = emptySchema
		}
		tools = append(tools, Tool{ToolSpec: ToolSpec{Name: t.Function.Name, Description: t.Function.Description,
			InputSchema: InputSchema{JSON: schema}}})
	}
	if len(tools) == 0 {
		if usesTools(out) {
			// Converse refuses toolUse and toolResult blocks without a
			// toolConfig; a client that stopped sending its tools
			// still replays the calls, so declare them by name.
			tools = historyTools(out)
		} else {
			return nil
		}
	}
	out.ToolConfig = &ToolConfig{Tools: tools}
	tc := req.ToolChoice
	if tc == nil || len(req.Tools) == 0 {
		return nil
	}
	switch {
	case tc.Mode == openai.ToolChoiceAuto:
		out.ToolConfig.ToolChoice = &ToolChoice{Auto: &struct{}{}}
	case tc.Mode == openai.ToolChoiceRequired:
		out.ToolConfig.ToolChoice = &ToolChoice{Any: &struct{}{}}
	case tc.Mode == "" && tc.Type == "function" && tc.Function != "":
		out.ToolConfig.ToolChoice = &ToolChoice{Tool: &ToolChoiceOf{Name: tc.Function}}
	case tc.Mode == openai.ToolChoiceNone:
		return provider.Unsupported("tool_choice", "none with tools on this upstream; leave the tools out instead")
	default:
		return provider.Unsupported("tool_choice", "only auto, required or a named function")
	}
	return nil
}

func usesTools(out *ConverseRequest) bool {
	for _, m := range out.Messages {
		for _, b := range m.Content {
			if b.ToolUse != nil || b.ToolResult != nil {
				return true
			}
		}
	}
	return false
}

// historyTools declares, with an open schema, each tool the conversation
// called.
func historyTools(out *ConverseRequest) []Tool {
	seen := map[string]bool{}
	var tools []Tool
	for _, m := range out.Messages {
		for _, b := range m.Content {
			if b.ToolUse != nil && !seen[b.ToolUse.Name] {
				seen[b.ToolUse.Name] = true
				tools = append(tools, Tool{ToolSpec: ToolSpec{Name: b.ToolUse.Name, InputSchema: InputSchema{JSON: emptySchema}}})
			}
		}
	}
	return tools
}
