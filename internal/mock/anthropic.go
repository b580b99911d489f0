package mock

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

type anthropicRequest struct {
	Model      string             `json:"model"`
	System     json.RawMessage    `json:"system"`
	Messages   []anthropicMessage `json:"messages"`
	Tools      []anthropicTool    `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
	Stream    bool `json:"stream"`
	MaxTokens *int `json:"max_tokens"`
}

type anthropicMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anthropicTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anthropicBlock struct {
	Type    string          `json:"type"`
	Text    string          `json:"text"`
	Input   json.RawMessage `json:"input"`
	Content json.RawMessage `json:"content"` // tool_result: string or blocks
}

// anthropicContent reads a string or block array: text, image count, and
// the text of a tool_result block when there is one.
func anthropicContent(raw json.RawMessage) (text string, images int, toolResult *string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", 0, nil
	}
	if raw[0] == '"' {
		_ = json.Unmarshal(raw, &text)
		return text, 0, nil
	}
	var blocks []anthropicBlock
	if json.Unmarshal(raw, &blocks) != nil {
		return "", 0, nil
	}
	var b strings.Builder
	for _, bl := range blocks {
		switch bl.Type {
		case "text":
			b.WriteString(bl.Text)
		case "image", "document":
			images++
		case "tool_use":
			b.Write(bl.Input)
		case "tool_result":
			t, n, _ := anthropicContent(bl.Content)
			b.WriteString(t)
			images += n
			toolResult = &t
		}
	}
	return b.String(), images, toolResult
}

func (req *anthropicRequest) convo() *convo {
	cv := &convo{}
	sys, _, _ := anthropicContent(req.System)
	cv.text(sys)
	for i, m := range req.Messages {
		text, images, tr := anthropicContent(m.Content)
		cv.text(text)
		cv.images += images
		if m.Role != "user" {
			continue
		}
		if tr != nil {
			if i == len(req.Messages)-1 {
				cv.afterTool, cv.toolResult = true, *tr
			}
			continue
		}
		cv.lastUser = text
	}
	for _, t := range req.Tools {
		if t.InputSchema != nil { // client tools; server tools (web_search…) have none
			cv.tools = append(cv.tools, toolDecl{name: t.Name, schema: t.InputSchema})
		}
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Type {
		case "none":
			cv.choice = "none"
		case "any":
			cv.choice = "required"
		case "tool":
			cv.choice = tc.Name
		}
	}
	return cv
}

type anthropicUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

// anthropic counts cache reads and writes apart from input_tokens.
func (u usage) anthropic() anthropicUsage {
	return anthropicUsage{
		InputTokens:              u.prompt - u.cached - u.cacheWrite,
		CacheCreationInputTokens: u.cacheWrite,
		CacheReadInputTokens:     u.cached,
		OutputTokens:             u.completion,
	}
}

type anthropicResponse struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []any          `json:"content"`
	StopReason   *string        `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        anthropicUsage `json:"usage"`
}

type anthropicTextBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicToolUse struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

func (s *Server) anthropicMessages(c *call) {
	var req anthropicRequest
	if !c.decode(&req) {
		return
	}
	switch {
	case req.MaxTokens == nil:
		c.fail(http.StatusBadRequest, "max_tokens: Field required")
		return
	case len(req.Messages) == 0:
		c.fail(http.StatusBadRequest, "messages: at least one message is required")
		return
	}
	a := c.plan(req.convo(), c.modelOr(req.Model, "claude-sonnet-4-5"))
	stop := "end_turn"
	toolID := s.newID("toolu_")
	if a.tool {
		stop = "tool_use"
	}
	msg := anthropicResponse{ID: s.newID("msg_"), Type: "message", Role: "assistant", Model: a.model, Usage: a.usage.anthropic()}
	if !req.Stream {
		if a.tool {
			msg.Content = []any{anthropicToolUse{Type: "tool_use", ID: toolID, Name: a.toolName, Input: a.argsMap()}}
		} else {
			msg.Content = []any{anthropicTextBlock{Type: "text", Text: a.text()}}
		}
		msg.StopReason = &stop
		c.reply(msg)
		return
	}

	st := c.startStream(modeSSE)
	start := msg
	start.Content = []any{}
	start.Usage.OutputTokens = 1 // Anthropic reports a provisional count at the start
	st.sendJSON("message_start", map[string]any{"type": "message_start", "message": start})
	var block any = anthropicTextBlock{Type: "text", Text: ""}
	if a.tool {
		block = anthropicToolUse{Type: "tool_use", ID: toolID, Name: a.toolName, Input: json.RawMessage("{}")}
	}
	st.sendJSON("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": block})
	st.send("ping", []byte(`{"type": "ping"}`))
	var b []byte
	if a.tool {
		t := newTmpl(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]string{"type": "input_json_delta", "partial_json": holeS}})
		for _, p := range a.argPieces() {
			b = t.fill(b[:0], 0, p)
			st.send("content_block_delta", b)
		}
	} else {
		t := newTmpl(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]string{"type": "text_delta", "text": holeS}})
		for i := 0; i < a.n && st.ok(); i++ {
			b = t.fill(b[:0], 0, a.piece(i))
			st.send("content_block_delta", b)
		}
	}
	st.send("content_block_stop", []byte(`{"type":"content_block_stop","index":0}`))
	st.sendJSON("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]int{"output_tokens": a.usage.completion}})
	st.send("message_stop", []byte(`{"type":"message_stop"}`))
}

func (s *Server) anthropicCountTokens(c *call) {
	var req anthropicRequest
	if !c.decode(&req) {
		return
	}
	if len(req.Messages) == 0 {
		c.fail(http.StatusBadRequest, "messages: at least one message is required")
		return
	}
	c.reply(map[string]int{"input_tokens": req.convo().promptTokens()})
}
