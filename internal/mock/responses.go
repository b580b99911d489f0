package mock

import (
	"bytes"
	"encoding/json"
)

type responsesRequest struct {
	Model              string            `json:"model"`
	Input              json.RawMessage   `json:"input"`
	Instructions       *string           `json:"instructions"`
	Tools              []responsesTool   `json:"tools"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	Stream             bool              `json:"stream"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Metadata           map[string]string `json:"metadata"`
}

type responsesTool struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters"`
}

type responsesItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

func (req *responsesRequest) convo() *convo {
	cv := &convo{}
	if req.Instructions != nil {
		cv.text(*req.Instructions)
	}
	in := bytes.TrimSpace(req.Input)
	if len(in) > 0 && in[0] == '"' {
		var s string
		_ = json.Unmarshal(in, &s)
		cv.text(s)
		cv.lastUser = s
	} else {
		var items []responsesItem
		_ = json.Unmarshal(in, &items)
		for i, it := range items {
			switch it.Type {
			case "function_call":
				cv.text(it.Arguments)
			case "function_call_output":
				out, _ := openAIContent(it.Output)
				cv.text(out)
				if i == len(items)-1 {
					cv.afterTool, cv.toolResult = true, out
				}
			case "", "message":
				text, images := openAIContent(it.Content)
				cv.text(text)
				cv.images += images
				if it.Role == "user" {
					cv.lastUser = text
				}
			}
		}
	}
	for _, t := range req.Tools {
		if t.Type == "function" {
			cv.tools = append(cv.tools, toolDecl{name: t.Name, schema: t.Parameters})
		}
	}
	cv.choice = toolChoiceName(req.ToolChoice)
	return cv
}

// responseObject is the Response resource; field order follows OpenAI's.
type responseObject struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	CreatedAt          int64             `json:"created_at"`
	Status             string            `json:"status"`
	Background         bool              `json:"background"`
	CompletedAt        *int64            `json:"completed_at"`
	Error              json.RawMessage   `json:"error"`
	IncompleteDetails  json.RawMessage   `json:"incomplete_details"`
	Instructions       *string           `json:"instructions"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	Model              string            `json:"model"`
	Output             []any             `json:"output"`
	ParallelToolCalls  bool              `json:"parallel_tool_calls"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Reasoning          map[string]any    `json:"reasoning"`
	ServiceTier        string            `json:"service_tier"`
	Store              bool              `json:"store"`
	Temperature        float64           `json:"temperature"`
	Text               map[string]any    `json:"text"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	Tools              json.RawMessage   `json:"tools"`
	TopP               float64           `json:"top_p"`
	Truncation         string            `json:"truncation"`
	Usage              *responsesUsage   `json:"usage,omitempty"`
	User               *string           `json:"user,omitempty"`
	Metadata           map[string]string `json:"metadata"`
}

type responsesUsage struct {
	InputTokens         int            `json:"input_tokens"`
	InputTokensDetails  map[string]int `json:"input_tokens_details"`
	OutputTokens        int            `json:"output_tokens"`
	OutputTokensDetails map[string]int `json:"output_tokens_details"`
	TotalTokens         int            `json:"total_tokens"`
}

func (u usage) responses() *responsesUsage {
	if u.none {
		return nil
	}
	return &responsesUsage{
		InputTokens:         u.prompt,
		InputTokensDetails:  map[string]int{"cached_tokens": u.cached, "cache_write_tokens": u.cacheWrite},
		OutputTokens:        u.completion,
		OutputTokensDetails: map[string]int{"reasoning_tokens": 0},
		TotalTokens:         u.prompt + u.completion,
	}
}

type outputMessage struct {
	ID      string       `json:"id"`
	Type    string       `json:"type"`
	Status  string       `json:"status"`
	Content []outputText `json:"content"`
	Role    string       `json:"role"`
}

type outputText struct {
	Type        string `json:"type"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
	Text        string `json:"text"`
}

