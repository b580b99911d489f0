// Command genvocab writes the compact vocabulary files that package tokens
// embeds (see internal/tokens/vocab.go for the format and why), from the
// vocabularies compiled into github.com/tiktoken-go/tokenizer:
//
//	go generate ./internal/tokens
//
// Each token's bytes are read back through the library's Decode, one rank at
// a time, so the files hold exactly the library's vocabulary.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tiktoken-go/tokenizer/codec"
)

// The format; internal/tokens/vocab.go reads it and says why it is so.
const (
	magic    = "SYVOCAB1"
	rankBits = 20
	tagBits  = 32 - rankBits
)

func main() {
	dir := flag.String("dir", ".", "`DIR` to write the .vocab files into")
	flag.Parse()
	for _, c := range []*codec.Codec{codec.NewO200kBase(), codec.NewCl100kBase()} {
		path := filepath.Join(*dir, c.GetName()+".vocab")
		if err := write(path, c); err != nil {
			fmt.Fprintf(os.Stderr, "genvocab: %v\n", err)
			os.Exit(1)
		}
	}
}

func write(path string, c *codec.Codec) error {
	var toks []string
	for id := range 1 << rankBits {
		s, err := c.Decode([]uint{uint(id)})
		if err != nil {
			s = "" // a rank with no ordinary token (a gap, a special token)
		}
		toks = append(toks, s)
	}
	n := len(toks)
	for n > 0 && toks[n-1] == "" {
		n--
	}
	toks = toks[:n]
	if n+1 >= 1<<rankBits {
		return fmt.Errorf("%s: %d ranks do not fit in %d bits", c.GetName(), n, rankBits)
	}
	// At most three quarters full: with the tags, a miss reads a short run
	// of slots in one or two cache lines.
	bits := 1
	for 1<<bits < n*4/3 {
		bits++
	}
	slots := make([]uint32, 1<<bits)
	mask := uint32(len(slots) - 1)
	seen := make(map[string]bool, n)
	var blob []byte
	offsets := make([]uint32, 0, n+1)
	for rank, tok := range toks {
		offsets = append(offsets, uint32(len(blob)))
		blob = append(blob, tok...)
		if tok == "" {
			continue
		}
		if seen[tok] {
			return fmt.Errorf("%s: token %q twice", c.GetName(), tok)
		}
		seen[tok] = true
		h := hash(tok)
		i := h & mask
		for slots[i] != 0 {
			i = (i + 1) & mask
		}
		slots[i] = h>>rankBits<<rankBits | uint32(rank+1)
	}
	offsets = append(offsets, uint32(len(blob)))

	out := []byte(magic)
	out = binary.LittleEndian.AppendUint32(out, uint32(n))
	out = binary.LittleEndian.AppendUint32(out, uint32(bits))
	for _, o := range offsets {
		out = binary.LittleEndian.AppendUint32(out, o)
	}
	for _, s := range slots {
		out = binary.LittleEndian.AppendUint32(out, s)
	}
	out = append(out, blob...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Printf("%s: %d tokens, %d ranks, %d slots, %d bytes of tokens, %d bytes in all\n",
		path, len(seen), n, len(slots), len(blob), len(out))
	return nil
}

// hash is 32-bit FNV-1a; internal/tokens/vocab.go has the same.
func hash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
