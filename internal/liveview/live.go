// Package liveview keeps the console's live view: requests per second, errors
// per second and requests in flight, for the whole gateway and per user.
//
// Each node counts its own requests in memory (Counters: an atomic add on
// the request path, nothing else). Once a second a Hub samples the
// counters into rates; with Redis it publishes its figures under a key of
// its own with a short TTL and sums every live node's, so each node's view
// covers the cluster and a node that died drops out within seconds.
package liveview

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Figures are the live numbers of the gateway or of one user.
type Figures struct {
	RequestsPerSecond float64 `json:"requests_per_second"`
	ErrorsPerSecond   float64 `json:"errors_per_second"`
	InFlight          int64   `json:"in_flight"`
}

func (f Figures) zero() bool { return f == Figures{} }

func (f *Figures) add(o Figures) {
	f.RequestsPerSecond += o.RequestsPerSecond
	f.ErrorsPerSecond += o.ErrorsPerSecond
	f.InFlight += o.InFlight
}

// Snapshot is the live view at one moment.
type Snapshot struct {
	Time  time.Time
	Nodes int // nodes whose figures are summed
	Total Figures
	Users map[int64]Figures // users with anything to show
}

// User returns one user's figures (zero when idle).
func (s *Snapshot) User(id int64) Figures { return s.Users[id] }

// tally is a set of cumulative counters.
type tally struct {
	requests, errors, inFlight atomic.Int64
}

// Counters are one node's request counters.
type Counters struct {
	all   tally
	users sync.Map // int64 → *tally
}

func (c *Counters) user(id int64) *tally {
	if t, ok := c.users.Load(id); ok {
		return t.(*tally)
	}
	t, _ := c.users.LoadOrStore(id, &tally{})
	return t.(*tally)
}

// InFlight moves the in-flight count of the gateway and of user (0: none)
// by delta; relay.Options.InFlight calls it.
func (c *Counters) InFlight(user int64, delta int) {
	c.all.inFlight.Add(int64(delta))
	if user != 0 {
		c.user(user).inFlight.Add(int64(delta))
	}
}

// Done counts a finished request of user (0: none).
func (c *Counters) Done(user int64, failed bool) {
	c.all.requests.Add(1)
	if failed {
		c.all.errors.Add(1)
	}
	if user != 0 {
		t := c.user(user)
		t.requests.Add(1)
		if failed {
			t.errors.Add(1)
		}
	}
}

// Running is the node's requests in flight now.
func (c *Counters) Running() int64 { return c.all.inFlight.Load() }

// Window is how far back the rates look: smooth enough to read, recent
// enough to be live.
const Window = 5 * time.Second

type sample struct {
	at                 time.Time
	requests, errors   int64
	userReqs, userErrs map[int64]int64
}

// sampler turns the cumulative counters into rates over Window.
type sampler struct {
	c       *Counters
	samples []sample // oldest first, spanning about Window
}

func (s *sampler) take(now time.Time) Snapshot {
	cur := sample{at: now, requests: s.c.all.requests.Load(), errors: s.c.all.errors.Load(),
		userReqs: map[int64]int64{}, userErrs: map[int64]int64{}}
	inFlight := map[int64]int64{}
	s.c.users.Range(func(k, v any) bool {
		id, t := k.(int64), v.(*tally)
		cur.userReqs[id], cur.userErrs[id] = t.requests.Load(), t.errors.Load()
		if n := t.inFlight.Load(); n != 0 {
			inFlight[id] = n
		}
		return true
	})
	s.samples = append(s.samples, cur)
	for len(s.samples) > 2 && now.Sub(s.samples[1].at) >= Window {
		s.samples = s.samples[1:]
	}
	snap := Snapshot{Time: now, Nodes: 1, Total: Figures{InFlight: s.c.all.inFlight.Load()}, Users: map[int64]Figures{}}
	old := s.samples[0]
	secs := now.Sub(old.at).Seconds()
	rate := func(n, was int64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(n-was) / secs
	}
	snap.Total.RequestsPerSecond = rate(cur.requests, old.requests)
	snap.Total.ErrorsPerSecond = rate(cur.errors, old.errors)
	for id, n := range cur.userReqs {
		f := Figures{RequestsPerSecond: rate(n, old.userReqs[id]), ErrorsPerSecond: rate(cur.userErrs[id], old.userErrs[id]),
			InFlight: inFlight[id]}
		if !f.zero() {
			snap.Users[id] = f
		}
	}
	return snap
}

// HubOptions configure a Hub.
type HubOptions struct {
	Counters *Counters
	// Redis, when set, sums the figures of every node sharing Prefix.
	Redis  redis.UniversalClient
	Prefix string
	Logger *slog.Logger
	Now    func() time.Time
	Every  time.Duration // default 1 s
}