type functionCallItem struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Arguments string `json:"arguments"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
}

func (s *Server) responses(c *call) {
	var req responsesRequest
	if !c.decode(&req) {
		return
	}
	if len(req.Input) == 0 {
		c.fail(400, "input: required")
		return
	}
	a := c.plan(req.convo(), c.modelOr(req.Model, defaultChatModel))
	resp := responseObject{
		ID: s.newID("resp_"), Object: "response", CreatedAt: s.now().Unix(), Status: "in_progress",
		Error: jsonNull, IncompleteDetails: jsonNull, Instructions: req.Instructions, MaxOutputTokens: req.MaxOutputTokens,
		Model: a.model, Output: []any{}, ParallelToolCalls: true, PreviousResponseID: req.PreviousResponseID,
		Reasoning: map[string]any{"effort": nil, "summary": nil}, ServiceTier: "default", Store: true, Temperature: 1,
		Text:       map[string]any{"format": map[string]string{"type": "text"}, "verbosity": "medium"},
		ToolChoice: json.RawMessage(`"auto"`), Tools: json.RawMessage(`[]`), TopP: 1, Truncation: "disabled",
		Metadata: map[string]string{},
	}
	if len(req.ToolChoice) > 0 {
		resp.ToolChoice = req.ToolChoice
	}
	if len(req.Tools) > 0 {
		resp.Tools = echoTools(c.body)
	}
	if req.Metadata != nil {
		resp.Metadata = req.Metadata
	}
	var item any
	msgID := s.newID("msg_")
	fc := functionCallItem{ID: s.newID("fc_"), Type: "function_call", Status: "completed", Arguments: a.args, CallID: a.callID, Name: a.toolName}
	if a.tool {
		item = fc
	} else {
		item = outputMessage{ID: msgID, Type: "message", Status: "completed", Role: "assistant",
			Content: []outputText{{Type: "output_text", Annotations: []any{}, Logprobs: []any{}, Text: a.text()}}}
	}
	completed := func() responseObject {
		r := resp
		r.Status = "completed"
		done := s.now().Unix()
		r.CompletedAt = &done
		r.Output = []any{item}
		r.Usage = a.usage.responses()
		return r
	}
	if !req.Stream {
		c.reply(completed())
		return
	}

	st := c.startStream(modeSSE)
	seq := 0
	emit := func(typ string, fields map[string]any) {
		fields["type"] = typ
		fields["sequence_number"] = seq
		seq++
		st.sendJSON(typ, fields)
	}
	emit("response.created", map[string]any{"response": resp})
	emit("response.in_progress", map[string]any{"response": resp})
	if a.tool {
		pending := fc
		pending.Status, pending.Arguments = "in_progress", ""
		emit("response.output_item.added", map[string]any{"output_index": 0, "item": pending})
		t := newTmpl(map[string]any{"type": "response.function_call_arguments.delta", "sequence_number": holeN,
			"item_id": fc.ID, "output_index": 0, "delta": holeS})
		var b []byte
		for _, p := range a.argPieces() {
			b = t.fill(b[:0], seq, p)
			seq++
			st.send("response.function_call_arguments.delta", b)
		}
		emit("response.function_call_arguments.done", map[string]any{"item_id": fc.ID, "output_index": 0, "name": fc.Name, "arguments": fc.Arguments})
		emit("response.output_item.done", map[string]any{"output_index": 0, "item": fc})
	} else {
		emptyPart := outputText{Type: "output_text", Annotations: []any{}, Logprobs: []any{}}
		emit("response.output_item.added", map[string]any{"output_index": 0,
			"item": outputMessage{ID: msgID, Type: "message", Status: "in_progress", Role: "assistant", Content: []outputText{}}})
		emit("response.content_part.added", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "part": emptyPart})
		t := newTmpl(map[string]any{"type": "response.output_text.delta", "sequence_number": holeN,
			"item_id": msgID, "output_index": 0, "content_index": 0, "delta": holeS, "logprobs": []any{}})
		var b []byte
		for i := 0; i < a.n && st.ok(); i++ {
			b = t.fill(b[:0], seq, a.piece(i))
			seq++
			st.send("response.output_text.delta", b)
		}
		full := item.(outputMessage)
		emit("response.output_text.done", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0,
			"text": full.Content[0].Text, "logprobs": []any{}})
		emit("response.content_part.done", map[string]any{"item_id": msgID, "output_index": 0, "content_index": 0, "part": full.Content[0]})
		emit("response.output_item.done", map[string]any{"output_index": 0, "item": full})
	}
	emit("response.completed", map[string]any{"response": completed()})
}

// echoTools returns the request's tools as the Response echoes them: as
// sent, with the defaults OpenAI fills in for function tools.
func echoTools(body []byte) json.RawMessage {
	var req struct {
		Tools []map[string]any `json:"tools"`
	}
	if json.Unmarshal(body, &req) != nil {
		return json.RawMessage(`[]`)
	}
	for _, t := range req.Tools {
		if t["type"] != "function" {
			continue
		}
		if _, ok := t["strict"]; !ok {
			t["strict"] = true
		}
		if _, ok := t["parameters"]; !ok {
			t["parameters"] = nil
		}
	}
	b, err := json.Marshal(req.Tools)
	if err != nil {
		return json.RawMessage(`[]`)
	}
	return b
}
