package anthropic

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/openai"
)

// ToChatRequest translates a Messages request (Anthropic inbound) into a chat
// completions request for an OpenAI-type upstream.
func ToChatRequest(req *MessagesRequest) (*openai.ChatRequest, error) {
	return toChatRequest(req, false)
}

// ToChatRequestSigned is ToChatRequest for an upstream that takes earlier
// signed reasoning back (Bedrock): the thinking blocks of assistant turns
// that carry a signature, and redacted thinking, become the pivot's
// reasoning_blocks instead of being dropped.
func ToChatRequestSigned(req *MessagesRequest) (*openai.ChatRequest, error) {
	return toChatRequest(req, true)
}

func toChatRequest(req *MessagesRequest, signed bool) (*openai.ChatRequest, error) {
	switch {
	case req.TopK != nil:
		return nil, provider.Unsupported("top_k", "")
	case len(req.MCPServers) > 0:
		return nil, provider.Unsupported("mcp_servers", "")
	case len(req.Container) > 0:
		return nil, provider.Unsupported("container", "")
	}
	out := &openai.ChatRequest{
		Model:       req.Model,
		Stop:        req.StopSequences,
		Temperature: req.Temperature,
		TopP:        req.TopP,
		Stream:      req.Stream,
	}
	if req.Stream {
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	if req.Metadata != nil {
		out.User = req.Metadata.UserID
	}
	if req.MaxTokens > 0 {
		mt := req.MaxTokens
		out.MaxTokens = &mt
	}
	if t := req.Thinking; t != nil && t.Type == "enabled" {
		out.ReasoningEffort = effortFromBudget(t.BudgetTokens)
		out.MaxCompletionTokens, out.MaxTokens = out.MaxTokens, nil
	}
	if sys, err := systemText(req.System); err != nil {
		return nil, err
	} else if sys != "" {
		out.Messages = append(out.Messages, openai.ChatMessage{Role: "system", Content: openai.TextContent(sys)})
	}
	for i := range req.Messages {
		var err error
		out.Messages, err = appendChatMessages(out.Messages, &req.Messages[i], "messages["+strconv.Itoa(i)+"]", signed)
		if err != nil {
			return nil, err
		}
	}
	if err := chatTools(req, out); err != nil {
		return nil, err
	}
	return out, nil
}

func effortFromBudget(budget int) string {
	switch {
	case budget < 2048:
		return "low"
	case budget < 8192:
		return "medium"
	}
	return "high"
}

func systemText(b Blocks) (string, error) { return blocksText(b, "system") }

// blocksText joins text-only content; field names it in an error.
func blocksText(b Blocks, field string) (string, error) {
	if b.IsString {
		return b.Text, nil
	}
	var sb strings.Builder
	for j, blk := range b.Blocks {
		if blk.Type != BlockText {
			return "", provider.Unsupported(fmt.Sprintf("%s[%d].type", field, j), blk.Type)
		}
		if sb.Len() > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(blk.Text)
	}
	return sb.String(), nil
}

// appendChatMessages appends the chat messages for one Messages turn. A user
// turn's tool_result blocks become tool messages placed first, because chat
// requires tool results to follow the assistant's tool calls directly.
func appendChatMessages(dst []openai.ChatMessage, m *MessageParam, field string, signed bool) ([]openai.ChatMessage, error) {
	switch m.Role {
	case "user", "assistant":
	case "system":
		// A system message inside messages[] (Claude Code sends them) keeps
		// its place: chat has system messages anywhere, and an instruction
		// given mid-conversation is meant to follow what came before it.
		text, err := blocksText(m.Content, field+".content")
		if err != nil {
			return nil, err
		}
		return append(dst, openai.ChatMessage{Role: "system", Content: openai.TextContent(text)}), nil
	default:
		return nil, provider.Invalid(field+".role", "must be user, assistant or system")
	}
	if m.Content.IsString {
		return append(dst, openai.ChatMessage{Role: m.Role, Content: openai.TextContent(m.Content.Text)}), nil
	}
	switch m.Role {
	case "user":
		var parts []openai.ContentPart
		for j := range m.Content.Blocks {
			b := &m.Content.Blocks[j]
			bf := field + ".content[" + strconv.Itoa(j) + "]"
			if b.Type == BlockToolResult {
				tm, err := toolMessage(b, bf)
				if err != nil {
					return nil, err
				}
				dst = insertToolMessage(dst, tm)
				continue
			}
			p, err := userPart(b, bf)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		}
		if len(parts) > 0 {
			dst = append(dst, openai.ChatMessage{Role: "user", Content: compactParts(parts)})
		}
		return dst, nil
	case "assistant":
		msg := openai.ChatMessage{Role: "assistant"}
		var text strings.Builder
		for j := range m.Content.Blocks {
			b := &m.Content.Blocks[j]
			switch b.Type {
			case BlockText:
				text.WriteString(b.Text)
			case BlockToolUse:
				msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{
					ID: b.ID, Type: "function",
					Function: openai.FunctionCall{Name: b.Name, Arguments: compactJSON(b.Input)},
				})
			case BlockThinking:
				// Earlier reasoning is Anthropic-signed state only an
				// upstream serving Claude can use.
				if signed && b.Signature != "" {
					msg.ReasoningBlocks = append(msg.ReasoningBlocks, openai.ReasoningBlock{Text: b.Thinking, Signature: b.Signature})
				}
			case BlockRedactedThinking:
				if signed && b.Data != "" {
					msg.ReasoningBlocks = append(msg.ReasoningBlocks, openai.ReasoningBlock{Redacted: b.Data})
				}
			default:
				return nil, provider.Unsupported(field+".content["+strconv.Itoa(j)+"].type", b.Type)
			}
		}
		switch {
		case text.Len() > 0:
			msg.Content = openai.TextContent(text.String())
		case len(msg.ToolCalls) > 0:
			msg.Content = openai.Content{Kind: openai.ContentNull}
		default:
			msg.Content = openai.TextContent("")
		}
		return append(dst, msg), nil
	}
	return dst, nil
}

