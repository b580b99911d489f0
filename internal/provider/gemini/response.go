package gemini

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/sse"
)

// now and newCallID are replaceable so tests are deterministic.
var (
	now       = time.Now
	newCallID = randomCallID
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomCallID returns "call_" and 24 random characters. Gemini calls carry
// no id, and ids must be unique across a conversation because FromChat finds
// a tool result's function name by the id it answers.
func randomCallID() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return "call_" + string(b[:])
}

// ToChatResponse translates a generateContent response into a chat
// completion; model is the name the client asked for.
func ToChatResponse(resp *GenerateResponse, model string) *openai.ChatResponse {
	if model == "" {
		model = resp.ModelVersion
	}
	out := &openai.ChatResponse{
		ID:      chatID(resp.ResponseID),
		Object:  "chat.completion",
		Created: now().Unix(),
		Model:   model,
		Choices: make([]openai.ChatChoice, 0, len(resp.Candidates)),
	}
	searches := 0
	for i := range resp.Candidates {
		c := &resp.Candidates[i]
		var text, thoughts []byte
		var calls []openai.ToolCall
		for _, p := range c.Content.Parts {
			switch {
			case p.FunctionCall != nil:
				calls = append(calls, openai.ToolCall{ID: newCallID(), Type: "function", Function: openai.FunctionCall{
					Name: p.FunctionCall.Name, Arguments: argsString(p.FunctionCall.Args),
				}})
			case p.Thought:
				thoughts = append(thoughts, p.Text...)
			default:
				text = append(text, p.Text...)
			}
		}
		msg := openai.ChatMessage{Role: "assistant", ToolCalls: calls, ReasoningContent: string(thoughts)}
		if g := c.GroundingMetadata; g != nil {
			msg.Annotations, msg.WebSearchCalls = grounding(g, text)
			searches += len(g.WebSearchQueries)
		}
		switch {
		case len(text) > 0:
			msg.Content = openai.TextContent(string(text))
		case len(calls) > 0:
			msg.Content = openai.Content{Kind: openai.ContentNull}
		default:
			msg.Content = openai.TextContent("")
		}
		out.Choices = append(out.Choices, openai.ChatChoice{Index: c.Index, Message: msg, FinishReason: FinishReason(c.FinishReason, len(calls) > 0)})
	}
	if len(out.Choices) == 0 && resp.PromptFeedback != nil && resp.PromptFeedback.BlockReason != "" {
		// The prompt itself was blocked; chat has no separate signal for that.
		out.Choices = append(out.Choices, openai.ChatChoice{
			Message:      openai.ChatMessage{Role: "assistant", Content: openai.TextContent("")},
			FinishReason: openai.FinishContentFilter,
		})
	}
	if resp.UsageMetadata != nil {
		u := ChatUsage(resp.UsageMetadata)
		u.WebSearches = searches
		out.Usage = &u
	}
	return out
}

// grounding turns Google Search grounding into chat's web searches (one
// per query; the pages found are the first one's sources) and url
// citations: each grounding support's span, given in bytes of text,
// becomes one citation per page it names, in characters.
func grounding(g *GroundingMetadata, text []byte) ([]openai.Annotation, []openai.WebSearchCall) {
	var calls []openai.WebSearchCall
	for _, q := range g.WebSearchQueries {
		calls = append(calls, openai.WebSearchCall{ID: "ws_" + newCallID()[5:], Query: q})
	}
	if len(calls) > 0 {
		for _, ch := range g.GroundingChunks {
			if ch.Web != nil {
				calls[0].Sources = append(calls[0].Sources, ch.Web.URI)
			}
		}
	}
	chars := func(b int) int { return utf8.RuneCount(text[:min(max(b, 0), len(text))]) }
	var notes []openai.Annotation
	for _, s := range g.GroundingSupports {
		for _, i := range s.GroundingChunkIndices {
			if i < 0 || i >= len(g.GroundingChunks) || g.GroundingChunks[i].Web == nil {
				continue
			}
			w := g.GroundingChunks[i].Web
			notes = append(notes, openai.Annotation{Type: "url_citation", URLCitation: openai.URLCitation{
				StartIndex: chars(s.Segment.StartIndex), EndIndex: chars(s.Segment.EndIndex), URL: w.URI, Title: w.Title}})
		}
	}
	return notes, calls
}

