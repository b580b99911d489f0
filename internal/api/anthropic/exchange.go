package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/jsonw"
	"github.com/switchyard/switchyard/internal/provider"
	wire "github.com/switchyard/switchyard/internal/provider/anthropic"
	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/provider/vertex"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/sse"
	"github.com/switchyard/switchyard/internal/tokens"
)

// messagesExchange is one /v1/messages (or count_tokens) request. Attempts
// run one after another, so the per-attempt chat call needs no lock.
type messagesExchange struct {
	requestID   string
	body        []byte // the client's raw Messages body
	model       string
	stream      bool
	version     string
	beta        string
	countTokens bool

	chatBody []byte            // the chat translation, built on first need
	chatDrop bool              // chatBody was built dropping server tools
	chatSign bool              // chatBody keeps signed thinking (for bedrock)
	dropped  []string          // the server tools chatBody left out
	warnings []string          // the current attempt's (relay.Warner)
	chatCall *relay.ChatCall   // the current attempt's, for a chat-pivot target
	adapter  relay.ChatAdapter // the current attempt's channel adapter
	// passthrough: the current attempt's upstream takes the Messages body
	// itself (anthropic, or Claude on vertex).
	passthrough bool
}

var (
	_ relay.Exchange      = (*messagesExchange)(nil)
	_ relay.LocalFallback = (*messagesExchange)(nil)
	_ relay.Warner        = (*messagesExchange)(nil)
)

// Warnings implements relay.Warner: the server tools the current attempt's
// translation dropped.
func (x *messagesExchange) Warnings() []string { return droppedWarnings(x.warnings) }

// droppedWarnings phrases dropped tools for the X-Switchyard-Warning header.
func droppedWarnings(dropped []string) []string {
	out := make([]string, len(dropped))
	for i, d := range dropped {
		out[i] = "dropped " + d + ": this upstream cannot run it"
	}
	return out
}

// isPassthrough reports whether upstreamModel on t speaks Messages.
func isPassthrough(t *relay.Target, upstreamModel string) bool {
	return t.Channel.Type == "anthropic" || t.Channel.Type == "vertex" && vertex.IsAnthropic(upstreamModel)
}

// Accepts implements relay.Exchange: count_tokens needs an Anthropic upstream.
func (x *messagesExchange) Accepts(typ string) bool {
	return !x.countTokens || typ == "anthropic"
}

// NewRequest implements relay.Exchange.
func (x *messagesExchange) NewRequest(ctx context.Context, t *relay.Target, adapter relay.ChatAdapter, upstreamModel string) (*http.Request, error) {
	x.passthrough = isPassthrough(t, upstreamModel)
	if x.passthrough {
		x.warnings = nil
		if t.Channel.Type == "vertex" {
			return vertex.NewMessagesRequest(ctx, t, upstreamModel, x.body, x.stream, x.beta)
		}
		return x.passthroughRequest(ctx, t, upstreamModel)
	}
	x.warnings = nil
	// Bedrock serves Claude and takes the earlier turns' signed thinking
	// back (it needs it while tools are in use); to any other pivot
	// upstream it is meaningless and stays out of the chat body.
	sign := t.Channel.Type == "bedrock"
	if drop := t.Channel.DropsHostedTools(); x.chatBody == nil || drop != x.chatDrop || sign != x.chatSign {
		cr, dropped, err := toChat(x.body, drop, sign)
		if err != nil {
			return nil, err
		}
		if x.chatBody, err = json.Marshal(cr); err != nil {
			return nil, fmt.Errorf("encode chat translation: %w", err)
		}
		x.chatDrop, x.chatSign, x.dropped = drop, sign, dropped
	}
	x.warnings = x.dropped
	x.chatCall = &relay.ChatCall{
		RequestID: x.requestID, Body: x.chatBody, Model: x.model, UpstreamModel: upstreamModel,
		Stream: x.stream, IncludeUsage: x.stream, SignedReasoning: true,
	}
	x.adapter = adapter
	return adapter.NewChatRequest(ctx, t, x.chatCall)
}

