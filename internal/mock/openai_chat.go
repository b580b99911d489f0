package mock

import (
	"bytes"
	"encoding/json"
	"strings"
)

type chatRequest struct {
	Model         string         `json:"model"`
	Messages      []chatMessage  `json:"messages"`
	Stream        bool           `json:"stream"`
	StreamOptions *streamOptions `json:"stream_options"`
	// MaxCompletionTokens is read only to refuse it (quirks.go).
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Tools               []chatTool      `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	Functions           []chatFunction  `json:"functions"` // legacy function calling
	FunctionCall        json.RawMessage `json:"function_call"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatTool struct {
	Type     string       `json:"type"`
	Function chatFunction `json:"function"`
}

type chatFunction struct {
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCallID string          `json:"tool_call_id"`
	ToolCalls  []struct {
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// contentPart covers OpenAI chat and Responses content parts alike.
type contentPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	ImageURL json.RawMessage `json:"image_url"` // {"url": …} in chat, a string in Responses
}

// openAIContent reads a string or an array of parts into text and an image count.
func openAIContent(raw json.RawMessage) (string, int) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return "", 0
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return s, 0
	}
	var parts []contentPart
	if json.Unmarshal(raw, &parts) != nil {
		return "", 0
	}
	var b strings.Builder
	images := 0
	for _, p := range parts {
		switch p.Type {
		case "text", "input_text", "output_text":
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(p.Text)
		case "image_url", "input_image":
			images++
		}
	}
	return b.String(), images
}

// toolChoiceName reads "none" | "auto" | "required" | {"type":"function","function":{"name":…}}
// | {"type":"function","name":…} | {"name":…} (legacy function_call).
func toolChoiceName(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	var o struct {
		Name     string `json:"name"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	_ = json.Unmarshal(raw, &o)
	if o.Function.Name != "" {
		return o.Function.Name
	}
	return o.Name
}

func (req *chatRequest) convo() (*convo, bool) {
	cv := &convo{}
	for _, m := range req.Messages {
		text, images := openAIContent(m.Content)
		cv.text(text)
		cv.images += images
		for _, tc := range m.ToolCalls {
			cv.text(tc.Function.Arguments)
		}
		if m.Role == "user" {
			cv.lastUser = text
		}
	}
	if n := len(req.Messages); n > 0 {
		last := req.Messages[n-1]
		if last.Role == "tool" || last.Role == "function" {
			cv.afterTool = true
			cv.toolResult, _ = openAIContent(last.Content)
		}
	}
	legacy := len(req.Tools) == 0 && len(req.Functions) > 0
	for _, t := range req.Tools {
		cv.tools = append(cv.tools, toolDecl{name: t.Function.Name, schema: t.Function.Parameters})
	}
	cv.choice = toolChoiceName(req.ToolChoice)
	if legacy {
		for _, f := range req.Functions {
			cv.tools = append(cv.tools, toolDecl{name: f.Name, schema: f.Parameters})
		}
		cv.choice = toolChoiceName(req.FunctionCall)
	}
	return cv, legacy
}

func (c *call) modelOr(m, def string) string {
	if c.model != "" {
		return c.model // Azure: the deployment answers as the model
	}
	if m == "" {
		return def
	}
	return m
}

type openAIUsage struct {
	PromptTokens            int           `json:"prompt_tokens"`
	CompletionTokens        int           `json:"completion_tokens"`
	TotalTokens             int           `json:"total_tokens"`
	PromptTokensDetails     *promptDetail `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *complDetail  `json:"completion_tokens_details,omitempty"`
}

type promptDetail struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens"`
}

type complDetail struct {
	ReasoningTokens          int `json:"reasoning_tokens"`
	AudioTokens              int `json:"audio_tokens"`
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
}

func (u usage) openAI() *openAIUsage {
	if u.none {
		return nil
	}
	return &openAIUsage{
		PromptTokens:            u.prompt,
		CompletionTokens:        u.completion,
		TotalTokens:             u.prompt + u.completion,
		PromptTokensDetails:     &promptDetail{CachedTokens: u.cached},
		CompletionTokensDetails: &complDetail{},
	}
}

type chatResponse struct {
	ID                  string          `json:"id"`
	Object              string          `json:"object"`
	Created             int64           `json:"created"`
	Model               string          `json:"model"`
	SystemFingerprint   string          `json:"system_fingerprint"`
	Choices             []chatChoice    `json:"choices"`
	Usage               *openAIUsage    `json:"usage"`
	PromptFilterResults json.RawMessage `json:"prompt_filter_results,omitempty"`
}

