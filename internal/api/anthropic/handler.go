// Package anthropic serves the Anthropic-shaped endpoints POST /v1/messages
// and POST /v1/messages/count_tokens over the same channels and models as
// chat completions.
//
// Design choices:
//   - Routing, failover before the first byte, usage, metrics and client
//     cancellation are the relay's (relay.Exchange); this package only says
//     how to build each attempt's upstream request and how to read its answer.
//   - Anthropic channels get the client's bytes with at most the model name
//     edited, the client's anthropic-version and anthropic-beta headers, and
//     their events relayed as they come with the model set back to the
//     client's name. Other channels go through the chat pivot:
//     anthropic.ToChatRequest, the channel's chat adapter, then
//     FromChatResponse or the ChatStreamToMessages state machine.
//   - count_tokens is passed through when an anthropic channel serves the
//     model; otherwise, or when that upstream lacks the endpoint (404, 405),
//     it is counted locally with the OpenAI tokenizer on the chat
//     translation, which is what the other upstreams would bill, and marked
//     X-Switchyard-Token-Count: estimated.
//   - Every error is answered in Anthropic's error shape.
package anthropic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/limit"
	"github.com/switchyard/switchyard/internal/relay"
)

// Versions are the anthropic-version values accepted; the first is the
// default when the header is missing.
var Versions = []string{"2023-06-01", "2026-10-21"}

// authenticator identifies a request's caller by its key.
type authenticator interface {
	Authenticate(r *http.Request, clientIP netip.Addr) (*auth.Key, error)
}

// Handler holds what the endpoints need.
type Handler struct {
	log   *slog.Logger
	keys  authenticator
	relay *relay.Relay
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
	rt.Handle("POST /v1/messages", http.HandlerFunc(h.Messages))
	rt.Handle("POST /v1/messages/count_tokens", http.HandlerFunc(h.CountTokens))
}

// peek is the part of a Messages body the gateway itself needs.
type peek struct {
	Model     string
	Stream    bool
	MaxTokens int // 0 when absent
}

// members are what the gateway judges of a Messages (or count_tokens) body,
// read strictly (api.PeekJSON) so that the Anthropic upstream, reading the
// client's bytes, and the chat translation, decoding them with
// encoding/json, see the values the key and the reservation were judged on.
// Messages has no n: one answer per request.
var members = []api.Judged{
	{Name: "model", Kind: api.KindString},
	{Name: "stream", Kind: api.KindBool},
	{Name: "max_tokens", Kind: api.KindInt, Min: 1, Max: math.MaxInt32},
	// The prompt, counted locally (count_tokens, an upstream without
	// usage) and translated with encoding/json: one plainly named copy.
	{Name: "messages", Kind: api.KindAny},
	{Name: "system", Kind: api.KindAny},
	{Name: "tools", Kind: api.KindAny},
}

// estimate is the request's cost estimate for the relay's Meter.
func (r *request) estimate() relay.Estimate {
	return relay.Estimate{PromptTokens: relay.EstimatePromptTokens(r.body), MaxOutputTokens: r.peek.MaxTokens}
}

// request is an authenticated, parsed inbound request.
type request struct {
	key *auth.Key
	// adm is the key's rate-limit admission, left to the relay (nil when
	// taken already): see limit.Gate.AuthenticateDeferred.
	adm     *limit.Admission
	route   relay.Route
	body    []byte
	peek    peek
	version string
	beta    string // the anthropic-beta values, comma-joined
}