// Hub samples the counters every second and keeps the latest snapshot.
type Hub struct {
	o       HubOptions
	node    string
	tickMu  sync.Mutex // one Tick at a time: Run's, or a test's
	sampler sampler
	latest  atomic.Pointer[Snapshot]
	mu      sync.Mutex
	subs    map[chan struct{}]struct{}
	stopped bool // Run returned: subscriptions are closed
}

// NewHub returns a Hub; Run makes it tick.
func NewHub(o HubOptions) *Hub {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	// The counters start at zero now: the first rates count from here,
	// not from the first tick.
	start := sample{at: o.Now(), userReqs: map[int64]int64{}, userErrs: map[int64]int64{}}
	h := &Hub{o: o, node: hex.EncodeToString(b[:]), sampler: sampler{c: o.Counters, samples: []sample{start}},
		subs: map[chan struct{}]struct{}{}}
	h.latest.Store(&Snapshot{Time: o.Now(), Nodes: 1, Users: map[int64]Figures{}})
	return h
}

// Latest is the most recent snapshot.
func (h *Hub) Latest() *Snapshot { return h.latest.Load() }

// Subscribe returns a channel that receives after each new snapshot (a
// slow reader misses ticks rather than holding the hub) and is closed when
// Run returns, so that streams end with the node; and a function that ends
// the subscription.
func (h *Hub) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.stopped {
		close(ch)
	} else {
		h.subs[ch] = struct{}{}
	}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// Run ticks until ctx ends, then closes the subscriptions.
func (h *Hub) Run(ctx context.Context) {
	t := time.NewTicker(h.o.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			h.mu.Lock()
			h.stopped = true
			for ch := range h.subs {
				close(ch)
				delete(h.subs, ch)
			}
			h.mu.Unlock()
			return
		case <-t.C:
			h.Tick(ctx)
		}
	}
}

// Tick samples the counters, shares them when there is Redis, and
// publishes the snapshot to subscribers.
func (h *Hub) Tick(ctx context.Context) {
	h.tickMu.Lock()
	defer h.tickMu.Unlock()
	snap := h.sampler.take(h.o.Now())
	if h.o.Redis != nil {
		all, err := h.share(ctx, snap)
		if err != nil {
			// This node's own figures are better than none.
			h.o.Logger.Warn("live view: sharing figures through redis failed", "error", err.Error())
		} else {
			snap = all
		}
	}
	h.latest.Store(&snap)
	h.mu.Lock()
	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	h.mu.Unlock()
}

// wire is a node's published figures.
type wire struct {
	Total Figures            `json:"t"`
	Users map[string]Figures `json:"u,omitempty"`
}

// nodeTTL is how long a node's figures count after it last published.
const nodeTTL = 3 * time.Second

// share publishes this node's figures and sums every live node's: the
// node's figures under a key of its own with a TTL, its name in a sorted
// set scored by publication time, so readers skip dead nodes' names.
func (h *Hub) share(ctx context.Context, mine Snapshot) (Snapshot, error) {
	w := wire{Total: mine.Total, Users: map[string]Figures{}}
	for id, f := range mine.Users {
		w.Users[strconv.FormatInt(id, 10)] = f
	}
	b, err := json.Marshal(w)
	if err != nil {
		return mine, err
	}
	nodes := h.o.Prefix + "live:nodes"
	now := mine.Time
	pipe := h.o.Redis.TxPipeline()
	pipe.Set(ctx, h.o.Prefix+"live:node:"+h.node, b, nodeTTL)
	pipe.ZAdd(ctx, nodes, redis.Z{Score: float64(now.UnixMilli()), Member: h.node})
	pipe.ZRemRangeByScore(ctx, nodes, "-inf", strconv.FormatInt(now.Add(-nodeTTL).UnixMilli(), 10))
	pipe.Expire(ctx, nodes, time.Hour)
	members := pipe.ZRange(ctx, nodes, 0, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return mine, fmt.Errorf("publish live figures: %w", err)
	}
	names := members.Val()
	if len(names) == 0 {
		return mine, nil
	}
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = h.o.Prefix + "live:node:" + n
	}
	vals, err := h.o.Redis.MGet(ctx, keys...).Result()
	if err != nil {
		return mine, fmt.Errorf("read live figures: %w", err)
	}
	all := Snapshot{Time: now, Users: map[int64]Figures{}}
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // expired since
		}
		var nw wire
		if err := json.Unmarshal([]byte(s), &nw); err != nil {
			continue
		}
		all.Nodes++
		all.Total.add(nw.Total)
		for k, f := range nw.Users {
			id, err := strconv.ParseInt(k, 10, 64)
			if err != nil {
				continue
			}
			u := all.Users[id]
			u.add(f)
			all.Users[id] = u
		}
	}
	if all.Nodes == 0 {
		return mine, nil
	}
	return all, nil
}
