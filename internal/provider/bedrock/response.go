package bedrock

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/sse"
)

// now and newID are replaceable so tests are deterministic.
var (
	now   = time.Now
	newID = randomID
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomID returns "chatcmpl-" and 24 random characters: Converse answers
// carry no id of their own.
func randomID() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return "chatcmpl-" + string(b[:])
}

// ToChatResponse translates a Converse answer into a chat completion;
// model is the name the client asked for. With signed, the reasoning
// blocks also go into the pivot's reasoning_blocks with their signatures
// (and redacted reasoning), for a surface that hands them back.
func ToChatResponse(resp *ConverseResponse, model string, signed bool) *openai.ChatResponse {
	var text, reasoning []byte
	var calls []openai.ToolCall
	var blocks []openai.ReasoningBlock
	if m := resp.Output.Message; m != nil {
		for _, b := range m.Content {
			switch {
			case b.ToolUse != nil:
				calls = append(calls, openai.ToolCall{ID: b.ToolUse.ToolUseID, Type: "function", Function: openai.FunctionCall{
					Name: b.ToolUse.Name, Arguments: argsString(b.ToolUse.Input),
				}})
			case b.ReasoningContent != nil:
				rc := b.ReasoningContent
				if rc.ReasoningText != nil {
					reasoning = append(reasoning, rc.ReasoningText.Text...)
					blocks = append(blocks, openai.ReasoningBlock{Text: rc.ReasoningText.Text, Signature: rc.ReasoningText.Signature})
				} else if rc.RedactedContent != "" {
					blocks = append(blocks, openai.ReasoningBlock{Redacted: rc.RedactedContent})
				}
			default:
				text = append(text, b.Text...)
			}
		}
	}
	msg := openai.ChatMessage{Role: "assistant", ToolCalls: calls, ReasoningContent: string(reasoning)}
	if signed {
		msg.ReasoningBlocks = blocks
	}
	switch {
	case len(text) > 0:
		msg.Content = openai.TextContent(string(text))
	case len(calls) > 0:
		msg.Content = openai.Content{Kind: openai.ContentNull}
	default:
		msg.Content = openai.TextContent("")
	}
	out := &openai.ChatResponse{
		ID: newID(), Object: "chat.completion", Created: now().Unix(), Model: model,
		Choices: []openai.ChatChoice{{Message: msg, FinishReason: FinishReason(resp.StopReason, len(calls) > 0)}},
	}
	if resp.Usage != nil {
		u := ChatUsage(resp.Usage)
		out.Usage = &u
	}
	return out
}

// FinishReason maps a Converse stop reason to a chat finish reason.
func FinishReason(reason string, hasToolCalls bool) string {
	switch reason {
	case "max_tokens", "model_context_window_exceeded":
		return openai.FinishLength
	case "guardrail_intervened", "content_filtered":
		return openai.FinishContentFilter
	case "tool_use":
		return openai.FinishToolCalls
	}
	if hasToolCalls {
		return openai.FinishToolCalls
	}
	return openai.FinishStop
}

// ChatUsage converts Converse usage. Like Anthropic's, inputTokens leaves
// out the tokens read from and written to the prompt cache; chat counts
// them in prompt_tokens.
func ChatUsage(u *TokenUsage) openai.Usage {
	prompt := u.InputTokens + u.CacheReadInputTokens + u.CacheWriteInputTokens
	return openai.Usage{
		PromptTokens:        prompt,
		CompletionTokens:    u.OutputTokens,
		TotalTokens:         prompt + u.OutputTokens,
		PromptTokensDetails: openai.PromptTokensDetails{CachedTokens: u.CacheReadInputTokens},
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

// ExceptionEvent is the event name EventReader gives an exception message:
// "exception:" and the :exception-type (or :error-code).
const ExceptionEvent = "exception:"

// StreamToChat turns ConverseStream events (named by their :event-type,
// see EventReader) into chat chunks.
type StreamToChat struct {
	model        string
	includeUsage bool
	signed       bool // pass signatures and redacted reasoning on (SignedReasoning)
	created      int64
	id           string

	started bool
	tools   map[int]int // content block index → tool call index
	stopped string      // the stop reason, once messageStop came
	usage   *TokenUsage

	chunk  openai.ChatChunk
	choice [1]openai.ChunkChoice
	call   [1]openai.ToolCallDelta
	text   string
	usageV openai.Usage
}

// NewStreamToChat returns a translator for one stream; includeUsage adds
// the final usage chunk as stream_options.include_usage does.
func NewStreamToChat(model string, includeUsage bool) *StreamToChat {
	return &StreamToChat{model: model, includeUsage: includeUsage, created: now().Unix(), id: newID(), tools: map[int]int{}}
}

// WithSignedReasoning makes s pass reasoning signatures and redacted
// reasoning on, as the pivot's reasoning_signature and reasoning_redacted.
func (s *StreamToChat) WithSignedReasoning() *StreamToChat {
	s.signed = true
	return s
}

// Feed translates one event. The chunk passed to emit is reused; it is valid
// only during the call.
func (s *StreamToChat) Feed(ev sse.Event, emit func(*openai.ChatChunk) error) error {
	if typ, ok := strings.CutPrefix(ev.Name, ExceptionEvent); ok {
		return streamException(typ, ev.Data)
	}
	switch ev.Name {
	case "messageStart":
		// The role chunk waits for the first content: an exception right
		// after messageStart (throttling, typically) then finds nothing
		// sent to the client, and the request can still fail over.
		return nil
	case "contentBlockStart":
		var e ContentBlockStartEvent
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			return fmt.Errorf("decode contentBlockStart: %w", err)
		}
		if e.Start.ToolUse == nil {
			return nil
		}
		if err := s.start(emit); err != nil {
			return err
		}
		n := len(s.tools)
		s.tools[e.ContentBlockIndex] = n
		d := s.delta()
		s.call[0] = openai.ToolCallDelta{Index: n, ID: e.Start.ToolUse.ToolUseID, Type: "function",
			Function: openai.FunctionCallDelta{Name: e.Start.ToolUse.Name}}
		d.ToolCalls = s.call[:]
		return emit(&s.chunk)
	case "contentBlockDelta":
		return s.blockDelta(ev.Data, emit)
	case "messageStop":
		var e MessageStopEvent
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			return fmt.Errorf("decode messageStop: %w", err)
		}
		if err := s.start(emit); err != nil {
			return err
		}
		s.stopped = e.StopReason
		s.delta()
		s.choice[0].FinishReason = openai.FinishReasonPtr(FinishReason(e.StopReason, len(s.tools) > 0))
		return emit(&s.chunk)
	case "metadata":
		var e MetadataEvent
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			return fmt.Errorf("decode metadata: %w", err)
		}
		if e.Usage != nil {
			s.usage = e.Usage
		}
	}
	// contentBlockStop and events unknown to this version carry nothing
	// chat can show.
	return nil
}

