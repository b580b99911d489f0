package usage

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The compact form of a Row is what the billing journal file holds for a
// usage row (one node): written on every request, read back by the
// drainer, so it costs no allocation to write and none per field to read
// (the strings read back are substrings of the text given). It is one line
// of text:
//
//	1 <sec> <nsec> <user> <key> <credential> <attempts> <status> <flags> <prompt> <completion> <cached> <reasoning> <images> <cost> <ttfb_ms> <duration_ms> <n>:<charge id> <n>:<request id> <n>:<model> <n>:<served model> <n>:<channel> <n>:<error> <n>:<client ip> <n>:<route>
//
// The leading 1 is the version. flags: 1 stream, 2 estimated. Each string
// is its length in bytes and its bytes, with backslash and newline escaped
// (\\ and \n) so that the line holds no newline; the length counts the
// escaped bytes. Invalid UTF-8 is replaced by U+FFFD, as the JSON form
// does (the databases refuse it). Durations keep whole milliseconds and the
// route nil for none, as the JSON form does; ID, User and KeyName, which
// the log assigns, are not kept.

// compactVersion is the first word of the compact form.
const compactVersion = "1"

// compactNums is the count of numbers after the version.
const compactNums = 16

// compactStrings is the count of strings after the numbers.
const compactStrings = 8

// AppendCompact appends r's compact form, without a newline, to b.
func AppendCompact(b []byte, r *Row) []byte {
	b = append(b, compactVersion...)
	var flags int64
	if r.Stream {
		flags |= 1
	}
	if r.Estimated {
		flags |= 2
	}
	for _, n := range [compactNums]int64{r.Time.Unix(), int64(r.Time.Nanosecond()), r.UserID, r.KeyID, r.CredentialID,
		int64(r.Attempts), int64(r.Status), flags, r.PromptTokens, r.CompletionTokens, r.CachedTokens, r.ReasoningTokens,
		int64(r.Images), r.CostMicros, r.TTFB.Milliseconds(), r.Duration.Milliseconds()} {
		b = append(b, ' ')
		b = strconv.AppendInt(b, n, 10)
	}
	b = appendCompactString(b, r.ChargeID)
	b = appendCompactString(b, r.RequestID)
	b = appendCompactString(b, r.Model)
	b = appendCompactString(b, r.ServedModel)
	b = appendCompactString(b, r.Channel)
	b = appendCompactString(b, r.Error)
	b = appendCompactString(b, r.ClientIP)
	return appendCompactBytes(b, r.Route)
}

func appendCompactString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(s)+strings.Count(s, `\`)+strings.Count(s, "\n")), 10)
	b = append(b, ':')
	for {
		i := strings.IndexAny(s, "\\\n")
		if i < 0 {
			return append(b, s...)
		}
		b = append(b, s[:i]...)
		if s[i] == '\n' {
			b = append(b, `\n`...)
		} else {
			b = append(b, `\\`...)
		}
		s = s[i+1:]
	}
}

// appendCompactBytes is appendCompactString of the route: an allocation
// for the rows of requests that failed over only.
func appendCompactBytes(b []byte, p []byte) []byte { return appendCompactString(b, string(p)) }

var errCompact = errors.New("malformed compact usage row")

// ParseCompact reads a compact form (AppendCompact's, without the
// newline). The strings of the row share s's memory.
func ParseCompact(s string) (Row, error) {
	word := func() string {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			w := s
			s = ""
			return w
		}
		w := s[:i]
		s = s[i+1:]
		return w
	}
	if v := word(); v != compactVersion {
		return Row{}, fmt.Errorf("%w: version %.10q", errCompact, v)
	}
	var n [compactNums]int64
	for i := range n {
		v, err := strconv.ParseInt(word(), 10, 64)
		if err != nil {
			return Row{}, fmt.Errorf("%w: number %d: %w", errCompact, i+1, err)
		}
		n[i] = v
	}
	var str [compactStrings]string
	for i := range str {
		colon := strings.IndexByte(s, ':')
		if colon < 0 {
			return Row{}, fmt.Errorf("%w: string %d: no length", errCompact, i+1)
		}
		l, err := strconv.Atoi(s[:colon])
		if err != nil || l < 0 || l > len(s)-colon-1 {
			return Row{}, fmt.Errorf("%w: string %d: bad length %.20q", errCompact, i+1, s[:colon])
		}
		v := s[colon+1 : colon+1+l]
		s = s[colon+1+l:]
		if i < compactStrings-1 {
			if len(s) == 0 || s[0] != ' ' {
				return Row{}, fmt.Errorf("%w: string %d: no separator", errCompact, i+1)
			}
			s = s[1:]
		}
		if str[i], err = unescapeCompact(v); err != nil {
			return Row{}, fmt.Errorf("%w: string %d: %w", errCompact, i+1, err)
		}
	}
	if s != "" {
		return Row{}, fmt.Errorf("%w: %d bytes after the last string", errCompact, len(s))
	}
	const maxMs = int64(math.MaxInt64 / int64(time.Millisecond))
	for _, v := range [...]int64{n[5], n[6], n[12]} { // attempts, status, images: int
		if v != int64(int(v)) {
			return Row{}, fmt.Errorf("%w: number %d out of range", errCompact, v)
		}
	}
	// Years 0 to 9999, which the JSON form also keeps.
	if n[0] < -62167219200 || n[0] > 253402300799 || n[14] > maxMs || n[14] < -maxMs || n[15] > maxMs || n[15] < -maxMs || n[1] < 0 || n[1] >= 1e9 || n[7]&^3 != 0 {
		return Row{}, fmt.Errorf("%w: numbers out of range", errCompact)
	}
	r := Row{
		Time: time.Unix(n[0], n[1]).UTC(), UserID: n[2], KeyID: n[3], CredentialID: n[4],
		Attempts: int(n[5]), Status: int(n[6]), Stream: n[7]&1 != 0, Estimated: n[7]&2 != 0,
		PromptTokens: n[8], CompletionTokens: n[9], CachedTokens: n[10], ReasoningTokens: n[11],
		Images: int(n[12]), CostMicros: n[13],
		TTFB: time.Duration(n[14]) * time.Millisecond, Duration: time.Duration(n[15]) * time.Millisecond,
		ChargeID: str[0], RequestID: str[1], Model: str[2], ServedModel: str[3], Channel: str[4],
		Error: str[5], ClientIP: str[6],
	}
	if str[7] != "" {
		r.Route = []byte(str[7])
	}
	return r, nil
}

// unescapeCompact undoes appendCompactString's escapes; a string without
// any is returned as it is.
func unescapeCompact(s string) (string, error) {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		if strings.IndexByte(s, '\n') >= 0 {
			return "", errors.New("raw newline")
		}
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for {
		b = append(b, s[:i]...)
		if i+1 >= len(s) {
			return "", errors.New("dangling escape")
		}
		switch s[i+1] {
		case 'n':
			b = append(b, '\n')
		case '\\':
			b = append(b, '\\')
		default:
			return "", fmt.Errorf("unknown escape %q", s[i:i+2])
		}
		s = s[i+2:]
		if i = strings.IndexByte(s, '\\'); i < 0 {
			if strings.IndexByte(s, '\n') >= 0 {
				return "", errors.New("raw newline")
			}
			return string(append(b, s...)), nil
		}
	}
}
