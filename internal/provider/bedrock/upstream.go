// Package bedrock speaks AWS Bedrock's Converse and ConverseStream APIs for
// "bedrock" channels: chat requests translate to Converse through the
// OpenAI chat pivot (see package provider), are signed with SigV4 using the
// credential's access key, and ConverseStream's AWS event stream is decoded
// message by message (internal/eventstream) into chat chunks, so that
// Responses and Anthropic Messages clients are served through the same
// translation.
//
// A credential's secret is "ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]"
// (sigv4.ParseKey); the channel's region names the signing scope and, by
// default, the endpoint.
//
// Throttling and quota errors (ThrottlingException,
// ServiceQuotaExceededException, ModelNotReadyException), whether answered
// as an HTTP status or as an exception inside the stream, reach the
// scheduler as a 429, so it rests the credential and fails over.
package bedrock

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/eventstream"
	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/sigv4"
	"github.com/switchyard/switchyard/internal/sse"
)

// Service is the SigV4 signing name of the Bedrock runtime.
const Service = "bedrock"

// Upstream relays OpenAI chat requests to Converse.
type Upstream struct{}

var (
	_ relay.ChatAdapter  = Upstream{}
	_ relay.StreamFramer = Upstream{}
	_ relay.ErrorReader  = Upstream{}
)

// NewUpstream returns the adapter for "bedrock" channels.
func NewUpstream() Upstream { return Upstream{} }

// ConverseURL is {base}/model/{modelId}/converse (or converse-stream).
func ConverseURL(base, model string, stream bool) (*url.URL, error) {
	if stream {
		return modelURL(base, model, "converse-stream")
	}
	return modelURL(base, model, "converse")
}

// modelURL is {base}/model/{modelId}/{op}, with the model id encoded as one
// path segment: ids carry ':' ("…-v1:0") and ARNs '/'.
func modelURL(base, model, op string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil {
		return nil, fmt.Errorf("parse base_url: %w", err)
	}
	basePath, baseRaw := u.Path, u.EscapedPath()
	u.Path = basePath + "/model/" + model + "/" + op
	u.RawPath = baseRaw + "/model/" + sigv4.URIEncode(model, true) + "/" + op
	return u, nil
}

// NewChatRequest implements relay.ChatAdapter.
func (Upstream) NewChatRequest(ctx context.Context, t *relay.Target, call *relay.ChatCall) (*http.Request, error) {
	req, err := openai.DecodeChat(call.Body)
	if err != nil {
		return nil, err
	}
	cr, err := FromChat(req, call.UpstreamModel)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(cr)
	if err != nil {
		return nil, fmt.Errorf("encode converse request: %w", err)
	}
	return NewRequest(ctx, t.Channel, t.Secret(), call.UpstreamModel, call.Stream, body)
}

// NewRequest builds and signs a Converse (or ConverseStream) request with
// body for model on ch, signed with key (sigv4.ParseKey's form).
func NewRequest(ctx context.Context, ch *config.Channel, key, model string, stream bool, body []byte) (*http.Request, error) {
	op := "converse"
	if stream {
		op = "converse-stream"
	}
	return newSigned(ctx, ch, key, model, op, body)
}

// newSigned builds the signed POST of body to op of model on ch.
func newSigned(ctx context.Context, ch *config.Channel, key, model, op string, body []byte) (*http.Request, error) {
	creds, err := sigv4.ParseKey(key)
	if err != nil {
		return nil, fmt.Errorf("bedrock credential: %w", err)
	}
	u, err := modelURL(ch.BaseURL, model, op)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build %s request: %w", op, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if op == "converse-stream" {
		hr.Header.Set("Accept", "application/vnd.amazon.eventstream")
	} else {
		hr.Header.Set("Accept", "application/json")
	}
	sigv4.Signer{Service: Service, Region: region(ch)}.Sign(hr, creds, sigv4.PayloadHash(body), time.Now())
	return hr, nil
}

// region is the channel's region, or the one in a default endpoint's host
// for a channel stored before it had one.
func region(ch *config.Channel) string {
	if ch.Region != "" {
		return ch.Region
	}
	host := strings.TrimPrefix(ch.BaseURL, "https://bedrock-runtime.")
	r, _, _ := strings.Cut(host, ".")
	return r
}

// ChatResponse implements relay.ChatAdapter.
func (Upstream) ChatResponse(body []byte, call *relay.ChatCall) ([]byte, relay.Usage, error) {
	var cr ConverseResponse
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, relay.Usage{}, fmt.Errorf("decode converse response: %w", err)
	}
	return openai.ChatResponseJSON(ToChatResponse(&cr, call.Model, call.SignedReasoning))
}

// NewChatStream implements relay.ChatAdapter.
func (Upstream) NewChatStream(call *relay.ChatCall) relay.ChatStream {
	s := NewStreamToChat(call.Model, call.IncludeUsage)
	if call.SignedReasoning {
		s.WithSignedReasoning()
	}
	return openai.NewChunkStream(s)
}

// NewEventReader implements relay.StreamFramer.
func (Upstream) NewEventReader(body io.Reader) relay.EventReader { return NewEventReader(body) }

// EventReader reads ConverseStream's event-stream messages as events: an
// event is named by its :event-type with its JSON payload as data; an
// exception is named ExceptionEvent plus its :exception-type, an error
// message ExceptionEvent plus its :error-code (with {"message"} data).
type EventReader struct {
	r   *eventstream.Reader
	buf []byte
}

// NewEventReader returns an EventReader over a ConverseStream body.
func NewEventReader(body io.Reader) *EventReader {
	return &EventReader{r: eventstream.NewReader(body, 0)}
}

// Next implements relay.EventReader.
func (e *EventReader) Next() (sse.Event, error) {
	m, err := e.r.Next()
	if err != nil {
		return sse.Event{}, err
	}
	switch mt := m.Header(":message-type"); mt {
	case "event":
		return sse.Event{Name: m.Header(":event-type"), Data: m.Payload}, nil
	case "exception":
		return sse.Event{Name: ExceptionEvent + m.Header(":exception-type"), Data: m.Payload}, nil
	case "error":
		e.buf, _ = json.Marshal(struct {
			Message string `json:"message"`
		}{m.Header(":error-message")})
		return sse.Event{Name: ExceptionEvent + m.Header(":error-code"), Data: e.buf}, nil
	default:
		return sse.Event{}, fmt.Errorf("bedrock stream: message type %q", mt)
	}
}

// EventReady implements relay.EventReader.
func (e *EventReader) EventReady() bool { return e.r.Buffered() }

// ReadError implements relay.ErrorReader. Bedrock answers errors as
// {"message":"…"} with the exception's name in x-amzn-ErrorType
// ("ThrottlingException:http://internal.amazon.com/…").
func (Upstream) ReadError(status int, h http.Header, body []byte) (int, relay.UpstreamError) {
	typ, _, _ := strings.Cut(h.Get("X-Amzn-Errortype"), ":")
	var e struct {
		Message      string `json:"message"`
		MessageUpper string `json:"Message"`
		Type         string `json:"__type"`
	}
	_ = json.Unmarshal(body, &e)
	if typ == "" {
		// JSON protocol errors name it in __type ("…#ThrottlingException").
		typ = e.Type[strings.LastIndexByte(e.Type, '#')+1:]
	}
	out := relay.UpstreamError{Type: typ, Code: typ, Message: e.Message}
	if out.Message == "" {
		out.Message = e.MessageUpper
	}
	if s := ExceptionStatus(typ); s == http.StatusTooManyRequests {
		status = s
	}
	return status, out
}
