package pool

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/luabatch"
	"github.com/switchyard/switchyard/internal/relay"
)

// Pipelines reports whether QueuePick can put a lease on a script batch
// (the state is RedisState).
func (p *Pool) Pipelines() bool {
	_, ok := p.state.(*RedisState)
	return ok
}

// QueuePick is Pick in two steps, for a relay that runs the admission and
// the reservation in the same script call: it queues the acquire of the
// channel Pick would try first on b, and the PendingLease reads it once b
// ran. Errors known without Redis (no route, a bad pin) come back at once,
// with nothing queued. The state must be Redis (Pipelines).
func (p *Pool) QueuePick(b *luabatch.Batch, q *relay.PickQuery) (relay.PendingLease, error) {
	rs, ok := p.state.(*RedisState)
	if !ok {
		return nil, errors.New("pool: leases can be batched only with the Redis state")
	}
	pp := &pendingPick{p: p, rs: rs, q: q, now: p.now(), final: true}
	rt := p.rt.Load()
	force := false
	if q.PinChannel != "" || q.PinCredential != 0 {
		ch, f, err := pinnedChannel(rt, q)
		if err != nil {
			return nil, err
		}
		pp.ch, force = ch, f
	} else {
		ch, n, err := firstChannel(rt, q)
		if err != nil {
			return nil, err
		}
		pp.ch, pp.final = ch, n == 1
	}
	pp.id = p.newLeaseID()
	a := p.acquireArgs(pp.ch, candidates(pp.ch, q.Exclude), pp.id, pp.now, force)
	rs.queueAcquire(b, a, &pp.qa)
	*a = Acquire{}
	acquirePool.Put(a)
	return pp, nil
}

// firstChannel is the channel Pick tries first for q (by weight within the
// first tier that has one), and how many channels it could try in all.
func firstChannel(rt *routing, q *relay.PickQuery) (*channel, int, error) {
	r := rt.route(q.Model)
	if r == nil {
		return nil, 0, relay.ErrNoRoute
	}
	group := q.Group
	if group == "" {
		group = config.DefaultGroup
	}
	served, n := false, 0
	var first *channel
	var order [16]*channel
	for _, t := range r.tiers {
		chs, weights, some := t.eligible(group, q.Accept, order[:0])
		served = served || some
		n += len(chs)
		if first == nil && len(chs) > 0 {
			first = chs[pickWeighted(chs, weights)]
		}
	}
	switch {
	case !served:
		return nil, 0, relay.ErrGroupDenied
	case first == nil:
		return nil, 0, &relay.NoTargetError{}
	}
	return first, n, nil
}

// eligible appends to buf the channels of t that serve group and pass
// accept, with their weights' sum; served says whether any serves group
// (a group no channel serves is refused, not "no target").
func (t *tier) eligible(group string, accept func(string) bool, buf []*channel) (chs []*channel, weights int, served bool) {
	chs = buf
	for _, ch := range t.channels {
		if !ch.groups[group] {
			continue
		}
		served = true
		if accept != nil && !accept(ch.cfg.Type) {
			continue
		}
		chs = append(chs, ch)
		weights += max(ch.cfg.Weight, 1)
	}
	return chs, weights, served
}

// pendingPick is a first lease queued on a batch.
type pendingPick struct {
	p     *Pool
	rs    *RedisState
	q     *relay.PickQuery
	ch    *channel
	id    string
	now   time.Time
	qa    queuedAcquire
	final bool // ch was the only channel to try: its answer is Pick's
	read  bool
}

var _ relay.PendingLease = (*pendingPick)(nil)

// Lease reads the queued acquire. When it found nothing and other channels
// could serve, they are tried as Pick would, one round trip each.
func (pp *pendingPick) Lease(ctx context.Context) (relay.Lease, error) {
	if pp.read {
		return nil, errors.New("pool: pending lease read twice")
	}
	pp.read = true
	g, err := pp.rs.acquired(&pp.qa)
	l, at, limited, err := pp.p.granted(ctx, pp.ch, pp.id, pp.now, g, err)
	switch {
	case err != nil:
		return nil, err
	case l != nil:
		return l, nil
	case pp.final:
		return nil, &relay.NoTargetError{RetryAt: at, RateLimited: limited}
	}
	// The others, without this channel's credentials (just refused).
	q := *pp.q
	q.Exclude = slices.Clip(q.Exclude)
	for _, c := range pp.qa.cands {
		q.Exclude = append(q.Exclude, c.ID)
	}
	lease, err := pp.p.Pick(ctx, &q)
	if nt, ok := errors.AsType[*relay.NoTargetError](err); ok {
		if !at.IsZero() && (nt.RetryAt.IsZero() || at.Before(nt.RetryAt)) {
			nt.RetryAt = at
		}
		nt.RateLimited = nt.RateLimited || limited
	}
	return lease, err
}

// Cancel gives back the queued lease, if it was granted, as if it had not
// been: the request was refused before any attempt (cancel.lua).
func (pp *pendingPick) Cancel(ctx context.Context) {
	if pp.read {
		return
	}
	pp.read = true
	g, err := pp.rs.acquired(&pp.qa)
	if err != nil || !g.Found {
		return
	}
	if err := pp.rs.cancel(context.WithoutCancel(ctx), g.CredID, pp.id, &pp.qa); err != nil {
		pp.p.log.LogAttrs(ctx, slog.LevelWarn, "give back credential",
			slog.Int64("credential", g.CredID), slog.String("error", err.Error()))
	}
}
