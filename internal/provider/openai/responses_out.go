package openai

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Response is a Responses API response object.
type Response struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"` // "response"
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"` // in_progress | completed | incomplete
	CompletedAt        *int64             `json:"completed_at"`
	Error              json.RawMessage    `json:"error"`
	IncompleteDetails  *IncompleteDetails `json:"incomplete_details"`
	Instructions       *string            `json:"instructions"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	Model              string             `json:"model"`
	Output             []OutputItem       `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Reasoning          *Reasoning         `json:"reasoning,omitempty"`
	Store              bool               `json:"store"`
	Temperature        *float64           `json:"temperature"`
	Text               TextConfig         `json:"text"`
	ToolChoice         any                `json:"tool_choice"`
	Tools              []responseTool     `json:"tools"`
	TopP               *float64           `json:"top_p"`
	Truncation         string             `json:"truncation"`
	Usage              *ResponseUsage     `json:"usage,omitempty"`
	User               *string            `json:"user,omitempty"`
	Metadata           map[string]string  `json:"metadata"`
}

// responseTool is a function tool as a response echoes it: parameters and
// strict are always present, null when the request left them out. A
// namespace tool is echoed with its functions.
type responseTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
	Tools       []responseTool  `json:"-"`
}

// MarshalJSON writes a namespace tool in its own shape.
func (t responseTool) MarshalJSON() ([]byte, error) {
	type plain responseTool
	if t.Type != "namespace" {
		return json.Marshal(plain(t))
	}
	return json.Marshal(struct {
		Type        string         `json:"type"`
		Name        string         `json:"name"`
		Description string         `json:"description"`
		Tools       []responseTool `json:"tools"`
	}{t.Type, t.Name, t.Description, t.Tools})
}

func echoTool(t *ResponsesTool) responseTool {
	rt := responseTool{Type: t.Type, Name: t.Name, Description: t.Description, Parameters: t.Parameters, Strict: t.Strict}
	if len(rt.Parameters) == 0 {
		rt.Parameters = json.RawMessage("null")
	}
	for i := range t.Tools {
		rt.Tools = append(rt.Tools, echoTool(&t.Tools[i]))
	}
	return rt
}

// IncompleteDetails says why a response is incomplete.
type IncompleteDetails struct {
	Reason string `json:"reason"` // max_output_tokens | content_filter
}

// ResponseUsage is Responses usage.
type ResponseUsage struct {
	InputTokens         int                 `json:"input_tokens"`
	InputTokensDetails  InputTokensDetails  `json:"input_tokens_details"`
	OutputTokens        int                 `json:"output_tokens"`
	OutputTokensDetails OutputTokensDetails `json:"output_tokens_details"`
	TotalTokens         int                 `json:"total_tokens"`
}

// InputTokensDetails breaks down input tokens.
type InputTokensDetails struct {
	CachedTokens     int `json:"cached_tokens"`
	CacheWriteTokens int `json:"cache_write_tokens"`
}

// OutputTokensDetails breaks down output tokens.
type OutputTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// ResponseUsageFromChat converts chat usage.
func ResponseUsageFromChat(u Usage) *ResponseUsage {
	return &ResponseUsage{
		InputTokens:         u.PromptTokens,
		InputTokensDetails:  InputTokensDetails{CachedTokens: u.PromptTokensDetails.CachedTokens},
		OutputTokens:        u.CompletionTokens,
		OutputTokensDetails: OutputTokensDetails{ReasoningTokens: u.CompletionTokensDetails.ReasoningTokens},
		TotalTokens:         u.PromptTokens + u.CompletionTokens,
	}
}

// OutputItem is one output item: message, function_call or reasoning.
type OutputItem struct {
	Type      string
	ID        string
	Status    string
	Text      string // message: the output text; reasoning: the summary text
	Refusal   string // message: refusal text
	CallID    string // function_call
	Namespace string // function_call of a namespace tool
	Name      string
	Args      string

	Annotations []Annotation // message: url citations, indexes into Text
	Query       string       // web_search_call
	Sources     []string     // web_search_call: result URLs

	EncryptedContent string // reasoning: signed reasoning (responses_reasoning.go)
}