func (s *StreamToChat) blockDelta(data []byte, emit func(*openai.ChatChunk) error) error {
	var e ContentBlockDeltaEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return fmt.Errorf("decode contentBlockDelta: %w", err)
	}
	if err := s.start(emit); err != nil {
		return err
	}
	switch dl := &e.Delta; {
	case dl.Text != nil:
		if *dl.Text == "" {
			return nil
		}
		s.text = *dl.Text
		s.delta().Content = &s.text
	case dl.ToolUse != nil:
		n, ok := s.tools[e.ContentBlockIndex]
		if !ok {
			return fmt.Errorf("tool input for content block %d, which started no tool use", e.ContentBlockIndex)
		}
		d := s.delta()
		s.call[0] = openai.ToolCallDelta{Index: n, Function: openai.FunctionCallDelta{Arguments: dl.ToolUse.Input}}
		d.ToolCalls = s.call[:]
	case dl.ReasoningContent != nil && dl.ReasoningContent.Text != nil && *dl.ReasoningContent.Text != "":
		s.text = *dl.ReasoningContent.Text
		s.delta().ReasoningContent = &s.text
	case dl.ReasoningContent != nil && s.signed && dl.ReasoningContent.Signature != "":
		s.text = dl.ReasoningContent.Signature
		s.delta().ReasoningSignature = &s.text
	case dl.ReasoningContent != nil && s.signed && dl.ReasoningContent.RedactedContent != "":
		s.text = dl.ReasoningContent.RedactedContent
		s.delta().ReasoningRedacted = &s.text
	default:
		return nil
	}
	return emit(&s.chunk)
}

// streamException turns an exception message into a *provider.StreamError
// whose Status lets the scheduler rest a throttled credential.
func streamException(typ string, data []byte) error {
	var e struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(data, &e)
	return &provider.StreamError{Type: typ, Message: e.Message, Status: ExceptionStatus(typ)}
}

// ExceptionStatus is the HTTP status Bedrock documents for an exception
// type (in either spelling: ThrottlingException in a header,
// throttlingException in a stream); quota errors count as 429 so that the
// scheduler fails over and rests the credential.
func ExceptionStatus(typ string) int {
	switch strings.ToLower(typ) {
	case "throttlingexception", "servicequotaexceededexception", "modelnotreadyexception", "toomanyrequestsexception":
		return http.StatusTooManyRequests
	case "serviceunavailableexception":
		return http.StatusServiceUnavailable
	case "internalserverexception", "modelstreamerrorexception":
		return http.StatusInternalServerError
	case "validationexception":
		return http.StatusBadRequest
	case "accessdeniedexception":
		return http.StatusForbidden
	case "resourcenotfoundexception":
		return http.StatusNotFound
	case "modeltimeoutexception":
		return http.StatusRequestTimeout
	}
	return 0
}

func (s *StreamToChat) start(emit func(*openai.ChatChunk) error) error {
	if s.started {
		return nil
	}
	s.started = true
	empty := ""
	d := s.delta()
	d.Role, d.Content = "assistant", &empty
	return emit(&s.chunk)
}

func (s *StreamToChat) delta() *openai.Delta {
	s.chunk = openai.ChatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model}
	s.choice[0] = openai.ChunkChoice{}
	s.chunk.Choices = s.choice[:]
	return &s.choice[0].Delta
}

// ErrStreamTruncated is returned by Finish when no messageStop came.
var ErrStreamTruncated = errors.New("bedrock stream ended without messageStop")

// Finish is called once the upstream stream has ended. It emits the usage
// chunk when asked for, and reports ErrStreamTruncated when the message
// never stopped.
func (s *StreamToChat) Finish(emit func(*openai.ChatChunk) error) error {
	if s.stopped == "" {
		return ErrStreamTruncated
	}
	if s.includeUsage {
		s.chunk = openai.ChatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model, Choices: s.choice[:0]}
		s.usageV = s.Usage()
		s.chunk.Usage = &s.usageV
		return emit(&s.chunk)
	}
	return nil
}

// Usage is the usage the upstream reported, in chat terms.
func (s *StreamToChat) Usage() openai.Usage {
	if s.usage == nil {
		return openai.Usage{}
	}
	return ChatUsage(s.usage)
}
