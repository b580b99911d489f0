package console

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
)

// PlaygroundKeys is what the playground needs of the key directory.
type PlaygroundKeys interface {
	// ByID is the active, unexpired key with id, nil otherwise.
	ByID(id int64) *auth.Key
}

// PlaygroundDeps wires the chat playground: a signed-in user chats through
// the gateway's own /v1 pipeline with a key of theirs, which pays and whose
// limits apply exactly as for an API call.
type PlaygroundDeps struct {
	Keys PlaygroundKeys
	// Models lists the models the group's channels serve.
	Models func(group string) []string
	// Price is a model's current price.
	Price func(model string) (billing.Price, bool)
	// Relay serves /v1 (the node's root handler): the playground's request
	// goes through it whole — limits, reservation, failover, usage row.
	Relay http.Handler
	// AssumeKey marks a request as authenticated by the key with id
	// (auth.WithAssumedKey).
	AssumeKey func(ctx context.Context, id int64) context.Context
}

// MountPlayground adds the playground's routes.
func MountPlayground(a *API, d PlaygroundDeps) {
	h := &playground{d: d}
	a.Add(
		Route{Method: "GET", Path: "/api/v1/me/playground/models", Access: User, Handle: h.models},
		Route{Method: "POST", Path: "/api/v1/me/playground/chat/completions", Access: User, Raw: h.chat},
	)
}

type playground struct{ d PlaygroundDeps }

// ownKey reads ?key_id and returns that key when it is the caller's own.
func (h *playground) ownKey(r *http.Request, p *Principal) (*auth.Key, error) {
	s := r.URL.Query().Get("key_id")
	if s == "" {
		return nil, Invalid("key_id", "Choose the key that pays (?key_id=).")
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return nil, Invalid("key_id", "Must be a key's id.")
	}
	k := h.d.Keys.ByID(id)
	// Another user's key is as unknown as a missing one.
	if k == nil || k.UserID != p.UserID {
		return nil, NotFound("key " + s)
	}
	return k, nil
}

// PlaygroundModel is a model the key may use, with its price (micro-USD per
// million tokens, before the group's ratio) so the console can show the cost
// of each answer from the usage the gateway reports.
type PlaygroundModel struct {
	ID                   string `json:"id"`
	Priced               bool   `json:"priced"`
	Free                 bool   `json:"free"`
	InputMicrosPer1M     int64  `json:"input_micros_per_1m"`
	CachedInputMicrosPer int64  `json:"cached_input_micros_per_1m"`
	OutputMicrosPer1M    int64  `json:"output_micros_per_1m"`
	PerRequestMicros     int64  `json:"per_request_micros"`
}

// PlaygroundModels answers GET /api/v1/me/playground/models.
type PlaygroundModels struct {
	KeyID int64 `json:"key_id"`
	// GroupRatioPPM multiplies every price (1 000 000 = ×1).
	GroupRatioPPM int64             `json:"group_ratio_ppm"`
	Models        []PlaygroundModel `json:"models"`
}

func (h *playground) models(r *http.Request, p *Principal) (any, error) {
	k, err := h.ownKey(r, p)
	if err != nil {
		return nil, err
	}
	out := PlaygroundModels{KeyID: k.ID, GroupRatioPPM: k.GroupRatioPPM, Models: []PlaygroundModel{}}
	names := h.d.Models(k.Group)
	slices.Sort(names)
	for _, m := range names {
		if k.AllowModel(m) != nil {
			continue
		}
		pm := PlaygroundModel{ID: m}
		if pr, ok := h.d.Price(m); ok {
			pm.Priced, pm.Free = true, pr.Free
			pm.InputMicrosPer1M, pm.CachedInputMicrosPer = int64(pr.Input), int64(pr.CachedInput)
			pm.OutputMicrosPer1M, pm.PerRequestMicros = int64(pr.Output), int64(pr.PerRequest)
		}
		out.Models = append(out.Models, pm)
	}
	return out, nil
}

// chat passes the body to /v1/chat/completions as the chosen key: the
// answer (JSON or a stream of events) and its errors are the API's own.
func (h *playground) chat(w http.ResponseWriter, r *http.Request, p *Principal) error {
	k, err := h.ownKey(r, p)
	if err != nil {
		return err
	}
	r2 := r.Clone(h.d.AssumeKey(r.Context(), k.ID))
	r2.URL.Path, r2.URL.RawPath, r2.URL.RawQuery = "/v1/chat/completions", "", ""
	r2.RequestURI = r2.URL.RequestURI()
	// The console's credentials stay in the console.
	for _, hd := range []string{"Cookie", "Authorization", "X-Api-Key", "Origin"} {
		r2.Header.Del(hd)
	}
	h.d.Relay.ServeHTTP(w, r2)
	return nil
}
