package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/jsonscan"
)

// The strict peek: the gateway reads a few top-level members of a body it
// otherwise passes through as bytes, and decides on them (key allowlist,
// route, reservation). Whatever reads the body after it (the upstream, a
// translator decoding it with encoding/json) must see the same values, so a
// judged member is read the way every JSON reader agrees on:
//
//   - names match exactly, as JSON specifies;
//   - a judged member written twice is refused, as is one whose name is
//     spelt with escapes (the byte-level edits that rename the model
//     upstream find only a plainly written name);
//   - a member whose name differs from a judged one only in letter case
//     ("MODEL", "Max_Tokens", "ſize") is refused: encoding/json, which the
//     translators use, matches names case-insensitively and takes the last;
//   - a judged value must have the judged type (null counts as absent), and
//     a judged string must be valid UTF-8 without lone surrogate escapes,
//     which decoders otherwise replace or keep differently.
//
// It scans without decoding into maps or structs: it is on every request.

// Kind is the JSON type a judged member must have.
type Kind uint8

// The kinds of judged members.
const (
	KindString Kind = iota + 1
	KindBool
	KindInt // an integer (no fraction or exponent) within [Min, Max]
	KindObject
	KindAny // any type, checked by the caller
)

// Judged is one member the gateway reads.
type Judged struct {
	Name     string
	Kind     Kind
	Min, Max int64 // KindInt only; Max 0 means no upper bound but int64's
}

// Peeked is the value of one judged member.
type Peeked struct {
	Raw  []byte // the value as written; nil when absent or null
	Str  string // KindString
	Int  int64  // KindInt
	Bool bool   // KindBool
}

// Present reports whether the member was given (and not null).
func (p *Peeked) Present() bool { return p.Raw != nil }

// PeekJSON checks that body is one valid JSON object and reads its judged
// members by the rules above into out (len(out) == len(judged), in the same
// order). Every failure is an *apierror.Error 400 naming the member.
func PeekJSON(body []byte, judged []Judged, out []Peeked) error {
	if !jsonscan.Valid(body) {
		// The slow path, for the message: where the JSON breaks.
		var v struct{}
		err := json.Unmarshal(body, &v)
		if syn, ok := errors.AsType[*json.SyntaxError](err); ok {
			return apierror.InvalidRequest(fmt.Sprintf(
				"The request body is not valid JSON: %s (at byte offset %d).", syn.Error(), syn.Offset), "")
		}
		return apierror.InvalidRequest("The request body is not valid JSON.", "")
	}
	return PeekObject(body, "", judged, out)
}

// PeekObject is PeekJSON on a JSON value already known to be valid, such
// as a member's value; path prefixes the names in errors ("stream_options.").
func PeekObject(b []byte, path string, judged []Judged, out []Peeked) error {
	clear(out)
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		if path == "" {
			return apierror.InvalidRequest("The request body must be a JSON object.", "")
		}
		return apierror.InvalidRequest(fmt.Sprintf("Invalid type for %s: expected an object.", strings.TrimSuffix(path, ".")), strings.TrimSuffix(path, "."))
	}
	var seen uint64 // bit j: judged[j] was met (null included)
	for i++; ; {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] == '}' {
			return nil
		}
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		ke := skipString(b, i)
		raw := b[i+1 : ke-1]
		i = skipSpace(b, ke)
		vs := skipSpace(b, i+1) // past ':'
		ve := skipValue(b, vs)
		i = ve
		j, err := matchName(raw, path, judged)
		if err != nil {
			return err
		}
		if j < 0 {
			continue
		}
		m := &judged[j]
		if seen&(1<<j) != 0 {
			return apierror.InvalidRequest(fmt.Sprintf(
				"The %s member appears more than once; send it once.", path+m.Name), path+m.Name)
		}
		seen |= 1 << j
		if err := readValue(b[vs:ve], path, m, &out[j]); err != nil {
			return err
		}
	}
}

// matchName returns the index of the judged member named by the raw
// (still quoted-content) name, -1 for another member, or the error for a
// name that only resembles a judged one.
func matchName(raw []byte, path string, judged []Judged) (int, error) {
	if !needsUnquote(raw) {
		// Plain ASCII, the usual case: case folding keeps the length.
		for j := range judged {
			want := judged[j].Name
			switch {
			case len(raw) != len(want):
			case string(raw) == want:
				return j, nil
			case asciiEqualFold(raw, want):
				return -1, caseError(string(raw), path, want)
			}
		}
		return -1, nil
	}
	name, ok := unquote(raw)
	if !ok {
		return -1, apierror.InvalidRequest(
			"A member name of the request body is not valid UTF-8 (or holds a lone surrogate escape).", "")
	}
	escaped := bytes.IndexByte(raw, '\\') >= 0
	for j := range judged {
		want := judged[j].Name
		switch {
		case name == want && !escaped:
			return j, nil
		case name == want:
			return -1, apierror.InvalidRequest(fmt.Sprintf(
				"The %s member name must be written without escape sequences.", path+want), path+want)
		case foldEqual(name, want):
			return -1, caseError(name, path, want)
		}
	}
	return -1, nil
}

