package openai

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/limit"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/sse"
)

// The non-chat endpoints (embeddings, legacy completions, responses) run as
// relay Exchanges: the relay keeps routing, failover before the first byte,
// usage and metrics; the exchange picks the channel types that can serve the
// endpoint and speaks to each. OpenAI-shaped upstreams get the client's
// bytes with the model renamed; the rest are translated.

// MountEndpoints registers /v1/embeddings, /v1/completions and
// /v1/responses.
func (h *Handler) MountEndpoints(rt *api.Router) {
	rt.Handle("POST /v1/embeddings", http.HandlerFunc(h.Embeddings))
	rt.Handle("POST /v1/completions", http.HandlerFunc(h.Completions))
	rt.Handle("POST /v1/responses", http.HandlerFunc(h.Responses))
}

// request is an authenticated, peeked request body.
type request struct {
	ctx   context.Context
	body  []byte
	peek  chatPeek
	route relay.Route
	// adm is the key's rate-limit admission, left to the relay (nil when
	// taken already): see limit.Gate.AuthenticateDeferred.
	adm *limit.Admission
}

// deferredAuthenticator is an authenticator that can leave the rate-limit
// admission to the relay (limit.Gate), which then sends it in one Redis
// round trip with the reservation and the lease.
type deferredAuthenticator interface {
	AuthenticateDeferred(r *http.Request, clientIP netip.Addr) (*auth.Key, *limit.Admission, error)
}

// begin authenticates, reads the body and peeks at the members the
// endpoint judges; on failure it has answered. With deferAdmission the
// rate limits may be left to the relay (req.adm, to be passed on in the
// call): the body is then read before them, and an error found here is
// answered only once the request is admitted, so a rate-limited client
// still gets its 429 first, as before.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request, members []api.Judged, deferAdmission bool) (request, bool) {
	ctx := r.Context()
	var key *auth.Key
	var adm *limit.Admission
	var err error
	if d, ok := h.keys.(deferredAuthenticator); ok && deferAdmission {
		key, adm, err = d.AuthenticateDeferred(r, api.ClientIP(ctx))
	} else {
		key, err = h.keys.Authenticate(r, api.ClientIP(ctx))
	}
	if err != nil {
		apierror.WriteOpenAI(w, r, err)
		return request{}, false
	}
	body, err := api.ReadJSONBody(r)
	if err != nil {
		h.failAdmitted(w, r, adm, err)
		return request{}, false
	}
	peek, err := peekBody(body, members)
	if err != nil {
		h.failAdmitted(w, r, adm, err)
		return request{}, false
	}
	if err := key.AllowModel(peek.Model); err != nil {
		h.failAdmitted(w, r, adm, err)
		return request{}, false
	}
	route, err := routeOf(r, key)
	if err != nil {
		h.failAdmitted(w, r, adm, err)
		return request{}, false
	}
	return request{ctx: auth.WithKey(ctx, key), body: body, peek: peek, route: route, adm: adm}, true
}

// failAdmitted answers err, or the rate limits' refusal when adm, still
// pending, refuses: today's order of answers.
func (h *Handler) failAdmitted(w http.ResponseWriter, r *http.Request, adm *limit.Admission, err error) {
	if adm != nil {
		// Counted even for a client gone meanwhile, as before.
		if aerr := adm.Take(context.WithoutCancel(r.Context())); aerr != nil {
			err = aerr
		}
	}
	h.fail(w, r, err)
}

// admission is req's deferred admission for the relay's call.
func (req *request) admission() relay.Admission {
	if req.adm == nil {
		return nil // not a typed nil
	}
	return req.adm
}

// routeOf is the key's group and any route its admin forces by header.
func routeOf(r *http.Request, key *auth.Key) (relay.Route, error) {
	g, ch, cred, err := key.Route(r)
	return relay.Route{Group: g, PinChannel: ch, PinCredential: cred}, err
}

// servable answers a 404 for an unknown model or a 400 when none of the
// model's channels is of a type the endpoint supports, so the client learns
// which channel type lacks it; ok means at least one channel fits.
func (h *Handler) servable(w http.ResponseWriter, r *http.Request, model, endpoint string, accepts func(typ string) bool) bool {
	types := h.relay.ChannelTypes(model)
	if len(types) == 0 {
		h.fail(w, r, apierror.ModelNotFound(model))
		return false
	}
	if slices.ContainsFunc(types, accepts) {
		return true
	}
	slices.Sort(types)
	h.fail(w, r, apierror.InvalidRequest(fmt.Sprintf(
		"Model %s is served only by channels of type %s, which have no %s endpoint.",
		model, strings.Join(slices.Compact(types), ", "), endpoint), "model"))
	return false
}

// chatShaped serves an OpenAI-shaped endpoint through chat-style passthrough
// adapters, one per channel type.
type chatShaped struct {
	adapters map[string]relay.ChatAdapter
	call     relay.ChatCall
	adapter  relay.ChatAdapter // of the current attempt
}

func (x *chatShaped) Accepts(typ string) bool { _, ok := x.adapters[typ]; return ok }

func (x *chatShaped) NewRequest(ctx context.Context, t *relay.Target, _ relay.ChatAdapter, upstreamModel string) (*http.Request, error) {
	x.adapter = x.adapters[t.Channel.Type]
	x.call.UpstreamModel = upstreamModel
	return x.adapter.NewChatRequest(ctx, t, &x.call)
}

func (x *chatShaped) Response(_ *relay.Target, body []byte) ([]byte, relay.Usage, error) {
	return x.adapter.ChatResponse(body, &x.call)
}

func (x *chatShaped) NewStream(*relay.Target) relay.EventStream {
	return &dataStream{s: x.adapter.NewChatStream(&x.call)}
}

// dataStream relays a chat-style stream as unnamed data events ending with
// [DONE].
type dataStream struct {
	s    relay.ChatStream
	emit func(string, []byte) error
}

func (d *dataStream) data(b []byte) error { return d.emit("", b) }

func (d *dataStream) Feed(ev sse.Event, emit func(string, []byte) error) error {
	d.emit = emit
	return d.s.Feed(ev, d.data)
}

func (d *dataStream) Finish(emit func(string, []byte) error) error {
	d.emit = emit
	if err := d.s.Finish(d.data); err != nil {
		return err
	}
	return emit("", doneData)
}

func (d *dataStream) Usage() relay.Usage { return d.s.Usage() }

func (d *dataStream) Abort() (string, []byte) { return "", dataAbort }

var (
	doneData  = []byte("[DONE]")
	dataAbort = []byte(`{"error":{"message":"The upstream stream ended unexpectedly.","type":"upstream_error","code":"upstream_error"}}`)
)

// exchangeCall is the relay's view of r; maxOutput and choices are as for
// estimate.
func exchangeCall(r *request, maxOutput, choices int) *relay.ExchangeCall {
	return &relay.ExchangeCall{RequestID: api.RequestID(r.ctx), Model: r.peek.Model, Stream: r.peek.Stream,
		Route: r.route, Estimate: estimate(r.body, maxOutput, choices), Admission: r.admission()}
}

// newResponseID is a Responses id for a translated answer.
func newResponseID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "resp_" + hex.EncodeToString(b[:])
}
