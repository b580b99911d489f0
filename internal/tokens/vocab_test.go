package tokens

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/tiktoken-go/tokenizer/codec"
)

// libraryCodec is the tiktoken-go codec the embedded table was written from.
func libraryCodec(v *vocabulary) *codec.Codec {
	if v == o200kBase {
		return codec.NewO200kBase()
	}
	return codec.NewCl100kBase()
}

// Every rank holds the library's token, and looking the token up gives the
// rank back: the embedded files are the library's vocabularies, whole.
func TestVocabularyMatchesLibrary(t *testing.T) {
	for _, v := range []*vocabulary{o200kBase, cl100kBase} {
		lib, tab := libraryCodec(v), v.get()
		tokens := 0
		for r := range tab.n + 16 {
			want, err := lib.Decode([]uint{uint(r)})
			if err != nil {
				want = ""
			}
			var got string
			if r < tab.n {
				got = tab.token(r)
			}
			if got != want {
				t.Fatalf("%s: rank %d is %q, library has %q", v.name, r, got, want)
			}
			if want == "" {
				continue
			}
			tokens++
			if back := tab.rank(want); back != r {
				t.Fatalf("%s: rank(%q) = %d, want %d", v.name, want, back, r)
			}
		}
		if least := map[string]int{"o200k_base": 199_990, "cl100k_base": 100_250}[v.name]; tokens < least {
			t.Errorf("%s: %d tokens, want at least %d", v.name, tokens, least)
		}
		for _, s := range []string{"", "\x00\xff\xfe", strings.Repeat("z", 300), "antidisestablishmentarianism"} {
			if r := tab.rank(s); r != noRank {
				t.Errorf("%s: rank(%q) = %d, want none", v.name, s, r)
			}
		}
	}
}

// Counting and encoding agree with the library token for token, on text
// of every kind the merge code has a path for: whole-token pieces, short
// pieces merged by scanning, pieces of 96 bytes and more merged with the
// heap, invalid UTF-8.
func TestEncodeMatchesLibrary(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	texts := []string{
		sampleText,
		strings.Repeat("abcdefghij", 30),
		"x" + strings.Repeat("qzj", 50) + " " + strings.Repeat("7", 40),
		strings.Repeat(" ", 300) + "end",
		strings.Repeat("网关在转发请求", 20),
		"\xff\xfe invalid \xc3 bytes \xe2\x82",
		"<|endoftext|> is plain text here",
	}
	for range 200 {
		b := make([]byte, 1+r.IntN(200))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		texts = append(texts, string(b), strings.ToValidUTF8(string(b), "é"))
	}
	for _, v := range []*vocabulary{o200kBase, cl100kBase} {
		lib, tab := libraryCodec(v), v.get()
		for _, text := range texts {
			wantIDs, wantToks, err := lib.Encode(text)
			if err != nil {
				t.Fatalf("library Encode(%q): %v", text, err)
			}
			var ids []uint
			var toks []string
			if err := tab.encode(text, func(r uint32, tok string) {
				ids, toks = append(ids, uint(r)), append(toks, tok)
			}); err != nil {
				t.Fatalf("%s encode(%q): %v", v.name, text, err)
			}
			if !slices.Equal(ids, wantIDs) || !slices.Equal(toks, wantToks) {
				t.Fatalf("%s encode(%q) = %v %q, library %v %q", v.name, text, ids, toks, wantIDs, wantToks)
			}
			if n, err := tab.count(text); err != nil || n != len(wantIDs) {
				t.Fatalf("%s count(%q) = %d, %v; library %d", v.name, text, n, err, len(wantIDs))
			}
		}
	}
}

// Pins what a vocabulary costs once in use: the library's map-based one
// held ~7 MiB (o200k_base) and ~4 MiB (cl100k_base) of live heap, which
// the garbage collector's headroom made about twice that in RSS. Read in
// place, it must hold next to none: the compiled regexp and small tables.
func TestVocabularyHoldsLittleHeap(t *testing.T) {
	for _, v := range []*vocabulary{o200kBase, cl100kBase} {
		fresh := &vocabulary{name: v.name, data: v.data, pattern: v.pattern}
		before := liveHeap()
		n, err := fresh.get().count(strings.Repeat(sampleText, 4))
		if err != nil || n == 0 {
			t.Fatalf("%s count: %d, %v", v.name, n, err)
		}
		held := liveHeap() - before
		runtime.KeepAlive(fresh)
		const limit = 256 << 10
		if held > limit {
			t.Errorf("%s: a built vocabulary holds %d KiB of heap, want under %d KiB", v.name, held>>10, limit>>10)
		}
	}
}

func liveHeap() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