type chatChoice struct {
	Index                int             `json:"index"`
	Message              chatOutMessage  `json:"message"`
	Logprobs             json.RawMessage `json:"logprobs"`
	FinishReason         string          `json:"finish_reason"`
	ContentFilterResults json.RawMessage `json:"content_filter_results,omitempty"`
}

type chatOutMessage struct {
	Role         string         `json:"role"`
	Content      *string        `json:"content"`
	Refusal      *string        `json:"refusal"`
	ToolCalls    []chatToolCall `json:"tool_calls,omitempty"`
	FunctionCall *chatFnCall    `json:"function_call,omitempty"`
	Annotations  []any          `json:"annotations"`
	// ReasoningContent is the quirky reasoning servers' thinking.
	ReasoningContent string `json:"reasoning_content,omitempty"`
}

type chatToolCall struct {
	Index    *int       `json:"index,omitempty"` // stream deltas only
	ID       string     `json:"id,omitempty"`
	Type     string     `json:"type,omitempty"`
	Function chatFnCall `json:"function"`
}

type chatFnCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Azure content-filter annotations, as Azure OpenAI attaches them.
var (
	azureFilterOK        = json.RawMessage(`{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}`)
	azurePromptFilter    = json.RawMessage(`[{"prompt_index":0,"content_filter_results":` + string(azureFilterOK) + `}]`)
	jsonNull             = json.RawMessage("null")
	chatFingerprint      = "fp_mock"
	defaultChatModel     = "gpt-4o-mini"
	defaultInstructModel = "gpt-3.5-turbo-instruct"
)

func (s *Server) chatCompletions(c *call) {
	var req chatRequest
	if !c.decode(&req) {
		return
	}
	if len(req.Messages) == 0 {
		c.fail(400, "messages: must be a non-empty array")
		return
	}
	if c.refuseQuirk(&req) {
		return
	}
	cv, legacy := req.convo()
	a := c.plan(cv, c.modelOr(req.Model, defaultChatModel))
	if c.quirks.noUsage {
		a.usage.none = true
	}
	if req.Stream {
		s.chatStream(c, a, legacy, req.StreamOptions != nil && req.StreamOptions.IncludeUsage && !a.usage.none)
		return
	}
	msg := chatOutMessage{Role: "assistant", Annotations: []any{}}
	if c.quirks.reasoning {
		msg.ReasoningContent = reasoningText
	}
	finish := "stop"
	switch {
	case a.tool && legacy:
		msg.FunctionCall = &chatFnCall{Name: a.toolName, Arguments: a.args}
		finish = "function_call"
	case a.tool:
		msg.ToolCalls = []chatToolCall{{ID: a.callID, Type: "function", Function: chatFnCall{Name: a.toolName, Arguments: a.args}}}
		finish = "tool_calls"
	default:
		t := a.text()
		msg.Content = &t
	}
	resp := chatResponse{
		ID: s.newID("chatcmpl-"), Object: "chat.completion", Created: s.now().Unix(), Model: a.model,
		SystemFingerprint: chatFingerprint, Usage: a.usage.openAI(),
		Choices: []chatChoice{{Message: msg, Logprobs: jsonNull, FinishReason: finish}},
	}
	if c.prov == provAzure {
		resp.PromptFilterResults = azurePromptFilter
		resp.Choices[0].ContentFilterResults = azureFilterOK
	}
	c.reply(resp)
}

type chatChunk struct {
	ID                  string          `json:"id"`
	Object              string          `json:"object"`
	Created             int64           `json:"created"`
	Model               string          `json:"model"`
	SystemFingerprint   string          `json:"system_fingerprint,omitempty"`
	Choices             []chunkChoice   `json:"choices"`
	Usage               json.RawMessage `json:"usage,omitempty"`
	PromptFilterResults json.RawMessage `json:"prompt_filter_results,omitempty"`
}