// Messages serves POST /v1/messages.
func (h *Handler) Messages(w http.ResponseWriter, r *http.Request) {
	req, ok := h.begin(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	x := &messagesExchange{
		requestID: api.RequestID(ctx), body: req.body, model: req.peek.Model,
		stream: req.peek.Stream, version: req.version, beta: req.beta,
	}
	call := &relay.ExchangeCall{RequestID: x.requestID, Model: req.peek.Model, Stream: req.peek.Stream,
		Route: req.route, Estimate: req.estimate()}
	if req.adm != nil {
		call.Admission = req.adm
	}
	if err := h.relay.Exchange(auth.WithKey(ctx, req.key), w, call, x); err != nil {
		h.fail(w, r, err)
	}
}

// CountTokens serves POST /v1/messages/count_tokens.
func (h *Handler) CountTokens(w http.ResponseWriter, r *http.Request) {
	req, ok := h.begin(w, r, false)
	if !ok {
		return
	}
	ctx := r.Context()
	if !h.relay.HasModel(req.peek.Model) {
		h.fail(w, r, apierror.ModelNotFound(req.peek.Model))
		return
	}
	if !slices.Contains(h.relay.ChannelTypes(req.peek.Model), "anthropic") {
		out, err := localCount(req.body)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(EstimateHeader, "estimated")
		_, _ = w.Write(out)
		return
	}
	x := &messagesExchange{
		requestID: api.RequestID(ctx), body: req.body, model: req.peek.Model,
		version: req.version, beta: req.beta, countTokens: true,
	}
	// Counting tokens is free upstream, so it is not charged here.
	call := &relay.ExchangeCall{RequestID: x.requestID, Model: req.peek.Model, Route: req.route, Unbilled: true}
	if err := h.relay.Exchange(auth.WithKey(ctx, req.key), w, call, x); err != nil {
		h.fail(w, r, err)
	}
}

// deferredAuthenticator is an authenticator that can leave the rate-limit
// admission to the relay (limit.Gate), which then sends it in one Redis
// round trip with the reservation and the lease.
type deferredAuthenticator interface {
	AuthenticateDeferred(r *http.Request, clientIP netip.Addr) (*auth.Key, *limit.Admission, error)
}

// begin authenticates and reads the request; false means the error is
// already answered. With deferAdmission the rate limits may be left to
// the relay (req.adm): the body is then read before them, and an error
// found here is answered only once the request is admitted, so a
// rate-limited client still gets its 429 first, as before.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request, deferAdmission bool) (*request, bool) {
	var key *auth.Key
	var adm *limit.Admission
	var err error
	if d, ok := h.keys.(deferredAuthenticator); ok && deferAdmission {
		key, adm, err = d.AuthenticateDeferred(r, api.ClientIP(r.Context()))
	} else {
		key, err = h.keys.Authenticate(r, api.ClientIP(r.Context()))
	}
	if err != nil {
		apierror.WriteAnthropic(w, r, err)
		return nil, false
	}
	fail := func(err error) {
		if adm != nil {
			// Counted even for a client gone meanwhile, as before.
			if aerr := adm.Take(context.WithoutCancel(r.Context())); aerr != nil {
				err = aerr
			}
		}
		h.fail(w, r, err)
	}
	req := &request{key: key, adm: adm, version: r.Header.Get("anthropic-version")}
	if req.version == "" {
		req.version = Versions[0]
	} else if !slices.Contains(Versions, req.version) {
		fail(apierror.InvalidRequest(fmt.Sprintf(
			"anthropic-version: %q is not a supported version (use one of %s).",
			req.version, strings.Join(Versions, ", ")), ""))
		return nil, false
	}
	req.beta = strings.Join(r.Header.Values("anthropic-beta"), ",")
	if req.body, err = api.ReadJSONBody(r); err != nil {
		fail(err)
		return nil, false
	}
	var v [6]api.Peeked
	if err := api.PeekJSON(req.body, members, v[:]); err != nil {
		fail(err)
		return nil, false
	}
	req.peek = peek{Model: v[0].Str, Stream: v[1].Bool, MaxTokens: int(v[2].Int)}
	if req.peek.Model == "" {
		fail(apierror.InvalidRequest("model: Field required", "model"))
		return nil, false
	}
	if err := key.AllowModel(req.peek.Model); err != nil {
		fail(err)
		return nil, false
	}
	g, ch, cred, err := key.Route(r)
	if err != nil {
		fail(err)
		return nil, false
	}
	req.route = relay.Route{Group: g, PinChannel: ch, PinCredential: cred}
	return req, true
}

// fail answers err in Anthropic's shape, logging what the client does not see.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apierror.Error
	if !errors.As(err, &ae) || ae.Status >= 500 {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "request failed",
			slog.String("request_id", api.RequestID(r.Context())), slog.String("error", err.Error()))
	}
	if r.Context().Err() != nil {
		return // the client is gone; nobody reads the answer
	}
	apierror.WriteAnthropic(w, r, err)
}