func caseError(name, path, want string) error {
	return apierror.InvalidRequest(fmt.Sprintf(
		"Member %q differs from %q only in letter case; member names are case-sensitive, and the gateway refuses the ambiguity.",
		path+name, path+want), path+name)
}

func asciiEqualFold(a []byte, b string) bool {
	for i, c := range a {
		d := b[i]
		if c|0x20 != d|0x20 || (c|0x20) < 'a' || (c|0x20) > 'z' {
			if c != d {
				return false
			}
		}
	}
	return true
}

func readValue(v []byte, path string, m *Judged, p *Peeked) error {
	if string(v) == "null" {
		return nil
	}
	name := path + m.Name
	switch m.Kind {
	case KindString:
		if v[0] == '"' {
			s, ok := unquote(v[1 : len(v)-1])
			if !ok {
				return apierror.InvalidRequest(fmt.Sprintf(
					"%s must be valid UTF-8 without lone surrogate escapes.", name), name)
			}
			p.Raw, p.Str = v, s
			return nil
		}
		return typeError(name, "a string")
	case KindBool:
		if v[0] == 't' || v[0] == 'f' {
			p.Raw, p.Bool = v, v[0] == 't'
			return nil
		}
		return typeError(name, "a boolean")
	case KindAny:
		p.Raw = v
		return nil
	case KindObject:
		if v[0] == '{' {
			p.Raw = v
			return nil
		}
		return typeError(name, "an object")
	case KindInt:
		hi := m.Max
		if hi == 0 {
			hi = 1<<63 - 1
		}
		// Made only for an error: most requests carry an integer member.
		want := func() string { return fmt.Sprintf("an integer from %d to %d", m.Min, hi) }
		if v[0] != '-' && (v[0] < '0' || v[0] > '9') {
			return typeError(name, want())
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n < m.Min || n > hi {
			return apierror.InvalidRequest(fmt.Sprintf("Invalid value for %s: expected %s, got %.40s.", name, want(), v), name)
		}
		p.Raw, p.Int = v, n
		return nil
	}
	return fmt.Errorf("peek %s: unknown kind %d", name, m.Kind)
}

func typeError(name, want string) error {
	return apierror.InvalidRequest(fmt.Sprintf("Invalid type for %s: expected %s.", name, want), name)
}

// foldEqual reports whether a and b are equal under any case folding a
// JSON decoder uses to match names: Unicode simple folding (strings.
// EqualFold, which encoding/json follows) and upper-of-lower, which older
// encoding/json and other decoders use ("ſ", "K" and "ı" fold to ASCII).
func foldEqual(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if unicode.ToUpper(unicode.ToLower(ra)) != unicode.ToUpper(unicode.ToLower(rb)) {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return a == "" && b == ""
}

// needsUnquote reports whether a string's content is not already its
// value: it holds an escape or a byte outside ASCII to check.
func needsUnquote(s []byte) bool {
	for _, c := range s {
		if c == '\\' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// unquote decodes the content of a valid JSON string literal; ok is false
// when it holds invalid UTF-8 or a lone surrogate escape.
func unquote(s []byte) (string, bool) {
	if !needsUnquote(s) {
		return string(s), true
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && n == 1 {
				return "", false
			}
			out = append(out, s[i:i+n]...)
			i += n
			continue
		}
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		// json.Valid has checked the escape's shape.
		switch e := s[i+1]; e {
		case 'u':
			r := hex4(s[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
					return "", false
				}
				r = utf16.DecodeRune(r, hex4(s[i+2:i+6]))
				if r == unicode.ReplacementChar {
					return "", false
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default: // " \ /
			out = append(out, e)
		}
		i += 2
	}
	return string(out), true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the valid string literal at b[i].
func skipString(b []byte, i int) int {
	for j := i + 1; ; {
		k := indexQuoteOrBackslash(b[j:])
		j += k
		if b[j] == '"' {
			return j + 1
		}
		j += 2 // an escape: skip the backslash and the byte after it
	}
}

// indexQuoteOrBackslash finds the next '"' or '\\'; IndexByte is vectorized,
// which matters for megabytes of base64 in a string.
func indexQuoteOrBackslash(b []byte) int {
	q := bytes.IndexByte(b, '"')
	if bs := bytes.IndexByte(b[:q], '\\'); bs >= 0 {
		return bs
	}
	return q
}

// skipValue returns the index after the valid JSON value at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' &&
		b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	return j
}
