package tokens

import (
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// splitRandom cuts s into deltas of 1..maxLen bytes, at any byte, so runes
// are split across deltas too.
func splitRandom(r *rand.Rand, s string, maxLen int) []string {
	var out []string
	for len(s) > 0 {
		n := min(1+r.IntN(maxLen), len(s))
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

// splitRunes cuts s into deltas of 1..maxRunes whole runes, as SSE deltas
// decoded from JSON always are.
func splitRunes(r *rand.Rand, s string, maxRunes int) []string {
	var out []string
	for len(s) > 0 {
		n, i := 1+r.IntN(maxRunes), 0
		for ; n > 0 && i < len(s); n-- {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

func countStream(enc Encoding, deltas []string) (*Counter, int) {
	c := NewCounter(enc)
	for _, d := range deltas {
		c.Write(d)
	}
	return c, c.Tokens()
}

func TestCounterExactOnOrdinaryText(t *testing.T) {
	texts := map[string]string{
		"sample":     sampleText,
		"sample x20": strings.Repeat(sampleText, 20),
		"prose":      strings.Repeat("The quick brown fox jumps over the lazy dog, doesn't it? ", 50),
		"cjk":        strings.Repeat("网关在转发请求之前需要估算输入的令牌数量，以便检查余额。", 40),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, enc := range []Encoding{O200k(), Cl100k()} {
		for name, text := range texts {
			want := enc.Count(text)
			for trial := range 30 {
				var deltas []string
				switch trial % 3 {
				case 0:
					deltas = splitRunes(r, text, 8)
				case 1:
					deltas = splitRandom(r, text, 40)
				default:
					deltas = splitRandom(r, text, 3) // byte-sized deltas, mid-rune cuts
				}
				c, got := countStream(enc, deltas)
				if got != want {
					t.Fatalf("%s %s trial %d: Counter = %d, Count = %d (forced cuts %d)", enc.Name(), name, trial, got, want, c.ForcedCuts())
				}
				if c.ForcedCuts() != 0 {
					t.Errorf("%s %s trial %d: %d forced cuts on text with boundaries", enc.Name(), name, trial, c.ForcedCuts())
				}
			}
		}
	}
}

// Text with no safe boundary for long stretches forces cuts; the count must
// stay within 1%, and memory bounded.
func TestCounterAdversarial(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	blob := make([]byte, 12<<10)
	for i := range blob {
		blob[i] = byte(r.Uint32())
	}
	texts := map[string]string{
		"base64":       base64.StdEncoding.EncodeToString(blob),
		"cjk no punct": strings.Repeat("网关在转发请求之前需要估算输入的令牌数量以便检查余额", 60),
		"digits":       strings.Repeat("31415926535897932384626433832795", 200),
		"one word":     strings.Repeat("abcdefghij", 1000),
		"punct":        strings.Repeat("=-*#/\\|_.:;", 600),
		"spaces":       "x" + strings.Repeat(" ", 8000) + "y",
		"newlines":     strings.Repeat("\n\n \n", 2000),
	}
	for _, enc := range []Encoding{O200k(), Cl100k()} {
		for name, text := range texts {
			want := enc.Count(text)
			for trial := range 10 {
				var deltas []string
				if trial%2 == 0 {
					deltas = splitRandom(r, text, 7)
				} else {
					deltas = splitRunes(r, text, 1)
				}
				c := NewCounter(enc)
				maxTailSeen := 0
				for _, d := range deltas {
					c.Write(d)
					maxTailSeen = max(maxTailSeen, len(c.tail))
				}
				got := c.Tokens()
				if diff := abs(got - want); diff*100 > want {
					t.Errorf("%s %s trial %d: Counter = %d, Count = %d: off by %.2f%% (forced cuts %d)",
						enc.Name(), name, trial, got, want, 100*float64(diff)/float64(want), c.ForcedCuts())
				}
				if maxTailSeen >= maxTail+8 {
					t.Errorf("%s %s: tail grew to %d bytes, bound is %d plus one delta", enc.Name(), name, maxTailSeen, maxTail)
				}
			}
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestCounterTokensMidStream(t *testing.T) {
	enc := O200k()
	c := NewCounter(enc)
	var sent strings.Builder
	for _, d := range splitRunes(rand.New(rand.NewPCG(5, 6)), strings.Repeat(sampleText, 3), 5) {
		c.Write(d)
		sent.WriteString(d)
		if got, want := c.Tokens(), enc.Count(sent.String()); got != want {
			t.Fatalf("after %d bytes: Tokens = %d, Count = %d", sent.Len(), got, want)
		}
	}
}

func TestCounterEmpty(t *testing.T) {
	c := NewCounter(Cl100k())
	c.Write("")
	if got := c.Tokens(); got != 0 {
		t.Errorf("Tokens of nothing = %d, want 0", got)
	}
}

// One huge delta must not leave a huge buffer behind.
func TestCounterHugeDeltaReleasesBuffer(t *testing.T) {
	c := NewCounter(O200k())
	text := strings.Repeat("word ", 20000)
	c.Write(text)
	if cap(c.tail) > shrinkCap {
		t.Errorf("tail capacity %d after one large delta, want <= %d", cap(c.tail), shrinkCap)
	}
	if got, want := c.Tokens(), O200k().Count(text); got != want {
		t.Errorf("Tokens = %d, want %d", got, want)
	}
}

func BenchmarkCount(b *testing.B) {
	text := strings.ToValidUTF8(strings.Repeat(sampleText, 2)[:1024], "")
	for _, enc := range []Encoding{O200k(), Cl100k()} {
		b.Run(enc.Name(), func(b *testing.B) {
			enc.Count("warm up")
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				enc.Count(text)
			}
		})
	}
}

// BenchmarkCounterWrite measures the cost per streamed delta of ~4 bytes,
// the typical size of a content delta.
func BenchmarkCounterWrite(b *testing.B) {
	deltas := splitRunes(rand.New(rand.NewPCG(7, 8)), strings.Repeat(sampleText, 4), 4)
	enc := O200k()
	enc.Count("warm up")
	b.ReportAllocs()
	c := NewCounter(enc)
	i := 0
	for b.Loop() {
		c.Write(deltas[i])
		i++
		if i == len(deltas) {
			i = 0
			c = NewCounter(enc)
		}
	}
}

// Without a forced cut the count is exact for any text and any split; the
// fuzzer looks for a pair rule that lets BPE merge across a cut.
func FuzzCounterExact(f *testing.F) {
	f.Add(sampleText, uint64(1))
	f.Add("don't stop\r\n\r\n  at 12345 ..́x 'twas", uint64(2))
	f.Fuzz(func(t *testing.T, text string, seed uint64) {
		if !utf8.ValidString(text) {
			t.Skip("stream deltas are decoded JSON strings, always valid UTF-8")
		}
		r := rand.New(rand.NewPCG(seed, seed))
		for _, enc := range []Encoding{O200k(), Cl100k()} {
			c, got := countStream(enc, splitRandom(r, text, 9))
			if c.ForcedCuts() == 0 {
				if want := enc.Count(text); got != want {
					t.Fatalf("%s: Counter = %d, Count = %d for %q", enc.Name(), got, want, text)
				}
			}
		}
	})
}