func (x *messagesExchange) passthroughRequest(ctx context.Context, t *relay.Target, upstreamModel string) (*http.Request, error) {
	body := x.body
	if upstreamModel != x.model {
		var err error
		if body, err = openai.SetMember(body, "model", jsonw.String(nil, upstreamModel)); err != nil {
			return nil, provider.Invalid("body", err.Error())
		}
	}
	url := wire.MessagesURL(t.Channel.BaseURL)
	if x.countTokens {
		url += "/count_tokens"
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build messages request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if x.stream {
		hr.Header.Set("Accept", "text/event-stream")
	}
	hr.Header.Set("x-api-key", t.Secret())
	hr.Header.Set("anthropic-version", x.version)
	if x.beta != "" {
		hr.Header.Set("anthropic-beta", x.beta)
	}
	return hr, nil
}

// Response implements relay.Exchange.
func (x *messagesExchange) Response(t *relay.Target, body []byte) ([]byte, relay.Usage, error) {
	if x.passthrough {
		var head struct {
			Usage *wire.Usage `json:"usage"`
		}
		if err := json.Unmarshal(body, &head); err != nil {
			return nil, relay.Usage{}, fmt.Errorf("decode messages response: %w", err)
		}
		var u relay.Usage
		if head.Usage != nil {
			u = relayUsage(*head.Usage)
		}
		if _, _, ok, _ := openai.FindMember(body, "model"); !ok {
			return body, u, nil // count_tokens answers carry no model
		}
		out, err := openai.SetMember(body, "model", jsonw.String(nil, x.model))
		if err != nil {
			return nil, relay.Usage{}, fmt.Errorf("set model: %w", err)
		}
		return out, u, nil
	}
	cb, u, err := x.adapter.ChatResponse(body, x.chatCall)
	if err != nil {
		return nil, u, err
	}
	var resp openai.ChatResponse
	if err := json.Unmarshal(cb, &resp); err != nil {
		return nil, u, fmt.Errorf("decode chat translation: %w", err)
	}
	msg := wire.FromChatResponse(&resp, x.model)
	if u.Unreported() {
		var texts []string
		for _, b := range msg.Content {
			texts = append(texts, b.Text, b.Thinking, string(b.Input))
		}
		u = relay.EstimateUsage(x.enc(), relay.ChatPromptTokens(x.enc(), x.chatBody), texts...)
		msg.Usage.InputTokens, msg.Usage.OutputTokens = u.PromptTokens, u.CompletionTokens
	}
	out, err := json.Marshal(msg)
	if err != nil {
		return nil, u, fmt.Errorf("encode message: %w", err)
	}
	return out, u, nil
}

// NewStream implements relay.Exchange.
func (x *messagesExchange) NewStream(t *relay.Target) relay.EventStream {
	if x.passthrough {
		return &passthroughStream{model: jsonw.String(nil, x.model)}
	}
	st := &pivotStream{chat: x.adapter.NewChatStream(x.chatCall), msgs: wire.NewChatStreamToMessages(x.model)}
	// OpenAI-shaped upstreams may report no usage: count it (see
	// relay.CountUsage) and put it into message_delta.
	return relay.CountUsage(st, relay.UsageCounter{
		Encoding: x.enc(),
		Text: func(event string, data []byte, write func(string)) {
			if event == "content_block_delta" {
				relay.JSONStrings(data, write, deltaKeys...)
			}
		},
		Prompt: func() int { return relay.ChatPromptTokens(x.enc(), x.chatBody) },
		Emit: func(event string, data []byte, usage func() relay.Usage, emit func(string, []byte) error) error {
			if event == "message_delta" {
				u := usage()
				uj, err := json.Marshal(wire.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens})
				if err == nil {
					if out, err := openai.SetMember(data, "usage", uj); err == nil {
						data = out
					}
				}
			}
			return emit(event, data)
		},
	})
}

