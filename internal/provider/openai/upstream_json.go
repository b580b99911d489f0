package openai

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Byte-level edits of top-level JSON object members. Same-format relaying
// changes one or two members of a body it otherwise passes through: a full
// decode and re-encode would cost time proportional to the body (often
// megabytes of base64 images) and would drop fields the structs do not know.

var (
	errNotObject = errors.New("not a JSON object")
	errNotJSON   = errors.New("not valid JSON")
)

// FindMember returns the byte range [start, end) of the value of the
// top-level member key in the JSON object b. Keys are compared as raw bytes
// (a key written with escapes is not found).
func FindMember(b []byte, key string) (start, end int, ok bool, err error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return 0, 0, false, errNotObject
	}
	i++
	for {
		i = skipWS(b, i)
		if i >= len(b) {
			return 0, 0, false, errNotObject
		}
		if b[i] == '}' {
			return 0, 0, false, nil
		}
		if b[i] == ',' {
			i = skipWS(b, i+1)
		}
		if i >= len(b) || b[i] != '"' {
			return 0, 0, false, errNotObject
		}
		ks := i + 1
		ke, err := skipString(b, i)
		if err != nil {
			return 0, 0, false, err
		}
		k := b[ks : ke-1]
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return 0, 0, false, errNotObject
		}
		vs := skipWS(b, i+1)
		ve, err := skipValue(b, vs)
		if err != nil {
			return 0, 0, false, err
		}
		if string(k) == key {
			return vs, ve, true, nil
		}
		i = ve
	}
}

// SetMember returns b with the top-level member key set to the raw JSON
// value v: replaced in place when present, appended otherwise. b is not
// modified; the result is a new slice.
func SetMember(b []byte, key string, v []byte) ([]byte, error) {
	s, e, ok, err := FindMember(b, key)
	if err != nil {
		return nil, err
	}
	if ok {
		out := make([]byte, 0, len(b)-(e-s)+len(v))
		out = append(out, b[:s]...)
		out = append(out, v...)
		return append(out, b[e:]...), nil
	}
	end := bytes.LastIndexByte(b, '}')
	if end < 0 {
		return nil, errNotObject
	}
	before := bytes.TrimRight(b[:end], " \t\r\n")
	empty := len(before) > 0 && before[len(before)-1] == '{'
	out := make([]byte, 0, len(b)+len(key)+len(v)+4)
	out = append(out, b[:end]...)
	if !empty {
		out = append(out, ',')
	}
	out = append(out, '"')
	out = append(out, key...)
	out = append(out, '"', ':')
	out = append(out, v...)
	return append(out, b[end:]...), nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string literal starting at b[i].
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated JSON string")
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("missing JSON value")
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errors.New("unterminated JSON value")
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' &&
		b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	if j == i {
		return 0, errors.New("missing JSON value")
	}
	return j, nil
}

// CountMember counts the members of object b named key, comparing decoded
// names: {"mod\u0065l":…} is a "model" member too. encoding/json reads the
// last of duplicate members while FindMember and SetMember act on the
// first, so a body naming key twice would be judged by one value and sent
// with the other; the handlers refuse it.
func CountMember(b []byte, key string) (int, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return 0, errNotObject
	}
	i++
	n := 0
	for {
		i = skipWS(b, i)
		if i >= len(b) {
			return 0, errNotObject
		}
		if b[i] == '}' {
			return n, nil
		}
		if b[i] == ',' {
			i = skipWS(b, i+1)
		}
		if i >= len(b) || b[i] != '"' {
			return 0, errNotObject
		}
		ks := i
		ke, err := skipString(b, i)
		if err != nil {
			return 0, err
		}
		raw := b[ks+1 : ke-1]
		if bytes.IndexByte(raw, '\\') < 0 {
			if string(raw) == key {
				n++
			}
		} else {
			var name string
			if json.Unmarshal(b[ks:ke], &name) == nil && name == key {
				n++
			}
		}
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return 0, errNotObject
		}
		ve, err := skipValue(b, skipWS(b, i+1))
		if err != nil {
			return 0, err
		}
		i = ve
	}
}