// FinishReason maps a Gemini finish reason to a chat finish reason.
func FinishReason(reason string, hasToolCalls bool) string {
	switch reason {
	case "MAX_TOKENS":
		return openai.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE":
		return openai.FinishContentFilter
	}
	if hasToolCalls {
		return openai.FinishToolCalls
	}
	return openai.FinishStop
}

// ChatUsage converts usage metadata. Gemini counts thoughts apart from
// candidates; chat counts them inside completion tokens.
func ChatUsage(u *UsageMetadata) openai.Usage {
	prompt := u.PromptTokenCount + u.ToolUsePromptTokenCount
	completion := u.CandidatesTokenCount + u.ThoughtsTokenCount
	return openai.Usage{
		PromptTokens:            prompt,
		CompletionTokens:        completion,
		TotalTokens:             prompt + completion,
		PromptTokensDetails:     openai.PromptTokensDetails{CachedTokens: u.CachedContentTokenCount},
		CompletionTokensDetails: openai.CompletionTokensDetails{ReasoningTokens: u.ThoughtsTokenCount},
	}
}

func argsString(args json.RawMessage) string {
	if len(args) == 0 || bytes.Equal(args, []byte("null")) {
		return "{}"
	}
	var buf bytes.Buffer
	if json.Compact(&buf, args) != nil {
		return string(args)
	}
	return buf.String()
}

func chatID(responseID string) string {
	if responseID == "" {
		return "chatcmpl-" + newCallID()[5:]
	}
	return "chatcmpl-" + responseID
}

// StreamToChat turns an alt=sse generateContent stream into chat chunks.
// Each event is a whole GenerateResponse; usage arrives with the last ones
// and is cumulative, so the latest value wins.
type StreamToChat struct {
	model        string
	includeUsage bool
	created      int64

	id       string
	usage    *UsageMetadata
	started  map[int]bool // candidate index → role chunk sent
	tools    map[int]int  // candidate index → tool calls so far
	finished map[int]bool
	done     bool
	text0    []byte // candidate 0's text so far, for grounding offsets
	searches int

	resp   GenerateResponse
	chunk  openai.ChatChunk
	choice [1]openai.ChunkChoice
	call   [1]openai.ToolCallDelta
	text   string
	usageV openai.Usage
}

// NewStreamToChat returns a translator for one stream; includeUsage adds
// the final usage chunk as stream_options.include_usage does.
func NewStreamToChat(model string, includeUsage bool) *StreamToChat {
	return &StreamToChat{
		model: model, includeUsage: includeUsage, created: now().Unix(),
		started: map[int]bool{}, tools: map[int]int{}, finished: map[int]bool{},
	}
}

// Feed translates one event. The chunk passed to emit is reused; it is valid
// only during the call.
func (s *StreamToChat) Feed(ev sse.Event, emit func(*openai.ChatChunk) error) error {
	s.resp = GenerateResponse{}
	if err := json.Unmarshal(ev.Data, &s.resp); err != nil {
		return fmt.Errorf("decode gemini stream event: %w", err)
	}
	r := &s.resp
	if s.id == "" {
		s.id = chatID(r.ResponseID)
		if s.model == "" {
			s.model = r.ModelVersion
		}
	}
	if r.UsageMetadata != nil {
		s.usage = r.UsageMetadata
	}
	if len(r.Candidates) == 0 && r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" && !s.finished[0] {
		if err := s.ensureStarted(0, emit); err != nil {
			return err
		}
		s.finished[0] = true
		s.delta(0)
		s.choice[0].FinishReason = openai.FinishReasonPtr(openai.FinishContentFilter)
		return emit(&s.chunk)
	}
	for i := range r.Candidates {
		if err := s.candidate(&r.Candidates[i], emit); err != nil {
			return err
		}
	}
	return nil
}