// deltaKeys are the members of a content_block_delta holding completion text.
var deltaKeys = [][]byte{[]byte(`"text":"`), []byte(`"partial_json":"`), []byte(`"thinking":"`)}

// enc is the tokenizer for the current pivot attempt's upstream model.
func (x *messagesExchange) enc() tokens.Encoding {
	return tokens.ForModel(x.chatCall.UpstreamModel)
}

// toChat decodes a Messages body and translates it to a chat request.
// toChat translates a Messages body for a chat-pivot upstream; with drop,
// server tools are removed (and reported) rather than refused.
func toChat(body []byte, drop, signed bool) (*openai.ChatRequest, []string, error) {
	var req wire.MessagesRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, provider.Invalid("body", err.Error())
	}
	var dropped []string
	if drop {
		dropped = req.DropServerTools()
	}
	if signed {
		cr, err := wire.ToChatRequestSigned(&req)
		return cr, dropped, err
	}
	cr, err := wire.ToChatRequest(&req)
	return cr, dropped, err
}

// relayUsage converts Anthropic usage (input excludes cache reads and
// writes) to the relay's prompt-inclusive terms.
func relayUsage(u wire.Usage) relay.Usage {
	return relay.Usage{
		PromptTokens:     u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		CompletionTokens: u.OutputTokens,
		CachedTokens:     u.CacheReadInputTokens,
		WebSearches:      webSearches(u),
	}
}

// webSearches is the web searches Anthropic bills apart from tokens.
func webSearches(u wire.Usage) int {
	if u.ServerToolUse == nil {
		return 0
	}
	return u.ServerToolUse.WebSearchRequests
}

// EstimateHeader marks a count_tokens answer the gateway counted itself
// with the OpenAI tokenizer rather than one the upstream counted.
const EstimateHeader = "X-Switchyard-Token-Count"

// Fallback implements relay.LocalFallback: an Anthropic-compatible upstream
// without count_tokens (404, 405) gets the local count instead of a 502.
func (x *messagesExchange) Fallback(_ *relay.Target, status int, h http.Header) ([]byte, bool) {
	if !x.countTokens || (status != http.StatusNotFound && status != http.StatusMethodNotAllowed) {
		return nil, false
	}
	out, err := localCount(x.body)
	if err != nil {
		return nil, false // the upstream's failure stands
	}
	h.Set(EstimateHeader, "estimated")
	return out, true
}

// localCount is the count_tokens answer for body, counted locally.
func localCount(body []byte) ([]byte, error) {
	n, err := countLocal(body)
	if err != nil {
		return nil, err
	}
	out, _ := json.Marshal(struct {
		InputTokens int `json:"input_tokens"`
	}{n})
	return out, nil
}

// countLocal counts a Messages body's input with the OpenAI tokenizer on its
// chat translation, for models no Anthropic channel serves.
func countLocal(body []byte) (int, error) {
	// Server tools are not function definitions to count; an upstream that
	// ran them would count them its own way.
	cr, _, err := toChat(body, true, false)
	if err != nil {
		return 0, invalid(err)
	}
	msgs, err := json.Marshal(cr.Messages)
	if err != nil {
		return 0, fmt.Errorf("encode messages: %w", err)
	}
	var tools []byte
	if len(cr.Tools) > 0 {
		if tools, err = json.Marshal(cr.Tools); err != nil {
			return 0, fmt.Errorf("encode tools: %w", err)
		}
	}
	n, err := tokens.ForModel(cr.Model).CountChatJSON(msgs, tools)
	if err != nil {
		return 0, fmt.Errorf("count tokens: %w", err)
	}
	return n, nil
}

// passthroughStream relays Anthropic events as they are, with the model of
// message_start set back to the client's name, reading usage on the way.
type passthroughStream struct {
	model   []byte
	buf     []byte
	usage   wire.Usage
	stopped bool
}

var errTruncated = errors.New("anthropic stream ended before message_stop")

