package billing

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseRecord: no journal line makes parseRecord panic, and a line it
// accepts is a record that appendRecord writes back to a line read as the
// same record. A journal that survived a crash may hold any bytes at its
// tail; what the drain replays must be what was written.
func FuzzParseRecord(f *testing.F) {
	for _, seed := range []string{
		"R ch-1 7 3 1500 req-abc -",
		"R ch-2 7 0 0 - c",
		"S ch-1 7 3 1500 1200",
		"S ch-3 9 0 0 0",
		`U {"charge_id":"ch-1","user_id":7,"model":"gpt-4o-mini","status":200}`,
		"U ",
		"R ch-1 +7 -3 00 r x",
		"S ch-1 7 3 -1 0",
		"R ch\u00a01 7 3 1 r -",
		"X a b",
		"R",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.IndexByte(line, '\n') >= 0 {
			return // parseRecord is handed one line, its newline cut
		}
		rec, err := parseRecord(line)
		if err != nil {
			return
		}
		out := appendRecord(nil, &rec)
		if len(out) == 0 || out[len(out)-1] != '\n' || bytes.IndexByte(out[:len(out)-1], '\n') >= 0 {
			t.Fatalf("appendRecord(%+v) = %q: want one line ending in a newline", rec, out)
		}
		back, err := parseRecord(out[:len(out)-1])
		if err != nil {
			t.Fatalf("line %q parsed as %+v, written as %q, which does not parse: %v", line, rec, out, err)
		}
		if !sameRecord(rec, back) {
			t.Fatalf("line %q parsed as %+v, written as %q, read back as %+v", line, rec, out, back)
		}
	})
}

func sameRecord(a, b record) bool {
	return a.kind == b.kind && a.charge == b.charge && a.user == b.user && a.key == b.key &&
		a.amount == b.amount && a.released == b.released && a.charged == b.charged &&
		a.request == b.request && a.carried == b.carried && bytes.Equal(a.usage, b.usage)
}

// FuzzMatchGlob: matchGlob never panics, "*" matches every model, a pattern
// without wildcards matches only itself, and a model matches the patterns
// made from it by putting a star for a suffix or a ? for one character.
func FuzzMatchGlob(f *testing.F) {
	for _, seed := range [][2]string{
		{"gpt-4o*", "gpt-4o-mini"},
		{"*", ""},
		{"claude-?-haiku", "claude-3-haiku"},
		{"meta/*/instruct", "meta/llama-3/instruct"},
		{"*-mini", "o4-mini"},
		{"**?*", "x"},
		{"a*b*c", "aXbYbZc"},
		{"gpt-4o", "gpt-4o-mini"},
		{"", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		got := matchGlob(pat, s)
		if !matchGlob("*", s) {
			t.Fatalf("%q does not match *", s)
		}
		if !strings.ContainsAny(pat, "*?") && got != (pat == s) {
			t.Fatalf("literal pattern %q against %q: match %v", pat, s, got)
		}
		if !matchGlob(s+"*", s) {
			t.Fatalf("%q does not match %q", s, s+"*")
		}
		// A wildcard in s itself only widens these patterns.
		n := 0
		for i := range s { // by character: ? stands for one
			if n++; n > 8 {
				break
			}
			_, size := utf8.DecodeRuneInString(s[i:])
			if !matchGlob(s[:i]+"*", s) || !matchGlob(s[:i]+"?"+s[i+size:], s) {
				t.Fatalf("%q does not match its own prefix %q with a star or a ?", s, s[:i])
			}
		}
	})
}