type chunkChoice struct {
	Index        int             `json:"index"`
	Delta        any             `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

func (s *Server) chatStream(c *call, a *answer, legacy, includeUsage bool) {
	st := c.startStream(modeSSE)
	base := chatChunk{ID: s.newID("chatcmpl-"), Object: "chat.completion.chunk", Created: s.now().Unix(), Model: a.model, SystemFingerprint: chatFingerprint}
	if includeUsage {
		base.Usage = jsonNull // every chunk but the last says usage: null
	}
	chunk := func(delta any, finish *string) chatChunk {
		ch := base
		ch.Choices = []chunkChoice{{Delta: delta, Logprobs: jsonNull, FinishReason: finish}}
		return ch
	}
	if c.prov == provAzure {
		// Azure opens with a choices-less chunk carrying only the prompt filter.
		st.sendJSON("", chatChunk{Choices: []chunkChoice{}, PromptFilterResults: azurePromptFilter})
	}
	finish := "stop"
	zero := 0
	switch {
	case a.tool && legacy:
		finish = "function_call"
		st.sendJSON("", chunk(map[string]any{"role": "assistant", "content": nil,
			"function_call": chatFnCall{Name: a.toolName}}, nil))
		t := newTmpl(chunk(map[string]any{"function_call": map[string]string{"arguments": holeS}}, nil))
		var b []byte
		for _, p := range a.argPieces() {
			b = t.fill(b[:0], 0, p)
			st.send("", b)
		}
	case a.tool:
		finish = "tool_calls"
		st.sendJSON("", chunk(map[string]any{"role": "assistant", "content": nil,
			"tool_calls": []chatToolCall{{Index: &zero, ID: a.callID, Type: "function", Function: chatFnCall{Name: a.toolName}}}}, nil))
		t := newTmpl(chunk(map[string]any{"tool_calls": []map[string]any{{"index": 0, "function": map[string]string{"arguments": holeS}}}}, nil))
		var b []byte
		for _, p := range a.argPieces() {
			b = t.fill(b[:0], 0, p)
			st.send("", b)
		}
	default:
		st.sendJSON("", chunk(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil))
		if c.quirks.reasoning {
			// As DeepSeek streams it: reasoning deltas with a null
			// content, before the first content delta.
			for w := range strings.SplitAfterSeq(reasoningText, " ") {
				st.sendJSON("", chunk(map[string]any{"content": nil, "reasoning_content": w}, nil))
			}
		}
		t := newTmpl(chunk(map[string]string{"content": holeS}, nil))
		var b []byte
		for i := 0; i < a.n && st.ok(); i++ {
			b = t.fill(b[:0], 0, a.piece(i))
			st.send("", b)
		}
	}
	st.sendJSON("", chunk(struct{}{}, &finish))
	if includeUsage {
		u := base
		u.Choices = []chunkChoice{}
		u.Usage, _ = json.Marshal(a.usage.openAI())
		st.sendJSON("", u)
	}
	st.send("", []byte("[DONE]"))
}

type completionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	Stream        bool            `json:"stream"`
	StreamOptions *streamOptions  `json:"stream_options"`
}

// completionPrompt reads string | []string | []int | [][]int into a convo.
func completionPrompt(raw json.RawMessage) *convo {
	cv := &convo{}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		cv.text(s)
		cv.lastUser = s
		return cv
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil {
		for _, p := range ss {
			cv.text(p)
			cv.lastUser = p
		}
		return cv
	}
	var toks []int
	if json.Unmarshal(raw, &toks) == nil {
		cv.chars += 4 * len(toks) // one token each
		return cv
	}
	var tt [][]int
	if json.Unmarshal(raw, &tt) == nil {
		for _, t := range tt {
			cv.chars += 4 * len(t)
		}
	}
	return cv
}

type completionChoice struct {
	Text         string          `json:"text"`
	Index        int             `json:"index"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type completionResponse struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   json.RawMessage    `json:"usage,omitempty"`
}

func (s *Server) completions(c *call) {
	var req completionRequest
	if !c.decode(&req) {
		return
	}
	if len(req.Prompt) == 0 {
		c.fail(400, "prompt: required")
		return
	}
	a := c.plan(completionPrompt(req.Prompt), c.modelOr(req.Model, defaultInstructModel))
	var usageJSON json.RawMessage
	if !a.usage.none {
		usageJSON, _ = json.Marshal(a.usage.openAI())
	}
	stop := "stop"
	base := completionResponse{ID: s.newID("cmpl-"), Object: "text_completion", Created: s.now().Unix(), Model: a.model}
	if !req.Stream {
		base.Choices = []completionChoice{{Text: a.text(), Logprobs: jsonNull, FinishReason: &stop}}
		base.Usage = usageJSON
		c.reply(base)
		return
	}
	st := c.startStream(modeSSE)
	ch := base
	ch.Choices = []completionChoice{{Text: holeS, Logprobs: jsonNull}}
	t := newTmpl(ch)
	var b []byte
	for i := 0; i < a.n && st.ok(); i++ {
		b = t.fill(b[:0], 0, a.piece(i))
		st.send("", b)
	}
	ch.Choices = []completionChoice{{Text: "", Logprobs: jsonNull, FinishReason: &stop}}
	st.sendJSON("", ch)
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage && !a.usage.none {
		u := base
		u.Choices = []completionChoice{}
		u.Usage = usageJSON
		st.sendJSON("", u)
	}
	st.send("", []byte("[DONE]"))
}
