package openai

import (
	"context"
	"net/http"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/provider/azure"
	oaup "github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/tokens"
)

// responsesPassthrough are the upstreams that speak the Responses API;
// every other channel type is reached through its chat adapter.
var responsesPassthrough = map[string]*oaup.ResponsesUpstream{
	"openai": oaup.NewResponsesUpstream(),
	"azure": {
		URL:  func(t *relay.Target) string { return azure.ResponsesURL(t.Channel.BaseURL) },
		Auth: azure.SetKey,
	},
}

// Responses serves POST /v1/responses.
func (h *Handler) Responses(w http.ResponseWriter, r *http.Request) {
	req, ok := h.begin(w, r, responsesMembers, true)
	if !ok {
		return
	}
	call := exchangeCall(&req, req.peek.MaxOutputTokens, 0) // the Responses API has no n
	x := &responsesExchange{body: req.body, call: call}
	if err := h.relay.Exchange(req.ctx, w, call, x); err != nil {
		h.fail(w, r, err)
	}
}

type responsesExchange struct {
	body []byte
	call *relay.ExchangeCall

	// per attempt
	pass     *oaup.ResponsesUpstream
	rename   bool
	adapter  relay.ChatAdapter
	req      *oaup.ResponsesRequest
	chatCall *relay.ChatCall
	upstream string   // model name
	dropped  []string // hosted tools left out for this channel (responses_warn.go)
}

func (x *responsesExchange) enc() tokens.Encoding { return tokens.ForModel(x.upstream) }

func (x *responsesExchange) prompt() int { return responsesPrompt(x.enc(), x.body, x.call) }

// Accepts takes every channel: the chat adapter of a type without a
// Responses API translates.
func (x *responsesExchange) Accepts(string) bool { return true }

func (x *responsesExchange) NewRequest(ctx context.Context, t *relay.Target, a relay.ChatAdapter, upstreamModel string) (*http.Request, error) {
	x.pass, x.adapter, x.upstream, x.dropped = responsesPassthrough[t.Channel.Type], a, upstreamModel, nil
	if t.Channel.HasQuirk(config.QuirkNoResponses) {
		x.pass = nil // an OpenAI-compatible server with chat completions only
	}
	if x.pass != nil {
		x.rename = upstreamModel != x.call.Model
		return x.pass.NewRequest(ctx, t, x.body, x.call.Model, upstreamModel, x.call.Stream)
	}
	// Bedrock serves Claude, whose signed reasoning must go back in later
	// turns; to other pivot upstreams it is meaningless.
	req, cc, dropped, err := oaup.ResponsesChatCallFor(x.body, x.call.RequestID, x.call.Model, upstreamModel,
		t.Channel.DropsHostedTools(), t.Channel.Type == "bedrock", searchesWeb(a))
	if err != nil {
		return nil, err
	}
	x.req, x.chatCall, x.dropped = req, cc, dropped
	return a.NewChatRequest(ctx, t, cc)
}

// searchesWeb tells how adapter a runs chat's web_search_options with a
// web search of its upstream's own (anthropic's web_search server tool,
// Gemini's Google Search).
func searchesWeb(a relay.ChatAdapter) oaup.WebSearchSupport {
	if s, ok := a.(interface{ WebSearch() oaup.WebSearchSupport }); ok {
		return s.WebSearch()
	}
	return oaup.NoWebSearch
}

func (x *responsesExchange) Response(_ *relay.Target, body []byte) ([]byte, relay.Usage, error) {
	if x.pass != nil {
		out, u, err := x.pass.Response(body, x.call.Model)
		if err == nil && u.Unreported() {
			out, u = estimateResponse(out, x.enc(), x.prompt)
		}
		return out, u, err
	}
	chat, u, err := x.adapter.ChatResponse(body, x.chatCall)
	if err != nil {
		return nil, u, err
	}
	out, err := oaup.ChatBodyToResponse(chat, x.req)
	return out, u, err
}

func (x *responsesExchange) NewStream(*relay.Target) relay.EventStream {
	if x.pass != nil {
		return countResponses(x.pass.NewStream(x.call.Model, x.rename), x.enc(), x.prompt)
	}
	return oaup.NewResponsesFromChat(x.adapter.NewChatStream(x.chatCall), x.req, newResponseID())
}
