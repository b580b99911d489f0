package openai

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/sse"
)

// AppendChunk encodes c into buf (reset first) with a reused encoder, for
// stream translators that emit one chunk per upstream event. The returned
// bytes alias buf and carry no trailing newline.
func AppendChunk(buf *bytes.Buffer, enc **json.Encoder, c *ChatChunk) ([]byte, error) {
	buf.Reset()
	if *enc == nil {
		*enc = json.NewEncoder(buf)
		(*enc).SetEscapeHTML(false)
	}
	if err := (*enc).Encode(c); err != nil {
		return nil, fmt.Errorf("encode chat chunk: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// ChunkTranslator is a stream translator whose output is OpenAI chat chunks
// (anthropic.StreamToChat, gemini.StreamToChat).
type ChunkTranslator interface {
	Feed(ev sse.Event, emit func(*ChatChunk) error) error
	Finish(emit func(*ChatChunk) error) error
	Usage() Usage
}

// NewChunkStream adapts t to relay.ChatStream, marshalling each chunk into
// one reused buffer.
func NewChunkStream(t ChunkTranslator) relay.ChatStream { return &chunkStream{t: t} }

type chunkStream struct {
	t   ChunkTranslator
	buf bytes.Buffer
	enc *json.Encoder
}

func (s *chunkStream) Feed(ev sse.Event, emit func([]byte) error) error {
	return s.t.Feed(ev, s.emitter(emit))
}

func (s *chunkStream) Finish(emit func([]byte) error) error { return s.t.Finish(s.emitter(emit)) }

func (s *chunkStream) Usage() relay.Usage { return RelayUsage(s.t.Usage()) }

func (s *chunkStream) emitter(emit func([]byte) error) func(*ChatChunk) error {
	return func(c *ChatChunk) error {
		b, err := AppendChunk(&s.buf, &s.enc, c)
		if err != nil {
			return err
		}
		return emit(b)
	}
}

// ChatResponseJSON encodes a translated chat answer with its usage.
func ChatResponseJSON(resp *ChatResponse) ([]byte, relay.Usage, error) {
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, relay.Usage{}, fmt.Errorf("encode chat response: %w", err)
	}
	var u relay.Usage
	if resp.Usage != nil {
		u = RelayUsage(*resp.Usage)
	}
	return out, u, nil
}

// DecodeChat decodes a client chat body for translation to another upstream
// type; a body the pivot types cannot hold is the client's error.
func DecodeChat(body []byte) (*ChatRequest, error) {
	var req ChatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, provider.Invalid("body", err.Error())
	}
	return &req, nil
}
