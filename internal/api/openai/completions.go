package openai

import (
	"net/http"

	"github.com/switchyard/switchyard/internal/provider/azure"
	oaup "github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
)

// completionAdapters serve legacy completions; only OpenAI-shaped upstreams
// have them.
var completionAdapters = map[string]relay.ChatAdapter{
	"openai": oaup.NewCompletionsUpstream(),
	"azure":  azure.NewCompletionsUpstream(),
}

// Completions serves POST /v1/completions.
func (h *Handler) Completions(w http.ResponseWriter, r *http.Request) {
	req, ok := h.begin(w, r, completionsMembers, false)
	if !ok {
		return
	}
	if !h.servable(w, r, req.peek.Model, "completions", func(typ string) bool { return completionAdapters[typ] != nil }) {
		return
	}
	p := req.peek
	// best_of answers are generated (n of them returned), each up to
	// max_tokens.
	call := exchangeCall(&req, p.MaxTokens, max(p.N, p.BestOf))
	x := &completionsExchange{chatShaped{adapters: completionAdapters, call: relay.ChatCall{
		RequestID: call.RequestID, Body: req.body, Model: p.Model, Stream: p.Stream,
		IncludeUsage: p.Stream && p.IncludeUsage,
	}}}
	if err := h.relay.Exchange(req.ctx, w, call, x); err != nil {
		h.fail(w, r, err)
	}
}
