package store

import "testing"

func TestClip(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc"},
		{"ééé", 3, "ééé"},
		{"éééé", 3, "ééé"},
		{"a🙂b🙂", 2, "a🙂"},
		{"a\xffb", 3, "a\uFFFDb"},
		{"\x00a\x00", 3, "a"},
		{"ab\xe6\x97", 10, "ab\uFFFD"}, // cut inside a character upstream
	} {
		if got := Clip(tt.in, tt.n); got != tt.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
