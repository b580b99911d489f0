package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/openai"
)

// SkipSignature is Google's documented placeholder for a functionCall part
// whose real thought signature is unknown.
const SkipSignature = "skip_thought_signature_validator"

var effortBudget = map[string]int{
	"none":    0,
	"minimal": 1024,
	"low":     1024,
	"medium":  8192,
	"high":    24576,
}

var audioMime = map[string]string{"wav": "audio/wav", "mp3": "audio/mp3"}

// FromChat translates a chat completions request into a generateContent
// request. The model name travels in the URL, not the body.
func FromChat(req *openai.ChatRequest) (*GenerateRequest, error) {
	if err := openai.RejectNonPortable(req, true); err != nil {
		return nil, err
	}
	out := &GenerateRequest{}
	gc, err := generationConfig(req)
	if err != nil {
		return nil, err
	}
	if !gc.isZero() {
		out.GenerationConfig = gc
	}
	if err := convertMessages(req.Messages, out); err != nil {
		return nil, err
	}
	if err := convertTools(req, out); err != nil {
		return nil, err
	}
	return out, nil
}

func generationConfig(req *openai.ChatRequest) (*GenerationConfig, error) {
	gc := &GenerationConfig{
		Temperature:      req.Temperature,
		TopP:             req.TopP,
		StopSequences:    req.Stop,
		Seed:             req.Seed,
		PresencePenalty:  req.PresencePenalty,
		FrequencyPenalty: req.FrequencyPenalty,
	}
	if n := req.MaxOutputTokens(); n > 0 {
		gc.MaxOutputTokens = &n
	}
	if req.N != nil && *req.N > 1 {
		gc.CandidateCount = req.N
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			gc.ResponseMimeType = "application/json"
		case "json_schema":
			if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 {
				return nil, provider.Invalid("response_format.json_schema.schema", "required")
			}
			gc.ResponseMimeType = "application/json"
			gc.ResponseJSONSchema = rf.JSONSchema.Schema
		default:
			return nil, provider.Unsupported("response_format", rf.Type)
		}
	}
	if e := req.ReasoningEffort; e != "" {
		budget, ok := effortBudget[e]
		if !ok {
			return nil, provider.Unsupported("reasoning_effort", "unknown value "+strconv.Quote(e))
		}
		gc.ThinkingConfig = &ThinkingConfig{ThinkingBudget: &budget, IncludeThoughts: budget > 0}
	}
	return gc, nil
}

func (gc *GenerationConfig) isZero() bool {
	return gc.Temperature == nil && gc.TopP == nil && gc.TopK == nil && gc.MaxOutputTokens == nil &&
		gc.StopSequences == nil && gc.CandidateCount == nil && gc.Seed == nil && gc.PresencePenalty == nil &&
		gc.FrequencyPenalty == nil && gc.ResponseMimeType == "" && gc.ResponseSchema == nil &&
		gc.ResponseJSONSchema == nil && gc.ThinkingConfig == nil
}

func convertMessages(msgs []openai.ChatMessage, out *GenerateRequest) error {
	callNames := map[string]string{} // tool call id → function name
	for i := range msgs {
		m := &msgs[i]
		field := "messages[" + strconv.Itoa(i) + "]"
		switch m.Role {
		case "system", "developer":
			parts, err := textParts(m.Content, field)
			if err != nil {
				return err
			}
			if len(parts) == 0 {
				continue
			}
			if len(out.Contents) > 0 {
				appendTurn(out, "user", []Part{midConversationSystem(parts)})
				continue
			}
			if out.SystemInstruction == nil {
				out.SystemInstruction = &Content{}
			}
			out.SystemInstruction.Parts = append(out.SystemInstruction.Parts, parts...)
		case "user":
			parts, err := userParts(m.Content, field)
			if err != nil {
				return err
			}
			appendTurn(out, "user", parts)
		case "assistant":
			parts, err := modelParts(m, field, callNames)
			if err != nil {
				return err
			}
			appendTurn(out, "model", parts)
		case "tool":
			name, ok := callNames[m.ToolCallID]
			if !ok {
				return provider.Invalid(field+".tool_call_id", "matches no earlier assistant tool call")
			}
			appendTurn(out, "user", []Part{{FunctionResponse: &FunctionResponse{Name: name, Response: toolResponse(m.Content.JoinText())}}})
		case "function":
			return provider.Unsupported(field+".role", "the deprecated function role; use tool messages")
		default:
			return provider.Invalid(field+".role", "unknown role "+strconv.Quote(m.Role))
		}
	}
	return nil
}

// midConversationSystem turns a system message that follows the start of
// the conversation into a user-turn text part, tagged so the model reads it
// as an instruction rather than as the user's words. Gemini's contents know
// only user and model turns; moving the message up into systemInstruction
// would lose its place (an instruction given after some turns, such as a
// mode change, is meant to follow them) and would change the prefix of
// every later request, defeating Gemini's implicit prompt caching.
func midConversationSystem(parts []Part) Part {
	var sb strings.Builder
	sb.WriteString("<system_message>\n")
	for i, p := range parts {
		if i > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(p.Text)
	}
	sb.WriteString("\n</system_message>")
	return Part{Text: sb.String()}
}

func appendTurn(out *GenerateRequest, role string, parts []Part) {
	if len(parts) == 0 {
		return
	}
	if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == role {
		out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, parts...)
		return
	}
	out.Contents = append(out.Contents, Content{Role: role, Parts: parts})
}

