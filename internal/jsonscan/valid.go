// Package jsonscan checks JSON without decoding it. The relay validates
// every request body, every non-stream answer and every stream chunk it
// passes through; encoding/json's Valid runs a state machine with an
// indirect call per byte, which made it the largest single CPU cost of a
// relayed stream. Valid here accepts exactly what encoding/json.Valid
// accepts (fuzzed against it) at several times its speed.
package jsonscan

import "encoding/binary"

// maxDepth is encoding/json's nesting limit: deeper input is invalid there,
// so it is here.
const maxDepth = 10000

// class of each byte inside a string: 0 plain, 1 quote, 2 backslash,
// 3 control character (invalid unescaped).
var strClass = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = 3
	}
	t['"'] = 1
	t['\\'] = 2
	return t
}()

const (
	lo = 0x0101010101010101
	hi = 0x8080808080808080
)

var isHex = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

// Valid reports whether b is one valid JSON value, surrounded by optional
// whitespace, as encoding/json.Valid does. It does not allocate.
func Valid(b []byte) bool { return scan(b, nil, nil) }

// Members is Valid that also finds, in the same pass, the values of the
// top-level members named keys when b is an object: spans[k] is set to the
// byte range [start, end) of the first member named keys[k], and left
// {0, 0} when there is none. Keys compare as raw bytes (a key written with
// escapes is not found). spans must be as long as keys.
func Members(b []byte, keys []string, spans [][2]int) bool {
	for k := range spans {
		spans[k] = [2]int{}
	}
	return scan(b, keys, spans)
}

func scan(b []byte, keys []string, spans [][2]int) bool {
	pending := -1 // the index in keys of the top-level member being read
	// stack holds one bit per open container: 1 for an object. Chunks
	// and bodies nest a few levels; deeper input moves it to the heap.
	var small [4]uint64
	stack := small[:]
	depth := 0
	i := skipWS(b, 0)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth >= maxDepth {
				return false
			}
			if depth>>6 >= len(stack) {
				stack = append(stack, 0)
			}
			if c == '{' {
				stack[depth>>6] |= 1 << (depth & 63)
			} else {
				stack[depth>>6] &^= 1 << (depth & 63)
			}
			depth++
			i = skipWS(b, i+1)
			if i >= len(b) {
				return false
			}
			if c == '{' {
				if b[i] == '}' {
					depth--
					i++
					break
				}
				var ok bool
				if i, ok = member(b, i, depth, keys, spans, &pending); !ok {
					return false
				}
				continue
			}
			if b[i] == ']' {
				depth--
				i++
				break
			}
			continue
		case '"':
			var ok bool
			if i, ok = str(b, i); !ok {
				return false
			}
		case 't':
			if !lit(b, i, "true") {
				return false
			}
			i += 4
		case 'f':
			if !lit(b, i, "false") {
				return false
			}
			i += 5
		case 'n':
			if !lit(b, i, "null") {
				return false
			}
			i += 4
		default:
			var ok bool
			if i, ok = number(b, i); !ok {
				return false
			}
		}
		// A value ended at b[i-1]: close containers or move to the next.
		for {
			if pending >= 0 && depth == 1 {
				spans[pending] = [2]int{spans[pending][0], i}
				pending = -1
			}
			i = skipWS(b, i)
			if depth == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			obj := stack[(depth-1)>>6]&(1<<((depth-1)&63)) != 0
			c := b[i]
			if c == ',' {
				i = skipWS(b, i+1)
				if obj {
					var ok bool
					if i, ok = member(b, i, depth, keys, spans, &pending); !ok {
						return false
					}
				}
				break
			}
			if (obj && c == '}') || (!obj && c == ']') {
				depth--
				i++
				continue
			}
			return false
		}
	}
}

// member reads a key as key does and, for a top-level member named one of
// keys and not seen before, records where its value starts and sets
// *pending to its index.
func member(b []byte, i, depth int, keys []string, spans [][2]int, pending *int) (int, bool) {
	if depth != 1 || len(keys) == 0 {
		return key(b, i)
	}
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	e, ok := str(b, i) // just past the key's closing quote
	if !ok {
		return e, false
	}
	j, ok := colon(b, e)
	if !ok {
		return j, false
	}
	for k, name := range keys {
		if spans[k][1] == 0 && string(b[i+1:e-1]) == name {
			spans[k][0] = j
			*pending = k
			break
		}
	}
	return j, true
}

// key reads an object key, its colon and the whitespace after it; it
// returns where the member's value starts.
func key(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	i, ok := str(b, i)
	if !ok {
		return i, false
	}
	return colon(b, i)
}

// colon reads the colon after a key, with whitespace around it.
func colon(b []byte, i int) (int, bool) {
	i = skipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, false
	}
	return skipWS(b, i+1), true
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func lit(b []byte, i int, s string) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == s
}

// str checks the string literal opening at b[i] and returns the index after
// its closing quote. Like encoding/json, it does not check UTF-8.
func str(b []byte, i int) (int, bool) {
	i++
	for i < len(b) {
		// Eight plain bytes at a time: none is a quote, a backslash or
		// below 0x20 (the tests may flag a plain byte after a real match,
		// never miss one; the byte loop below settles it).
		for len(b)-i >= 8 {
			v := binary.LittleEndian.Uint64(b[i:])
			q, bs := v^(lo*'"'), v^(lo*'\\')
			if ((v-lo*0x20)&^v|(q-lo)&^q|(bs-lo)&^bs)&hi != 0 {
				break
			}
			i += 8
		}
		if i >= len(b) {
			break
		}
		switch strClass[b[i]] {
		case 0:
			i++
		case 1:
			return i + 1, true
		case 2:
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex[b[i+2]] || !isHex[b[i+3]] || !isHex[b[i+4]] || !isHex[b[i+5]] {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		default:
			return i, false
		}
	}
	return i, false
}

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
func number(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, false
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return i, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return i, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
