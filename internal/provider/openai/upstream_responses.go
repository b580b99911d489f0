package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/switchyard/switchyard/internal/jsonw"
	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/sse"
)

// Responses API relaying. An OpenAI-shaped upstream (OpenAI, Azure's v1
// surface) gets the client's body with at most the model renamed, and its
// events are relayed as they arrive with their event names. Any other
// upstream is reached through the chat pivot: ResponsesToChat, the channel's
// chat adapter, then ChatToResponse or ChatToResponsesStream.

// ResponsesUpstream is the Responses passthrough for one URL layout.
type ResponsesUpstream struct {
	URL  func(t *relay.Target) string
	Auth func(h http.Header, secret string)
}

// NewResponsesUpstream returns the passthrough for "openai" channels:
// {base}/v1/responses with a Bearer token.
func NewResponsesUpstream() *ResponsesUpstream {
	return &ResponsesUpstream{
		URL:  func(t *relay.Target) string { return EndpointURL(t.Channel.BaseURL, "responses") },
		Auth: bearer,
	}
}

// NewRequest builds the upstream request from the client's body.
func (u *ResponsesUpstream) NewRequest(ctx context.Context, t *relay.Target, body []byte, asked, upstream string, stream bool) (*http.Request, error) {
	body, err := EditChatBody(body, asked, upstream, false) // no stream_options in Responses
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.URL(t), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build responses request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	u.Auth(req.Header, t.Secret())
	return req, nil
}