type outputText struct {
	Type        string               `json:"type"`
	Text        string               `json:"text"`
	Annotations []responseAnnotation `json:"annotations"`
	Logprobs    []json.RawMessage    `json:"logprobs"`
}

// responseAnnotation is a Responses url_citation.
type responseAnnotation struct {
	Type       string `json:"type"`
	StartIndex int    `json:"start_index"`
	EndIndex   int    `json:"end_index"`
	URL        string `json:"url"`
	Title      string `json:"title"`
}

func responseAnnotations(as []Annotation) []responseAnnotation {
	out := make([]responseAnnotation, len(as))
	for i, a := range as {
		c := a.URLCitation
		out[i] = responseAnnotation{"url_citation", c.StartIndex, c.EndIndex, c.URL, c.Title}
	}
	return out
}

type webSearchAction struct {
	Type    string            `json:"type"` // "search"
	Query   string            `json:"query"`
	Queries []string          `json:"queries"`
	Sources []webSearchSource `json:"sources,omitempty"`
}

type webSearchSource struct {
	Type string `json:"type"` // "url"
	URL  string `json:"url"`
}

type refusalPart struct {
	Type    string `json:"type"`
	Refusal string `json:"refusal"`
}

type summaryText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

var noJSON = []json.RawMessage{}

// MarshalJSON writes the members of the item's type, with the empty arrays
// the SDKs expect rather than omitted fields.
func (it OutputItem) MarshalJSON() ([]byte, error) {
	switch it.Type {
	case "function_call":
		return json.Marshal(struct {
			ID        string `json:"id"`
			Type      string `json:"type"`
			Status    string `json:"status"`
			CallID    string `json:"call_id"`
			Namespace string `json:"namespace,omitempty"`
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		}{it.ID, it.Type, it.Status, it.CallID, it.Namespace, it.Name, it.Args})
	case "web_search_call":
		act := webSearchAction{Type: "search", Query: it.Query, Queries: []string{it.Query}}
		for _, u := range it.Sources {
			act.Sources = append(act.Sources, webSearchSource{"url", u})
		}
		return json.Marshal(struct {
			ID     string          `json:"id"`
			Type   string          `json:"type"`
			Status string          `json:"status"`
			Action webSearchAction `json:"action"`
		}{it.ID, it.Type, it.Status, act})
	case "reasoning":
		summary := []summaryText{}
		if it.Text != "" {
			summary = append(summary, summaryText{"summary_text", it.Text})
		}
		return json.Marshal(struct {
			ID               string        `json:"id"`
			Type             string        `json:"type"`
			Status           string        `json:"status,omitempty"`
			Summary          []summaryText `json:"summary"`
			EncryptedContent string        `json:"encrypted_content,omitempty"`
		}{it.ID, it.Type, it.Status, summary, it.EncryptedContent})
	}
	content := []any{}
	if it.Status != "in_progress" || it.Text != "" {
		if it.Text != "" || it.Refusal == "" {
			content = append(content, outputText{"output_text", it.Text, responseAnnotations(it.Annotations), noJSON})
		}
		if it.Refusal != "" {
			content = append(content, refusalPart{"refusal", it.Refusal})
		}
	}
	return json.Marshal(struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Status  string `json:"status"`
		Role    string `json:"role"`
		Content []any  `json:"content"`
	}{it.ID, "message", it.Status, "assistant", content})
}

