package config

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Model names in channels[].models, model_map keys, key allowlists and
// pricing keys may be patterns: * is any run of characters (slashes
// included: "meta/*"), ? is one character. A name without either is exact.
// Where several entries match one model, the most specific wins: an exact
// name first, then the pattern with the most literal characters, then the
// longer pattern, then the first in name order (ComparePatterns).

// IsModelPattern reports whether name is a pattern rather than a model name.
func IsModelPattern(name string) bool { return strings.ContainsAny(name, "*?") }

// MatchModel reports whether model matches pat (an exact name matches only
// itself).
func MatchModel(pat, model string) bool {
	if !IsModelPattern(pat) {
		return pat == model
	}
	star, mark := -1, 0 // the last star seen in pat, and where model stood then
	i, j := 0, 0
	for j < len(model) {
		switch {
		case i < len(pat) && pat[i] == '?':
			_, size := utf8.DecodeRuneInString(model[j:]) // one character, not one byte
			i++
			j += size
		case i < len(pat) && pat[i] == model[j] && pat[i] != '*':
			i++
			j++
		case i < len(pat) && pat[i] == '*':
			star, mark = i, j
			i++
		case star >= 0:
			mark++
			i, j = star+1, mark
		default:
			return false
		}
	}
	for i < len(pat) && pat[i] == '*' {
		i++
	}
	return i == len(pat)
}

// ComparePatterns orders patterns most specific first, for slices.SortFunc:
// more literal characters, then longer, then name order.
func ComparePatterns(a, b string) int {
	la, lb := literals(a), literals(b)
	switch {
	case la != lb:
		return lb - la
	case len(a) != len(b):
		return len(b) - len(a)
	}
	return strings.Compare(a, b)
}

func literals(p string) int {
	return len(p) - strings.Count(p, "*") - strings.Count(p, "?")
}

// MatchAny reports whether model matches one of names (exact or patterns).
func MatchAny(names []string, model string) bool {
	for _, n := range names {
		if MatchModel(n, model) {
			return true
		}
	}
	return false
}

// UpstreamModel is the name the channel's upstream is asked for: the
// model_map entry for model (its exact key, else the most specific pattern
// key that matches), else model itself.
func (ch *Channel) UpstreamModel(model string) string {
	if to, ok := ch.ModelMap[model]; ok && to != "" {
		return to
	}
	best := ""
	for from := range ch.ModelMap {
		if IsModelPattern(from) && MatchModel(from, model) && (best == "" || ComparePatterns(from, best) < 0) {
			best = from
		}
	}
	if best != "" && ch.ModelMap[best] != "" {
		return ch.ModelMap[best]
	}
	return model
}

// ProbeModel is the model the periodic credential test asks the channel
// for: test_model, else the first name in models that is not a pattern,
// else the first model_map key (whose mapping names a real upstream model);
// "" when the channel declares only patterns.
func (ch *Channel) ProbeModel() string {
	if ch.TestModel != "" {
		return ch.TestModel
	}
	for _, m := range ch.Models {
		if !IsModelPattern(m) {
			return m
		}
	}
	keys := make([]string, 0, len(ch.ModelMap))
	for k := range ch.ModelMap {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 0 {
		return keys[0]
	}
	return ""
}