// Response passes a Response object on with its model set to the client's
// name, reading its usage.
func (u *ResponsesUpstream) Response(body []byte, model string) ([]byte, relay.Usage, error) {
	var head struct {
		Usage *ResponseUsage `json:"usage"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return nil, relay.Usage{}, fmt.Errorf("decode response: %w", err)
	}
	var q [64]byte // the quoted name, on the stack: SetMember copies it
	out, err := SetMember(body, "model", jsonw.String(q[:0], model))
	if err != nil {
		return nil, relay.Usage{}, fmt.Errorf("set model: %w", err)
	}
	return out, responsesRelayUsage(head.Usage), nil
}

func responsesRelayUsage(u *ResponseUsage) relay.Usage {
	if u == nil {
		return relay.Usage{}
	}
	return relay.Usage{
		PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens,
		CachedTokens: u.InputTokensDetails.CachedTokens, ReasoningTokens: u.OutputTokensDetails.ReasoningTokens,
	}
}

// NewStream returns the passthrough translator. rename is false when the
// upstream already uses the client's model name, which spares a scan of
// every lifecycle event.
func (u *ResponsesUpstream) NewStream(model string, rename bool) relay.EventStream {
	s := &responsesPassthrough{}
	if rename {
		s.model = jsonw.String(nil, model)
	}
	return s
}

// ErrResponsesTruncated is returned by a Responses stream that ended before
// its terminal event.
var ErrResponsesTruncated = errors.New("responses stream ended before response.completed")

// ResponsesAbort is the error event sent when a committed Responses stream
// cannot finish; the SDKs raise it as an error.
var ResponsesAbort = []byte(`{"type":"error","code":"upstream_error","message":"The upstream stream ended unexpectedly.","param":null}`)

type responsesPassthrough struct {
	model    []byte
	buf      []byte
	usage    relay.Usage
	terminal bool
}

// lifecycleTypes are the events that carry a whole response: the ones
// whose model is renamed and, when terminal, whose usage is read.
var lifecycleTypes = map[string]bool{
	"response.created": false, "response.in_progress": false, "response.queued": false,
	"response.completed": true, "response.incomplete": true, "response.failed": true,
}

func (s *responsesPassthrough) Feed(ev sse.Event, emit func(string, []byte) error) error {
	data := ev.Data
	if len(data) == 0 {
		return nil
	}
	// The top-level type decides; a nested "type" (an item's, a format's)
	// must not be mistaken for it.
	ts, te, ok, err := FindMember(data, "type")
	if err != nil || !ok || te-ts < 2 || data[ts] != '"' {
		return emit(ev.Name, data)
	}
	typ := string(data[ts+1 : te-1])
	terminal, lifecycle := lifecycleTypes[typ]
	if typ == "error" {
		terminal = true
	}
	if terminal {
		s.terminal = true
	}
	if !lifecycle {
		return emit(ev.Name, data)
	}
	rs, re, ok, err := FindMember(data, "response")
	if err != nil || !ok || data[rs] != '{' {
		return emit(ev.Name, data)
	}
	if terminal {
		var r struct {
			Usage *ResponseUsage `json:"usage"`
		}
		if json.Unmarshal(data[rs:re], &r) == nil && r.Usage != nil {
			s.usage = responsesRelayUsage(r.Usage)
		}
	}
	if s.model == nil {
		return emit(ev.Name, data)
	}
	ms, me, ok, err := FindMember(data[rs:re], "model")
	if err != nil || !ok {
		return emit(ev.Name, data)
	}
	s.buf = append(s.buf[:0], data[:rs+ms]...)
	s.buf = append(s.buf, s.model...)
	s.buf = append(s.buf, data[rs+me:]...)
	return emit(ev.Name, s.buf)
}

func (s *responsesPassthrough) Finish(func(string, []byte) error) error {
	if !s.terminal {
		return ErrResponsesTruncated
	}
	return nil
}

func (s *responsesPassthrough) Usage() relay.Usage { return s.usage }

func (s *responsesPassthrough) Abort() (string, []byte) { return "error", ResponsesAbort }

// ResponsesChatCall decodes a client Responses body and translates it into
// the chat call a chat adapter serves. The returned request keeps the
// client's model name for the answer.
func ResponsesChatCall(body []byte, requestID, asked, upstream string) (*ResponsesRequest, *relay.ChatCall, error) {
	req, call, _, err := ResponsesChatCallDropping(body, requestID, asked, upstream, false, WebSearchAlways)
	return req, call, err
}

// WebSearchSupport is how a chat adapter runs chat's web_search_options.
type WebSearchSupport uint8

const (
	// NoWebSearch: the upstream has no search of its own.
	NoWebSearch WebSearchSupport = iota
	// WebSearchAlways: every web search tool (anthropic's web_search).
	WebSearchAlways
	// WebSearchAlone: only without function tools and domain filters
	// (Gemini's Google Search, which models before Gemini 3 cannot combine
	// with function calling and which takes no domain list).
	WebSearchAlone
)

// searchAlone reports whether the request's web search is its only tool
// and names no domains.
func (r *ResponsesRequest) searchAlone() bool {
	for _, t := range r.Tools {
		switch {
		case t.Type == "function" || t.Type == "namespace":
			return false
		case IsWebSearch(t.Type) && t.Filters != nil && len(t.Filters.AllowedDomains) > 0:
			return false
		}
	}
	return true
}

// ResponsesChatCallDropping is ResponsesChatCall that, when drop is set,
// first removes the hosted tools chat cannot carry (DropHostedTools)
// instead of refusing them, and reports what it removed. ws says whether
// the adapter runs a web search of its own: a web_search tool is then
// kept, as chat's web_search_options, rather than dropped or refused.
func ResponsesChatCallDropping(body []byte, requestID, asked, upstream string, drop bool, ws WebSearchSupport) (*ResponsesRequest, *relay.ChatCall, []string, error) {
	return ResponsesChatCallFor(body, requestID, asked, upstream, drop, false, ws)
}

// ResponsesChatCallFor is ResponsesChatCallDropping that, with signed, also
// sends the reasoning items the gateway signed (responses_reasoning.go)
// back as the pivot's reasoning_blocks, for an upstream that takes them
// (Bedrock).
func ResponsesChatCallFor(body []byte, requestID, asked, upstream string, drop, signed bool, ws WebSearchSupport) (*ResponsesRequest, *relay.ChatCall, []string, error) {
	var req ResponsesRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, nil, provider.Invalid("body", err.Error())
	}
	req.Model, req.signed = asked, signed
	webSearch := ws == WebSearchAlways || ws == WebSearchAlone && req.searchAlone()
	var dropped []string
	if drop {
		dropped = req.DropHostedTools(webSearch)
	}
	if !webSearch {
		for i, t := range req.Tools {
			if IsWebSearch(t.Type) {
				return nil, nil, nil, provider.Unsupported(fmt.Sprintf("tools[%d].type", i), t.Type+" is a hosted tool of OpenAI")
			}
		}
	}
	cr, err := ResponsesToChat(&req)
	if err != nil {
		return nil, nil, nil, err
	}
	cr.Model, cr.Stream = upstream, req.Stream
	if req.Stream {
		cr.StreamOptions = &StreamOptions{IncludeUsage: true}
	}
	cb, err := json.Marshal(cr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encode chat request: %w", err)
	}
	return &req, &relay.ChatCall{
		RequestID: requestID, Body: cb, Model: asked, UpstreamModel: upstream,
		Stream: req.Stream, IncludeUsage: req.Stream, SignedReasoning: true,
	}, dropped, nil
}

// ChatBodyToResponse turns a chat adapter's OpenAI chat completion JSON into
// a Response object for req.
func ChatBodyToResponse(chat []byte, req *ResponsesRequest) ([]byte, error) {
	var cr ChatResponse
	if err := json.Unmarshal(chat, &cr); err != nil {
		return nil, fmt.Errorf("decode translated chat response: %w", err)
	}
	out, err := json.Marshal(ChatToResponse(&cr, req))
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return out, nil
}

// NewResponsesFromChat returns an event stream that runs a chat adapter's
// stream translator and turns its chunks into Responses events.
func NewResponsesFromChat(chat relay.ChatStream, req *ResponsesRequest, responseID string) relay.EventStream {
	t := NewChatToResponsesStream(req.Model, responseID)
	t.SetRequest(req)
	return &responsesFromChat{chat: chat, t: t}
}

type responsesFromChat struct {
	chat  relay.ChatStream
	t     *ChatToResponsesStream
	emit  func(string, []byte) error
	chunk ChatChunk
}

func (s *responsesFromChat) onChunk(b []byte) error {
	s.chunk = ChatChunk{}
	if err := json.Unmarshal(b, &s.chunk); err != nil {
		return fmt.Errorf("decode translated chunk: %w", err)
	}
	return s.t.Feed(&s.chunk, s.emit)
}

func (s *responsesFromChat) Feed(ev sse.Event, emit func(string, []byte) error) error {
	s.emit = emit
	return s.chat.Feed(ev, s.onChunk)
}

func (s *responsesFromChat) Finish(emit func(string, []byte) error) error {
	s.emit = emit
	if err := s.chat.Finish(s.onChunk); err != nil {
		return err
	}
	return s.t.Finish(emit)
}

func (s *responsesFromChat) Usage() relay.Usage { return s.chat.Usage() }

func (s *responsesFromChat) Abort() (string, []byte) { return "error", ResponsesAbort }