// eachMember calls fn with the raw key (between the quotes) and value of
// every top-level member of the JSON object b, in order, until fn returns
// false.
func eachMember(b []byte, fn func(key, value []byte) bool) error {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errNotObject
	}
	i++
	for {
		i = skipWS(b, i)
		if i >= len(b) {
			return errNotObject
		}
		if b[i] == '}' {
			return nil
		}
		if b[i] == ',' {
			i = skipWS(b, i+1)
		}
		if i >= len(b) || b[i] != '"' {
			return errNotObject
		}
		ke, err := skipString(b, i)
		if err != nil {
			return err
		}
		k := b[i+1 : ke-1]
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return errNotObject
		}
		vs := skipWS(b, i+1)
		ve, err := skipValue(b, vs)
		if err != nil {
			return err
		}
		if !fn(k, b[vs:ve]) {
			return nil
		}
		i = ve
	}
}

// decodeUsage decodes a usage object as json.Unmarshal into Usage would,
// without its allocations (seven for a usage object) in the common case:
// members with exactly the field names and plain integer (or null) values.
// Anything else (escaped or differently cased keys, which Unmarshal matches
// case-insensitively, numbers it would refuse, null objects) goes to
// json.Unmarshal, so the result and the errors are Unmarshal's.
func decodeUsage(b []byte) (Usage, error) {
	var fast Usage // apart from u, which Unmarshal's interface moves to the heap
	if usageFast(b, &fast) {
		return fast, nil
	}
	var u Usage
	err := json.Unmarshal(b, &u)
	return u, err
}

// usageFast is decodeUsage's common case; false means "ask Unmarshal".
func usageFast(b []byte, u *Usage) bool {
	ok := true
	err := eachMember(b, func(k, v []byte) bool {
		switch string(k) {
		case "prompt_tokens":
			ok = plainInt(v, &u.PromptTokens)
		case "completion_tokens":
			ok = plainInt(v, &u.CompletionTokens)
		case "total_tokens":
			ok = plainInt(v, &u.TotalTokens)
		case "web_search_requests":
			ok = plainInt(v, &u.WebSearches)
		case "prompt_tokens_details":
			ok = detailsFast(v, "cached_tokens", &u.PromptTokensDetails.CachedTokens, &u.PromptTokensDetails.AudioTokens)
		case "completion_tokens_details":
			ok = detailsFast(v, "reasoning_tokens", &u.CompletionTokensDetails.ReasoningTokens, &u.CompletionTokensDetails.AudioTokens)
		default:
			ok = !foldsTo(k, "prompt_tokens", "completion_tokens", "total_tokens", "web_search_requests",
				"prompt_tokens_details", "completion_tokens_details")
		}
		return ok
	})
	return err == nil && ok
}

func detailsFast(b []byte, first string, a, audio *int) bool {
	if len(b) > 0 && b[0] != '{' {
		return false // null leaves the struct as it is in Unmarshal, but a repeat may not: let it decide
	}
	ok := true
	err := eachMember(b, func(k, v []byte) bool {
		switch string(k) {
		case first:
			ok = plainInt(v, a)
		case "audio_tokens":
			ok = plainInt(v, audio)
		default:
			ok = !foldsTo(k, first, "audio_tokens")
		}
		return ok
	})
	return err == nil && ok
}

// plainInt sets *n from a JSON integer of at most 18 digits, or leaves it
// for null; false for anything else.
func plainInt(v []byte, n *int) bool {
	if string(v) == "null" {
		return true
	}
	neg := len(v) > 0 && v[0] == '-'
	d := v
	if neg {
		d = v[1:]
	}
	if len(d) == 0 || len(d) > 18 || (d[0] == '0' && len(d) > 1) {
		return false
	}
	x := 0
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
		x = x*10 + int(c-'0')
	}
	if neg {
		x = -x
	}
	*n = x
	return true
}

// foldsTo reports whether k, which is none of names exactly, is one of
// them to json.Unmarshal: with another case, or written with escapes.
func foldsTo(k []byte, names ...string) bool {
	if bytes.IndexByte(k, '\\') >= 0 {
		return true
	}
	for _, n := range names {
		if bytes.EqualFold(k, []byte(n)) {
			return true
		}
	}
	return false
}
