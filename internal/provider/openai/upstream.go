package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/jsonw"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/sse"
)

// Upstream relays OpenAI chat traffic to an OpenAI-compatible server. The
// client's body is passed through with two byte-level edits at most: the
// model name when the channel maps it, and stream_options.include_usage on
// streams, so that usage is always counted. Fields this package does not
// know reach the upstream untouched.
type Upstream struct {
	url  func(t *relay.Target, call *relay.ChatCall) string
	auth func(h http.Header, secret string)
}

var _ relay.ChatAdapter = (*Upstream)(nil)

// NewUpstream returns the adapter for "openai" channels: {base}/v1/chat/completions
// (a base URL already ending in /v1 is not doubled) with a Bearer token.
func NewUpstream() *Upstream {
	return NewUpstreamWith(
		func(t *relay.Target, _ *relay.ChatCall) string { return ChatURL(t.Channel.BaseURL) },
		func(h http.Header, secret string) { h.Set("Authorization", "Bearer "+secret) },
	)
}

// NewUpstreamWith returns an adapter for an OpenAI-shaped server with its
// own URL layout and auth header (Azure).
func NewUpstreamWith(url func(t *relay.Target, call *relay.ChatCall) string, auth func(h http.Header, secret string)) *Upstream {
	return &Upstream{url: url, auth: auth}
}

// ChatURL is the chat completions URL under an OpenAI base URL given with
// or without its /v1.
func ChatURL(base string) string {
	base = strings.TrimRight(base, "/")
	if strings.HasSuffix(base, "/v1") {
		return base + "/chat/completions"
	}
	return base + "/v1/chat/completions"
}

// NewChatRequest implements relay.ChatAdapter.
func (u *Upstream) NewChatRequest(ctx context.Context, t *relay.Target, call *relay.ChatCall) (*http.Request, error) {
	ch := t.Channel
	noStreamOptions := ch.HasQuirk(config.QuirkNoStreamOptions)
	body, err := EditChatBody(call.Body, call.Model, call.UpstreamModel, call.Stream && !noStreamOptions)
	if err != nil {
		return nil, err
	}
	if noStreamOptions || ch.HasQuirk(config.QuirkMaxTokens) {
		if body, err = applyQuirks(body, noStreamOptions, ch.HasQuirk(config.QuirkMaxTokens)); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.url(t, call), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build chat request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if call.Stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	if secret := t.Secret(); secret != "" {
		// A keyless local server's credential has no key, and some of
		// them refuse an Authorization header they cannot check.
		u.auth(req.Header, secret)
	}
	return req, nil
}

// applyQuirks edits a chat body for a server that rejects stream_options
// (removed: the relay counts the stream's usage with the tokenizer) or
// max_completion_tokens (sent as max_tokens). Only quirked channels pay
// for the decode into members, which keeps every member it does not edit
// as raw bytes.
func applyQuirks(body []byte, noStreamOptions, maxTokens bool) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("decode chat body for the channel's quirks: %w", err)
	}
	changed := false
	if _, ok := m["stream_options"]; ok && noStreamOptions {
		delete(m, "stream_options")
		changed = true
	}
	if v, ok := m["max_completion_tokens"]; ok && maxTokens {
		if _, both := m["max_tokens"]; !both {
			m["max_tokens"] = v
		}
		delete(m, "max_completion_tokens")
		changed = true
	}
	if !changed {
		return body, nil
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode chat body for the channel's quirks: %w", err)
	}
	return out, nil
}

var includeUsageTrue = []byte(`{"include_usage":true}`)

// EditChatBody applies the same-format edits to a client chat body: the
// model renamed when asked differs from upstream, and include_usage forced
// on for streams. An unchanged body is returned as is, without a copy.
func EditChatBody(body []byte, asked, upstream string, stream bool) ([]byte, error) {
	var err error
	if upstream != "" && upstream != asked {
		if body, err = SetMember(body, "model", jsonw.String(nil, upstream)); err != nil {
			return nil, fmt.Errorf("set model: %w", err)
		}
	}
	if !stream {
		return body, nil
	}
	s, e, ok, err := FindMember(body, "stream_options")
	if err != nil {
		return nil, fmt.Errorf("find stream_options: %w", err)
	}
	opts := includeUsageTrue
	if ok && body[s] == '{' {
		if opts, err = SetMember(body[s:e], "include_usage", []byte("true")); err != nil {
			return nil, fmt.Errorf("set stream_options.include_usage: %w", err)
		}
	}
	if body, err = SetMember(body, "stream_options", opts); err != nil {
		return nil, fmt.Errorf("set stream_options: %w", err)
	}
	return body, nil
}