func (s *StreamToChat) candidate(c *Candidate, emit func(*openai.ChatChunk) error) error {
	if err := s.ensureStarted(c.Index, emit); err != nil {
		return err
	}
	for k := range c.Content.Parts {
		p := &c.Content.Parts[k]
		switch {
		case p.FunctionCall != nil:
			d := s.delta(c.Index)
			s.call[0] = openai.ToolCallDelta{Index: s.tools[c.Index], ID: newCallID(), Type: "function", Function: openai.FunctionCallDelta{
				Name: p.FunctionCall.Name, Arguments: argsString(p.FunctionCall.Args),
			}}
			d.ToolCalls = s.call[:]
			s.tools[c.Index]++
		case p.Text == "":
			continue
		case p.Thought:
			s.text = p.Text
			s.delta(c.Index).ReasoningContent = &s.text
		default:
			s.text = p.Text
			s.delta(c.Index).Content = &s.text
			if c.Index == 0 {
				s.text0 = append(s.text0, p.Text...)
			}
		}
		if err := emit(&s.chunk); err != nil {
			return err
		}
	}
	if g := c.GroundingMetadata; g != nil && c.Index == 0 && s.searches == 0 && len(g.WebSearchQueries) > 0 {
		// the grounding comes with the last text; citations first, so
		// they attach to the message the searches follow
		s.searches = len(g.WebSearchQueries)
		notes, calls := grounding(g, s.text0)
		if len(notes) > 0 {
			s.delta(0).Annotations = notes
			if err := emit(&s.chunk); err != nil {
				return err
			}
		}
		s.delta(0).WebSearchCalls = calls
		if err := emit(&s.chunk); err != nil {
			return err
		}
	}
	if c.FinishReason == "" || s.finished[c.Index] {
		return nil
	}
	s.finished[c.Index] = true
	s.delta(c.Index)
	s.choice[0].FinishReason = openai.FinishReasonPtr(FinishReason(c.FinishReason, s.tools[c.Index] > 0))
	return emit(&s.chunk)
}

func (s *StreamToChat) ensureStarted(index int, emit func(*openai.ChatChunk) error) error {
	if s.started[index] {
		return nil
	}
	s.started[index] = true
	empty := ""
	d := s.delta(index)
	d.Role, d.Content = "assistant", &empty
	return emit(&s.chunk)
}

func (s *StreamToChat) delta(index int) *openai.Delta {
	s.chunk = openai.ChatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model}
	s.choice[0] = openai.ChunkChoice{Index: index}
	s.chunk.Choices = s.choice[:]
	return &s.choice[0].Delta
}

// ErrStreamTruncated is returned by Finish when no candidate finished.
var ErrStreamTruncated = errors.New("gemini stream ended without a finish reason")

// Finish is called once the upstream stream has ended (Gemini sends no end
// marker). It emits the usage chunk when asked for, and reports
// ErrStreamTruncated when no candidate ever finished.
func (s *StreamToChat) Finish(emit func(*openai.ChatChunk) error) error {
	if s.done {
		return nil
	}
	s.done = true
	if s.includeUsage {
		s.chunk = openai.ChatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model, Choices: s.choice[:0]}
		s.usageV = s.Usage()
		s.chunk.Usage = &s.usageV
		if err := emit(&s.chunk); err != nil {
			return err
		}
	}
	if len(s.finished) == 0 {
		return ErrStreamTruncated
	}
	return nil
}

// Usage is the latest usage reported by the upstream, in chat terms.
func (s *StreamToChat) Usage() openai.Usage {
	if s.usage == nil {
		return openai.Usage{WebSearches: s.searches}
	}
	u := ChatUsage(s.usage)
	u.WebSearches = s.searches
	return u
}
