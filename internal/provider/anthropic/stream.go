package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/sse"
)

// ErrStreamTruncated is returned by Finish when the upstream stream ended
// before message_stop.
var ErrStreamTruncated = errors.New("anthropic stream ended before message_stop")

// StreamToChat turns a Messages event stream into chat completion chunks.
// Feed it every event in order, then call Finish once the stream ends.
type StreamToChat struct {
	model        string
	includeUsage bool
	created      int64

	id         string
	usage      Usage
	toolIndex  []int // content block index → tool call index, -1 for other blocks
	tools      int
	stopReason string
	finished   bool // message_delta with a stop reason seen
	stopped    bool // message_stop seen

	// web search: the searches (server_tool_use) by block index with their
	// input so far, the characters of text relayed, and the open text
	// block's citations, sent as annotations when it stops
	searches  map[int]*search
	runes     int
	citeStart int
	cites     []Citation

	ev      StreamEvent
	chunk   openai.ChatChunk
	choice  [1]openai.ChunkChoice
	toolBuf [1]openai.ToolCallDelta
	text    string
	usageV  openai.Usage
}

// NewStreamToChat returns a translator for one stream. model is the name the
// client asked for; includeUsage adds the final usage chunk, as
// stream_options.include_usage does.
func NewStreamToChat(model string, includeUsage bool) *StreamToChat {
	return &StreamToChat{model: model, includeUsage: includeUsage, created: now().Unix()}
}

// Feed translates one event. The chunk passed to emit is reused; it is valid
// only during the call.
func (s *StreamToChat) Feed(ev sse.Event, emit func(*openai.ChatChunk) error) error {
	s.ev = StreamEvent{}
	if err := json.Unmarshal(ev.Data, &s.ev); err != nil {
		return fmt.Errorf("decode anthropic %s event: %w", ev.Name, err)
	}
	e := &s.ev
	switch e.Type {
	case "message_start":
		if e.Message != nil {
			s.id = e.Message.ID
			s.usage = e.Message.Usage
			if s.model == "" {
				s.model = e.Message.Model
			}
		}
		empty := ""
		d := s.delta()
		d.Role, d.Content = "assistant", &empty
		return emit(&s.chunk)
	case "content_block_start":
		return s.blockStart(e, emit)
	case "content_block_delta":
		return s.blockDelta(e, emit)
	case "message_delta":
		if e.Usage != nil {
			s.mergeUsage(e.Usage)
		}
		if e.Delta == nil || e.Delta.StopReason == "" || s.finished {
			return nil
		}
		s.finished, s.stopReason = true, e.Delta.StopReason
		s.delta()
		s.choice[0].FinishReason = openai.FinishReasonPtr(FinishReason(s.stopReason, s.tools > 0))
		return emit(&s.chunk)
	case "message_stop":
		s.stopped = true
		if !s.includeUsage {
			return nil
		}
		s.reset()
		s.chunk.Choices = s.choice[:0]
		s.usageV = s.Usage()
		s.chunk.Usage = &s.usageV
		return emit(&s.chunk)
	case "error":
		if e.Error == nil {
			return &provider.StreamError{Type: "error", Message: "unknown upstream error"}
		}
		return &provider.StreamError{Type: e.Error.Type, Message: e.Error.Message}
	case "content_block_stop":
		return s.blockStop(emit)
	}
	// ping and future event types carry nothing to relay.
	return nil
}

// search is a web search being streamed.
type search struct {
	id    string
	input []byte
}

func (s *StreamToChat) blockStop(emit func(*openai.ChatChunk) error) error {
	if len(s.cites) == 0 {
		return nil
	}
	var ws webSearches
	ws.cite(s.cites, s.citeStart, s.runes)
	s.cites = s.cites[:0]
	if len(ws.annotations) == 0 {
		return nil
	}
	s.delta().Annotations = ws.annotations
	return emit(&s.chunk)
}

// searchResult sends a finished web search as a chunk's web_search_calls.
func (s *StreamToChat) searchResult(b *Block, emit func(*openai.ChatChunk) error) error {
	for idx, sr := range s.searches {
		if sr.id != b.ToolUseID {
			continue
		}
		delete(s.searches, idx)
		var ws webSearches
		ws.use(&Block{ID: sr.id, Name: "web_search", Input: sr.input})
		ws.result(b)
		s.delta().WebSearchCalls = ws.calls
		return emit(&s.chunk)
	}
	return nil
}

