package config

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMatchModel: MatchModel never panics, "*" matches every model, a pattern
// without wildcards matches only itself, and a model matches the patterns
// made from it by putting a star for a suffix or a ? for one character.
func FuzzMatchModel(f *testing.F) {
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
		got := MatchModel(pat, s)
		if !MatchModel("*", s) {
			t.Fatalf("%q does not match *", s)
		}
		if !strings.ContainsAny(pat, "*?") && got != (pat == s) {
			t.Fatalf("literal pattern %q against %q: match %v", pat, s, got)
		}
		if !MatchModel(s+"*", s) {
			t.Fatalf("%q does not match %q", s, s+"*")
		}
		// A wildcard in s itself only widens these patterns.
		n := 0
		for i := range s { // by character: ? stands for one
			if n++; n > 8 {
				break
			}
			_, size := utf8.DecodeRuneInString(s[i:])
			if !MatchModel(s[:i]+"*", s) || !MatchModel(s[:i]+"?"+s[i+size:], s) {
				t.Fatalf("%q does not match its own prefix %q with a star or a ?", s, s[:i])
			}
		}
	})
}
