package anthropic

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/provider/openai"
)

// now is the clock for the "created" field; tests pin it.
var now = time.Now

// ToChatResponse translates a Messages response into a chat completion. model
// is the name the client asked for ("" keeps the upstream's).
func ToChatResponse(msg *Message, model string) *openai.ChatResponse {
	if model == "" {
		model = msg.Model
	}
	var text, reasoning []byte
	var calls []openai.ToolCall
	var ws webSearches
	runes := 0
	for i := range msg.Content {
		b := &msg.Content[i]
		switch b.Type {
		case BlockText:
			text = append(text, b.Text...)
			n := utf8.RuneCountInString(b.Text)
			ws.cite(b.Citations, runes, runes+n)
			runes += n
		case BlockServerToolUse:
			ws.use(b)
		case BlockWebSearchResult:
			ws.result(b)
		case BlockThinking:
			reasoning = append(reasoning, b.Thinking...)
		case BlockToolUse:
			calls = append(calls, openai.ToolCall{
				ID:       b.ID,
				Type:     "function",
				Function: openai.FunctionCall{Name: b.Name, Arguments: compactJSON(b.Input)},
			})
		}
	}
	out := openai.ChatMessage{Role: "assistant", ToolCalls: calls, ReasoningContent: string(reasoning),
		Annotations: ws.annotations, WebSearchCalls: ws.calls}
	switch {
	case len(text) > 0:
		out.Content = openai.TextContent(string(text))
	case len(calls) > 0:
		out.Content = openai.Content{Kind: openai.ContentNull}
	default:
		out.Content = openai.TextContent("")
	}
	reason := ""
	if msg.StopReason != nil {
		reason = *msg.StopReason
	}
	usage := chatUsage(msg.Usage)
	return &openai.ChatResponse{
		ID:      msg.ID,
		Object:  "chat.completion",
		Created: now().Unix(),
		Model:   model,
		Choices: []openai.ChatChoice{{Message: out, FinishReason: FinishReason(reason, len(calls) > 0)}},
		Usage:   &usage,
	}
}

// FinishReason maps an Anthropic stop reason to a chat finish reason.
func FinishReason(stop string, hasToolCalls bool) string {
	switch stop {
	case StopMaxTokens, StopContextLimit:
		return openai.FinishLength
	case StopToolUse:
		return openai.FinishToolCalls
	case StopRefusal:
		return openai.FinishContentFilter
	}
	if hasToolCalls {
		return openai.FinishToolCalls
	}
	return openai.FinishStop
}

// chatUsage converts usage: Anthropic's input_tokens exclude cache reads and
// writes, OpenAI's prompt_tokens include them.
func chatUsage(u Usage) openai.Usage {
	prompt := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	searches := 0
	if u.ServerToolUse != nil {
		searches = u.ServerToolUse.WebSearchRequests
	}
	return openai.Usage{
		WebSearches:         searches,
		PromptTokens:        prompt,
		CompletionTokens:    u.OutputTokens,
		TotalTokens:         prompt + u.OutputTokens,
		PromptTokensDetails: openai.PromptTokensDetails{CachedTokens: u.CacheReadInputTokens},
	}
}

func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}

// webSearches collects the web searches of an answer (server_tool_use
// blocks named web_search and their web_search_tool_result) and the url
// citations of its text, for chat's web_search_calls and annotations.
type webSearches struct {
	calls       []openai.WebSearchCall
	annotations []openai.Annotation
}

// use records a search when b is one (another server tool is skipped).
func (w *webSearches) use(b *Block) {
	if b.Name != "web_search" {
		return
	}
	var in struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(b.Input, &in) // a malformed input still was a search
	w.calls = append(w.calls, openai.WebSearchCall{ID: b.ID, Query: in.Query})
}

// result adds a search's result URLs to its call, or marks it failed.
func (w *webSearches) result(b *Block) {
	for i := range w.calls {
		c := &w.calls[i]
		if c.ID != b.ToolUseID {
			continue
		}
		if b.Content == nil {
			return
		}
		for _, r := range b.Content.Blocks {
			switch r.Type {
			case "web_search_result":
				c.Sources = append(c.Sources, r.URL)
			case "web_search_tool_result_error":
				c.Failed = true
			}
		}
		return
	}
}

// cite adds a url_citation over [start, end) (characters of the joined
// text) for each web search citation of a text block.
func (w *webSearches) cite(cs []Citation, start, end int) {
	for _, c := range cs {
		if c.Type == "web_search_result_location" {
			w.annotations = append(w.annotations, openai.Annotation{Type: "url_citation",
				URLCitation: openai.URLCitation{StartIndex: start, EndIndex: end, URL: c.URL, Title: c.Title}})
		}
	}
}
