package store

import (
	"errors"
	"net/url"
	"strings"
)

const redacted = "xxxxx"

// Redact returns rawURL with its password, and any password-like query
// parameter, replaced by "xxxxx", for logs and error messages. It works on
// string structure rather than net/url because a MySQL DSN
// (`user:pass@tcp(host:3306)/db`) is not a URL, and because a URL that fails
// to parse must still be redacted. When unsure it redacts too much.
func Redact(rawURL string) string {
	scheme, rest, hasScheme := strings.Cut(rawURL, "://")
	if !hasScheme {
		scheme, rest = "", rawURL
	}
	// The last '@' ends the user info: a password may itself contain '@', and
	// an '@' later in a path or query is rare enough that over-redacting it is
	// the acceptable failure.
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		if user, _, hasPass := strings.Cut(rest[:at], ":"); hasPass {
			rest = user + ":" + redacted + rest[at:]
		}
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest = rest[:q+1] + redactQuery(rest[q+1:])
	}
	if hasScheme {
		return scheme + "://" + rest
	}
	return rest
}

func redactQuery(query string) string {
	parts := strings.Split(query, "&")
	for i, p := range parts {
		k, _, ok := strings.Cut(p, "=")
		if ok && sensitiveParam(k) {
			parts[i] = k + "=" + redacted
		}
	}
	return strings.Join(parts, "&")
}

func sensitiveParam(key string) bool {
	k := strings.ToLower(key)
	return strings.Contains(k, "pass") || strings.Contains(k, "secret") || strings.Contains(k, "token")
}

// passwords returns the password forms found in rawURL (as written and
// percent-decoded), so that a driver error quoting one can be scrubbed.
func passwords(rawURL string) []string {
	_, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		rest = rawURL
	}
	var out []string
	add := func(p string) {
		if p == "" {
			return
		}
		out = append(out, p)
		if dec, err := url.PathUnescape(p); err == nil && dec != p {
			out = append(out, dec)
		}
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		if _, pass, ok := strings.Cut(rest[:at], ":"); ok {
			add(pass)
		}
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		for p := range strings.SplitSeq(rest[q+1:], "&") {
			if k, v, ok := strings.Cut(p, "="); ok && sensitiveParam(k) {
				add(v)
			}
		}
	}
	return out
}

// scrubbedError hides secrets quoted by a driver's error text while keeping
// the chain for errors.Is/As. Drivers mostly avoid echoing passwords, but
// url.Parse errors quote the whole URL, so nothing is left to chance.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub returns err with every secret replaced by "xxxxx" in its message.
func scrub(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error's text is `parse "<whole url>": reason`; keep the reason.
		err = ue.Err
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redacted)
		}
	}
	return &scrubbedError{msg: msg, err: err}
}