func textParts(c openai.Content, field string) ([]Part, error) {
	if c.Kind != openai.ContentParts {
		if c.Text == "" {
			return nil, nil
		}
		return []Part{{Text: c.Text}}, nil
	}
	parts := make([]Part, 0, len(c.Parts))
	for j, p := range c.Parts {
		if p.Type != openai.PartText {
			return nil, provider.Unsupported(partField(field, j), p.Type+" parts are only allowed in user messages")
		}
		if p.Text != "" {
			parts = append(parts, Part{Text: p.Text})
		}
	}
	return parts, nil
}

func partField(field string, j int) string { return field + ".content[" + strconv.Itoa(j) + "]" }

func userParts(c openai.Content, field string) ([]Part, error) {
	if c.Kind != openai.ContentParts {
		return textParts(c, field)
	}
	parts := make([]Part, 0, len(c.Parts))
	for j, p := range c.Parts {
		pf := partField(field, j)
		switch p.Type {
		case openai.PartText:
			if p.Text != "" {
				parts = append(parts, Part{Text: p.Text})
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
			parts = append(parts, Part{InlineData: &Blob{MimeType: mt, Data: data}})
		case openai.PartInputAudio:
			var a struct {
				Data   string `json:"data"`
				Format string `json:"format"`
			}
			if err := json.Unmarshal(p.InputAudio, &a); err != nil || a.Data == "" {
				return nil, provider.Invalid(pf+".input_audio", "needs data and format")
			}
			mt, ok := audioMime[a.Format]
			if !ok {
				return nil, provider.Unsupported(pf+".input_audio.format", a.Format)
			}
			parts = append(parts, Part{InlineData: &Blob{MimeType: mt, Data: a.Data}})
		case openai.PartFile:
			var f struct {
				FileData string `json:"file_data"`
			}
			_ = json.Unmarshal(p.File, &f)
			mt, data, ok := openai.ParseDataURL(f.FileData)
			if !ok {
				return nil, provider.Unsupported(pf+".file", "only inline file_data is supported")
			}
			parts = append(parts, Part{InlineData: &Blob{MimeType: mt, Data: data}})
		default:
			return nil, provider.Unsupported(pf+".type", p.Type)
		}
	}
	return parts, nil
}

func modelParts(m *openai.ChatMessage, field string, callNames map[string]string) ([]Part, error) {
	var parts []Part
	if m.Content.Kind == openai.ContentParts {
		for j, p := range m.Content.Parts {
			switch {
			case p.Type == openai.PartText && p.Text != "":
				parts = append(parts, Part{Text: p.Text})
			case p.Type == openai.PartRefusal && p.Refusal != "":
				parts = append(parts, Part{Text: p.Refusal})
			case p.Type != openai.PartText && p.Type != openai.PartRefusal:
				return nil, provider.Unsupported(partField(field, j)+".type", p.Type+" in an assistant message")
			}
		}
	} else if m.Content.Text != "" {
		parts = append(parts, Part{Text: m.Content.Text})
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
		args, err := parseArgs(tc.Function.Arguments, tf+".function.arguments")
		if err != nil {
			return nil, err
		}
		callNames[tc.ID] = tc.Function.Name
		p := Part{FunctionCall: &FunctionCall{Name: tc.Function.Name, Args: args}}
		if k == 0 {
			p.ThoughtSignature = SkipSignature
		}
		parts = append(parts, p)
	}
	return parts, nil
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

// toolResponse makes a functionResponse.response object from a tool result.
func toolResponse(text string) json.RawMessage {
	t := strings.TrimSpace(text)
	if strings.HasPrefix(t, "{") && json.Valid([]byte(t)) {
		var buf bytes.Buffer
		_ = json.Compact(&buf, []byte(t))
		return buf.Bytes()
	}
	b, _ := json.Marshal(struct {
		Result string `json:"result"`
	}{text})
	return b
}

func convertTools(req *openai.ChatRequest, out *GenerateRequest) error {
	var decls []FunctionDeclaration
	for i := range req.Tools {
		t := &req.Tools[i]
		if t.Type != "function" {
			return provider.Unsupported(fmt.Sprintf("tools[%d].type", i), t.Type)
		}
		d := FunctionDeclaration{Name: t.Function.Name, Description: t.Function.Description}
		if len(t.Function.Parameters) > 0 && !bytes.Equal(t.Function.Parameters, []byte("null")) {
			d.ParametersJSONSchema = t.Function.Parameters
		}
		decls = append(decls, d)
	}
	if len(decls) > 0 {
		out.Tools = []Tool{{FunctionDeclarations: decls}}
	}
	if o := req.WebSearchOptions; o != nil {
		// Google Search grounding: models before Gemini 3 refuse it next to
		// function declarations, and it takes no domain list; a location
		// and a context size are hints it has no member for.
		switch {
		case len(decls) > 0:
			return provider.Unsupported("web_search_options", "together with function tools on this upstream")
		case o.Filters != nil && len(o.Filters.AllowedDomains) > 0:
			return provider.Unsupported("web_search_options.filters", "allowed domains on this upstream")
		}
		out.Tools = append(out.Tools, Tool{GoogleSearch: &struct{}{}})
	}
	tc := req.ToolChoice
	if tc == nil {
		return nil
	}
	cfg := &FunctionCallingConfig{}
	switch {
	case tc.Mode == openai.ToolChoiceNone:
		cfg.Mode = "NONE"
	case tc.Mode == openai.ToolChoiceAuto:
		cfg.Mode = "AUTO"
	case tc.Mode == openai.ToolChoiceRequired:
		cfg.Mode = "ANY"
	case tc.Mode == "" && tc.Type == "function" && tc.Function != "":
		cfg.Mode, cfg.AllowedFunctionNames = "ANY", []string{tc.Function}
	default:
		return provider.Unsupported("tool_choice", "only none, auto, required or a named function")
	}
	out.ToolConfig = &ToolConfig{FunctionCallingConfig: cfg}
	return nil
}
