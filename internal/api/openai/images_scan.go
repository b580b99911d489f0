package openai

import (
	"bytes"
	"encoding/binary"

	"github.com/switchyard/switchyard/internal/jsonscan"
)

// An image answer is a few small members around megabytes of base64.
// encoding/json scans every byte of those strings at a few hundred MB/s,
// which made relaying a 2.7 MB answer cost tens of milliseconds of CPU
// more than the bare proxy. When the client gets the answer as it came,
// the gateway only needs to know how many images it holds, that each is
// base64, and the usage: scanImageAnswer finds those by skipping strings
// with bytes.IndexByte. It checks the structure it walks (objects, arrays,
// strings, literals); anything it does not understand makes it give up,
// and the caller decodes the answer fully instead.

// imageScan is what scanImageAnswer learned.
type imageScan struct {
	images  int  // elements of data
	allB64  bool // every element has a b64_json member
	usage   []byte
	hasData bool
}

// scanImageAnswer walks b, a JSON object; ok is false when b is not one it
// can vouch for.
func scanImageAnswer(b []byte) (s imageScan, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return s, false
	}
	s.allB64 = true
	i, ok = walkObject(b, i, func(key []byte, v int) (int, bool) {
		switch string(key) {
		case "data":
			if s.hasData {
				return v, false // a repeated member: decoders keep the last, a bill must not count both
			}
			s.hasData = true
			return scanData(b, v, &s)
		case "usage":
			end, ok := skipValue(b, v, 0)
			if ok {
				s.usage = b[v:end]
			}
			return end, ok
		}
		return skipValue(b, v, 0)
	})
	if !ok || skipSpace(b, i) != len(b) {
		return s, false
	}
	return s, s.hasData
}

// scanData walks the data array from b[i].
func scanData(b []byte, i int, s *imageScan) (int, bool) {
	if i >= len(b) || b[i] != '[' {
		return i, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '{' {
			return i, false
		}
		hasB64 := false
		var ok bool
		i, ok = walkObject(b, i, func(key []byte, v int) (int, bool) {
			if string(key) == "b64_json" {
				hasB64 = v < len(b) && b[v] == '"' // the last one counts, as for decoders
			}
			return skipValue(b, v, 0)
		})
		if !ok {
			return i, false
		}
		s.images++
		s.allB64 = s.allB64 && hasB64
		var end bool
		if i, end, ok = afterElement(b, i, ']'); !ok || end {
			return i, ok
		}
	}
}

// afterElement reads what follows a member or element at b[i]: a comma
// (more follow) or the closing byte (end, and i past it).
func afterElement(b []byte, i int, closing byte) (next int, end, ok bool) {
	i = skipSpace(b, i)
	switch {
	case i < len(b) && b[i] == ',':
		return skipSpace(b, i+1), false, true
	case i < len(b) && b[i] == closing:
		return i + 1, true, true
	}
	return i, false, false
}

// walkObject calls member for each key of the object at b[i] with the
// index of its value; member returns the index after the value.
func walkObject(b []byte, i int, member func(key []byte, v int) (int, bool)) (int, bool) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		keyEnd, ok := skipString(b, i)
		if !ok {
			return i, false
		}
		key := b[i+1 : keyEnd-1]
		i = skipSpace(b, keyEnd)
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		if i, ok = member(key, skipSpace(b, i+1)); !ok {
			return i, false
		}
		var end bool
		if i, end, ok = afterElement(b, i, '}'); !ok || end {
			return i, ok
		}
	}
}

// maxScanDepth bounds the nesting skipValue follows.
const maxScanDepth = 64

// skipValue returns the index after the JSON value at b[i].
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > maxScanDepth {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{':
		return walkObject(b, i, func(_ []byte, v int) (int, bool) { return skipValue(b, v, depth+1) })
	case c == '[':
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok, end bool
			if i, ok = skipValue(b, i, depth+1); !ok {
				return i, false
			}
			if i, end, ok = afterElement(b, i, ']'); !ok || end {
				return i, ok
			}
		}
	default:
		// A number or a literal: let encoding/json judge the token.
		j := i
		for j < len(b) && !isDelim(b[j]) {
			j++
		}
		if j == i || !jsonscan.Valid(b[i:j]) {
			return i, false
		}
		return j, true
	}
}

func isDelim(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// skipString returns the index after the string starting at b[i] ('"').
// Control characters and invalid escapes make it fail; UTF-8 is not
// checked, as the client gets the bytes the upstream sent either way.
func skipString(b []byte, i int) (int, bool) {
	i++
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b), false
		}
		seg := b[i : i+j]
		if bytes.IndexByte(seg, '\\') < 0 {
			if hasControl(seg) {
				return i, false
			}
			return i + j + 1, true
		}
		// Escapes: walk this segment byte by byte.
		for k := i; k < len(b); k++ {
			switch c := b[k]; {
			case c == '"':
				return k + 1, true
			case c < 0x20:
				return k, false
			case c == '\\':
				if k+1 >= len(b) {
					return k, false
				}
				switch b[k+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					k++
				case 'u':
					if k+5 >= len(b) || !isHex4(b[k+2:k+6]) {
						return k, false
					}
					k += 5
				default:
					return k, false
				}
			}
		}
		return len(b), false
	}
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// hasControl reports a byte below 0x20, eight bytes at a time: for each
// byte x of w, (x - 0x20) borrows into its top bit exactly when x < 0x20,
// and & ^w discards bytes whose top bit was already set (x >= 0x80).
func hasControl(b []byte) bool {
	const low, high = 0x2020202020202020, 0x8080808080808080
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		if (w-low)&^w&high != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
