// Package vertex adapts Google Vertex AI: Gemini models under
// publishers/google and Claude under publishers/anthropic. The wire formats
// are Gemini's and Anthropic's, so the translations of internal/provider/gemini
// and internal/provider/anthropic do the work; this package knows the URL
// layout, the Anthropic-on-Vertex body differences (model in the URL,
// anthropic_version in the body) and the service-account token exchange
// (token.go). The access token itself is kept, shared and renewed by the
// pool like any OAuth credential's.
package vertex

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/anthropic"
	"github.com/switchyard/switchyard/internal/provider/gemini"
	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
)

// AnthropicVersion is the anthropic_version Vertex requires in the body.
const AnthropicVersion = "vertex-2023-10-16"

// Upstream relays OpenAI chat requests to Vertex AI, choosing the publisher
// by the upstream model name.
type Upstream struct{}

var _ relay.ChatAdapter = Upstream{}

// NewUpstream returns the adapter for "vertex" channels.
func NewUpstream() Upstream { return Upstream{} }

// IsAnthropic reports whether model is served by publishers/anthropic.
func IsAnthropic(model string) bool { return strings.HasPrefix(strings.ToLower(model), "claude") }

// ModelURL is {base}/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}.
func ModelURL(ch *config.Channel, model, method string) string {
	base := strings.TrimSuffix(strings.TrimRight(ch.BaseURL, "/"), "/v1")
	if base == "" {
		base = config.VertexBaseURL(ch.Location)
	}
	publisher := "google"
	if IsAnthropic(model) {
		publisher = "anthropic"
	}
	return base + "/v1/projects/" + url.PathEscape(ch.Project) + "/locations/" + url.PathEscape(ch.Location) +
		"/publishers/" + publisher + "/models/" + url.PathEscape(model) + ":" + method
}

// GenerateURL is the Gemini generateContent URL, or the SSE stream's.
func GenerateURL(ch *config.Channel, model string, stream bool) string {
	if stream {
		return ModelURL(ch, model, "streamGenerateContent") + "?alt=sse"
	}
	return ModelURL(ch, model, "generateContent")
}

// PredictURL is the Anthropic rawPredict URL, or streamRawPredict's.
func PredictURL(ch *config.Channel, model string, stream bool) string {
	if stream {
		return ModelURL(ch, model, "streamRawPredict")
	}
	return ModelURL(ch, model, "rawPredict")
}

// messagesBody is a Messages request as Vertex takes it: the shallower
// Model field, empty and omitted, hides the embedded request's model.
type messagesBody struct {
	AnthropicVersion string `json:"anthropic_version"`
	*anthropic.MessagesRequest
	Model string `json:"model,omitempty"`
}

// NewChatRequest implements relay.ChatAdapter.
func (Upstream) NewChatRequest(ctx context.Context, t *relay.Target, call *relay.ChatCall) (*http.Request, error) {
	req, err := openai.DecodeChat(call.Body)
	if err != nil {
		return nil, err
	}
	req.Model, req.Stream = call.UpstreamModel, call.Stream
	var body []byte
	var target string
	if IsAnthropic(call.UpstreamModel) {
		msg, err := anthropic.FromChat(req)
		if err != nil {
			return nil, err
		}
		if body, err = json.Marshal(messagesBody{AnthropicVersion: AnthropicVersion, MessagesRequest: msg}); err != nil {
			return nil, fmt.Errorf("encode rawPredict request: %w", err)
		}
		target = PredictURL(t.Channel, call.UpstreamModel, call.Stream)
	} else {
		gr, err := gemini.FromChat(req)
		if err != nil {
			return nil, err
		}
		if body, err = json.Marshal(gr); err != nil {
			return nil, fmt.Errorf("encode generateContent request: %w", err)
		}
		target = GenerateURL(t.Channel, call.UpstreamModel, call.Stream)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build vertex request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if call.Stream {
		hr.Header.Set("Accept", "text/event-stream")
	}
	hr.Header.Set("Authorization", "Bearer "+t.Secret())
	return hr, nil
}

// ChatResponse implements relay.ChatAdapter.
func (Upstream) ChatResponse(body []byte, call *relay.ChatCall) ([]byte, relay.Usage, error) {
	if IsAnthropic(call.UpstreamModel) {
		return anthropic.Upstream{}.ChatResponse(body, call)
	}
	return gemini.Upstream{}.ChatResponse(body, call)
}

// NewChatStream implements relay.ChatAdapter.
func (Upstream) NewChatStream(call *relay.ChatCall) relay.ChatStream {
	if IsAnthropic(call.UpstreamModel) {
		return anthropic.Upstream{}.NewChatStream(call)
	}
	return gemini.Upstream{}.NewChatStream(call)
}

// NewMessagesRequest builds the rawPredict (or streamRawPredict) request
// for a client's own Messages body, for /v1/messages passed through to
// Claude on Vertex: the body's model is dropped (it is in the URL) and
// anthropic_version added; every other member goes through untouched.
func NewMessagesRequest(ctx context.Context, t *relay.Target, upstreamModel string, body []byte, stream bool, beta string) (*http.Request, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, provider.Invalid("body", "not a JSON object")
	}
	delete(m, "model")
	m["anthropic_version"] = json.RawMessage(`"` + AnthropicVersion + `"`)
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode rawPredict body: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, PredictURL(t.Channel, upstreamModel, stream), bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("build rawPredict request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if stream {
		hr.Header.Set("Accept", "text/event-stream")
	}
	hr.Header.Set("Authorization", "Bearer "+t.Secret())
	if beta != "" {
		hr.Header.Set("anthropic-beta", beta)
	}
	return hr, nil
}