func (s *StreamToChat) blockStart(e *StreamEvent, emit func(*openai.ChatChunk) error) error {
	for len(s.toolIndex) <= e.Index {
		s.toolIndex = append(s.toolIndex, -1)
	}
	b := e.ContentBlock
	if b == nil {
		return nil
	}
	switch b.Type {
	case BlockToolUse:
		s.toolIndex[e.Index] = s.tools
		d := s.delta()
		s.toolBuf[0] = openai.ToolCallDelta{Index: s.tools, ID: b.ID, Type: "function", Function: openai.FunctionCallDelta{Name: b.Name}}
		d.ToolCalls = s.toolBuf[:]
		s.tools++
		return emit(&s.chunk)
	case BlockServerToolUse:
		if b.Name == "web_search" {
			if s.searches == nil {
				s.searches = make(map[int]*search)
			}
			in := []byte(nil)
			if len(b.Input) > 0 && string(b.Input) != "{}" {
				in = append(in, b.Input...)
			}
			s.searches[e.Index] = &search{id: b.ID, input: in}
		}
	case BlockWebSearchResult:
		return s.searchResult(b, emit)
	case BlockText:
		s.citeStart, s.cites = s.runes, append(s.cites[:0], b.Citations...)
		if b.Text != "" {
			s.runes += utf8.RuneCountInString(b.Text)
			s.text = b.Text
			s.delta().Content = &s.text
			return emit(&s.chunk)
		}
	case BlockThinking:
		if b.Thinking != "" {
			s.text = b.Thinking
			s.delta().ReasoningContent = &s.text
			return emit(&s.chunk)
		}
	}
	return nil
}

func (s *StreamToChat) blockDelta(e *StreamEvent, emit func(*openai.ChatChunk) error) error {
	if e.Delta == nil {
		return nil
	}
	switch e.Delta.Type {
	case "text_delta":
		if e.Delta.Text == "" {
			return nil
		}
		s.runes += utf8.RuneCountInString(e.Delta.Text)
		s.text = e.Delta.Text
		s.delta().Content = &s.text
	case "citations_delta":
		if e.Delta.Citation != nil {
			s.cites = append(s.cites, *e.Delta.Citation)
		}
		return nil
	case "thinking_delta":
		if e.Delta.Thinking == "" {
			return nil
		}
		s.text = e.Delta.Thinking
		s.delta().ReasoningContent = &s.text
	case "input_json_delta":
		if sr := s.searches[e.Index]; sr != nil {
			sr.input = append(sr.input, e.Delta.PartialJSON...)
			return nil
		}
		if e.Delta.PartialJSON == "" || e.Index >= len(s.toolIndex) || s.toolIndex[e.Index] < 0 {
			return nil
		}
		d := s.delta()
		s.toolBuf[0] = openai.ToolCallDelta{Index: s.toolIndex[e.Index], Function: openai.FunctionCallDelta{Arguments: e.Delta.PartialJSON}}
		d.ToolCalls = s.toolBuf[:]
	default:
		return nil // signature_delta: nothing in chat carries it
	}
	return emit(&s.chunk)
}

// reset clears the reused chunk for the next emission.
func (s *StreamToChat) reset() {
	s.chunk = openai.ChatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model}
}

// delta resets the chunk to one choice with an empty delta and returns it.
func (s *StreamToChat) delta() *openai.Delta {
	s.reset()
	s.choice[0] = openai.ChunkChoice{}
	s.chunk.Choices = s.choice[:]
	return &s.choice[0].Delta
}

func (s *StreamToChat) mergeUsage(u *Usage) {
	// message_delta usage is cumulative; newer API versions also repeat the
	// input counts there, so take any non-zero value as the latest.
	s.usage.OutputTokens = u.OutputTokens
	if u.InputTokens > 0 {
		s.usage.InputTokens = u.InputTokens
	}
	if u.CacheReadInputTokens > 0 {
		s.usage.CacheReadInputTokens = u.CacheReadInputTokens
	}
	if u.CacheCreationInputTokens > 0 {
		s.usage.CacheCreationInputTokens = u.CacheCreationInputTokens
	}
	if u.ServerToolUse != nil {
		s.usage.ServerToolUse = u.ServerToolUse
	}
}

// Finish is called when the upstream stream has ended. It reports
// ErrStreamTruncated when message_stop never came; Usage still holds what
// was counted up to that point, for billing.
func (s *StreamToChat) Finish(emit func(*openai.ChatChunk) error) error {
	if !s.stopped {
		return ErrStreamTruncated
	}
	return nil
}

// Usage is the usage seen so far, in chat terms.
func (s *StreamToChat) Usage() openai.Usage { return chatUsage(s.usage) }
