package tokens

import (
	_ "embed" // the vocabularies
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/dlclark/regexp2/v2"
	// The library's vocabularies are not used (see table); its package is
	// imported for the pre-tokenizer regexps it compiles to Go code and
	// registers at init: regexp2.MustCompile of the same pattern and options
	// picks them up, several times faster than the interpreter.
	_ "github.com/tiktoken-go/tokenizer/codec"
)

//go:generate go run ./internal/genvocab -dir .

// The embedded vocabularies, written by internal/genvocab from the
// tiktoken-go library's own (TestVocabularyMatchesLibrary checks every rank).
//
//go:embed o200k_base.vocab
var o200kData string

//go:embed cl100k_base.vocab
var cl100kData string

// The pre-tokenizer patterns, exactly as the library writes them: the
// generated matchers are registered under these strings.
const (
	o200kPattern  = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	cl100kPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// table is a vocabulary read in place from its embedded file, which is
//
//	"SYVOCAB1" | n uint32 | bits uint32 | offsets [n+1]uint32 |
//	slots [1<<bits]uint32 | the tokens' bytes, in rank order
//
// (little-endian). Token r is bytes[offsets[r]:offsets[r+1]] (empty for a
// rank with no ordinary token). slots is an open-addressing hash table
// (FNV-1a, linear probing): a slot holds the hash's top tagBits bits over
// rank+1 in the low rankBits bits, 0 when empty, so a probe compares token
// bytes only when the tags agree.
//
// Why not the library's map[string]uint: built, o200k_base's map is ~6.7 MiB
// of live heap (cl100k_base's ~3.3 MiB), which the garbage collector's
// headroom roughly doubles in RSS, and building it runs a 200,000-entry map
// literal that pages in ~6 MB more of the binary. Read in place, the table
// costs no heap at all; its pages are the binary's own read-only data,
// paged in as counting touches them (4.3 MB for o200k_base, 2.1 MB for
// cl100k_base if all of it is touched) and reclaimable by the kernel.
type table struct {
	offsets []byte
	slots   []byte
	tokens  string
	mask    uint32
	n       uint32
	split   *regexp2.Regexp
}

const (
	vocabMagic = "SYVOCAB1"
	rankBits   = 20
	rankMask   = 1<<rankBits - 1
	noRank     = math.MaxUint32
)

// newTable reads data in place; it panics on a malformed file, which only a
// bad build can embed (the tests read both).
func newTable(data, pattern string) *table {
	if len(data) < 16 || data[:8] != vocabMagic {
		panic("tokens: embedded vocabulary has no header")
	}
	// The embedded string is read-only data that lives as long as the
	// program; viewed as bytes it is only ever read.
	b := unsafe.Slice(unsafe.StringData(data), len(data))
	n := binary.LittleEndian.Uint32(b[8:])
	bits := binary.LittleEndian.Uint32(b[12:])
	offEnd := 16 + 4*(int(n)+1)
	slotEnd := offEnd + 4<<bits
	if bits > 30 || slotEnd > len(b) {
		panic(fmt.Sprintf("tokens: embedded vocabulary truncated (%d bytes, %d ranks, %d slot bits)", len(b), n, bits))
	}
	return &table{
		offsets: b[16:offEnd],
		slots:   b[offEnd:slotEnd],
		tokens:  data[slotEnd:],
		mask:    1<<bits - 1,
		n:       n,
		split:   regexp2.MustCompile(pattern, regexp2.None),
	}
}

// token returns the bytes of rank r ("" for a rank with none).
func (t *table) token(r uint32) string {
	lo := binary.LittleEndian.Uint32(t.offsets[4*r:])
	hi := binary.LittleEndian.Uint32(t.offsets[4*r+4:])
	return t.tokens[lo:hi]
}

// rank returns s's rank, or noRank when s is no token.
func (t *table) rank(s string) uint32 {
	h := fnv32(s)
	tag := h &^ rankMask
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		slot := binary.LittleEndian.Uint32(t.slots[4*i:])
		if slot == 0 {
			return noRank
		}
		if slot&^rankMask == tag {
			if r := slot&rankMask - 1; t.token(r) == s {
				return r
			}
		}
	}
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// encode calls yield with each token of text, in order, as the library's
// Codec.tokenize does: the pre-tokenizer's pieces, each either one token or
// merged by byte-pair encoding. A regexp failure (none is known to be
// reachable) is returned.
func (t *table) encode(text string, yield func(rank uint32, tok string)) error {
	m, err := t.split.FindStringMatch(text)
	if err != nil {
		return fmt.Errorf("split: %w", err)
	}
	var parts []part
	for m != nil {
		piece := m.String()
		if r := t.rank(piece); r != noRank {
			yield(r, piece)
		} else {
			parts = t.mergePairs(piece, parts[:0])
			for i := range len(parts) - 1 {
				tok := piece[parts[i].offset:parts[i+1].offset]
				yield(t.rank(tok), tok)
			}
		}
		if m, err = t.split.FindNextMatch(m); err != nil {
			return fmt.Errorf("split: %w", err)
		}
	}
	return nil
}

// count returns the number of tokens in text.
func (t *table) count(text string) (int, error) {
	m, err := t.split.FindStringMatch(text)
	if err != nil {
		return 0, fmt.Errorf("split: %w", err)
	}
	n := 0
	var parts []part
	for m != nil {
		piece := m.String()
		if t.rank(piece) != noRank {
			n++
		} else {
			parts = t.mergePairs(piece, parts[:0])
			n += len(parts) - 1
		}
		if m, err = t.split.FindNextMatch(m); err != nil {
			return 0, fmt.Errorf("split: %w", err)
		}
	}
	return n, nil
}

// part is a boundary of a piece being merged; rank is that of the token the
// part would form with the next one.
type part struct {
	offset int
	rank   uint32
}

// mergeHeapThreshold is the piece length from which mergePairs uses the
// heap (the library's choice: O(n²) scans win below it).
const mergeHeapThreshold = 96

// mergePairs splits piece into the parts byte-pair encoding merges it into:
// repeatedly the leftmost pair of adjacent parts with the lowest rank. It
// appends to parts[:0] and returns the boundaries, the last at len(piece).
func (t *table) mergePairs(piece string, parts []part) []part {
	if len(piece) >= mergeHeapThreshold {
		return t.mergePairsHeap(piece, parts)
	}
	for i := range len(piece) + 1 {
		parts = append(parts, part{i, noRank})
	}
	rankAt := func(i, skip int) uint32 {
		if i+skip+2 < len(parts) {
			return t.rank(piece[parts[i].offset:parts[i+skip+2].offset])
		}
		return noRank
	}
	for i := 0; i < len(parts)-2; i++ {
		parts[i].rank = rankAt(i, 0)
	}
	for len(parts) > 1 {
		minRank, minIndex := uint32(noRank), 0
		for i, p := range parts[:len(parts)-1] {
			if p.rank < minRank {
				minRank, minIndex = p.rank, i
			}
		}
		if minRank == noRank {
			break
		}
		parts[minIndex].rank = rankAt(minIndex, 1)
		if minIndex > 0 {
			parts[minIndex-1].rank = rankAt(minIndex-1, 1)
		}
		parts = append(parts[:minIndex+1], parts[minIndex+2:]...)
	}
	return parts
}

// mergeNode is a part boundary in mergePairsHeap's linked list; rank is
// that of the token this part forms with the next.
type mergeNode struct {
	prev, next int32
	rank       uint32
}

type mergeCandidate struct {
	rank   uint32
	offset int32
}

// mergePairsHeap gives mergePairs' answer in O(n log n) for long pieces.
func (t *table) mergePairsHeap(piece string, parts []part) []part {
	n := int32(len(piece))
	nodes := make([]mergeNode, n+1)
	for i := range nodes {
		nodes[i] = mergeNode{prev: int32(i) - 1, next: int32(i) + 1, rank: noRank}
	}
	nodes[n].next = -1
	rankOf := func(i int32) uint32 {
		j := nodes[i].next
		if j < 0 {
			return noRank
		}
		k := nodes[j].next
		if k < 0 {
			return noRank
		}
		return t.rank(piece[i:k])
	}
	h := make(mergeHeap, 0, n)
	for i := int32(0); i+2 <= n; i++ {
		if r := rankOf(i); r != noRank {
			nodes[i].rank = r
			h = append(h, mergeCandidate{r, i})
		}
	}
	h.init()
	for len(h) > 0 {
		top := h.pop()
		i := top.offset
		if nodes[i].rank != top.rank {
			continue // stale: the pair changed since it was pushed
		}
		j := nodes[i].next
		k := nodes[j].next
		nodes[j].rank = noRank
		nodes[i].next = k
		if k >= 0 {
			nodes[k].prev = i
		}
		for _, b := range [2]int32{i, nodes[i].prev} {
			if b < 0 {
				continue
			}
			nodes[b].rank = rankOf(b)
			if nodes[b].rank != noRank {
				h.push(mergeCandidate{nodes[b].rank, b})
			}
		}
	}
	for i := int32(0); i >= 0; i = nodes[i].next {
		parts = append(parts, part{int(i), nodes[i].rank})
	}
	return parts
}

// mergeHeap is a min-heap of candidates by rank, then offset, so that among
// equal ranks the leftmost pair merges first.
type mergeHeap []mergeCandidate

func (h mergeHeap) less(a, b int) bool {
	if h[a].rank != h[b].rank {
		return h[a].rank < h[b].rank
	}
	return h[a].offset < h[b].offset
}

func (h mergeHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *mergeHeap) push(c mergeCandidate) {
	*h = append(*h, c)
	h.up(len(*h) - 1)
}

func (h *mergeHeap) pop() mergeCandidate {
	old := *h
	top := old[0]
	last := len(old) - 1
	old[0] = old[last]
	*h = old[:last]
	h.down(0)
	return top
}

func (h mergeHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			return
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (h mergeHeap) down(i int) {
	for {
		child := 2*i + 1
		if child >= len(h) {
			return
		}
		if right := child + 1; right < len(h) && h.less(right, child) {
			child = right
		}
		if !h.less(child, i) {
			return
		}
		h[i], h[child] = h[child], h[i]
		i = child
	}
}
