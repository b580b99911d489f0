// Package azure adapts Azure OpenAI deployments. Azure speaks OpenAI's chat
// format, so the OpenAI passthrough adapter does the work; this package only
// knows the URL layout (the deployment is the upstream model name, the API
// version a query parameter) and the api-key header.
package azure

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
)

// DefaultAPIVersion is used when a channel sets no api_version.
const DefaultAPIVersion = "2024-10-21"

// NewUpstream returns the adapter for "azure" channels.
func NewUpstream() *openai.Upstream {
	return openai.NewUpstreamWith(
		func(t *relay.Target, call *relay.ChatCall) string {
			return ChatURL(t.Channel.BaseURL, call.UpstreamModel, t.Channel.APIVersion)
		},
		func(h http.Header, secret string) { h.Set("api-key", secret) },
	)
}

// ChatURL is {base}/openai/deployments/{deployment}/chat/completions?api-version=….
func ChatURL(base, deployment, apiVersion string) string {
	if apiVersion == "" {
		apiVersion = DefaultAPIVersion
	}
	return strings.TrimRight(base, "/") + "/openai/deployments/" + url.PathEscape(deployment) +
		"/chat/completions?api-version=" + url.QueryEscape(apiVersion)
}
