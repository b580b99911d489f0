package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/jsonscan"
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
	// bearer: auth is the Bearer token, which NewChatRequest sets itself
	// without Header.Set's allocation.
	bearer bool
	urls   urlCache // u.url's answers, parsed
}

var _ relay.ChatAdapter = (*Upstream)(nil)

// NewUpstream returns the adapter for "openai" channels: {base}/v1/chat/completions
// (a base URL already ending in /v1 is not doubled) with a Bearer token.
func NewUpstream() *Upstream {
	var urls sync.Map // base URL → ChatURL(base), made once rather than per request
	u := NewUpstreamWith(
		func(t *relay.Target, _ *relay.ChatCall) string {
			base := t.Channel.BaseURL
			if v, ok := urls.Load(base); ok {
				return v.(string)
			}
			u := ChatURL(base)
			urls.Store(base, u) // as many as channels' base URLs ever were
			return u
		},
		func(h http.Header, secret string) { h.Set("Authorization", "Bearer "+secret) },
	)
	u.bearer = true
	return u
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
	target, err := u.urls.parse(u.url(t, call))
	if err != nil {
		return nil, fmt.Errorf("build chat request: %w", err)
	}
	req, parts := newPost(ctx, target, body)
	req.Header["Content-Type"] = parts.value(0, "application/json")
	if call.Stream {
		req.Header["Accept"] = parts.value(1, "text/event-stream")
	}
	if secret := t.Secret(); secret != "" {
		// A keyless local server's credential has no key, and some of
		// them refuse an Authorization header they cannot check.
		if u.bearer {
			req.Header["Authorization"] = parts.value(2, "Bearer "+secret)
		} else {
			u.auth(req.Header, secret)
		}
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
		var q [64]byte // the quoted name, on the stack: SetMember copies it
		if body, err = SetMember(body, "model", jsonw.String(q[:0], upstream)); err != nil {
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
	if !jsonscan.Valid(body) {
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
	var q [64]byte // the quoted name, on the stack: SetMember copies it
	out, err := SetMember(body, "model", jsonw.String(q[:0], call.Model))
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

// chunkMembers are the top-level members of a chunk Feed reads: choices,
// usage and model, in that order.
var chunkMembers = []string{"choices", "usage", "model"}

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
	// it after the gateway charged a complete answer. The same pass finds
	// the members the relay reads, without allocating.
	var m [3][2]int
	if !jsonscan.Members(data, chunkMembers, m[:]) {
		return ErrMalformedChunk
	}
	if !s.finished && bytes.Contains(data, finishMarker) {
		s.finished = true
	}
	choices, usage, model := m[0], m[1], m[2]
	noChoices := choices[1] != 0 && isEmptyArray(data[choices[0]:choices[1]])
	if us, ue := usage[0], usage[1]; ue != 0 && data[us] == '{' {
		if cu, err := decodeUsage(data[us:ue]); err == nil {
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
	ms, me := model[0], model[1]
	if me == 0 {
		return emit(data) // not ours to judge: an error event, or a server's extension
	}
	if bytes.Equal(data[ms:me], s.model) {
		return emit(data) // already the client's name: no copy
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
