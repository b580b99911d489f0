package azure

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
)

// DeploymentURL is {base}/openai/deployments/{deployment}/{op}?api-version=….
func DeploymentURL(base, deployment, op, apiVersion string) string {
	if apiVersion == "" {
		apiVersion = DefaultAPIVersion
	}
	return strings.TrimRight(base, "/") + "/openai/deployments/" + url.PathEscape(deployment) +
		"/" + op + "?api-version=" + url.QueryEscape(apiVersion)
}

// ResponsesURL is {base}/openai/v1/responses: Azure serves the Responses API
// only on its v1 surface, where the deployment is the body's model.
func ResponsesURL(base string) string {
	return strings.TrimRight(base, "/") + "/openai/v1/responses"
}

// SetKey sets Azure's api-key header.
func SetKey(h http.Header, secret string) { h.Set("api-key", secret) }

func deploymentUpstream(op string) *openai.Upstream {
	return openai.NewUpstreamWith(func(t *relay.Target, call *relay.ChatCall) string {
		return DeploymentURL(t.Channel.BaseURL, call.UpstreamModel, op, t.Channel.APIVersion)
	}, SetKey)
}

// NewEmbeddingsUpstream returns the passthrough adapter for a deployment's
// embeddings.
func NewEmbeddingsUpstream() *openai.Upstream { return deploymentUpstream("embeddings") }

// NewCompletionsUpstream returns the passthrough adapter for a deployment's
// legacy completions.
func NewCompletionsUpstream() *openai.Upstream { return deploymentUpstream("completions") }
