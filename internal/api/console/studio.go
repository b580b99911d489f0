package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/images"
)

// The image studio: a signed-in user runs image generations and edits as
// the gateway's async image tasks, acting as one of their own keys (the
// playground's pattern: the request goes through /v1 whole, with the key
// assumed, so the browser never holds the secret). Progress reaches the
// page as server-sent events.

// StudioTasks is what the studio needs of the task store.
type StudioTasks interface {
	GetOwned(ctx context.Context, id string, userID int64) (images.Task, error)
}

// StudioPreviews are the partial images running tasks' upstreams
// streamed (images.Previews).
type StudioPreviews interface {
	Get(task string) []images.Preview
}

// StudioDeps wires the image studio.
type StudioDeps struct {
	Keys PlaygroundKeys
	// Price is a model's current price.
	Price func(model string) (billing.Price, bool)
	// Relay serves /v1 (the node's root handler).
	Relay http.Handler
	// AssumeKey marks a request as authenticated by the key with id.
	AssumeKey func(ctx context.Context, id int64) context.Context
	Tasks     StudioTasks
	// Previews are the partial images of the tasks this node runs; nil
	// when there are none.
	Previews StudioPreviews
	// Every is how often the event stream reads the task (default 250 ms).
	Every time.Duration
	// KeepAlive is the interval of comment lines on a quiet stream
	// (default 15 s).
	KeepAlive time.Duration
}

// MountStudio adds the studio's routes.
func MountStudio(a *API, d StudioDeps) {
	if d.Every <= 0 {
		d.Every = 250 * time.Millisecond
	}
	if d.KeepAlive <= 0 {
		d.KeepAlive = 15 * time.Second
	}
	h := &studio{d: d, pg: &playground{d: PlaygroundDeps{Keys: d.Keys}}}
	a.Add(
		Route{Method: "GET", Path: "/api/v1/me/studio/price", Access: User, Handle: h.price},
		Route{Method: "POST", Path: "/api/v1/me/studio/generations", Access: User, Raw: h.submit("/v1/images/generations")},
		Route{Method: "POST", Path: "/api/v1/me/studio/edits", Access: User, Raw: h.submit("/v1/images/edits")},
		Route{Method: "GET", Path: "/api/v1/me/studio/jobs/{id}", Access: User, Raw: h.task("GET")},
		Route{Method: "DELETE", Path: "/api/v1/me/studio/jobs/{id}", Access: User, Raw: h.task("DELETE")},
		Route{Method: "GET", Path: "/api/v1/me/studio/jobs/{id}/events", Access: User, Raw: h.events},
	)
}

type studio struct {
	d  StudioDeps
	pg *playground
}

// StudioPrice answers GET /api/v1/me/studio/price.
type StudioPrice struct {
	Model         string `json:"model"`
	Priced        bool   `json:"priced"`
	Free          bool   `json:"free"`
	GroupRatioPPM int64  `json:"group_ratio_ppm"`
	// PerImageMicros is the price of one image of that size and quality
	// before the group's ratio; 0 when no per-image entry applies.
	PerImageMicros   int64 `json:"per_image_micros"`
	PerRequestMicros int64 `json:"per_request_micros"`
	// TotalMicros is what n images cost at the group's ratio.
	TotalMicros int64 `json:"total_micros"`
}

func (h *studio) price(r *http.Request, p *Principal) (any, error) {
	k, err := h.pg.ownKey(r, p)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	model := q.Get("model")
	if model == "" {
		return nil, Invalid("model", "Choose a model.")
	}
	if err := k.AllowModel(model); err != nil {
		return nil, Invalid("model", "This key may not use that model.")
	}
	n := 1
	if s := q.Get("n"); s != "" {
		if n, err = strconv.Atoi(s); err != nil || n < 1 || n > 10 {
			return nil, Invalid("n", "Must be between 1 and 10.")
		}
	}
	out := StudioPrice{Model: model, GroupRatioPPM: k.GroupRatioPPM}
	pr, ok := h.d.Price(model)
	if !ok {
		return out, nil
	}
	out.Priced, out.Free = true, pr.Free
	if pr.Free {
		return out, nil
	}
	per, _ := pr.ImagePrice(q.Get("size"), q.Get("quality"))
	out.PerImageMicros, out.PerRequestMicros = int64(per), int64(pr.PerRequest)
	out.TotalMicros = (out.PerImageMicros*int64(n) + out.PerRequestMicros) * k.GroupRatioPPM / 1_000_000
	return out, nil
}

