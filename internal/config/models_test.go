package config

import (
	"slices"
	"testing"
)

func TestComparePatterns(t *testing.T) {
	got := []string{"*", "claude-*", "claude-opus-*", "claude-?pus-*", "c*", "claude-opus-*-*", "claude-o*"}
	slices.SortFunc(got, ComparePatterns)
	want := []string{"claude-opus-*-*", "claude-opus-*", "claude-?pus-*", "claude-o*", "claude-*", "c*", "*"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}
}

func TestUpstreamModel(t *testing.T) {
	ch := Channel{ModelMap: map[string]string{
		"claude-*":        "generic",
		"claude-opus-*":   "opus",
		"claude-opus-5-5": "exact",
		"*-mini":          "mini",
	}}
	for model, want := range map[string]string{
		"claude-opus-5-5":  "exact",   // the exact key first
		"claude-opus-9":    "opus",    // the most specific pattern
		"claude-haiku":     "generic", // the only one matching
		"claude-opus-mini": "opus",    // claude-opus-* (11 literals) beats *-mini (5)
		"gpt-4o":           "gpt-4o",  // no key: asked for as named
	} {
		if got := ch.UpstreamModel(model); got != want {
			t.Errorf("UpstreamModel(%q) = %q, want %q", model, got, want)
		}
	}
}

func TestProbeModel(t *testing.T) {
	for _, tt := range []struct {
		ch   Channel
		want string
	}{
		{Channel{Models: []string{"claude-*", "claude-sonnet-4-5"}}, "claude-sonnet-4-5"},
		{Channel{Models: []string{"claude-*"}, ModelMap: map[string]string{"b*": "x", "a*": "y"}}, "a*"},
		{Channel{Models: []string{"claude-*"}, TestModel: "claude-haiku-4-5"}, "claude-haiku-4-5"},
		{Channel{Models: []string{"claude-*"}}, ""},
	} {
		if got := tt.ch.ProbeModel(); got != tt.want {
			t.Errorf("%+v: ProbeModel() = %q, want %q", tt.ch, got, tt.want)
		}
	}
}
