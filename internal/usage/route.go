package usage

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/store"
)

// Attempt is one upstream attempt of a request: the routing story's unit.
type Attempt struct {
	Channel      string `json:"channel"`
	CredentialID int64  `json:"credential_id"`
	// Status is the upstream's HTTP status for a failed attempt (0 when
	// none came back), and the request's own status for the attempt
	// that answered.
	Status    int    `json:"status"`
	LatencyMs int64  `json:"latency_ms"`
	Error     string `json:"error,omitempty"` // why it failed over; "" for the one that answered
}

// maxAttemptError bounds each attempt's reason in the stored route.
const maxAttemptError = 200

// EncodeRoute is the compact JSON stored in Row.Route. It is written by
// hand: it runs once per request that failed over, on the way out of the
// request, and encoding/json's reflection would cost more than the rest.
func EncodeRoute(attempts []Attempt) json.RawMessage {
	if len(attempts) == 0 {
		return nil
	}
	b := make([]byte, 0, 96*len(attempts))
	b = append(b, '[')
	for i, a := range attempts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"channel":`...)
		b = appendString(b, store.Clip(a.Channel, maxName))
		b = append(b, `,"credential_id":`...)
		b = strconv.AppendInt(b, a.CredentialID, 10)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(a.Status), 10)
		b = append(b, `,"latency_ms":`...)
		b = strconv.AppendInt(b, a.LatencyMs, 10)
		if a.Error != "" {
			b = append(b, `,"error":`...)
			b = appendString(b, store.Clip(a.Error, maxAttemptError))
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// RouteAttempts is the row's routing story: the stored route when the request
// failed over, else the one attempt the row itself describes (none when
// no upstream was reached).
func (r *Row) RouteAttempts() []Attempt {
	if len(r.Route) > 0 {
		var out []Attempt
		if err := json.Unmarshal(r.Route, &out); err == nil {
			return out
		}
	}
	if r.Attempts == 0 || r.Channel == "" {
		return []Attempt{}
	}
	return []Attempt{{Channel: r.Channel, CredentialID: r.CredentialID, Status: r.Status,
		LatencyMs: r.Duration.Milliseconds()}}
}
