// Package openai serves the OpenAI-shaped /v1 endpoints. A handler knows
// HTTP: it authenticates, reads the body once, reads the few members it
// judges (model, stream, the output caps, n; see peek.go) strictly, so that
// they are what the upstream will read, and hands the raw body to the relay. Streaming is decided by the body's stream field, never by the
// Accept header, as OpenAI does.
package openai

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/relay"
)

// authenticator identifies a request's caller by its key.
type authenticator interface {
	Authenticate(r *http.Request, clientIP netip.Addr) (*auth.Key, error)
}

// Handler holds what the endpoints need.
type Handler struct {
	log   *slog.Logger
	keys  authenticator
	relay *relay.Relay
	img   *imageHandler // nil until EnableImages
}

// New returns the handlers; Mount puts them on a router.
func New(log *slog.Logger, keys authenticator, r *relay.Relay) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{log: log, keys: keys, relay: r}
}

// Mount registers the endpoints.
func (h *Handler) Mount(rt *api.Router) {
	rt.Handle("POST /v1/chat/completions", http.HandlerFunc(h.ChatCompletions))
	rt.Handle("GET /v1/models", http.HandlerFunc(h.ListModels))
	rt.Handle("GET /v1/models/{id...}", http.HandlerFunc(h.GetModel))
	h.MountEndpoints(rt)
	h.mountImages(rt)
}

// estimate is the request's cost estimate for the relay's Meter: maxOutput
// is the output cap of the endpoint's API (0 = none given), choices how
// many answers the upstream generates (0 = one).
func estimate(body []byte, maxOutput, choices int) relay.Estimate {
	return relay.Estimate{PromptTokens: relay.EstimatePromptTokens(body), MaxOutputTokens: maxOutput, Choices: choices}
}

// ChatCompletions serves POST /v1/chat/completions.
func (h *Handler) ChatCompletions(w http.ResponseWriter, r *http.Request) {
	req, ok := h.begin(w, r, chatMembers, true)
	if !ok {
		return
	}
	p := req.peek
	// Every upstream refuses a chat without messages, each in its own
	// words and without naming the field: say it here, once.
	if !p.HasMessages {
		h.failAdmitted(w, r, req.adm, apierror.InvalidRequest("The messages field is required.", "messages"))
		return
	}
	call := &relay.ChatCall{
		Route:        req.route,
		RequestID:    api.RequestID(req.ctx),
		Body:         req.body,
		Model:        p.Model,
		Stream:       p.Stream,
		IncludeUsage: p.Stream && p.IncludeUsage,
		// Either cap may be sent; the larger bounds each answer.
		Estimate:  estimate(req.body, max(p.MaxTokens, p.MaxCompletionTokens), p.N),
		Admission: req.admission(),
	}
	if err := h.relay.Chat(req.ctx, w, call); err != nil {
		h.fail(w, r, err)
	}
}

// fail answers err, logging what the client does not see.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Status >= 500 {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "request failed",
			slog.String("request_id", api.RequestID(r.Context())), slog.String("error", err.Error()))
	}
	if r.Context().Err() != nil {
		return // the client is gone; nobody reads the answer
	}
	apierror.WriteOpenAI(w, r, err)
}

// modelList is GET /v1/models.
type modelList struct {
	Object string       `json:"object"`
	Data   []modelEntry `json:"data"`
}

type modelEntry struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ListModels serves GET /v1/models: exactly the models the key may call,
// those on its allowlist that some channel serves to its group.
func (h *Handler) ListModels(w http.ResponseWriter, r *http.Request) {
	key, err := h.keys.Authenticate(r, api.ClientIP(r.Context()))
	if err != nil {
		apierror.WriteOpenAI(w, r, err)
		return
	}
	out := modelList{Object: "list", Data: []modelEntry{}}
	for _, m := range h.relay.Models(key.Group) {
		if key.AllowModel(m) == nil {
			out.Data = append(out.Data, modelEntry{ID: m, Object: "model", OwnedBy: "switchyard"})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// GetModel serves GET /v1/models/{id}: 404 model_not_found unless the key
// may call the model (on its allowlist, served to its group); a model the
// key may not use is not disclosed. {id...} because model ids may contain
// slashes.
func (h *Handler) GetModel(w http.ResponseWriter, r *http.Request) {
	key, err := h.keys.Authenticate(r, api.ClientIP(r.Context()))
	if err != nil {
		apierror.WriteOpenAI(w, r, err)
		return
	}
	id := r.PathValue("id")
	if !h.relay.ServesModel(id, key.Group) || key.AllowModel(id) != nil {
		apierror.WriteOpenAI(w, r, apierror.ModelNotFound(id))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(modelEntry{ID: id, Object: "model", OwnedBy: "switchyard"})
}
