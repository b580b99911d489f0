// Package apierror is the one coded error type that may reach a client, and
// its translation to the wire.
//
// Handlers and the relay return *Error (possibly wrapped with fmt.Errorf and
// %w); the edge calls WriteOpenAI or WriteAnthropic exactly once. Anything
// that is not an *Error becomes a generic 500: internal errors carry SQL,
// hostnames or upstream bodies and are logged by the caller, never echoed.
//
// The retry headers (Retry-After, retry-after-ms, x-should-retry) are the ones
// the official OpenAI and Anthropic SDKs read, so a client backs off or gives
// up exactly as the gateway intends.
package apierror

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// OpenAI error types used in the "type" field.
const (
	TypeInvalidRequest    = "invalid_request_error"
	TypeAuthentication    = "authentication_error"
	TypePermission        = "permission_error"
	TypeNotFound          = "not_found_error"
	TypeRateLimit         = "rate_limit_error"
	TypeInsufficientQuota = "insufficient_quota"
	TypeServer            = "server_error"
	TypeUpstream          = "upstream_error"
)

// Codes, stable and documented in DESIGN.md; clients may switch on them.
const (
	CodeInvalidAPIKey        = "invalid_api_key"
	CodeKeyDisabled          = "api_key_disabled"
	CodeModelNotAllowed      = "model_not_allowed"
	CodeIPNotAllowed         = "ip_not_allowed"
	CodeModelNotFound        = "model_not_found"
	CodeRateLimitExceeded    = "rate_limit_exceeded"
	CodeInsufficientQuota    = "insufficient_quota"
	CodeNoAvailableChannel   = "no_available_channel"
	CodeUpstreamError        = "upstream_error"
	CodeInvalidRequest       = "invalid_request_error"
	CodeRequestTooLarge      = "request_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeServerError          = "server_error"
	CodePinNotAllowed        = "pin_not_allowed"
	CodeLimiterUnavailable   = "limiter_unavailable"
	CodeBillingUnavailable   = "billing_unavailable"
	CodeTaskNotFound         = "task_not_found"
	CodeTaskFinished         = "task_finished"
	CodeTaskCancelled        = "task_cancelled"
	CodeLinkInvalid          = "invalid_signature"
	CodeLinkExpired          = "link_expired"
	CodeImageGone            = "image_gone"
)

// Error is an error meant for the client: every field is safe to show.
type Error struct {
	Status  int    // HTTP status
	Type    string // OpenAI "type"
	Code    string // stable machine-readable code
	Message string // human-readable, never contains a secret or internal detail
	Param   string // offending request field, "" for none

	// RetryAfter, when positive, is sent as Retry-After and retry-after-ms.
	RetryAfter time.Duration
	// ShouldRetry overrides the default x-should-retry (true for 408, 409,
	// 429 and 5xx, as the SDKs decide by themselves). Set it to false where
	// retrying cannot help, such as an exhausted quota.
	ShouldRetry *bool
	// Allow lists the allowed methods for a 405.
	Allow string
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%d %s: %s (param %s)", e.Status, e.Code, e.Message, e.Param)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Retryable reports the x-should-retry value this error is answered with.
func (e *Error) Retryable() bool {
	if e.ShouldRetry != nil {
		return *e.ShouldRetry
	}
	switch {
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusConflict,
		e.Status == http.StatusTooManyRequests, e.Status >= 500:
		return true
	}
	return false
}

// As returns the *Error in err's chain, or the generic internal error when
// there is none, so that callers always have something safe to send.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e
	}
	return Internal()
}

func boolPtr(b bool) *bool { return &b }

// InvalidAPIKey is a missing, unknown, disabled or expired key. One message
// for all four so that a prober learns nothing about which keys exist.
func InvalidAPIKey() *Error {
	return &Error{Status: http.StatusUnauthorized, Type: TypeAuthentication, Code: CodeInvalidAPIKey,
		Message: "Invalid or missing API key."}
}

