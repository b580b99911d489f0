package apierror

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestConstructors(t *testing.T) {
	tests := []struct {
		name       string
		err        *Error
		status     int
		code       string
		param      string
		retry      bool
		retryHdr   string
		retryMsHdr string
	}{
		{"invalid key", InvalidAPIKey(), 401, "invalid_api_key", "", false, "", ""},
		{"model not allowed", ModelNotAllowed("gpt-x"), 403, "model_not_allowed", "model", false, "", ""},
		{"ip not allowed", IPNotAllowed(), 403, "ip_not_allowed", "", false, "", ""},
		{"model not found", ModelNotFound("nope"), 404, "model_not_found", "model", false, "", ""},
		{"rate limited", RateLimited(1500 * time.Millisecond), 429, "rate_limit_exceeded", "", true, "2", "1500"},
		{"rate limited sub-ms", RateLimited(time.Microsecond), 429, "rate_limit_exceeded", "", true, "1", "1"},
		{"insufficient quota", InsufficientQuota(), 429, "insufficient_quota", "", false, "", ""},
		{"no channel", NoAvailableChannel(30 * time.Second), 503, "no_available_channel", "", true, "30", "30000"},
		{"no channel unknown", NoAvailableChannel(0), 503, "no_available_channel", "", true, "", ""},
		{"channels rate limited", ChannelsRateLimited(2500 * time.Millisecond), 429, "no_available_channel", "", true, "3", "2500"},
		{"upstream", UpstreamError("boom"), 502, "upstream_error", "", true, "", ""},
		{"invalid request", InvalidRequest("bad", "messages[0]"), 400, "invalid_request_error", "messages[0]", false, "", ""},
		{"too large", RequestTooLarge(1024), 413, "request_too_large", "", false, "", ""},
		{"unsupported media", UnsupportedMediaType("text/plain", "application/json"), 415, "unsupported_media_type", "", false, "", ""},
		{"not found", NotFound("/v2/x"), 404, "not_found", "", false, "", ""},
		{"method", MethodNotAllowed("DELETE", "GET, HEAD"), 405, "method_not_allowed", "", false, "", ""},
		{"internal", Internal(), 500, "server_error", "", true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err.Message == "" || tt.err.Type == "" {
				t.Fatalf("empty message or type: %+v", tt.err)
			}
			rec := httptest.NewRecorder()
			// Wrapped twice: the writer must still find the *Error.
			WriteOpenAI(rec, httptest.NewRequest("POST", "/v1/chat/completions", nil),
				fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", tt.err)))
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			var body struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Code    string  `json:"code"`
					Param   *string `json:"param"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if body.Error.Code != tt.code {
				t.Errorf("code = %q, want %q", body.Error.Code, tt.code)
			}
			if body.Error.Message != tt.err.Message || body.Error.Type != tt.err.Type {
				t.Errorf("message/type = %q/%q", body.Error.Message, body.Error.Type)
			}
			gotParam := ""
			if body.Error.Param != nil {
				gotParam = *body.Error.Param
			}
			if gotParam != tt.param {
				t.Errorf("param = %q, want %q", gotParam, tt.param)
			}
			if tt.param == "" && !strings.Contains(rec.Body.String(), `"param":null`) {
				t.Errorf("param not null: %s", rec.Body)
			}
			if got := rec.Header().Get("X-Should-Retry"); got != fmt.Sprint(tt.retry) {
				t.Errorf("x-should-retry = %q, want %v", got, tt.retry)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.retryHdr {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryHdr)
			}
			if got := rec.Header().Get("Retry-After-Ms"); got != tt.retryMsHdr {
				t.Errorf("retry-after-ms = %q, want %q", got, tt.retryMsHdr)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("content-type = %q", got)
			}
		})
	}
}

func TestNonCodedErrorIsGeneric(t *testing.T) {
	secretish := errors.New("dial tcp 10.1.2.3:5432: password authentication failed for sk-live-123")
	for name, write := range map[string]func(http.ResponseWriter, *http.Request, error){
		"openai": WriteOpenAI, "anthropic": WriteAnthropic,
	} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			write(rec, nil, fmt.Errorf("settle: %w", secretish))
			if rec.Code != 500 {
				t.Fatalf("status = %d", rec.Code)
			}
			if strings.Contains(rec.Body.String(), "10.1.2.3") || strings.Contains(rec.Body.String(), "sk-live") {
				t.Fatalf("internal error echoed: %s", rec.Body)
			}
			if !strings.Contains(rec.Body.String(), "error") {
				t.Fatalf("no error body: %s", rec.Body)
			}
		})
	}
}

func TestAnthropicShape(t *testing.T) {
	tests := []struct {
		err      *Error
		wantType string
	}{
		{InvalidRequest("bad", "max_tokens"), "invalid_request_error"},
		{InvalidAPIKey(), "authentication_error"},
		{ModelNotAllowed("m"), "permission_error"},
		{IPNotAllowed(), "permission_error"},
		{ModelNotFound("m"), "not_found_error"},
		{RequestTooLarge(10), "request_too_large"},
		{RateLimited(time.Second), "rate_limit_error"},
		{InsufficientQuota(), "rate_limit_error"},
		{Internal(), "api_error"},
		{UpstreamError(""), "api_error"},
		{NoAvailableChannel(time.Second), "overloaded_error"},
		{ChannelsRateLimited(time.Second), "rate_limit_error"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Code, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rec.Header().Set(RequestIDHeader, "req_abc")
			WriteAnthropic(rec, httptest.NewRequest("POST", "/v1/messages", nil), tt.err)
			var body struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tt.err.Status || body.Type != "error" || body.Error.Type != tt.wantType ||
				body.Error.Message != tt.err.Message || body.RequestID != "req_abc" {
				t.Fatalf("got %d %+v", rec.Code, body)
			}
			if got := rec.Header().Get("X-Should-Retry"); got != fmt.Sprint(tt.err.Retryable()) {
				t.Fatalf("x-should-retry = %q", got)
			}
		})
	}
}

func TestMethodNotAllowedSetsAllow(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteOpenAI(rec, httptest.NewRequest("DELETE", "/healthz", nil), MethodNotAllowed("DELETE", "GET, HEAD"))
	if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
		t.Fatalf("Allow = %q", got)
	}
}

func TestHeadHasNoBody(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteOpenAI(rec, httptest.NewRequest("HEAD", "/nope", nil), NotFound("/nope"))
	if rec.Code != 404 || rec.Body.Len() != 0 {
		t.Fatalf("HEAD got %d with %d body bytes", rec.Code, rec.Body.Len())
	}
}

func TestErrorString(t *testing.T) {
	if got := InvalidRequest("bad field", "model").Error(); !strings.Contains(got, "bad field") || !strings.Contains(got, "model") {
		t.Fatalf("Error() = %q", got)
	}
	if As(nil).Status != 500 {
		t.Fatal("As(nil) should be the internal error")
	}
}