// relay sends r to path on /v1 as key id and writes the API's answer.
func (h *studio) relay(w http.ResponseWriter, r *http.Request, keyID int64, method, path string) {
	r2 := r.Clone(h.d.AssumeKey(r.Context(), keyID))
	r2.Method = method
	r2.URL.Path, r2.URL.RawPath, r2.URL.RawQuery = path, "", ""
	r2.RequestURI = r2.URL.RequestURI()
	// The console's credentials stay in the console.
	for _, hd := range []string{"Cookie", "Authorization", "X-Api-Key", "Origin", "Last-Event-Id"} {
		r2.Header.Del(hd)
	}
	h.d.Relay.ServeHTTP(w, r2)
}

// submit queues a generation or an edit (JSON or multipart, as the API
// takes them) as an async task of the chosen key: the answer is the API's
// 202 with the task, or its error.
func (h *studio) submit(path string) func(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		k, err := h.pg.ownKey(r, p)
		if err != nil {
			return err
		}
		r.Header.Set("Prefer", "respond-async")
		h.relay(w, r, k.ID, "POST", path)
		return nil
	}
}

// owned is the caller's task with the path's id.
func (h *studio) owned(r *http.Request, p *Principal) (images.Task, error) {
	id := r.PathValue("id")
	t, err := h.d.Tasks.GetOwned(r.Context(), id, p.UserID)
	if errors.Is(err, images.ErrTaskNotFound) {
		return t, NotFound("job " + id)
	}
	return t, err
}

// task reads or cancels a job through GET/DELETE /v1/images/tasks/{id},
// as the key that made it: the answer is the API's task.
func (h *studio) task(method string) func(w http.ResponseWriter, r *http.Request, p *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		t, err := h.owned(r, p)
		if err != nil {
			return err
		}
		h.relay(w, r, t.KeyID, method, "/v1/images/tasks/"+t.ID)
		return nil
	}
}

// Event ids are a function of the task's state, so a stream resumed with
// Last-Event-ID sends exactly what the client has not seen:
//
//	queued 1, running 2, progress p → 10+p, partial k of image i →
//	120+4i+k, image i → 200+i, end 1000.
//
// A progress change after the first partial, and a partial of an earlier
// image arriving after one of a later image (a fanned-out task's parts run
// side by side), are not sent: they would go back in the order.
const (
	evQueued   = 1
	evRunning  = 2
	evProgress = 10
	evPartial  = 120
	evImage    = 200
	evEnd      = 1000
)

// events streams a job's progress as server-sent events. The handler
// reads the task from the store every StudioDeps.Every (the task store has
// no change notification that reaches every node; a row read by primary
// key is cheap), and sends what changed:
//
//	queued, running, progress {"progress"}, partial {index,
//	partial_image_index, b64_json, content_type} for each preview the
//	upstream streams (when the task asked for partial_images and runs on
//	this node; the previews are kept in memory, never stored), image
//	{index, url, …} once per stored image, then one of done / failed /
//	cancelled with the task as
//	GET /v1/images/tasks/{id} shows it (failed carries the upstream's
//	error), after which the stream ends.
//
// A client that reconnects with Last-Event-ID (or ?last_event_id=) gets
// only later events; one that has already seen the end gets 204, which
// tells an EventSource to stop reconnecting.
func (h *studio) events(w http.ResponseWriter, r *http.Request, p *Principal) error {
	t, err := h.owned(r, p)
	if err != nil {
		return err
	}
	last := 0
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		s = r.URL.Query().Get("last_event_id")
	}
	if s != "" {
		if last, err = strconv.Atoi(s); err != nil || last < 0 {
			return Invalid("last_event_id", "Must be an event id this stream sent.")
		}
	}
	if last >= evEnd {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(id int, name string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", id, name, b); err != nil {
			return err
		}
		last = id
		return rc.Flush()
	}
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return nil
	}
	tick := time.NewTicker(h.d.Every)
	defer tick.Stop()
	quiet := time.Now()
	for {
		n := last
		if err := h.emit(r, t, &last, send); err != nil || last >= evEnd {
			return nil
		}
		if last != n {
			quiet = time.Now()
		} else if time.Since(quiet) >= h.d.KeepAlive {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return nil
			}
			quiet = time.Now()
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-tick.C:
		}
		if t, err = h.d.Tasks.GetOwned(r.Context(), t.ID, p.UserID); err != nil {
			return nil
		}
	}
}

