package relay

// The usage fallback for the other stream formats (Anthropic Messages,
// Responses, legacy completions): the same idea as countingChat, with the
// format's knowledge passed in as a UsageCounter instead of a copy per
// format. Events are observed as they are emitted, never buffered.

import (
	"bytes"

	"github.com/switchyard/switchyard/internal/sse"
	"github.com/switchyard/switchyard/internal/tokens"
)

// UsageCounter describes one stream format to CountUsage.
type UsageCounter struct {
	Encoding tokens.Encoding
	// Text passes the completion text of one emitted event to write; it
	// is only called while the upstream has reported no usage.
	Text func(event string, data []byte, write func(string))
	// Prompt counts the request's prompt tokens; called only when the
	// estimate is needed.
	Prompt func() int
	// Emit, when set, sends one event while the upstream has reported no
	// usage, so a format can put the estimate into the event that carries
	// usage (or emit one more). usage computes the estimate so far.
	Emit func(event string, data []byte, usage func() Usage, emit func(string, []byte) error) error
}

// CountUsage wraps st so that a stream whose upstream reports no usage gets
// its tokens counted (see usage.go).
func CountUsage(st EventStream, uc UsageCounter) EventStream {
	return &countingStream{st: st, uc: uc}
}

type countingStream struct {
	st     EventStream
	uc     UsageCounter
	ctr    *tokens.Counter
	off    bool
	prompt int
	pdone  bool
	done   bool // Finish returned: the estimate is final
	est    Usage
}

func (c *countingStream) write(s string) {
	if s == "" {
		return
	}
	if c.ctr == nil {
		c.ctr = tokens.NewCounter(c.uc.Encoding)
	}
	c.ctr.Write(s)
}

func (c *countingStream) wrap(emit func(string, []byte) error) func(string, []byte) error {
	return func(name string, d []byte) error {
		if !c.off && !c.st.Usage().unreported() {
			c.off, c.ctr = true, nil
		}
		if c.off {
			return emit(name, d)
		}
		c.uc.Text(name, d, c.write)
		if c.uc.Emit != nil {
			return c.uc.Emit(name, d, c.estimate, emit)
		}
		return emit(name, d)
	}
}

func (c *countingStream) estimate() Usage {
	if c.done {
		return c.est
	}
	if !c.pdone && c.uc.Prompt != nil {
		c.prompt, c.pdone = c.uc.Prompt(), true
	}
	u := Usage{PromptTokens: c.prompt, Estimated: true}
	if c.ctr != nil {
		u.CompletionTokens = c.ctr.Tokens()
	}
	return u
}

func (c *countingStream) Feed(ev sse.Event, emit func(string, []byte) error) error {
	return c.st.Feed(ev, c.wrap(emit))
}

func (c *countingStream) Finish(emit func(string, []byte) error) error {
	return c.st.Finish(c.wrap(emit))
}

// Usage is the upstream's usage, or the estimate when it reported none.
func (c *countingStream) Usage() Usage {
	if u := c.st.Usage(); !u.unreported() {
		return u
	}
	if !c.done {
		c.est, c.done = c.estimate(), true
	}
	return c.est
}

func (c *countingStream) Abort() (string, []byte) { return c.st.Abort() }

// EstimateUsage is the usage of a non-stream answer the upstream reported
// none for: prompt tokens plus the count of each completion text.
func EstimateUsage(enc tokens.Encoding, prompt int, texts ...string) Usage {
	u := Usage{PromptTokens: prompt, Estimated: true}
	for _, s := range texts {
		u.CompletionTokens += enc.Count(s)
	}
	return u
}

// Unreported is true for usage an upstream did not report at all.
func (u Usage) Unreported() bool { return u.unreported() }

// JSONStrings passes the decoded value of every key in data (a key ends
// with its opening quote, like `"text":"`) to write. A JSON string cannot
// hold an unescaped quote, so the patterns only match keys.
func JSONStrings(data []byte, write func(string), keys ...[]byte) {
	for _, k := range keys {
		for rest := data; ; {
			i := bytes.Index(rest, k)
			if i < 0 {
				break
			}
			s, n := jsonStringAt(rest[i:], k)
			write(string(s))
			rest = rest[i+len(k)+n:]
		}
	}
}

// ChatPromptTokens counts a chat request body's messages and tools.
func ChatPromptTokens(enc tokens.Encoding, body []byte) int { return chatPromptTokens(enc, body) }
