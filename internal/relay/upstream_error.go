package relay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// UpstreamError is the error object of an upstream's non-2xx answer, read
// from any supported shape: OpenAI and Azure {"error":{"message","type",
// "code","param"}}, Anthropic {"type":"error","error":{"type","message"}},
// Gemini {"error":{"code":400,"message","status"}}, and the bare
// {"error":"…"} of some OpenAI-compatible servers.
type UpstreamError struct {
	Type    string
	Code    string // a string code; Gemini's status ("INVALID_ARGUMENT")
	Param   string
	Message string
}

func parseUpstreamError(b []byte) UpstreamError {
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &body) != nil || len(body.Error) == 0 {
		return UpstreamError{}
	}
	var s string
	if json.Unmarshal(body.Error, &s) == nil {
		return UpstreamError{Message: s}
	}
	var e struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
		Param   json.RawMessage `json:"param"`
		Status  string          `json:"status"`
	}
	if json.Unmarshal(body.Error, &e) != nil {
		return UpstreamError{}
	}
	out := UpstreamError{Type: e.Type, Message: e.Message, Code: jsonString(e.Code), Param: jsonString(e.Param)}
	if out.Code == "" {
		out.Code = e.Status
	}
	return out
}

// jsonString is v when it is a JSON string, else "" (Gemini's numeric code
// is only the HTTP status again).
func jsonString(v json.RawMessage) string {
	var s string
	if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil {
		return s
	}
	return ""
}

// ErrorReader is an optional ChatAdapter capability for an upstream whose
// error answers are in a shape parseUpstreamError does not know (Bedrock's
// {"message"} with the type in a header). It returns the status the
// scheduler is to see, which may differ from the one sent: Bedrock answers
// a quota error with a 400, and it must rest the credential like a 429.
type ErrorReader interface {
	ReadError(status int, h http.Header, body []byte) (int, UpstreamError)
}

// upstreamFailure reads a non-2xx answer from t into an attemptError: the
// upstream's error object for the log and the scheduler (with t's own
// secret removed, as in every log line) and, scrubbed, for the client.
func upstreamFailure(resp *http.Response, t *Target, adapter ChatAdapter) *attemptError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &attemptError{status: resp.StatusCode, retryAfter: parseRetryAfter(resp.Header),
		err: fmt.Errorf("%s", http.StatusText(resp.StatusCode))}
	var raw UpstreamError
	if er, ok := adapter.(ErrorReader); ok {
		e.status, raw = er.ReadError(resp.StatusCode, resp.Header, b)
	} else {
		if !bytes.Contains(b, []byte(`"error"`)) {
			return e
		}
		raw = parseUpstreamError(b)
	}
	secret, hosts := t.Secret(), t.hosts()
	e.upstream = UpstreamError{
		Type: removeSecret(raw.Type, secret), Code: removeSecret(raw.Code, secret),
		Param:   removeSecret(raw.Param, secret),
		Message: truncateUTF8(removeSecret(truncateUTF8(raw.Message, maxScrubInput), secret), MaxUpstreamMessage),
	}
	e.client = UpstreamError{
		Type: scrubField(raw.Type, secret, hosts), Code: scrubField(raw.Code, secret, hosts),
		Param: scrubField(raw.Param, secret, hosts), Message: ScrubUpstreamText(raw.Message, secret, hosts...),
	}
	return e
}

// errorField is what a type, code or param may look like to be passed on.
var errorField = regexp.MustCompile(`^[A-Za-z0-9_.\-\[\]]{1,64}$`)

// scrubField keeps an identifier-like field that scrubbing leaves as it
// is, and drops anything else rather than show half of it.
func scrubField(v, secret string, hosts []string) string {
	if !errorField.MatchString(v) || ScrubUpstreamText(v, secret, hosts...) != v {
		return ""
	}
	return v
}

// hosts is the host of the channel's base URL, which the upstream may name
// in its messages; for a self-hosted upstream it is internal.
func (t *Target) hosts() []string {
	if t == nil || t.Channel == nil {
		return nil
	}
	u, err := url.Parse(t.Channel.BaseURL)
	if err != nil || u.Hostname() == "" {
		return nil
	}
	return []string{strings.ToLower(u.Hostname())}
}

// errorChunk starts an OpenAI chat stream's error chunk.
var errorChunk = []byte(`{"error"`)

// isErrorEvent reports an upstream's mid-stream error event, which a
// passthrough stream relays: Anthropic's and Responses' "error" event, or
// an OpenAI chat chunk {"error":…}. Two comparisons: it runs per event.
func isErrorEvent(event string, data []byte) bool {
	return event == "error" || bytes.HasPrefix(data, errorChunk)
}

// scrubErrorEvent returns an error event's data with its messages scrubbed
// like a 4xx answer's (the top-level "message" of Responses, the "error"
// object's of the others) and any type, code or param that is not a plain
// identifier replaced; original is the upstream's message for the log,
// with the credential's value removed.
func scrubErrorEvent(data []byte, t *Target) (out []byte, original string) {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		// Not an object: nothing in it can be vouched for.
		return []byte(`{"error":{"message":"The upstream provider reported an error.","type":"upstream_error","code":"upstream_error"}}`), ""
	}
	secret, hosts := t.Secret(), t.hosts()
	scrub := func(obj map[string]json.RawMessage) {
		for k, v := range obj {
			var s string
			if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
				continue
			}
			switch k {
			case "message":
				if original == "" {
					original = truncateUTF8(removeSecret(truncateUTF8(s, maxScrubInput), secret), MaxUpstreamMessage)
				}
				obj[k] = jsonText(ScrubUpstreamText(s, secret, hosts...))
			case "type", "code":
				if scrubField(s, secret, hosts) != s {
					obj[k] = jsonText("upstream_error")
				}
			case "param":
				if scrubField(s, secret, hosts) != s {
					obj[k] = json.RawMessage("null")
				}
			}
		}
	}
	scrub(top)
	if e, ok := top["error"]; ok && len(e) > 0 && e[0] == '{' {
		var inner map[string]json.RawMessage
		if json.Unmarshal(e, &inner) == nil {
			scrub(inner)
			top["error"], _ = json.Marshal(inner)
		}
	}
	out, err := json.Marshal(top)
	if err != nil {
		return data, original
	}
	return out, original
}

// jsonText is s as a JSON string, without HTML escaping.
func jsonText(s string) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n")
}
