package relay

// Usage fallback: when an upstream reports no usage at all (some
// OpenAI-compatible servers ignore stream_options.include_usage or send
// "usage": null), the relay counts tokens itself with the embedded
// tokenizer. Completion text is counted incrementally as chunks pass
// through (tokens.Counter keeps only a short tail), never from a buffered
// copy; the prompt is counted lazily, only when the fallback is needed.
// Upstreams that report usage early (Anthropic's message_start, Gemini's
// per-chunk usageMetadata) switch counting off at once. OpenAI-shaped ones
// report it only in the last chunk, and exact counting costs about 4 µs a
// chunk (BenchmarkCountingChat), so the relay learns per channel: after a
// stream that reported usage, the channel's streams only sum the bytes of
// their text; should such a stream end without usage after all, it is
// estimated at 4 bytes a token and the channel goes back to exact counting.

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync/atomic"

	"github.com/switchyard/switchyard/internal/sse"
	"github.com/switchyard/switchyard/internal/tokens"
)

// unreported is true for usage an upstream did not report at all.
func (u Usage) unreported() bool { return u.PromptTokens == 0 && u.CompletionTokens == 0 }

// countingChat is chatEvents with the usage fallback.
type countingChat struct {
	chatEvents
	call *ChatCall
	ctr  *tokens.Counter // created on the first delta while usage is unknown
	off  bool            // the upstream reported usage: stop counting
	id   []byte          // the first chunk's id and created, for a synthesized usage chunk
	crt  []byte
	est  *Usage // the estimate, once computed

	learned *atomic.Bool // the channel's last stream reported usage
	cheap   bool         // learned was set: sum text bytes, don't tokenize
	bytes   int          // text bytes seen in cheap mode
	seenID  bool

	emit     func(string, []byte) error // Feed's, for observed
	observed func([]byte) error         // c.observeAndEmit, made once
}

