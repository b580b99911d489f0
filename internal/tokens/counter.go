package tokens

import (
	"strings"
	"unicode/utf8"
)

const (
	// settleAt is the tail length from which Write looks for a cut. Below it
	// Write only appends: tokenizing every few-byte delta on its own would
	// pay the regexp set-up cost per delta for no gain in accuracy.
	settleAt = 64
	// maxTail bounds the un-finalised tail. Text with no safe cut for this
	// long (a base64 blob, a long run of CJK without punctuation) is cut
	// anyway, which can miscount by a token or so per cut.
	maxTail = 256
	// shrinkCap: a single huge delta may grow the buffer; give it back.
	shrinkCap = 4 * maxTail
)

// Counter counts the tokens of text that arrives in pieces, such as the
// content deltas of a streamed completion, without keeping the text.
//
// BPE merges never cross the pieces the pre-tokenizer splits text into, so
// Counter finalises text up to the last position where no later text can
// change the split (see splitsBetween) and keeps only what follows it.
// Tokens is therefore exactly Count(all text written) whenever no forced cut
// happened, and a forced cut happens only after maxTail bytes with no safe
// position in them.
//
// A Counter is not safe for concurrent use; the goroutine relaying a stream
// owns it.
type Counter struct {
	enc     Encoding
	settled int    // tokens in finalised text
	tail    []byte // text after the last cut
	checked int    // tail positions below this are known not to be safe cuts
	forced  int    // cuts made without a safe position, for diagnostics
}

// NewCounter returns a Counter for enc.
func NewCounter(enc Encoding) *Counter {
	return &Counter{enc: enc}
}

// Write adds one streamed text delta.
func (c *Counter) Write(delta string) {
	if delta == "" {
		return
	}
	c.tail = append(c.tail, delta...)
	if len(c.tail) < settleAt {
		return
	}
	v := c.enc.vocab()
	if cut := lastSafeCut(v, c.tail, c.checked); cut > 0 {
		c.finalise(cut)
	} else {
		// A pair already judged unsafe stays unsafe; rescanning only from a
		// few bytes back also covers a rune split across deltas.
		c.checked = max(len(c.tail)-utf8.UTFMax, 0)
	}
	if len(c.tail) >= maxTail {
		c.forced++
		c.forceCut()
	}
}

// Tokens returns the token count of everything written so far. It may be
// called at any time, including mid-stream; it does not change the state.
func (c *Counter) Tokens() int {
	return c.settled + c.enc.Count(string(c.tail))
}

// ForcedCuts reports how many times the tail was cut where the count may be
// off by a token; zero means Tokens is exact.
func (c *Counter) ForcedCuts() int { return c.forced }

func (c *Counter) finalise(cut int) {
	if cut <= 0 {
		return
	}
	c.settled += c.enc.Count(string(c.tail[:cut]))
	n := copy(c.tail, c.tail[cut:])
	c.tail = c.tail[:n]
	c.checked = 0
	if cap(c.tail) > shrinkCap {
		c.tail = append(make([]byte, 0, maxTail), c.tail...)
	}
}

// forceCut finalises a tail that has no safe cut at a token boundary of the
// tail's own tokenization: the leading tokens that fit in its first half.
// BPE merges are local and, among equal ranks, leftmost first, so text that
// arrives later rarely changes tokens that far back (a run of spaces, for
// one, stays in 128-space tokens from its left end); a cut at an arbitrary
// byte would split a token and miscount almost every time.
func (c *Counter) forceCut() {
	end := completeRunes(c.tail)
	text := string(c.tail[:end])
	var toks []string
	err := c.enc.vocab().get().encode(text, func(_ uint32, tok string) { toks = append(toks, tok) })
	cut, n := 0, 0
	for _, tok := range toks {
		if cut+len(tok) > len(text)/2 {
			break
		}
		cut += len(tok)
		n++
	}
	// With invalid UTF-8 the split's pieces are not byte slices of the input;
	// check before trusting the lengths, and otherwise cut at the end.
	if err != nil || n == 0 || !strings.HasPrefix(text, strings.Join(toks[:n], "")) {
		c.finalise(end)
		return
	}
	c.settled += n
	m := copy(c.tail, c.tail[cut:])
	c.tail = c.tail[:m]
	c.checked = 0
}

// lastSafeCut returns the last byte offset p in b, p >= from, where the
// pre-tokenizer always splits, or 0 if there is none.
func lastSafeCut(v *vocabulary, b []byte, from int) int {
	r2, n2 := utf8.DecodeLastRune(b)
	p := len(b) - n2
	for p > 0 && p >= from {
		r1, n1 := utf8.DecodeLastRune(b[:p])
		if r2 != utf8.RuneError && v.splitsBetween(r1, r2) {
			return p
		}
		r2, p = r1, p-n1
	}
	return 0
}

// completeRunes returns the length of b without a trailing incomplete UTF-8
// sequence, so a forced cut never splits a rune that the next delta ends.
func completeRunes(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}