// ChatToResponse translates a chat completion into a Responses response.
// req, when not nil, supplies the request parameters a response echoes.
func ChatToResponse(resp *ChatResponse, req *ResponsesRequest) *Response {
	base := strings.TrimPrefix(resp.ID, "chatcmpl-")
	model := resp.Model
	if req != nil && req.Model != "" {
		model = req.Model // the name the client asked for
	}
	out := newResponse("resp_"+base, model, now().Unix(), req)
	finish := ""
	if len(resp.Choices) > 0 {
		c := &resp.Choices[0]
		finish = c.FinishReason
		m := &c.Message
		switch {
		case len(m.ReasoningBlocks) > 0:
			// One item per signed block, so that each goes back as it came.
			for _, rb := range m.ReasoningBlocks {
				out.Output = append(out.Output, OutputItem{Type: "reasoning", ID: itemID("rs", base, len(out.Output)),
					Text: rb.Text, EncryptedContent: encryptedReasoning(rb)})
			}
		case m.ReasoningContent != "":
			out.Output = append(out.Output, OutputItem{Type: "reasoning", ID: itemID("rs", base, len(out.Output)), Text: m.ReasoningContent})
		}
		for _, ws := range m.WebSearchCalls {
			out.Output = append(out.Output, webSearchItem(ws, itemID("ws", base, len(out.Output))))
		}
		text := m.Content.JoinText()
		refusal := ""
		if m.Refusal != nil {
			refusal = *m.Refusal
		}
		if text != "" || refusal != "" || len(m.ToolCalls) == 0 {
			out.Output = append(out.Output, OutputItem{Type: "message", ID: itemID("msg", base, len(out.Output)), Status: "completed", Text: text, Refusal: refusal, Annotations: m.Annotations})
		}
		names := req.toolNames()
		for _, tc := range m.ToolCalls {
			ns, name := names.client(tc.Function.Name)
			out.Output = append(out.Output, OutputItem{
				Type: "function_call", ID: itemID("fc", base, len(out.Output)), Status: "completed",
				CallID: tc.ID, Namespace: ns, Name: name, Args: tc.Function.Arguments,
			})
		}
	}
	var usage Usage
	if resp.Usage != nil {
		usage = *resp.Usage
	}
	out.finish(finish, usage, now().Unix())
	if out.Status == "incomplete" {
		for i := range out.Output {
			if out.Output[i].Type == "message" {
				out.Output[i].Status = "incomplete"
			}
		}
	}
	return out
}

// webSearchItem is the web_search_call item of a search an upstream ran.
func webSearchItem(ws WebSearchCall, id string) OutputItem {
	status := "completed"
	if ws.Failed {
		status = "failed"
	}
	return OutputItem{Type: "web_search_call", ID: id, Status: status, Query: ws.Query, Sources: ws.Sources}
}

func itemID(prefix, base string, index int) string {
	return prefix + "_" + base + "_" + strconv.Itoa(index)
}

// newResponse builds an in-progress response echoing req's parameters.
func newResponse(id, model string, created int64, req *ResponsesRequest) *Response {
	r := &Response{
		ID: id, Object: "response", CreatedAt: created, Status: "in_progress", Error: json.RawMessage("null"),
		Model: model, Output: []OutputItem{}, ParallelToolCalls: true, Truncation: "disabled",
		Text: TextConfig{Format: &TextFormat{Type: "text"}}, ToolChoice: "auto", Tools: []responseTool{},
		Metadata: map[string]string{},
	}
	if req == nil {
		return r
	}
	if req.Instructions != "" {
		r.Instructions = &req.Instructions
	}
	r.MaxOutputTokens, r.Temperature, r.TopP, r.Reasoning = req.MaxOutputTokens, req.Temperature, req.TopP, req.Reasoning
	if req.ParallelToolCalls != nil {
		r.ParallelToolCalls = *req.ParallelToolCalls
	}
	if req.Store != nil {
		r.Store = *req.Store
	}
	if req.Text != nil && req.Text.Format != nil {
		r.Text = *req.Text
	}
	if req.ToolChoice != nil {
		r.ToolChoice = req.ToolChoice
	}
	for i := range req.Tools {
		r.Tools = append(r.Tools, echoTool(&req.Tools[i]))
	}
	if req.User != "" {
		r.User = &req.User
	}
	if req.Metadata != nil {
		r.Metadata = req.Metadata
	}
	return r
}

// finish sets the final status from a chat finish reason, and the usage.
func (r *Response) finish(reason string, u Usage, at int64) {
	switch reason {
	case FinishLength:
		r.Status, r.IncompleteDetails = "incomplete", &IncompleteDetails{Reason: "max_output_tokens"}
	case FinishContentFilter:
		r.Status, r.IncompleteDetails = "incomplete", &IncompleteDetails{Reason: "content_filter"}
	default:
		r.Status, r.CompletedAt = "completed", &at
	}
	r.Usage = ResponseUsageFromChat(u)
}
