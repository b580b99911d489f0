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
	InputTokens              int             `json:"input_tokens"`
	CacheCreationInputTokens int             `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int             `json:"cache_read_input_tokens"`
	OutputTokens             int             `json:"output_tokens"`
	ServerToolUse            *map[string]int `json:"server_tool_use,omitempty"`
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
	cv := req.convo()
	a := c.plan(cv, c.modelOr(req.Model, "claude-sonnet-4-5"))
	if !a.tool && !cv.afterTool && req.searchesWeb() {
		s.anthropicSearch(c, &req, cv, a)
		return
	}
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

// Web search (Anthropic's web_search_20250305 server tool): a request that
// declares it and gets a text answer (no client tool call, not after a tool
// result) searches once: a server_tool_use block querying the last user
// text, a web_search_tool_result with one result (MockSearchURL), then the
// text answer citing it, and usage.server_tool_use.web_search_requests 1.

// MockSearchURL and MockSearchTitle are the mock's one web search result.
const (
	MockSearchURL   = "https://example.com/mock-result"
	MockSearchTitle = "Mock search result"
)

func (req *anthropicRequest) searchesWeb() bool {
	for _, t := range req.Tools {
		if strings.HasPrefix(t.Type, "web_search_") {
			return true
		}
	}
	return false
}

func (s *Server) anthropicSearch(c *call, req *anthropicRequest, cv *convo, a *answer) {
	stop := "end_turn"
	searchID := s.newID("srvtoolu_")
	query, _ := json.Marshal(map[string]string{"query": firstRunes(strings.Join(strings.Fields(stripDirectives(cv.lastUser)), " "), 60)})
	use := map[string]any{"type": "server_tool_use", "id": searchID, "name": "web_search", "input": json.RawMessage(query)}
	result := map[string]any{"type": "web_search_tool_result", "tool_use_id": searchID, "content": []map[string]string{{
		"type": "web_search_result", "url": MockSearchURL, "title": MockSearchTitle, "page_age": "April 1, 2025", "encrypted_content": "bW9jaw==",
	}}}
	citation := map[string]string{"type": "web_search_result_location", "url": MockSearchURL, "title": MockSearchTitle,
		"cited_text": "The mock's one search result.", "encrypted_index": "bW9jaw=="}
	u := a.usage.anthropic()
	u.ServerToolUse = &map[string]int{"web_search_requests": 1}
	msg := anthropicResponse{ID: s.newID("msg_"), Type: "message", Role: "assistant", Model: a.model, Usage: u}
	if !req.Stream {
		msg.Content = []any{use, result, map[string]any{"type": "text", "text": a.text(), "citations": []any{citation}}}
		msg.StopReason = &stop
		c.reply(msg)
		return
	}
	st := c.startStream(modeSSE)
	start := msg
	start.Content = []any{}
	start.Usage.OutputTokens = 1
	start.Usage.ServerToolUse = nil
	st.sendJSON("message_start", map[string]any{"type": "message_start", "message": start})
	use["input"] = json.RawMessage("{}")
	st.sendJSON("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": use})
	st.sendJSON("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
		"delta": map[string]string{"type": "input_json_delta", "partial_json": string(query)}})
	st.send("content_block_stop", []byte(`{"type":"content_block_stop","index":0}`))
	st.sendJSON("content_block_start", map[string]any{"type": "content_block_start", "index": 1, "content_block": result})
	st.send("content_block_stop", []byte(`{"type":"content_block_stop","index":1}`))
	st.sendJSON("content_block_start", map[string]any{"type": "content_block_start", "index": 2,
		"content_block": map[string]any{"type": "text", "text": "", "citations": []any{}}})
	st.sendJSON("content_block_delta", map[string]any{"type": "content_block_delta", "index": 2,
		"delta": map[string]any{"type": "citations_delta", "citation": citation}})
	t := newTmpl(map[string]any{"type": "content_block_delta", "index": 2, "delta": map[string]string{"type": "text_delta", "text": holeS}})
	var b []byte
	for i := 0; i < a.n && st.ok(); i++ {
		b = t.fill(b[:0], 0, a.piece(i))
		st.send("content_block_delta", b)
	}
	st.send("content_block_stop", []byte(`{"type":"content_block_stop","index":2}`))
	st.sendJSON("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": a.usage.completion, "server_tool_use": map[string]int{"web_search_requests": 1}}})
	st.send("message_stop", []byte(`{"type":"message_stop"}`))
}