// insertToolMessage appends a tool result, but before any system messages
// that came between it and the assistant's tool calls: chat wants tool
// results right after the calls, and a system message there would be
// refused by OpenAI.
func insertToolMessage(dst []openai.ChatMessage, tm openai.ChatMessage) []openai.ChatMessage {
	i := len(dst)
	for i > 0 && dst[i-1].Role == "system" {
		i--
	}
	if i == len(dst) || i == 0 || (dst[i-1].Role != "tool" && len(dst[i-1].ToolCalls) == 0) {
		return append(dst, tm)
	}
	return slices.Insert(dst, i, tm)
}

// compactParts uses the string form for text-only content, which every
// OpenAI-compatible server accepts.
func compactParts(parts []openai.ContentPart) openai.Content {
	if len(parts) == 1 && parts[0].Type == openai.PartText {
		return openai.TextContent(parts[0].Text)
	}
	return openai.PartsContent(parts)
}

func userPart(b *Block, field string) (openai.ContentPart, error) {
	switch b.Type {
	case BlockText:
		return openai.ContentPart{Type: openai.PartText, Text: b.Text}, nil
	case BlockImage:
		u, err := sourceURL(b.Source, field)
		if err != nil {
			return openai.ContentPart{}, err
		}
		return openai.ContentPart{Type: openai.PartImageURL, ImageURL: &openai.ImageURL{URL: u}}, nil
	case BlockDocument:
		if b.Source == nil || b.Source.Type != "base64" {
			return openai.ContentPart{}, provider.Unsupported(field+".source", "only base64 documents")
		}
		f, _ := json.Marshal(struct {
			Filename string `json:"filename,omitempty"`
			FileData string `json:"file_data"`
		}{b.Title, openai.DataURL(b.Source.MediaType, b.Source.Data)})
		return openai.ContentPart{Type: openai.PartFile, File: f}, nil
	}
	return openai.ContentPart{}, provider.Unsupported(field+".type", b.Type)
}

func sourceURL(s *Source, field string) (string, error) {
	switch {
	case s == nil:
		return "", provider.Invalid(field+".source", "missing")
	case s.Type == "base64":
		return openai.DataURL(s.MediaType, s.Data), nil
	case s.Type == "url":
		return s.URL, nil
	}
	return "", provider.Unsupported(field+".source.type", s.Type)
}

func toolMessage(b *Block, field string) (openai.ChatMessage, error) {
	var text string
	if c := b.Content; c != nil {
		if c.IsString {
			text = c.Text
		} else {
			var sb strings.Builder
			for k, cb := range c.Blocks {
				if cb.Type != BlockText {
					return openai.ChatMessage{}, provider.Unsupported(fmt.Sprintf("%s.content[%d].type", field, k), cb.Type+" in a tool result")
				}
				if sb.Len() > 0 {
					sb.WriteByte('\n')
				}
				sb.WriteString(cb.Text)
			}
			text = sb.String()
		}
	}
	if b.IsError {
		// Chat has no error flag on tool results; the model must still learn the call failed.
		text = "Error: " + text
	}
	return openai.ChatMessage{Role: "tool", ToolCallID: b.ToolUseID, Content: openai.TextContent(text)}, nil
}

