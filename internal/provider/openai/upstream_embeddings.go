package openai

import (
	"net/http"
	"strings"

	"github.com/switchyard/switchyard/internal/relay"
)

// Embeddings and legacy completions are OpenAI-shaped like chat: the same
// passthrough adapter serves them with another URL. Its edits are the model
// name (request and answer), include_usage on streams and the usage-only
// chunk, all of which these endpoints share with chat.

// EndpointURL is {base}/v1/{path}, with or without /v1 in base.
func EndpointURL(base, path string) string {
	base = strings.TrimRight(base, "/")
	if strings.HasSuffix(base, "/v1") {
		return base + "/" + path
	}
	return base + "/v1/" + path
}

func bearer(h http.Header, secret string) { h.Set("Authorization", "Bearer "+secret) }

// NewEmbeddingsUpstream returns the passthrough adapter for POST
// {base}/v1/embeddings on "openai" channels.
func NewEmbeddingsUpstream() *Upstream {
	return NewUpstreamWith(func(t *relay.Target, _ *relay.ChatCall) string {
		return EndpointURL(t.Channel.BaseURL, "embeddings")
	}, bearer)
}

// NewCompletionsUpstream returns the passthrough adapter for POST
// {base}/v1/completions on "openai" channels.
func NewCompletionsUpstream() *Upstream {
	return NewUpstreamWith(func(t *relay.Target, _ *relay.ChatCall) string {
		return EndpointURL(t.Channel.BaseURL, "completions")
	}, bearer)
}