// KeyDisabled is a key its owner or an admin disabled: unlike a revoked
// one, it may be enabled again, so its holder is told which it is.
func KeyDisabled() *Error {
	return &Error{Status: http.StatusUnauthorized, Type: TypeAuthentication, Code: CodeKeyDisabled,
		Message: "This API key is disabled; ask its owner or an administrator to enable it."}
}

// ModelNotAllowed is a model the key or its group may not use.
func ModelNotAllowed(model string) *Error {
	return &Error{Status: http.StatusForbidden, Type: TypePermission, Code: CodeModelNotAllowed,
		Message: fmt.Sprintf("This API key is not allowed to use the model %q.", model), Param: "model"}
}

// IPNotAllowed is a request from an address outside the key's allow list.
func IPNotAllowed() *Error {
	return &Error{Status: http.StatusForbidden, Type: TypePermission, Code: CodeIPNotAllowed,
		Message: "This API key may not be used from this IP address."}
}

// LimiterUnavailable is a request refused because the shared rate limiter
// (Redis) cannot be reached: the gateway fails closed rather than let every
// node admit traffic the others cannot count.
func LimiterUnavailable() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: CodeLimiterUnavailable,
		Message: "Rate limits cannot be checked right now; retry later.", RetryAfter: time.Second}
}

// PinNotAllowed is a routing header (X-Switchyard-Channel or
// X-Switchyard-Credential) sent with a key that is not an admin key.
func PinNotAllowed(header string) *Error {
	return &Error{Status: http.StatusForbidden, Type: TypePermission, Code: CodePinNotAllowed,
		Message: header + " may only be sent with an admin key."}
}

// ModelNotFound is a model no channel serves.
func ModelNotFound(model string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: CodeModelNotFound,
		Message: fmt.Sprintf("The model %q does not exist or you do not have access to it.", model), Param: "model"}
}

// RateLimited is a key or user over its rpm/tpm/daily limit.
func RateLimited(retryAfter time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: CodeRateLimitExceeded,
		Message: "Rate limit exceeded; retry after the time in the Retry-After header.", RetryAfter: retryAfter}
}

// InsufficientQuota is an exhausted key quota or wallet: retrying cannot help.
func InsufficientQuota() *Error {
	return &Error{Status: http.StatusTooManyRequests, Type: TypeInsufficientQuota, Code: CodeInsufficientQuota,
		Message: "You exceeded your current quota; top up or raise the key's quota.", ShouldRetry: boolPtr(false)}
}

// QuotaShort is InsufficientQuota saying what was short: the wallet or
// the key's quota, and by how much. msg must be safe for the client.
func QuotaShort(msg string) *Error {
	e := InsufficientQuota()
	e.Message = msg
	return e
}

// ModelNotPriced is a model the operator has not priced: the gateway never
// bills a model at zero by accident, so it is refused until the operator
// prices it or marks it free.
func ModelNotPriced(model string) *Error {
	return &Error{Status: http.StatusForbidden, Type: TypePermission, Code: CodeModelNotAllowed,
		Message: fmt.Sprintf("The model %q has no price on this gateway; it can be used once the operator prices it or marks it free.", model),
		Param:   "model"}
}

// BillingUnavailable is a request refused because its charge cannot be
// held safely (Redis or the billing journal unwritable): the gateway fails
// closed rather than serve what it cannot bill.
func BillingUnavailable() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: CodeBillingUnavailable,
		Message: "Billing cannot be checked right now; retry later.", RetryAfter: time.Second}
}

// NoAvailableChannel is a model that exists but that no upstream can serve now
// (credentials disabled, circuits open, daily limits reached). retryAfter may
// be zero when the earliest recovery is unknown.
func NoAvailableChannel(retryAfter time.Duration) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: CodeNoAvailableChannel,
		Message: "No upstream channel can serve this model right now; retry later.", RetryAfter: retryAfter}
}

// ChannelsRateLimited is a model whose every usable credential is resting
// after rate limits (429 cooldowns, min_interval): a 429 with the time the
// first one comes back, so that SDKs and agents wait and retry instead of
// reporting an outage. retryAfter may be zero when unknown.
func ChannelsRateLimited(retryAfter time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: CodeNoAvailableChannel,
		Message:    "Every upstream channel for this model is rate limited right now; retry after the time in the Retry-After header.",
		RetryAfter: retryAfter, ShouldRetry: boolPtr(true)}
}