func (s *passthroughStream) Feed(ev sse.Event, emit func(string, []byte) error) error {
	name := ev.Name
	switch name {
	case "message_start":
		var e wire.StreamEvent
		if err := json.Unmarshal(ev.Data, &e); err == nil && e.Message != nil {
			s.usage = e.Message.Usage
		}
		if ms, me, ok, _ := openai.FindMember(ev.Data, "message"); ok {
			if out, err := openai.SetMember(ev.Data[ms:me], "model", s.model); err == nil {
				s.buf = append(append(append(s.buf[:0], ev.Data[:ms]...), out...), ev.Data[me:]...)
				return emit(name, s.buf)
			}
		}
	case "message_delta":
		var e wire.StreamEvent
		if err := json.Unmarshal(ev.Data, &e); err == nil && e.Usage != nil {
			// message_delta usage is cumulative; input counts appear only
			// when the upstream revises them.
			s.usage.OutputTokens = e.Usage.OutputTokens
			if e.Usage.InputTokens > 0 {
				s.usage.InputTokens = e.Usage.InputTokens
			}
			if e.Usage.CacheReadInputTokens > 0 {
				s.usage.CacheReadInputTokens = e.Usage.CacheReadInputTokens
			}
			if e.Usage.CacheCreationInputTokens > 0 {
				s.usage.CacheCreationInputTokens = e.Usage.CacheCreationInputTokens
			}
			if e.Usage.ServerToolUse != nil {
				s.usage.ServerToolUse = e.Usage.ServerToolUse
			}
		}
	case "message_stop":
		s.stopped = true
	case "error":
		var e wire.StreamEvent
		if err := json.Unmarshal(ev.Data, &e); err == nil && e.Error != nil {
			return &provider.StreamError{Type: e.Error.Type, Message: e.Error.Message}
		}
		return &provider.StreamError{Type: "api_error", Message: "upstream error event"}
	}
	return emit(name, ev.Data)
}

func (s *passthroughStream) Finish(func(string, []byte) error) error {
	if !s.stopped {
		return errTruncated
	}
	return nil
}

func (s *passthroughStream) Usage() relay.Usage { return relayUsage(s.usage) }

func (s *passthroughStream) Abort() (string, []byte) { return "error", streamAbort }

// streamAbort is Anthropic's error event; the SDKs raise it.
var streamAbort = []byte(`{"type":"error","error":{"type":"api_error","message":"The upstream stream ended unexpectedly."}}`)

// pivotStream runs the channel's chat stream translator, then turns each
// chat chunk into Messages events.
type pivotStream struct {
	chat relay.ChatStream
	msgs *wire.ChatStreamToMessages
}

func (s *pivotStream) chunks(emit func(string, []byte) error) func([]byte) error {
	return func(data []byte) error {
		var c openai.ChatChunk
		if err := json.Unmarshal(data, &c); err != nil {
			return fmt.Errorf("decode chat chunk: %w", err)
		}
		if c.Object == "" && len(c.Choices) == 0 && c.Usage == nil {
			return nil // an error payload or an extension: nothing a Message holds
		}
		return s.msgs.Feed(&c, emit)
	}
}

func (s *pivotStream) Feed(ev sse.Event, emit func(string, []byte) error) error {
	return s.chat.Feed(ev, s.chunks(emit))
}

func (s *pivotStream) Finish(emit func(string, []byte) error) error {
	if err := s.chat.Finish(s.chunks(emit)); err != nil {
		return err
	}
	return s.msgs.Finish(emit)
}

func (s *pivotStream) Usage() relay.Usage { return s.chat.Usage() }

func (s *pivotStream) Abort() (string, []byte) { return "error", streamAbort }

// invalid turns a translation error the client must fix into a 400.
func invalid(err error) error {
	if provider.IsClientError(err) {
		return fmt.Errorf("%w: %w", apierror.InvalidRequest(err.Error(), provider.ClientErrorField(err)), err)
	}
	return err
}
