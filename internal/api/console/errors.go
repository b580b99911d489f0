package console

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Error is a console API error: {"error":{"code","message","field"}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field is the JSON path of the offending member of the body
	// ("credentials[2].key") or the name of the query parameter.
	Field      string        `json:"field,omitempty"`
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%d %s: %s: %s", e.Status, e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

type errorBody struct {
	Error *Error `json:"error"`
}

// Invalid is a 422 naming the field (a JSON path or a query parameter).
func Invalid(field, msg string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: msg, Field: field}
}

// Invalidf is Invalid with a formatted message.
func Invalidf(field, format string, args ...any) *Error {
	return Invalid(field, fmt.Sprintf(format, args...))
}

// NotFound is a 404 for what was looked up ("user 12").
func NotFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "Not found: " + what + "."}
}

// Conflict is a 409 for a write that clashes with the stored state (a name
// already taken).
func Conflict(msg string) *Error {
	return &Error{Status: http.StatusConflict, Code: "conflict", Message: msg}
}

// ConflictField is a Conflict caused by one field of the body (an email
// already taken), so a form can show it on that field.
func ConflictField(field, msg string) *Error {
	return &Error{Status: http.StatusConflict, Code: "conflict", Message: msg, Field: field}
}

// ManagedByFile is the 409 for a write to a resource the configuration file
// declares; fileField names it there ("channels[name=main]").
func ManagedByFile(fileField string) *Error {
	return &Error{Status: http.StatusConflict, Code: "managed_by_file", Field: fileField,
		Message: "This is declared in the configuration file (" + fileField + "); change it there."}
}

// Forbidden is a 403.
func Forbidden(msg string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: msg}
}

// StepUpRequired asks the caller to re-enter the password or a TOTP code.
func StepUpRequired() *Error {
	return &Error{Status: http.StatusForbidden, Code: "step_up_required",
		Message: "Confirm your password (or a 2FA code) to do this; POST /api/v1/auth/step-up."}
}

// Unauthenticated is the 401 for a missing, expired or unknown session or token.
func Unauthenticated() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "Sign in first."}
}

// RateLimited is a 429 with Retry-After.
func RateLimited(retryAfter time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", RetryAfter: retryAfter,
		Message: fmt.Sprintf("Too many attempts; try again in %s.", retryAfter.Round(time.Second))}
}

// Internal is the 500 for every error that is not an *Error; its cause is
// logged, not shown.
func Internal() *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "internal",
		Message: "Something went wrong on the server; the log has the details."}
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10)
}
