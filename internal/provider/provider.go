// Package provider holds what every upstream format shares; the wire formats
// and their translations live in the subpackages openai, anthropic and gemini.
//
// Translation design:
//   - OpenAI chat completions is the pivot. Every cross-format path goes
//     through openai.ChatRequest / ChatResponse / ChatChunk: Anthropic inbound
//     to a Gemini upstream is anthropic.ToChatRequest then gemini.FromChat, and
//     the response comes back the same way. Same-format traffic is never
//     decoded by these packages; the relay passes its bytes through.
//   - Translations are pure functions and small state machines over decoded
//     structs: no I/O, no clocks beyond a creation timestamp, no logging. The
//     relay owns HTTP, retries and billing; it reads usage from the stream
//     translators as events pass.
//   - Nothing is dropped silently. A known field that the target format cannot
//     express (n > 1, logprobs, audio, hosted tools, ...) makes the translator
//     return *UnsupportedError naming the field, which the relay answers with
//     a 400 before any upstream is called. Hosted tools are the one case a
//     channel may choose otherwise (config hosted_tools: drop, the default):
//     the handlers remove them before translating (DropHostedTools,
//     DropServerTools) and the client gets a warning header, not silence.
//     The exceptions are best-effort hints
//     that change no result a client can check (seed where the target has
//     none, store, metadata, service_tier, prompt_cache_key); each package doc
//     lists what it ignores. Fields unknown to the wire structs (vendor
//     extensions) are not decoded and therefore not forwarded.
//   - Stream translators emit each output as soon as its input arrives and
//     hand the emit callback a value (or bytes) that is only valid during the
//     call, so the steady state reuses buffers instead of allocating per event.
package provider

import (
	"errors"
	"fmt"
)

// UnsupportedError reports a request feature the chosen upstream format
// cannot express. Feature names the request field ("n", "tools[1].type",
// "response_format") so a client can tell what to remove.
type UnsupportedError struct {
	Feature string
	Reason  string // optional detail, safe to show to the client
}

func (e *UnsupportedError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("unsupported for this upstream: %s: %s", e.Feature, e.Reason)
	}
	return "unsupported for this upstream: " + e.Feature
}

// Unsupported returns an *UnsupportedError for feature.
func Unsupported(feature, reason string) error {
	return &UnsupportedError{Feature: feature, Reason: reason}
}

// InvalidError reports a request that is malformed in a way only translation
// notices (tool call arguments that are not JSON, a tool result whose call id
// matches no tool call). The relay answers it with a 400.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return "invalid " + e.Field + ": " + e.Reason }

// Invalid returns an *InvalidError.
func Invalid(field, reason string) error { return &InvalidError{Field: field, Reason: reason} }

// StreamError is an error event sent by the upstream in the middle of a
// stream (Anthropic "error" events, for example). Type and Message come from
// the upstream and may be shown to the client.
type StreamError struct {
	Type    string
	Message string
	// Status is the HTTP status the error stands for, when the upstream
	// says (a throttling exception is a 429); 0 otherwise. Before anything
	// reached the client, the scheduler learns from it as from that status.
	Status int
}

func (e *StreamError) Error() string { return "upstream stream error: " + e.Type + ": " + e.Message }

// ClientErrorField is the request field a client error names ("n",
// "tools[1].type"), for the param of the 400; "" for another error or a
// field as vague as "body".
func ClientErrorField(err error) string {
	if u, ok := errors.AsType[*UnsupportedError](err); ok {
		return u.Feature
	}
	if i, ok := errors.AsType[*InvalidError](err); ok && i.Field != "body" {
		return i.Field
	}
	return ""
}

// IsClientError reports whether err is a translation error that is the
// client's to fix (and so must not be retried on another upstream).
func IsClientError(err error) bool {
	var u *UnsupportedError
	var i *InvalidError
	return errors.As(err, &u) || errors.As(err, &i)
}