// UpstreamError is every attempt failing. msg must already be safe for the
// client (no upstream body, no key, no host).
func UpstreamError(msg string) *Error {
	if msg == "" {
		msg = "The upstream provider failed to answer."
	}
	return &Error{Status: http.StatusBadGateway, Type: TypeUpstream, Code: CodeUpstreamError, Message: msg}
}

// InvalidRequest is a malformed request; param names the offending field.
func InvalidRequest(msg, param string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: CodeInvalidRequest,
		Message: msg, Param: param}
}

// UnsupportedMediaType is a body in a content type the endpoint does not read.
func UnsupportedMediaType(got, want string) *Error {
	return &Error{Status: http.StatusUnsupportedMediaType, Type: TypeInvalidRequest, Code: CodeUnsupportedMediaType,
		Message: fmt.Sprintf("Unsupported Content-Type %q; send %s.", got, want)}
}

// RequestTooLarge is a body over the configured limit (in bytes).
func RequestTooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Type: TypeInvalidRequest, Code: CodeRequestTooLarge,
		Message: fmt.Sprintf("Request body too large; the limit is %d bytes.", limit)}
}

// NotFound is an unknown path.
func NotFound(path string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: CodeNotFound,
		Message: fmt.Sprintf("Unknown request URL: %s.", path)}
}

// MethodNotAllowed is a known path asked with the wrong method; allow is the
// value of the Allow header ("GET, HEAD"), possibly empty.
func MethodNotAllowed(method, allow string) *Error {
	msg := fmt.Sprintf("Method %s is not allowed on this URL.", method)
	if allow != "" {
		msg = fmt.Sprintf("Method %s is not allowed on this URL; allowed: %s.", method, allow)
	}
	return &Error{Status: http.StatusMethodNotAllowed, Type: TypeInvalidRequest, Code: CodeMethodNotAllowed,
		Message: msg, Allow: allow}
}

// TaskNotFound is an image task that does not exist or belongs to another
// user; the two are not told apart.
func TaskNotFound(id string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeNotFound, Code: CodeTaskNotFound,
		Message: fmt.Sprintf("No image task %q.", id)}
}

// TaskFinished is a cancel of a task that has already ended.
func TaskFinished(id, status string) *Error {
	return &Error{Status: http.StatusConflict, Type: TypeInvalidRequest, Code: CodeTaskFinished,
		Message:     fmt.Sprintf("Image task %q has already ended (%s); there is nothing to cancel.", id, status),
		ShouldRetry: boolPtr(false)}
}

// TaskCancelled answers a synchronous image request whose task was
// cancelled through the API while it ran.
func TaskCancelled(id string) *Error {
	return &Error{Status: http.StatusConflict, Type: TypeInvalidRequest, Code: CodeTaskCancelled,
		Message: fmt.Sprintf("Image task %q was cancelled while it ran.", id), ShouldRetry: boolPtr(false)}
}

// LinkInvalid is a signed image link whose signature does not verify.
func LinkInvalid() *Error {
	return &Error{Status: http.StatusForbidden, Type: TypePermission, Code: CodeLinkInvalid,
		Message: "This image link is not valid: its signature does not match."}
}

// LinkExpired is a genuine signed image link past its expiry.
func LinkExpired() *Error {
	return &Error{Status: http.StatusForbidden, Type: TypePermission, Code: CodeLinkExpired,
		Message: "This image link has expired; fetch the task again for a fresh link."}
}

// ImageGone is a valid link to an image that is no longer stored (swept
// after images.retention).
func ImageGone() *Error {
	return &Error{Status: http.StatusGone, Type: TypeNotFound, Code: CodeImageGone,
		Message: "This image is no longer stored."}
}

// Internal is the generic answer for anything unexpected.
func Internal() *Error {
	return &Error{Status: http.StatusInternalServerError, Type: TypeServer, Code: CodeServerError,
		Message: "The server had an error while processing your request."}
}
