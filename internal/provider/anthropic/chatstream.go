package anthropic

import (
	"encoding/json"
	"strconv"

	"github.com/switchyard/switchyard/internal/jsonw"
	"github.com/switchyard/switchyard/internal/provider/openai"
)

// ChatStreamToMessages turns chat completion chunks (from an OpenAI-type
// upstream) into the Messages event stream an Anthropic SDK expects:
// message_start, then per content block content_block_start / _delta /
// _stop, then message_delta (stop reason and usage) and message_stop.
//
// message_delta is held until Finish because OpenAI sends usage in a chunk
// after the one carrying finish_reason.
type ChatStreamToMessages struct {
	model string

	started   bool
	id        string
	block     int    // index of the open block, -1 when none is open
	blockType string // type of the open block
	next      int    // index the next block gets
	toolBlock map[int]int
	toolIDs   int
	finish    string
	usage     openai.Usage
	hasUsage  bool
	done      bool

	buf []byte
}

// NewChatStreamToMessages returns a translator for one stream; model is the
// name the client asked for.
func NewChatStreamToMessages(model string) *ChatStreamToMessages {
	return &ChatStreamToMessages{model: model, block: -1, buf: make([]byte, 0, 256)}
}

// Feed translates one chunk. The payload passed to emit is reused; it is
// valid only during the call.
func (s *ChatStreamToMessages) Feed(chunk *openai.ChatChunk, emit func(name string, payload []byte) error) error {
	if !s.started {
		if err := s.start(chunk.ID, chunk.Model, emit); err != nil {
			return err
		}
	}
	if chunk.Usage != nil {
		s.usage, s.hasUsage = *chunk.Usage, true
	}
	for i := range chunk.Choices {
		c := &chunk.Choices[i]
		if c.Index != 0 {
			continue // one choice is all a Message can hold; ToChatRequest never asks for more
		}
		d := &c.Delta
		if d.ReasoningContent != nil && *d.ReasoningContent != "" {
			if err := s.textDelta(BlockThinking, "thinking_delta", "thinking", *d.ReasoningContent, emit); err != nil {
				return err
			}
		}
		if d.ReasoningSignature != nil && *d.ReasoningSignature != "" {
			// Signed reasoning (see ChatMessage.ReasoningBlocks) ends its
			// thinking block with a signature_delta, as Anthropic does.
			if err := s.textDelta(BlockThinking, "signature_delta", "signature", *d.ReasoningSignature, emit); err != nil {
				return err
			}
			if err := s.closeBlock(emit); err != nil {
				return err
			}
		}
		if d.ReasoningRedacted != nil && *d.ReasoningRedacted != "" {
			if err := s.redactedBlock(*d.ReasoningRedacted, emit); err != nil {
				return err
			}
		}
		if d.Content != nil && *d.Content != "" {
			if err := s.textDelta(BlockText, "text_delta", "text", *d.Content, emit); err != nil {
				return err
			}
		}
		if d.Refusal != nil && *d.Refusal != "" {
			if err := s.textDelta(BlockText, "text_delta", "text", *d.Refusal, emit); err != nil {
				return err
			}
		}
		for k := range d.ToolCalls {
			if err := s.toolDelta(&d.ToolCalls[k], emit); err != nil {
				return err
			}
		}
		if c.FinishReason != nil && *c.FinishReason != "" {
			s.finish = *c.FinishReason
			if err := s.closeBlock(emit); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *ChatStreamToMessages) start(id, model string, emit func(string, []byte) error) error {
	s.started = true
	s.id = messageID(id)
	if s.model == "" {
		s.model = model
	}
	p, err := json.Marshal(struct {
		Type    string   `json:"type"`
		Message *Message `json:"message"`
	}{"message_start", &Message{ID: s.id, Type: "message", Role: "assistant", Content: []Block{}, Model: s.model}})
	if err != nil {
		return err
	}
	return emit("message_start", p)
}

// textDelta appends text to the open block of blockType, opening one first
// when another kind of block (or none) is open.
func (s *ChatStreamToMessages) textDelta(blockType, deltaType, key, text string, emit func(string, []byte) error) error {
	if s.block < 0 || s.blockType != blockType {
		if err := s.closeBlock(emit); err != nil {
			return err
		}
		start := `{"type":"text","text":""}`
		if blockType == BlockThinking {
			start = `{"type":"thinking","thinking":"","signature":""}`
		}
		if err := s.openBlock(blockType, start, emit); err != nil {
			return err
		}
	}
	b := append(s.buf[:0], `{"type":"content_block_delta","index":`...)
	b = jsonw.Int(b, s.block)
	b = append(b, `,"delta":{"type":"`...)
	b = append(b, deltaType...)
	b = append(b, `","`...)
	b = append(b, key...)
	b = append(b, `":`...)
	b = jsonw.String(b, text)
	b = append(b, "}}"...)
	s.buf = b
	return emit("content_block_delta", b)
}

// redactedBlock is a whole redacted_thinking block: start and stop, as
// Anthropic streams it.
func (s *ChatStreamToMessages) redactedBlock(data string, emit func(string, []byte) error) error {
	if err := s.closeBlock(emit); err != nil {
		return err
	}
	start := jsonw.String([]byte(`{"type":"redacted_thinking","data":`), data)
	if err := s.openBlock(BlockRedactedThinking, string(append(start, '}')), emit); err != nil {
		return err
	}
	return s.closeBlock(emit)
}

func (s *ChatStreamToMessages) toolDelta(tc *openai.ToolCallDelta, emit func(string, []byte) error) error {
	if s.toolBlock == nil {
		s.toolBlock = make(map[int]int)
	}
	idx, ok := s.toolBlock[tc.Index]
	if !ok {
		if err := s.closeBlock(emit); err != nil {
			return err
		}
		id := tc.ID
		if id == "" {
			s.toolIDs++
			id = "toolu_" + s.id + "_" + strconv.Itoa(s.toolIDs)
		}
		b := append(s.buf[:0], `{"type":"tool_use","id":`...)
		b = jsonw.String(b, id)
		b = append(b, `,"name":`...)
		b = jsonw.String(b, tc.Function.Name)
		b = append(b, `,"input":{}}`...)
		s.buf = b
		if err := s.openBlock(BlockToolUse, string(b), emit); err != nil {
			return err
		}
		idx = s.block
		s.toolBlock[tc.Index] = idx
	}
	if tc.Function.Arguments == "" {
		return nil
	}
	b := append(s.buf[:0], `{"type":"content_block_delta","index":`...)
	b = jsonw.Int(b, idx)
	b = append(b, `,"delta":{"type":"input_json_delta","partial_json":`...)
	b = jsonw.String(b, tc.Function.Arguments)
	b = append(b, "}}"...)
	s.buf = b
	return emit("content_block_delta", b)
}

func (s *ChatStreamToMessages) openBlock(blockType, contentBlock string, emit func(string, []byte) error) error {
	s.block, s.blockType = s.next, blockType
	s.next++
	b := append(s.buf[:0], `{"type":"content_block_start","index":`...)
	b = jsonw.Int(b, s.block)
	b = append(b, `,"content_block":`...)
	b = append(b, contentBlock...)
	b = append(b, '}')
	s.buf = b
	return emit("content_block_start", b)
}

func (s *ChatStreamToMessages) closeBlock(emit func(string, []byte) error) error {
	if s.block < 0 {
		return nil
	}
	b := append(s.buf[:0], `{"type":"content_block_stop","index":`...)
	b = jsonw.Int(b, s.block)
	b = append(b, '}')
	s.buf = b
	s.block = -1
	return emit("content_block_stop", b)
}

// Finish closes the message once the upstream stream has ended: the open
// block, message_delta with the stop reason and usage, and message_stop.
func (s *ChatStreamToMessages) Finish(emit func(name string, payload []byte) error) error {
	if s.done {
		return nil
	}
	s.done = true
	if !s.started {
		if err := s.start("", s.model, emit); err != nil {
			return err
		}
	}
	if err := s.closeBlock(emit); err != nil {
		return err
	}
	stop := StopReason(s.finish)
	if s.finish == "" && len(s.toolBlock) > 0 {
		stop = StopToolUse
	}
	u := messagesUsage(s.usage)
	p, err := json.Marshal(struct {
		Type  string `json:"type"`
		Delta struct {
			StopReason   string  `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage Usage `json:"usage"`
	}{Type: "message_delta", Delta: struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}{StopReason: stop}, Usage: u})
	if err != nil {
		return err
	}
	if err := emit("message_delta", p); err != nil {
		return err
	}
	return emit("message_stop", []byte(`{"type":"message_stop"}`))
}

// Usage is the usage reported by the upstream so far, and whether the
// upstream reported any.
func (s *ChatStreamToMessages) Usage() (openai.Usage, bool) { return s.usage, s.hasUsage }