func chatTools(req *MessagesRequest, out *openai.ChatRequest) error {
	for i := range req.Tools {
		t := &req.Tools[i]
		if t.Type != "" && t.Type != "custom" {
			return provider.Unsupported(fmt.Sprintf("tools[%d].type", i), t.Type+" is a server tool of Anthropic")
		}
		out.Tools = append(out.Tools, openai.Tool{Type: "function", Function: openai.FunctionDef{
			Name: t.Name, Description: t.Description, Parameters: t.InputSchema,
		}})
	}
	tc := req.ToolChoice
	if tc == nil {
		return nil
	}
	choice := &openai.ToolChoice{}
	switch tc.Type {
	case "auto":
		choice.Mode = openai.ToolChoiceAuto
	case "any":
		choice.Mode = openai.ToolChoiceRequired
	case "none":
		choice.Mode = openai.ToolChoiceNone
	case "tool":
		choice.Type, choice.Function = "function", tc.Name
	default:
		return provider.Unsupported("tool_choice.type", tc.Type)
	}
	out.ToolChoice = choice
	if tc.DisableParallelToolUse && len(out.Tools) > 0 {
		f := false
		out.ParallelToolCalls = &f
	}
	return nil
}

// FromChatResponse translates a chat completion into a Messages response.
// model is the name the client asked for ("" keeps the upstream's).
func FromChatResponse(resp *openai.ChatResponse, model string) *Message {
	if model == "" {
		model = resp.Model
	}
	msg := &Message{ID: messageID(resp.ID), Type: "message", Role: "assistant", Model: model, Content: []Block{}}
	finish := ""
	if len(resp.Choices) > 0 {
		c := &resp.Choices[0]
		finish = c.FinishReason
		m := &c.Message
		switch {
		case len(m.ReasoningBlocks) > 0:
			// Signed: each block as it came, so the client can send it back.
			for _, rb := range m.ReasoningBlocks {
				if rb.Redacted != "" {
					msg.Content = append(msg.Content, Block{Type: BlockRedactedThinking, Data: rb.Redacted})
				} else {
					msg.Content = append(msg.Content, Block{Type: BlockThinking, Thinking: rb.Text, Signature: rb.Signature})
				}
			}
		case m.ReasoningContent != "":
			msg.Content = append(msg.Content, Block{Type: BlockThinking, Thinking: m.ReasoningContent})
		}
		if t := m.Content.JoinText(); t != "" {
			msg.Content = append(msg.Content, Block{Type: BlockText, Text: t})
		}
		if m.Refusal != nil && *m.Refusal != "" {
			msg.Content = append(msg.Content, Block{Type: BlockText, Text: *m.Refusal})
		}
		for _, tc := range m.ToolCalls {
			msg.Content = append(msg.Content, Block{Type: BlockToolUse, ID: tc.ID, Name: tc.Function.Name, Input: inputFromArguments(tc.Function.Arguments)})
		}
	}
	stop := StopReason(finish)
	msg.StopReason = &stop
	if resp.Usage != nil {
		msg.Usage = messagesUsage(*resp.Usage)
	}
	return msg
}

// inputFromArguments keeps malformed model output visible instead of
// dropping it: tool_use input must be an object, so invalid arguments are
// wrapped as {"_raw_arguments": "..."}.
func inputFromArguments(args string) json.RawMessage {
	if strings.TrimSpace(args) == "" {
		return json.RawMessage("{}")
	}
	if in, err := argumentsToInput(args, ""); err == nil {
		return in
	}
	b, _ := json.Marshal(map[string]string{"_raw_arguments": args})
	return b
}

// StopReason maps a chat finish reason to an Anthropic stop reason.
func StopReason(finish string) string {
	switch finish {
	case openai.FinishLength:
		return StopMaxTokens
	case openai.FinishToolCalls, "function_call":
		return StopToolUse
	case openai.FinishContentFilter:
		return StopRefusal
	}
	return StopEndTurn
}

func messagesUsage(u openai.Usage) Usage {
	cached := u.PromptTokensDetails.CachedTokens
	return Usage{InputTokens: u.PromptTokens - cached, OutputTokens: u.CompletionTokens, CacheReadInputTokens: cached}
}

func messageID(id string) string {
	if strings.HasPrefix(id, "msg_") {
		return id
	}
	return "msg_" + strings.TrimPrefix(id, "chatcmpl-")
}

// DropServerTools removes the server tools (web_search_…, code_execution_…)
// that an upstream reached through chat cannot run, and a tool_choice that
// names one, for a channel set to drop them (config hosted_tools). It
// returns what it removed, as "tools[i] (type)", for the client's warning.
func (r *MessagesRequest) DropServerTools() []string {
	var dropped []string
	var names []string
	kept := r.Tools[:0:0]
	for i, t := range r.Tools {
		if t.Type == "" || t.Type == "custom" {
			kept = append(kept, t)
			continue
		}
		dropped = append(dropped, fmt.Sprintf("tools[%d] (%s)", i, t.Type))
		names = append(names, t.Name)
	}
	if dropped == nil {
		return nil
	}
	r.Tools = kept
	if tc := r.ToolChoice; tc != nil && tc.Type == "tool" && slices.Contains(names, tc.Name) {
		dropped = append(dropped, "tool_choice ("+tc.Name+")")
		r.ToolChoice = nil
	}
	return dropped
}
