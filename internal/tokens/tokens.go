// Package tokens counts tokens the way OpenAI's tokenizers do, for the cases
// where an upstream does not report usage (some OpenAI-compatible servers,
// streams aborted before their usage chunk).
//
// Design choices:
//
//   - The vocabularies are o200k_base and cl100k_base as
//     github.com/tiktoken-go/tokenizer compiles them, rewritten once by
//     internal/genvocab into compact tables that are embedded in the binary
//     and read in place (vocab.go). Nothing is ever downloaded: counting
//     works offline and in a scratch container. The library's own form, a
//     map[string]uint per vocabulary built from a map literal, held ~10 MiB
//     of live heap for the two, ~27 MiB of a gateway's RSS with the
//     collector's headroom and the binary pages the literal touched; the
//     tables hold no heap, and their pages (4.3 MB and 2.1 MB, touched as
//     counting needs them) are read-only data the kernel can reclaim.
//   - A vocabulary is opened on first use (sync.Once), not at package init.
//     Opening one now only compiles its split regexp (well under a
//     millisecond: the library registers generated matchers for it); `serve`
//     still does that in the background shortly after it starts (Warm).
//   - Counting is not cheap (~250 µs per KiB, about 1,300 allocations, in
//     the regexp engine), so callers count only when an upstream
//     did not report usage, never on every request.
//   - Only two encodings exist here. Every current OpenAI chat model uses
//     o200k_base; cl100k_base remains for gpt-4 (non-o), gpt-3.5 and the
//     text-embedding models. Models of other vendors (Claude, Gemini, Llama,
//     …) have tokenizers of their own that are not public or not embedded;
//     o200k_base is used for them as an approximation, typically within
//     10–20% for English text. Billing prefers upstream usage whenever an
//     upstream reports it; these counts are the fallback.
//   - Streams are counted incrementally by Counter, which holds only a short
//     un-finalised tail, so a stream's text is never buffered twice.
package tokens

import (
	"strings"
	"sync"
	"unicode"
)

// vocabulary is one tokenizer, read on first use from its embedded table
// and shared by every Encoding that names it. The table is only read once
// made, and regexp2's Regexp is safe for concurrent matching.
type vocabulary struct {
	name    string
	data    string // the embedded file (vocab.go)
	pattern string // the pre-tokenizer regexp
	// marksAreLetters reports whether the encoding's pre-tokenizer puts
	// \p{M} in its word pieces (o200k does; cl100k treats marks as
	// punctuation); Counter needs it to find boundaries no later text can
	// merge across.
	marksAreLetters bool

	once sync.Once
	tab  *table
}

func (v *vocabulary) get() *table {
	v.once.Do(func() { v.tab = newTable(v.data, v.pattern) })
	return v.tab
}

var (
	o200kBase  = &vocabulary{name: "o200k_base", data: o200kData, pattern: o200kPattern, marksAreLetters: true}
	cl100kBase = &vocabulary{name: "cl100k_base", data: cl100kData, pattern: cl100kPattern}
)

// Encoding is a tokenizer vocabulary. The zero value is o200k_base, the
// default for unknown models. Encodings are small values, safe to copy and
// to use from many goroutines at once.
type Encoding struct {
	v *vocabulary
}

// Warm builds e's vocabulary now, in the calling goroutine, unless it is
// built already; it returns when the vocabulary is ready.
func (e Encoding) Warm() { e.vocab().get() }

// O200k returns the o200k_base encoding (gpt-4o, gpt-4.1, gpt-5, o-series).
func O200k() Encoding { return Encoding{o200kBase} }

// Cl100k returns the cl100k_base encoding (gpt-4, gpt-3.5, text-embedding-*).
func Cl100k() Encoding { return Encoding{cl100kBase} }

func (e Encoding) vocab() *vocabulary {
	if e.v == nil {
		return o200kBase
	}
	return e.v
}