// ChatResponse implements relay.ChatAdapter: the upstream JSON is passed on
// with its model member set back to the client's name. Only the usage
// member is decoded, without reflection in the common case: decoding the
// whole answer to find it cost ten allocations per request (json.Valid
// checks the rest without any).
func (u *Upstream) ChatResponse(body []byte, call *relay.ChatCall) ([]byte, relay.Usage, error) {
	if !json.Valid(body) {
		return nil, relay.Usage{}, fmt.Errorf("decode chat response: %w", errNotJSON)
	}
	s, e, ok, err := FindMember(body, "usage")
	if err != nil {
		return nil, relay.Usage{}, fmt.Errorf("decode chat response: %w", err)
	}
	var ru relay.Usage
	if ok {
		usage, err := decodeUsage(body[s:e])
		if err != nil {
			return nil, relay.Usage{}, fmt.Errorf("decode chat response usage: %w", err)
		}
		ru = RelayUsage(usage)
	}
	out, err := SetMember(body, "model", jsonw.String(nil, call.Model))
	if err != nil {
		return nil, relay.Usage{}, fmt.Errorf("set model: %w", err)
	}
	return out, ru, nil
}

// RelayUsage converts chat usage to the relay's terms.
func RelayUsage(u Usage) relay.Usage {
	return relay.Usage{
		PromptTokens:     u.PromptTokens,
		CompletionTokens: u.CompletionTokens,
		CachedTokens:     u.PromptTokensDetails.CachedTokens,
		ReasoningTokens:  u.CompletionTokensDetails.ReasoningTokens,
		WebSearches:      u.WebSearches,
	}
}

// NewChatStream implements relay.ChatAdapter.
func (u *Upstream) NewChatStream(call *relay.ChatCall) relay.ChatStream {
	return &passthroughStream{call: call, model: jsonw.String(nil, call.Model)}
}

// ErrStreamTruncated is returned by a passthrough stream that ended with
// neither [DONE] nor a finish reason.
var ErrStreamTruncated = errors.New("openai stream ended before [DONE]")

// ErrMalformedChunk is returned by a passthrough stream for a data line
// that is not JSON.
var ErrMalformedChunk = errors.New("openai stream sent a chunk that is not JSON")

// passthroughStream relays chunks as they are, with the model renamed, the
// usage read, and the usage-only chunk dropped when the client did not ask
// for it (the relay injected include_usage).
type passthroughStream struct {
	call     *relay.ChatCall
	model    []byte
	buf      []byte
	usage    relay.Usage
	done     bool
	finished bool
}

var (
	doneMarker   = []byte("[DONE]")
	finishMarker = []byte(`"finish_reason":"`)
)

func (s *passthroughStream) Feed(ev sse.Event, emit func([]byte) error) error {
	data := ev.Data
	if bytes.Equal(data, doneMarker) {
		s.done = true
		return nil
	}
	if len(data) == 0 {
		return nil
	}
	// The chunk goes to the client nearly as it came, so it is checked
	// first: a cut-off or garbled line must end the stream with an error
	// (and a retry while nothing was sent), not reach an SDK that fails on
	// it after the gateway charged a complete answer. json.Valid scans
	// without allocating.
	if !json.Valid(data) {
		return ErrMalformedChunk
	}
	if !s.finished && bytes.Contains(data, finishMarker) {
		s.finished = true
	}
	cs, ce, hasChoices, _ := FindMember(data, "choices")
	noChoices := hasChoices && isEmptyArray(data[cs:ce])
	if us, ue, ok, _ := FindMember(data, "usage"); ok && data[us] == '{' {
		var cu Usage
		if err := json.Unmarshal(data[us:ue], &cu); err == nil {
			s.usage = RelayUsage(cu)
		}
		if !s.call.IncludeUsage && noChoices {
			return nil
		}
	} else if noChoices {
		// Azure opens with a choices-less chunk carrying only its prompt
		// filter results (and no object or model): nothing a chat client
		// can use, and strict clients reject it.
		return nil
	}
	ms, me, ok, err := FindMember(data, "model")
	if err != nil || !ok {
		return emit(data) // not ours to judge: an error event, or a server's extension
	}
	s.buf = append(s.buf[:0], data[:ms]...)
	s.buf = append(s.buf, s.model...)
	s.buf = append(s.buf, data[me:]...)
	return emit(s.buf)
}

func (s *passthroughStream) Finish(func([]byte) error) error {
	if !s.done && !s.finished {
		return ErrStreamTruncated
	}
	return nil
}

func (s *passthroughStream) Usage() relay.Usage { return s.usage }

func isEmptyArray(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '[' && len(bytes.TrimSpace(b[1:len(b)-1])) == 0
}