// studioImage is an image event's data.
type studioImage struct {
	Index       int    `json:"index"`
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	Bytes       int64  `json:"bytes"`
	ExpiresAt   int64  `json:"expires_at"`
}

// emit sends the events t's state implies beyond *last.
func (h *studio) emit(r *http.Request, t images.Task, last *int, send func(int, string, any) error) error {
	if *last < evQueued {
		if err := send(evQueued, "queued", map[string]any{"id": t.ID, "status": images.StatusQueued, "n": t.N, "model": t.Model, "kind": t.Kind}); err != nil {
			return err
		}
	}
	if t.Status == images.StatusQueued {
		return nil
	}
	if *last < evRunning && (t.Status == images.StatusRunning || !t.StartedAt.IsZero()) {
		if err := send(evRunning, "running", map[string]any{"status": images.StatusRunning, "progress": t.Progress}); err != nil {
			return err
		}
	}
	if t.Progress > 0 && evProgress+t.Progress > *last && *last < evImage {
		if err := send(evProgress+t.Progress, "progress", map[string]any{"progress": t.Progress}); err != nil {
			return err
		}
	}
	if !t.Finished() {
		return h.partials(t, last, send)
	}
	// The task as the API shows it, with fresh signed URLs.
	rec := httptest.NewRecorder()
	req := r.Clone(r.Context())
	req.Header = req.Header.Clone()
	h.relay(rec, req, t.KeyID, "GET", "/v1/images/tasks/"+t.ID)
	var view map[string]any
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &view) != nil {
		// The key is gone: the store's own record, without links.
		view = map[string]any{"id": t.ID, "object": "image.task", "status": t.Status, "progress": t.Progress,
			"n": t.N, "delivered": t.Delivered, "cost_micros": t.CostMicros, "data": []any{}, "error": nil}
		if t.ErrorCode != "" {
			view["error"] = map[string]string{"code": t.ErrorCode, "message": t.ErrorMessage}
		}
	}
	var data []studioImage
	if b, err := json.Marshal(view["data"]); err == nil {
		_ = json.Unmarshal(b, &data)
	}
	for _, im := range data {
		if evImage+im.Index > *last && im.Index < evEnd-evImage {
			if err := send(evImage+im.Index, "image", im); err != nil {
				return err
			}
		}
	}
	name := map[string]string{images.StatusSucceeded: "done", images.StatusFailed: "failed", images.StatusCancelled: "cancelled"}[t.Status]
	return send(evEnd, name, view)
}

// studioPartial is a partial event's data.
type studioPartial struct {
	Index       int    `json:"index"`
	Partial     int    `json:"partial_image_index"`
	B64JSON     []byte `json:"b64_json"` // encoded as base64 by encoding/json
	ContentType string `json:"content_type"`
}

// maxPartials is the partials per image the event ids leave room for.
const maxPartials = 4

// partials sends the previews of running task t beyond *last.
func (h *studio) partials(t images.Task, last *int, send func(int, string, any) error) error {
	if h.d.Previews == nil {
		return nil
	}
	for _, p := range h.d.Previews.Get(t.ID) {
		if p.Index < 0 || p.Partial < 0 || p.Partial >= maxPartials {
			continue
		}
		id := evPartial + maxPartials*p.Index + p.Partial
		if id <= *last || id >= evImage {
			continue
		}
		if err := send(id, "partial", studioPartial{Index: p.Index, Partial: p.Partial, B64JSON: p.Data, ContentType: p.ContentType}); err != nil {
			return err
		}
	}
	return nil
}
