package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
)

// Upstream relays OpenAI chat requests to generateContent, translating both
// ways through the pivot types.
type Upstream struct{}

var _ relay.ChatAdapter = Upstream{}

// NewUpstream returns the adapter for "gemini" channels.
func NewUpstream() Upstream { return Upstream{} }

// WebSearch reports that chat's web_search_options runs Google Search
// grounding, for a request without function tools (see FromChat).
func (Upstream) WebSearch() openai.WebSearchSupport { return openai.WebSearchAlone }

// GenerateURL is {base}/v1beta/models/{model}:generateContent, or
// :streamGenerateContent?alt=sse for a stream.
func GenerateURL(base, model string, stream bool) string {
	u := strings.TrimRight(base, "/")
	u = strings.TrimSuffix(u, "/v1beta") + "/v1beta/models/" + url.PathEscape(model)
	if stream {
		return u + ":streamGenerateContent?alt=sse"
	}
	return u + ":generateContent"
}

// NewChatRequest implements relay.ChatAdapter.
func (Upstream) NewChatRequest(ctx context.Context, t *relay.Target, call *relay.ChatCall) (*http.Request, error) {
	req, err := openai.DecodeChat(call.Body)
	if err != nil {
		return nil, err
	}
	req.Model, req.Stream = call.UpstreamModel, call.Stream
	gr, err := FromChat(req)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(gr)
	if err != nil {
		return nil, fmt.Errorf("encode generateContent request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, GenerateURL(t.Channel.BaseURL, call.UpstreamModel, call.Stream), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build generateContent request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("x-goog-api-key", t.Secret())
	return hr, nil
}

// ChatResponse implements relay.ChatAdapter.
func (Upstream) ChatResponse(body []byte, call *relay.ChatCall) ([]byte, relay.Usage, error) {
	var gr GenerateResponse
	if err := json.Unmarshal(body, &gr); err != nil {
		return nil, relay.Usage{}, fmt.Errorf("decode generateContent response: %w", err)
	}
	resp := ToChatResponse(&gr, call.Model)
	return openai.ChatResponseJSON(resp)
}

// NewChatStream implements relay.ChatAdapter.
func (Upstream) NewChatStream(call *relay.ChatCall) relay.ChatStream {
	return openai.NewChunkStream(NewStreamToChat(call.Model, call.IncludeUsage))
}