// Name returns the encoding's tiktoken name, e.g. "o200k_base".
func (e Encoding) Name() string { return e.vocab().name }

// ForModel returns the encoding used to count tokens for model. Matching is
// by prefix, case-insensitive, after dropping a routing prefix such as
// "openai/" and a fine-tune prefix "ft:". Anything not known to use
// cl100k_base gets o200k_base: new OpenAI models use it, and for other
// vendors' models it is an approximation either way.
func ForModel(model string) Encoding {
	m := strings.ToLower(strings.TrimSpace(model))
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	m = strings.TrimPrefix(m, "ft:")
	switch {
	case m == "gpt-4", strings.HasPrefix(m, "gpt-4-"), // gpt-4-turbo, gpt-4-0613, gpt-4-32k; not gpt-4o / gpt-4.1
		strings.HasPrefix(m, "gpt-3.5"), strings.HasPrefix(m, "gpt-35"), // Azure spells it gpt-35
		strings.HasPrefix(m, "text-embedding-"),
		strings.HasPrefix(m, "davinci-002"), strings.HasPrefix(m, "babbage-002"):
		return Cl100k()
	default:
		return O200k()
	}
}

// Count returns the number of tokens in text. Special-token text such as
// "<|endoftext|>" is counted as ordinary text, as the OpenAI API does for
// user content.
func (e Encoding) Count(text string) int {
	if text == "" {
		return 0
	}
	n, err := e.vocab().get().count(text)
	if err != nil {
		// Only a regexp failure can get here (none is known to be
		// reachable). A usage
		// fallback must still yield a number: estimate ~4 bytes a token.
		return (len(text) + 3) / 4
	}
	return n
}

// runeClass is how the o200k/cl100k pre-tokenizer regexps see a rune.
type runeClass uint8

const (
	classNever runeClass = iota // never split next to it
	classLetter
	classDigit
	classSpace   // horizontal whitespace: a punctuation run never absorbs it
	classNewline // \r or \n: a punctuation run absorbs trailing \r\n
	classApostrophe
	classPunct // everything else: symbols, punctuation, and marks in cl100k
)

func (v *vocabulary) classify(r rune) runeClass {
	switch {
	case r == unicode.ReplacementChar:
		return classNever
	case r == '\r' || r == '\n':
		return classNewline
	case r == '\'':
		return classApostrophe
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsMark(r) && v.marksAreLetters:
		// o200k counts marks as letters in its word pieces and as
		// non-letters in its punctuation pieces, so a mark can join either.
		return classNever
	case unicode.IsNumber(r):
		return classDigit
	case unicode.IsSpace(r) || unicode.In(r, unicode.Z):
		return classSpace
	default:
		return classPunct
	}
}

// splitsBetween reports whether the pre-tokenizer always ends a piece
// between a and b, whatever text comes before a or after b. BPE merges never
// cross pieces, so text cut there counts the same in two halves as whole.
// The rules follow the two regexps (both have no look-behind, so a piece
// starting at b does not depend on what precedes it):
//   - a letter run ends before anything but a letter, except an apostrophe
//     (o200k attaches 's 't 're … to the word);
//   - a digit run of 1–3 ends before any non-digit;
//   - a punctuation run ends before a letter only if it cannot be the one-rune
//     prefix that pieces like " hello" or ".Hello" carry, so never; it ends
//     before a digit and before horizontal whitespace, but absorbs \r\n;
//   - whitespace never ends a piece safely: "\s+(?!\S)" looks ahead.
func (v *vocabulary) splitsBetween(a, b rune) bool {
	ca, cb := v.classify(a), v.classify(b)
	if ca == classNever || cb == classNever {
		return false
	}
	switch ca {
	case classLetter:
		return cb != classLetter && cb != classApostrophe
	case classDigit:
		return cb != classDigit
	case classPunct, classApostrophe:
		return cb == classDigit || cb == classSpace
	default:
		return false
	}
}
