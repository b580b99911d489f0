package app

import (
	"context"
	"time"

	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/liveview"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/usage"
)

// The console's analytics: rollups of the usage log (written by the
// meter's drainer with the rows, pruned here) and the live view (counted
// on the request path, sampled once a second, shared through Redis).

// rollupPruneEvery is how often old rollup rows are deleted; a day of
// minute rows is about a thousand rows a minute at most, so rounds are
// short.
const rollupPruneEvery = 10 * time.Minute

// mountAnalytics adds the analytics routes to the console.
func (a *App) mountAnalytics(c *console.API) {
	o := liveview.HubOptions{Counters: &a.live, Logger: a.log, Now: a.now}
	if a.redis != nil {
		o.Redis, o.Prefix = a.redis, a.cfg.Redis.Prefix
	}
	a.liveHub = liveview.NewHub(o)
	console.MountAnalytics(c, console.AnalyticsDeps{Stats: usage.NewStore(a.db), Live: a.liveHub})
}

// startAnalytics runs the live hub and the rollup pruning until ctx ends.
func (a *App) startAnalytics(ctx context.Context) {
	if a.liveHub != nil {
		go a.liveHub.Run(ctx)
	}
	go usage.NewStore(a.db).RunPruning(ctx, rollupPruneEvery, a.now, a.log)
}

// LiveView is the node's live view; LiveCounters its own request counters.
func (a *App) LiveView() *liveview.Hub { return a.liveHub }

// LiveCounters are the node's own live request counters (tests check that
// nothing stays in flight).
func (a *App) LiveCounters() *liveview.Counters { return &a.live }

// liveInFlight is relay.Options.InFlight: an atomic add or two.
func (a *App) liveInFlight(ctx context.Context, delta int) {
	var user int64
	if k := auth.FromContext(ctx); k != nil {
		user = k.UserID
	}
	a.live.InFlight(user, delta)
}

// liveDone counts a finished request for the live view.
func (a *App) liveDone(ctx context.Context, res relay.Result) {
	var user int64
	if k := auth.FromContext(ctx); k != nil {
		user = k.UserID
	}
	a.live.Done(user, usage.IsError(res.Status))
}
