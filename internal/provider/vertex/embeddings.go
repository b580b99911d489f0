package vertex

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/gemini"
	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/tokens"
)

// OpenAI embeddings on Vertex go to the publisher model's :predict, as
// Vertex documents its text embedding models (gemini-embedding-001,
// text-embedding-005, text-multilingual-embedding-002):
//
//	{"instances":[{"content":"…"}],"parameters":{"outputDimensionality":N}}
//
// answered with predictions[].embeddings.{values,statistics.token_count}.
// Vertex counts the tokens, so the usage is its count. gemini-embedding
// models take one instance per request on Vertex: a batch for one of them
// is refused rather than split, since one exchange is one upstream call.

// EmbeddingsUpstream is the embeddings adapter for "vertex" channels,
// shaped as a relay.ChatAdapter as the other embeddings upstreams are.
type EmbeddingsUpstream struct{ Upstream }

var _ relay.ChatAdapter = EmbeddingsUpstream{}

// NewEmbeddingsUpstream returns the embeddings adapter.
func NewEmbeddingsUpstream() EmbeddingsUpstream { return EmbeddingsUpstream{} }

type embedInstance struct {
	Content string `json:"content"`
}

type embedParameters struct {
	OutputDimensionality int `json:"outputDimensionality,omitempty"`
}

type embedPredictRequest struct {
	Instances  []embedInstance `json:"instances"`
	Parameters embedParameters `json:"parameters"`
}

// oneInstance reports a model Vertex serves one input per request.
func oneInstance(model string) bool { return strings.HasPrefix(model, "gemini-embedding") }

// NewChatRequest builds the :predict request for an OpenAI embeddings body.
func (EmbeddingsUpstream) NewChatRequest(ctx context.Context, t *relay.Target, call *relay.ChatCall) (*http.Request, error) {
	if IsAnthropic(call.UpstreamModel) {
		return nil, provider.Unsupported("model", "Claude on Vertex has no embeddings")
	}
	er, err := gemini.DecodeEmbeddings(call.Body)
	if err != nil {
		return nil, err
	}
	if len(er.Inputs) > 1 && oneInstance(call.UpstreamModel) {
		return nil, provider.Unsupported("input", call.UpstreamModel+" on Vertex embeds one input per request")
	}
	body := embedPredictRequest{Instances: make([]embedInstance, len(er.Inputs)),
		Parameters: embedParameters{OutputDimensionality: er.Dimensions}}
	for i, s := range er.Inputs {
		body.Instances[i].Content = s
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode embeddings predict request: %w", err)
	}
	return newPost(ctx, ModelURL(t.Channel, call.UpstreamModel, "predict"), b, t.Secret())
}

// ChatResponse turns a :predict answer into OpenAI's embeddings list.
func (EmbeddingsUpstream) ChatResponse(body []byte, call *relay.ChatCall) ([]byte, relay.Usage, error) {
	er, err := gemini.DecodeEmbeddings(call.Body)
	if err != nil {
		return nil, relay.Usage{}, err
	}
	var in struct {
		Predictions []struct {
			Embeddings struct {
				Values     []float32 `json:"values"`
				Statistics struct {
					TokenCount float64 `json:"token_count"`
				} `json:"statistics"`
			} `json:"embeddings"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, relay.Usage{}, fmt.Errorf("decode embeddings predict response: %w", err)
	}
	if len(in.Predictions) != len(er.Inputs) {
		return nil, relay.Usage{}, fmt.Errorf("predict returned %d embeddings for %d inputs", len(in.Predictions), len(er.Inputs))
	}
	vecs := make([][]float32, len(in.Predictions))
	prompt := 0
	for i, p := range in.Predictions {
		vecs[i] = p.Embeddings.Values
		prompt += int(p.Embeddings.Statistics.TokenCount)
	}
	if prompt == 0 {
		enc := tokens.ForModel(call.Model)
		for _, s := range er.Inputs {
			prompt += enc.Count(s)
		}
	}
	b, err := gemini.EmbeddingsList(vecs, er.Base64, call.Model, prompt)
	return b, relay.Usage{PromptTokens: prompt}, err
}

// NewChatStream is never used: embeddings do not stream.
func (EmbeddingsUpstream) NewChatStream(call *relay.ChatCall) relay.ChatStream {
	return openai.NewChunkStream(gemini.NewStreamToChat(call.Model, false))
}

// newPost is a JSON POST to a Vertex URL with the access token.
func newPost(ctx context.Context, target string, body []byte, token string) (*http.Request, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build vertex request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+token)
	return hr, nil
}
