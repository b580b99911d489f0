package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
)

// APIVersion is the anthropic-version header sent upstream.
const APIVersion = "2023-06-01"

// Upstream relays OpenAI chat requests to the Messages API, translating both
// ways through the pivot types.
type Upstream struct{}

var _ relay.ChatAdapter = Upstream{}

// NewUpstream returns the adapter for "anthropic" channels.
func NewUpstream() Upstream { return Upstream{} }

// WebSearch reports that chat's web_search_options runs Anthropic's web
// search server tool (see FromChat).
func (Upstream) WebSearch() openai.WebSearchSupport { return openai.WebSearchAlways }

// MessagesURL is {base}/v1/messages, with or without /v1 in base.
func MessagesURL(base string) string {
	base = strings.TrimRight(base, "/")
	if strings.HasSuffix(base, "/v1") {
		return base + "/messages"
	}
	return base + "/v1/messages"
}

// NewChatRequest implements relay.ChatAdapter.
func (Upstream) NewChatRequest(ctx context.Context, t *relay.Target, call *relay.ChatCall) (*http.Request, error) {
	req, err := openai.DecodeChat(call.Body)
	if err != nil {
		return nil, err
	}
	req.Model, req.Stream = call.UpstreamModel, call.Stream
	msg, err := FromChat(req)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode messages request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, MessagesURL(t.Channel.BaseURL), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build messages request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("x-api-key", t.Secret())
	hr.Header.Set("anthropic-version", APIVersion)
	return hr, nil
}

// ChatResponse implements relay.ChatAdapter.
func (Upstream) ChatResponse(body []byte, call *relay.ChatCall) ([]byte, relay.Usage, error) {
	var msg Message
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, relay.Usage{}, fmt.Errorf("decode messages response: %w", err)
	}
	resp := ToChatResponse(&msg, call.Model)
	return openai.ChatResponseJSON(resp)
}

// NewChatStream implements relay.ChatAdapter.
func (Upstream) NewChatStream(call *relay.ChatCall) relay.ChatStream {
	return openai.NewChunkStream(NewStreamToChat(call.Model, call.IncludeUsage))
}