// rawStringLen is the length of a JSON string's body, v starting just after
// its opening quote, without decoding it.
func rawStringLen(v []byte) int {
	for j := 0; j < len(v); j++ {
		switch v[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(v)
}

func newCountingChat(st ChatStream, call *ChatCall) *countingChat {
	return &countingChat{chatEvents: chatEvents{st}, call: call}
}

func (c *countingChat) enc() tokens.Encoding {
	if c.call.UpstreamModel != "" {
		return tokens.ForModel(c.call.UpstreamModel)
	}
	return tokens.ForModel(c.call.Model)
}

// observe sees every chunk the translator emits, before the client does.
func (c *countingChat) observe(d []byte) {
	if c.off {
		return
	}
	if !c.st.Usage().unreported() {
		c.off, c.ctr = true, nil
		return
	}
	if !c.seenID {
		c.seenID = true
		c.id, _ = jsonStringAt(d, keyID)
		c.crt = numberAt(d, keyCreated)
	}
	// One pass over the chunk's string members, rather than one
	// bytes.Index pass per key or a stop at every quote: `":"` ends every
	// key whose value is a string and occurs nowhere else (a string holds
	// no unescaped quote), about one in seven of a chunk's quotes.
	for rest := d; ; {
		i := bytes.Index(rest, keyEnd)
		if i < 0 {
			break
		}
		k := deltaKeyBefore(rest[:i])
		if k == nil {
			rest = rest[i+2:] // from the value's opening quote
			continue
		}
		// From the key's opening quote.
		rest = rest[i+len(keyEnd)-len(k):]
		if c.cheap { // an estimate: escaped length is close enough
			n := rawStringLen(rest[len(k):])
			c.bytes += n
			rest = rest[min(len(k)+n+1, len(rest)):]
			continue
		}
		s, n := jsonStringAt(rest, k)
		if len(s) > 0 {
			if c.ctr == nil {
				c.ctr = tokens.NewCounter(c.enc())
			}
			c.ctr.Write(string(s))
		}
		rest = rest[len(k)+n:]
	}
}

// keyEnd ends a key whose value is a string.
var keyEnd = []byte(`":"`)

// deltaKeyBefore is the delta key whose name (opening quote included)
// b ends with, b being what precedes a keyEnd, or nil.
func deltaKeyBefore(b []byte) []byte {
	for _, k := range deltaKeys {
		name := k[:len(k)-len(keyEnd)]
		if len(b) >= len(name) && b[len(b)-1] == name[len(name)-1] && bytes.HasSuffix(b, name) {
			return k
		}
	}
	return nil
}

// deltaKeys are the members of an OpenAI chunk whose text costs completion
// tokens. A JSON string cannot contain an unescaped `"`, so these byte
// patterns only ever match keys, never text inside a value.
var (
	deltaKeys = [][]byte{[]byte(`"content":"`), []byte(`"arguments":"`),
		[]byte(`"reasoning_content":"`), []byte(`"refusal":"`)}
	keyID      = []byte(`"id":"`)
	keyCreated = []byte(`"created":`)
)

// jsonStringAt decodes the string value after the first key in b (key ends
// with the opening quote); n is how far past the key the value ends.
func jsonStringAt(b, key []byte) (s []byte, n int) {
	i := bytes.Index(b, key)
	if i < 0 {
		return nil, 0
	}
	v := b[i+len(key):]
	escaped := false
	for j := 0; j < len(v); j++ {
		switch v[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			if !escaped {
				return v[:j], j + 1
			}
			var out string
			if json.Unmarshal(b[i+len(key)-1:i+len(key)+j+1], &out) != nil {
				return nil, j + 1
			}
			return []byte(out), j + 1
		}
	}
	return nil, len(v)
}

func numberAt(b, key []byte) []byte {
	i := bytes.Index(b, key)
	if i < 0 {
		return nil
	}
	v := b[i+len(key):]
	j := 0
	for j < len(v) && v[j] >= '0' && v[j] <= '9' {
		j++
	}
	return bytes.Clone(v[:j])
}

func (c *countingChat) Feed(ev sse.Event, emit func(string, []byte) error) error {
	// A closure over emit would be allocated for every chunk: the
	// translator's callback is made once per stream and reads emit here.
	c.emit = emit
	if c.observed == nil {
		c.observed = c.observeAndEmit
	}
	return c.st.Feed(ev, c.observed)
}

// observeAndEmit is Feed's callback for the translator's chunks.
func (c *countingChat) observeAndEmit(d []byte) error {
	c.observe(d)
	return c.emit("", d)
}

// Finish ends the stream; a client that asked for include_usage gets a
// usage chunk with the estimate when the upstream sent none.
func (c *countingChat) Finish(emit func(string, []byte) error) error {
	if err := c.st.Finish(func(d []byte) error { c.observe(d); return emit("", d) }); err != nil {
		return err
	}
	if c.learned != nil {
		c.learned.Store(!c.st.Usage().unreported())
	}
	if c.call.IncludeUsage && c.st.Usage().unreported() {
		if err := emit("", c.usageChunk(c.Usage())); err != nil {
			return err
		}
	}
	return emit("", doneMarker)
}

// Usage is the upstream's usage, or the estimate when it reported none.
func (c *countingChat) Usage() Usage {
	u := c.st.Usage()
	if !u.unreported() {
		return u
	}
	if c.est == nil {
		e := Usage{PromptTokens: chatPromptTokens(c.enc(), c.call.Body), Estimated: true}
		switch {
		case c.cheap:
			e.CompletionTokens = (c.bytes + 3) / 4
		case c.ctr != nil:
			e.CompletionTokens = c.ctr.Tokens()
		}
		c.est = &e
	}
	return *c.est
}

func (c *countingChat) usageChunk(u Usage) []byte {
	b := append([]byte(nil), `{"id":`...)
	b = strconv.AppendQuote(b, string(c.id)) // ids are ASCII; AppendQuote is valid JSON for them
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	if len(c.crt) == 0 {
		b = append(b, '0')
	} else {
		b = append(b, c.crt...)
	}
	b = append(b, `,"model":`...)
	m, _ := json.Marshal(c.call.Model)
	b = append(b, m...)
	b = append(b, `,"choices":[],"usage":`...)
	b = append(b, OpenAIUsageJSON(u)...)
	return append(b, '}')
}

// OpenAIUsageJSON is OpenAI's usage object for u (chat and completions).
func OpenAIUsageJSON(u Usage) []byte {
	b := append([]byte(nil), `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens+u.CompletionTokens), 10)
	return append(b, '}')
}

// chatPromptTokens counts a chat request's messages and tools; a body that
// does not decode counts as zero rather than failing a finished request.
func chatPromptTokens(enc tokens.Encoding, body []byte) int {
	var req struct {
		Messages json.RawMessage `json:"messages"`
		Tools    json.RawMessage `json:"tools"`
	}
	if json.Unmarshal(body, &req) != nil {
		return 0
	}
	n, err := enc.CountChatJSON(req.Messages, req.Tools)
	if err != nil {
		return 0
	}
	return n
}

// estimateChatResponse fills in usage for a non-stream chat answer whose
// upstream reported none: the answer's text is counted and a usage member
// put into the JSON the client gets.
func estimateChatResponse(out []byte, call *ChatCall) ([]byte, Usage) {
	c := countingChat{call: call}
	enc := c.enc()
	var resp struct {
		Choices []struct {
			Message struct {
				Content          *string `json:"content"`
				ReasoningContent string  `json:"reasoning_content"`
				Refusal          *string `json:"refusal"`
				ToolCalls        []struct {
					Function struct {
						Arguments string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
				FunctionCall *struct {
					Arguments string `json:"arguments"`
				} `json:"function_call"`
			} `json:"message"`
		} `json:"choices"`
	}
	if json.Unmarshal(out, &resp) != nil {
		return out, Usage{}
	}
	u := Usage{PromptTokens: chatPromptTokens(enc, call.Body), Estimated: true}
	for _, ch := range resp.Choices {
		m := ch.Message
		if m.Content != nil {
			u.CompletionTokens += enc.Count(*m.Content)
		}
		if m.Refusal != nil {
			u.CompletionTokens += enc.Count(*m.Refusal)
		}
		u.CompletionTokens += enc.Count(m.ReasoningContent)
		for _, tc := range m.ToolCalls {
			u.CompletionTokens += enc.Count(tc.Function.Arguments)
		}
		if m.FunctionCall != nil {
			u.CompletionTokens += enc.Count(m.FunctionCall.Arguments)
		}
	}
	// Re-encoding through a map reorders the members; this path only runs
	// for upstreams that sent no usage, and member order carries no meaning.
	var top map[string]json.RawMessage
	if json.Unmarshal(out, &top) != nil {
		return out, u
	}
	top["usage"] = OpenAIUsageJSON(u)
	if b, err := json.Marshal(top); err == nil {
		out = b
	}
	return out, u
}
