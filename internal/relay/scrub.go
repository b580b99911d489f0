package relay

import (
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// An upstream's error message is written for the upstream's own customer,
// the gateway operator: it may quote the key that was sent ("Incorrect API
// key provided: sk-proj-…"), name the host it runs on, or quote a URL with
// its key in the query. ScrubUpstreamText keeps the human part of such a
// message for the client and replaces those pieces by markers.

// Markers put in place of what was removed.
const (
	redactedSecret = "[redacted]"
	redactedHost   = "[internal-host]"
	redactedURL    = "[internal-url]"
)

// minSecretOverlap is the shortest run of the credential's own characters
// that is removed wherever it appears: a quoted key is often truncated or
// partly masked ("sk-proj-abcd****wxyz"), and 8 characters of a key are
// already too many to show.
const minSecretOverlap = 8 // window packs exactly this many bytes

// maxScrubInput and maxScrubSecret bound the work on one message.
const (
	maxScrubInput  = 2048
	maxScrubSecret = 8192
	// MaxUpstreamMessage is the longest scrubbed message passed to a client.
	MaxUpstreamMessage = 1024
)

var (
	// A URL: scheme, then anything up to whitespace or a quote.
	urlPattern = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.\-]*://[^\s"'<>` + "`" + `]+`)
	// Key-shaped tokens of the providers and of common secret stores.
	tokenPattern = regexp.MustCompile(`(?i)` +
		`\bbearer\s+[a-z0-9._~+/=\-]+` + // an Authorization value
		`|\bsk-[a-z0-9_\-]{8,}` + // OpenAI (sk-, sk-proj-) and Anthropic (sk-ant-) keys
		`|\bAIza[0-9a-z_\-]{20,}` + // Google API keys
		`|\beyJ[a-z0-9_\-]+\.[a-z0-9_\-]+(?:\.[a-z0-9_\-]*)?` + // JWTs (OAuth access tokens)
		`|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b` + // AWS access key ids
		`|\b(?:ghp|gho|ghs|ghu|github_pat|xox[abposr])[_\-][a-z0-9_\-]{10,}`)
	// key=value pairs whose value is a secret whatever its shape.
	secretParam = regexp.MustCompile(`(?i)\b(api[_\-]?key|key|token|access[_\-]?token|secret|password|passwd|signature|sig)(["']?\s*[=:]\s*["']?)([^\s&"',;]+)`)
	// Long runs of key alphabet: hex, base64 and base64url secrets.
	longToken = regexp.MustCompile(`[A-Za-z0-9+/_\-]{32,}={0,2}`)
	// Host names under suffixes used only inside private networks.
	internalName = regexp.MustCompile(`(?i)\b(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)*` +
		`(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?)\.(?:internal|local|localdomain|lan|intranet|corp|private|home\.arpa|svc|cluster\.local)\b` +
		`|\blocalhost\b`)
	// IP literals; each is checked with netip before it is removed.
	ipv4Literal = regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}\b`)
	ipv6Literal = regexp.MustCompile(`(?i)\[?[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:%[a-z0-9]+)?\]?`)
)

// ScrubUpstreamText returns msg with what a client must not see removed:
// secret (the credential sent upstream) and any run of 8 or more of its
// characters, key-shaped tokens, secret-looking key=value pairs, URLs whose
// host is internal or is one of hosts (the channel's base URL host), and
// internal host names and IP literals. The result is at most
// MaxUpstreamMessage bytes of valid UTF-8 and never contains secret when
// secret is at least 4 bytes long.
func ScrubUpstreamText(msg, secret string, hosts ...string) string {
	msg = truncateUTF8(msg, maxScrubInput)
	if len(secret) > maxScrubSecret {
		secret = secret[:maxScrubSecret]
	}
	out := removeSecret(msg, secret)
	out = urlPattern.ReplaceAllStringFunc(out, func(u string) string { return scrubURL(u, hosts) })
	out = secretParam.ReplaceAllString(out, "${1}${2}"+redactedSecret)
	out = tokenPattern.ReplaceAllStringFunc(out, func(t string) string {
		if len(t) > 6 && strings.EqualFold(t[:6], "bearer") {
			return t[:6] + " " + redactedSecret
		}
		return redactedSecret
	})
	out = longToken.ReplaceAllStringFunc(out, func(t string) string {
		if looksRandom(t) {
			return redactedSecret
		}
		return t
	})
	for _, h := range hosts {
		if h = strings.TrimSpace(h); h != "" {
			out = replaceFold(out, h, redactedHost)
		}
	}
	out = internalName.ReplaceAllString(out, redactedHost)
	out = ipv4Literal.ReplaceAllStringFunc(out, func(s string) string {
		if _, err := netip.ParseAddr(s); err == nil {
			return redactedHost
		}
		return s
	})
	out = ipv6Literal.ReplaceAllStringFunc(out, func(s string) string {
		a, err := netip.ParseAddr(strings.Trim(s, "[]"))
		if err == nil && a.Is6() && strings.ContainsAny(s, "0123456789") {
			return redactedHost
		}
		return s
	})
	// Markers put next to leftover characters could, in theory, spell the
	// secret again; then nothing of the message is worth the risk.
	out = removeSecret(out, secret)
	if len(secret) >= 4 && strings.Contains(out, secret) {
		return ""
	}
	return truncateUTF8(out, MaxUpstreamMessage)
}

// looksRandom tells a secret (hex, base64) from a long name: a secret has
// letters and digits and a long run without separators, where a model or
// resource name ("claude-3-5-sonnet-20241022-v2", "projects/p-1/locations")
// is short words joined by '-', '_' or '/'.
func looksRandom(t string) bool {
	letter, digit := false, false
	run, longest := 0, 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letter = true
		default:
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	return letter && digit && longest >= 16
}

// scrubURL removes a URL whose host is internal or one of hosts, and the
// secrets from the query of any other.
func scrubURL(raw string, hosts []string) string {
	u, err := url.Parse(strings.TrimRight(raw, ".,;:)]}"))
	if err != nil || u.Host == "" {
		return redactedURL // unreadable: it might hide anything
	}
	h := u.Hostname()
	for _, ch := range hosts {
		if ch != "" && strings.EqualFold(h, ch) {
			return redactedURL
		}
	}
	if internalHost(h) {
		return redactedURL
	}
	if u.User != nil || u.RawQuery != "" {
		// A public URL stays, minus its credentials and query.
		return u.Scheme + "://" + u.Host + u.EscapedPath()
	}
	return raw
}

// internalHost reports a host name or address that only makes sense inside
// the operator's network.
func internalHost(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		a = a.Unmap()
		return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() ||
			netip.MustParsePrefix("100.64.0.0/10").Contains(a) // carrier-grade NAT, used by VPNs
	}
	if !strings.Contains(h, ".") {
		return true // a single label resolves only on the local network
	}
	return internalName.MatchString(h) && internalName.FindString(h) == h
}

// removeSecret replaces secret, and every run of minSecretOverlap or more
// bytes that also occurs in secret, by the marker. A run of 8 or more
// common bytes is exactly a union of common 8-byte windows, and an 8-byte
// window is one uint64: the secret's windows go in a set, and each window
// of text is looked up, in O(len(text) + len(secret)).
func removeSecret(text, secret string) string {
	if len(secret) < 4 || text == "" {
		return text
	}
	text = strings.ReplaceAll(text, secret, redactedSecret)
	if len(secret) < minSecretOverlap || len(text) < minSecretOverlap {
		return text
	}
	windows := make(map[uint64]struct{}, len(secret)-minSecretOverlap+1)
	for j := 0; j+minSecretOverlap <= len(secret); j++ {
		windows[window(secret[j:])] = struct{}{}
	}
	var mark []bool
	for i := 0; i+minSecretOverlap <= len(text); i++ {
		if _, ok := windows[window(text[i:])]; !ok {
			continue
		}
		if mark == nil {
			mark = make([]bool, len(text))
		}
		for k := i; k < i+minSecretOverlap; k++ {
			mark[k] = true
		}
	}
	if mark == nil {
		return text
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		if !mark[i] {
			b.WriteByte(text[i])
			i++
			continue
		}
		b.WriteString(redactedSecret)
		for i < len(text) && mark[i] {
			i++
		}
	}
	return strings.ToValidUTF8(b.String(), "")
}

// window packs the first 8 bytes of s (minSecretOverlap) into a uint64.
func window(s string) uint64 {
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// replaceFold replaces every case-insensitive occurrence of old (ASCII).
func replaceFold(s, old, repl string) string {
	lo, lold := strings.ToLower(s), strings.ToLower(old)
	if len(lo) != len(s) || len(lold) != len(old) {
		return strings.ReplaceAll(s, old, repl) // non-ASCII changed length: exact only
	}
	if !strings.Contains(lo, lold) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(lo, lold)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s, lo = s[i+len(old):], lo[i+len(old):]
	}
}

// truncateUTF8 cuts s to at most n bytes without splitting a character,
// and drops invalid bytes.
func truncateUTF8(s string, n int) string {
	if len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return strings.ToValidUTF8(s, "")
}
