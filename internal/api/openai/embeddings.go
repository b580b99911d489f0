package openai

import (
	"context"
	"net/http"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/provider/azure"
	"github.com/switchyard/switchyard/internal/provider/bedrock"
	"github.com/switchyard/switchyard/internal/provider/gemini"
	oaup "github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/provider/vertex"
	"github.com/switchyard/switchyard/internal/relay"
)

// embeddingAdapters are the OpenAI-shaped embeddings upstreams; gemini
// channels are translated by embeddingsExchange itself.
var embeddingAdapters = map[string]relay.ChatAdapter{
	"openai":  oaup.NewEmbeddingsUpstream(),
	"azure":   azure.NewEmbeddingsUpstream(),
	"bedrock": bedrock.NewEmbeddingsUpstream(),
	"vertex":  vertex.NewEmbeddingsUpstream(),
}

func embeddingsAccepts(typ string) bool { return typ == "gemini" || embeddingAdapters[typ] != nil }

// Embeddings serves POST /v1/embeddings.
func (h *Handler) Embeddings(w http.ResponseWriter, r *http.Request) {
	req, ok := h.begin(w, r, embeddingsMembers, false)
	if !ok {
		return
	}
	if req.peek.Stream {
		h.fail(w, r, apierror.InvalidRequest("Embeddings cannot be streamed.", "stream"))
		return
	}
	if !h.servable(w, r, req.peek.Model, "embeddings", embeddingsAccepts) {
		return
	}
	call := exchangeCall(&req, 0, 0) // embeddings produce no output tokens
	x := &embeddingsExchange{chatShaped: chatShaped{adapters: embeddingAdapters, call: relay.ChatCall{
		RequestID: call.RequestID, Body: req.body, Model: req.peek.Model,
	}}}
	if err := h.relay.Exchange(req.ctx, w, call, x); err != nil {
		h.fail(w, r, err)
	}
}

type embeddingsExchange struct {
	chatShaped
	gemini *gemini.EmbeddingsRequest // set on a gemini attempt
}

func (x *embeddingsExchange) Accepts(typ string) bool { return embeddingsAccepts(typ) }

func (x *embeddingsExchange) NewRequest(ctx context.Context, t *relay.Target, a relay.ChatAdapter, upstreamModel string) (*http.Request, error) {
	if t.Channel.Type != "gemini" {
		x.gemini = nil
		return x.chatShaped.NewRequest(ctx, t, a, upstreamModel)
	}
	if x.gemini == nil {
		er, err := gemini.DecodeEmbeddings(x.call.Body)
		if err != nil {
			return nil, err
		}
		x.gemini = er
	}
	return gemini.NewEmbeddingsRequest(ctx, t, x.gemini, upstreamModel)
}

func (x *embeddingsExchange) Response(t *relay.Target, body []byte) ([]byte, relay.Usage, error) {
	if t.Channel.Type == "gemini" {
		return gemini.EmbeddingsResponse(body, x.gemini, x.call.Model)
	}
	return x.chatShaped.Response(t, body)
}
