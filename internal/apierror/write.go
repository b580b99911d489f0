package apierror

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// RequestIDHeader is where the request id middleware puts the id; the
// Anthropic shape echoes it in its body.
const RequestIDHeader = "X-Request-Id"

type openAIBody struct {
	Error openAIError `json:"error"`
}

type openAIError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Code    string  `json:"code"`
	Param   *string `json:"param"` // null, not "", when there is none: the spec says so
}

type anthropicBody struct {
	Type      string         `json:"type"`
	Error     anthropicError `json:"error"`
	RequestID string         `json:"request_id,omitempty"`
}

type anthropicError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// WriteOpenAI answers err in OpenAI's error shape. r may be nil.
func WriteOpenAI(w http.ResponseWriter, r *http.Request, err error) {
	e := As(err)
	body := openAIBody{Error: openAIError{Message: e.Message, Type: e.Type, Code: e.Code}}
	if e.Param != "" {
		p := e.Param
		body.Error.Param = &p
	}
	write(w, r, e, body)
}

// WriteAnthropic answers err in Anthropic's error shape. r may be nil.
func WriteAnthropic(w http.ResponseWriter, r *http.Request, err error) {
	e := As(err)
	body := anthropicBody{
		Type:      "error",
		Error:     anthropicError{Type: AnthropicType(e.Status), Message: e.Message},
		RequestID: w.Header().Get(RequestIDHeader),
	}
	write(w, r, e, body)
}

// AnthropicType maps a status to Anthropic's documented error types, which
// are keyed by status rather than by cause.
func AnthropicType(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusMethodNotAllowed:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusServiceUnavailable, 529:
		return "overloaded_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

func write(w http.ResponseWriter, r *http.Request, e *Error, body any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		// Only strings are encoded; this cannot fail, but never send half a body.
		buf.Reset()
		buf.WriteString(`{"error":{"message":"internal error","type":"server_error","code":"server_error","param":null}}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Del("Content-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(ceilSeconds(e.RetryAfter), 10))
		h.Set("Retry-After-Ms", strconv.FormatInt(ceilMillis(e.RetryAfter), 10))
	}
	h.Set("X-Should-Retry", strconv.FormatBool(e.Retryable()))
	if e.Status == http.StatusMethodNotAllowed && e.Allow != "" {
		h.Set("Allow", e.Allow)
	}
	w.WriteHeader(e.Status)
	if r != nil && r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(buf.Bytes())
}

func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

func ceilMillis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
