package console

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/internal/liveview"
	"github.com/switchyard/switchyard/internal/usage"
)

// AnalyticsStats answers analytics queries from the usage rollups
// (*usage.Store).
type AnalyticsStats interface {
	Stats(ctx context.Context, q usage.StatsQuery) (*usage.Stats, error)
}

// LiveFeed is the node's live view (*liveview.Hub).
type LiveFeed interface {
	Latest() *liveview.Snapshot
	Subscribe() (<-chan struct{}, func())
}

// AnalyticsDeps are what the analytics routes consume.
type AnalyticsDeps struct {
	Stats AnalyticsStats
	Live  LiveFeed
}

// MountAnalytics adds the analytics routes: an admin's view of the
// gateway (or of one user), a user's view of their own usage, and the live
// view as server-sent events.
func MountAnalytics(a *API, d AnalyticsDeps) {
	a.Add(
		Route{Method: http.MethodGet, Path: "/api/v1/admin/analytics", Access: Admin,
			Handle: func(r *http.Request, _ *Principal) (any, error) {
				q, err := statsQuery(r, true)
				if err != nil {
					return nil, err
				}
				return d.Stats.Stats(r.Context(), q)
			}},
		Route{Method: http.MethodGet, Path: "/api/v1/me/analytics", Access: User,
			Handle: func(r *http.Request, p *Principal) (any, error) {
				q, err := statsQuery(r, false)
				if err != nil {
					return nil, err
				}
				q.UserID = p.UserID
				return d.Stats.Stats(r.Context(), q)
			}},
		Route{Method: http.MethodGet, Path: "/api/v1/live", Access: User,
			Raw: func(w http.ResponseWriter, r *http.Request, p *Principal) error {
				return streamLive(w, r, p, d.Live)
			}},
	)
}

// statsQuery reads range, by, top and (admin only) user_id.
func statsQuery(r *http.Request, admin bool) (usage.StatsQuery, error) {
	v := r.URL.Query()
	q := usage.StatsQuery{Range: v.Get("range")}
	if q.Range == "" {
		q.Range = "24h"
	}
	if !usage.ValidRange(q.Range) {
		return q, Invalid("range", "range must be 24h, 7d or 30d.")
	}
	if by := v.Get("by"); by != "" {
		d, ok := usage.ParseDim(by)
		switch {
		case !ok && admin:
			return q, Invalid("by", "by must be model, channel, credential, key or user.")
		case !ok || d == usage.DimUser && !admin:
			return q, Invalid("by", "by must be model, channel, credential or key.")
		}
		q.By = d
	}
	if s := v.Get("top"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > usage.MaxTop {
			return q, Invalidf("top", "top must be an integer from 1 to %d.", usage.MaxTop)
		}
		q.Top = n
	}
	if s := v.Get("user_id"); s != "" && admin {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 1 {
			return q, Invalid("user_id", "user_id must be a positive integer.")
		}
		q.UserID = id
	}
	return q, nil
}

// liveEvent is one event of /api/v1/live.
type liveEvent struct {
	Time  time.Time `json:"time"`
	Scope string    `json:"scope"` // "all" (admins) or "user" (the caller's own requests)
	Nodes int       `json:"nodes"`
	liveview.Figures
}

// streamLive sends the live view once a second until the client goes or
// the node stops. Admins see the whole gateway; a user sees their own
// requests only, since the gateway's traffic is other users' business.
func streamLive(w http.ResponseWriter, r *http.Request, p *Principal, feed LiveFeed) error {
	ticks, stop := feed.Subscribe()
	defer stop()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // a buffering proxy would hold the events
	w.WriteHeader(http.StatusOK)
	send := func() error {
		s := feed.Latest()
		ev := liveEvent{Time: s.Time.UTC(), Scope: "all", Nodes: s.Nodes, Figures: s.Total}
		if !p.IsAdmin() {
			ev.Scope, ev.Figures = "user", s.User(p.UserID)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(append([]byte("event: live\ndata: "), b...), '\n', '\n')); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send(); err != nil {
		return nil // the client went away
	}
	for {
		select {
		case <-r.Context().Done():
			return nil
		case _, open := <-ticks:
			if !open {
				return nil
			}
			if err := send(); err != nil {
				return nil
			}
		}
	}
}
