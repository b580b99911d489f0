package pool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/luabatch"
	"github.com/switchyard/switchyard/internal/relay"
)

// LeaseTTL bounds how long a lease outlives a dead node; live leases are
// renewed every LeaseTTL/3 for as long as their request runs.
const LeaseTTL = 60 * time.Second

// Options configures a Pool.
type Options struct {
	Logger    *slog.Logger
	Store     *Store
	State     State
	Scheduler config.Scheduler
	// Clients hands out the HTTP client of a proxy URL ("" = direct).
	Clients func(proxy string) (*http.Client, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Spend prices an attempt's usage in micro-USD for daily_spend; nil
	// means spend is not tracked.
	Spend func(model string, u relay.Usage) int64
	// Only, when set, limits routing to these channel names (the
	// configuration file's); other stored channels are ignored.
	Only []string
	// Grants obtains access tokens, by channel type, for the channel types
	// that do not use the refresh_token grant at the channel's token_url
	// (vertex: a service account's signed JWT).
	Grants map[string]TokenGrant
}

// Pool is the account pool: it routes each attempt to a channel and leases
// one of its credentials, and learns from each outcome. It implements
// relay.Scheduler.
type Pool struct {
	log       *slog.Logger
	store     *Store
	state     State
	sched     config.Scheduler
	clients   func(string) (*http.Client, error)
	now       func() time.Time
	spend     func(string, relay.Usage) int64
	grants    map[string]TokenGrant
	only      map[string]bool
	rt        atomic.Pointer[routing]
	leases    sync.Map // *lease → struct{}: the leases held, for renewal
	writes    chan statusWrite
	probe     func(ctx context.Context, t *relay.Target, model string) error
	stop      context.CancelFunc
	wg        sync.WaitGroup
	reloadMu  sync.Mutex
	leaseBase string
	leaseSeq  atomic.Uint64
	today     atomic.Pointer[dayName] // Day's answer for the current day (day)
	savedJSON string                  // the memory state as last saved (single node)

	// Suspicion probes (suspect.go) run on bg, which Close cancels before
	// waiting for probes; suspects holds each credential's last probe.
	bg        context.Context
	bgCancel  context.CancelFunc
	suspectMu sync.Mutex
	suspects  map[int64]time.Time
	probes    sync.WaitGroup
}

var _ relay.Scheduler = (*Pool)(nil)

// New builds a pool and loads its routing table from the store. Call Start
// to run its background loops and Close to stop them.
func New(ctx context.Context, opts Options) (*Pool, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	p := &Pool{
		log: opts.Logger, store: opts.Store, state: opts.State, sched: opts.Scheduler,
		clients: opts.Clients, now: opts.Now, spend: opts.Spend, grants: opts.Grants,
		writes: make(chan statusWrite, 1024), leaseBase: hex.EncodeToString(b[:]) + "-",
		suspects: map[int64]time.Time{},
	}
	p.bg, p.bgCancel = context.WithCancel(context.WithoutCancel(ctx))
	if opts.Only != nil {
		p.only = make(map[string]bool, len(opts.Only))
		for _, n := range opts.Only {
			p.only[n] = true
		}
	}
	if ms, ok := p.state.(*MemoryState); ok {
		p.loadMemoryState(ctx, ms)
	}
	if err := p.Reload(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// SetProber sets the request the periodic test sends to a disabled
// credential (the relay's Probe). Call it before Start.
func (p *Pool) SetProber(probe func(ctx context.Context, t *relay.Target, model string) error) {
	p.probe = probe
}

// routing is an immutable snapshot of channels and credentials, swapped
// whole on reload so the hot path reads it without locks.
type routing struct {
	byModel map[string]*route // declared model names (not patterns)
	byName  map[string]*channel
	creds   map[int64]*cred
	// byGroup lists, sorted, the declared model names served to each
	// group: what /v1/models shows a key of that group.
	byGroup map[string][]string
	// patterns are the channels' pattern entries ("claude-*"), most
	// specific first; a name no channel declares is served by the channels
	// whose patterns match it, resolved on first use into matched.
	patterns []patternEntry
	matched  sync.Map     // model name → *route, for names only patterns serve
	nMatched atomic.Int32 // entries in matched, bounded by maxMatched
}

// route is how one model is served.
type route struct {
	tiers []*tier  // by priority, highest first
	types []string // channel types, in tier order
	// maxImages is the fewest images per upstream call over its channels
	// (see MaxImages).
	maxImages int
	groups    []string // sorted: the groups its channels serve
}

type patternEntry struct {
	glob string
	ch   *channel
}

// maxMatched bounds the cache of names resolved through patterns: clients
// choose the names, so past it a name is resolved on every request instead
// of growing the cache.
const maxMatched = 4096

type tier struct {
	priority int
	channels []*channel
}

type channel struct {
	id       int64
	cfg      config.Channel
	strategy Strategy
	groups   map[string]bool
	creds    []*cred
	cands    []Cand // creds as offered to the state, same order
}

type cred struct {
	id      int64
	ch      *channel
	kind    string
	email   string
	opts    CredOptions
	status  string // stored status at the last reload
	cand    Cand
	client  *http.Client
	secret  atomic.Pointer[Secret]
	version atomic.Int64
	refresh sync.Mutex // one refresh at a time on this node
}

func (c *cred) token() string {
	s := c.secret.Load()
	if s.Key != "" {
		return s.Key
	}
	return s.AccessToken
}

// Reload rebuilds the routing table from the store. Credentials that keep
// their id keep their live secret when the stored one is not newer.
func (p *Pool) Reload(ctx context.Context) error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	chs, creds, err := p.store.Load(ctx)
	if err != nil {
		return fmt.Errorf("load channels: %w", err)
	}
	old := p.rt.Load()
	rt := &routing{byModel: map[string]*route{}, byName: map[string]*channel{}, creds: map[int64]*cred{},
		byGroup: map[string][]string{}}
	byID := map[int64]*channel{}
	for _, cr := range chs {
		if cr.Config.Disabled || (p.only != nil && !p.only[cr.Config.Name]) {
			continue
		}
		ch := &channel{id: cr.ID, cfg: cr.Config, groups: map[string]bool{}}
		ch.strategy = Strategy(p.sched.Strategy)
		if cr.Config.Strategy != "" {
			ch.strategy = Strategy(cr.Config.Strategy)
		}
		groups := cr.Config.Groups
		if len(groups) == 0 {
			groups = []string{config.DefaultGroup}
		}
		for _, g := range groups {
			ch.groups[g] = true
		}
		byID[cr.ID] = ch
		rt.byName[ch.cfg.Name] = ch
	}
	for _, rec := range creds {
		ch := byID[rec.ChannelID]
		if ch == nil {
			continue
		}
		proxy := ch.cfg.Proxy
		if rec.Options.Proxy != "" {
			proxy = rec.Options.Proxy
		}
		client, err := p.clients(proxy)
		if err != nil {
			return fmt.Errorf("channel %s credential %d: %w", ch.cfg.Name, rec.ID, err)
		}
		c := &cred{id: rec.ID, ch: ch, kind: rec.Kind, email: rec.Email, opts: rec.Options, status: rec.Status,
			client: client}
		c.cand = Cand{ID: rec.ID, Weight: max(rec.Options.Weight, 1), DailyRequests: rec.Options.DailyLimit,
			DailyTokens: rec.Options.DailyTokens, DailySpend: int64(rec.Options.DailySpend*1e6 + 0.5)}
		sec := rec.Secret
		c.secret.Store(&sec)
		c.version.Store(rec.Version)
		if old != nil {
			if oc := old.creds[rec.ID]; oc != nil && oc.version.Load() > rec.Version {
				c.secret.Store(oc.secret.Load())
				c.version.Store(oc.version.Load())
			}
		}
		ch.creds = append(ch.creds, c)
		ch.cands = append(ch.cands, c.cand)
		rt.creds[rec.ID] = c
		switch {
		case rec.Status == StatusDisabled:
			// The durable status wins at load: a node that starts (or an
			// operator who disabled it by hand) must not route to it.
			if err := p.state.Disable(ctx, rec.ID, rec.LastError, p.now()); err != nil {
				return fmt.Errorf("load credential %d state: %w", rec.ID, err)
			}
		case old != nil && old.creds[rec.ID] != nil && old.creds[rec.ID].status == StatusDisabled:
			// Enabled elsewhere (another node, the console) since the last
			// load: a state kept in this node's memory must follow.
			if err := p.state.Enable(ctx, rec.ID, p.now()); err != nil {
				return fmt.Errorf("load credential %d state: %w", rec.ID, err)
			}
		}
	}
	for _, ch := range byID {
		if len(ch.creds) == 0 {
			continue
		}
		names := slices.Clone(ch.cfg.Models)
		for m := range ch.cfg.ModelMap {
			names = append(names, m)
		}
		slices.Sort(names)
		for _, m := range slices.Compact(names) {
			if config.IsModelPattern(m) {
				rt.patterns = append(rt.patterns, patternEntry{glob: m, ch: ch})
				continue
			}
			r := rt.byModel[m]
			if r == nil {
				r = &route{}
				rt.byModel[m] = r
			}
			r.add(ch)
		}
	}
	slices.SortFunc(rt.patterns, func(a, b patternEntry) int {
		if c := config.ComparePatterns(a.glob, b.glob); c != 0 {
			return c
		}
		return int(a.ch.id - b.ch.id)
	})
	for m, r := range rt.byModel {
		// A declared name is served as well by the channels whose patterns
		// match it.
		for _, pe := range rt.patterns {
			if config.MatchModel(pe.glob, m) {
				r.add(pe.ch)
			}
		}
		r.finish(m)
		for _, g := range r.groups {
			rt.byGroup[g] = append(rt.byGroup[g], m)
		}
	}
	for _, l := range rt.byGroup {
		slices.Sort(l)
	}
	p.rt.Store(rt)
	return nil
}

// route finds how model is served: its declared name, else the channels
// whose patterns match it; nil when none serves it.
func (rt *routing) route(model string) *route {
	if r := rt.byModel[model]; r != nil {
		return r
	}
	if len(rt.patterns) == 0 {
		return nil
	}
	if r, ok := rt.matched.Load(model); ok {
		return r.(*route)
	}
	r := &route{}
	for _, pe := range rt.patterns {
		if config.MatchModel(pe.glob, model) {
			r.add(pe.ch)
		}
	}
	if len(r.tiers) == 0 {
		return nil // misses are not cached: any string can miss
	}
	r.finish(model)
	if rt.nMatched.Load() < maxMatched {
		if _, loaded := rt.matched.LoadOrStore(model, r); !loaded {
			rt.nMatched.Add(1)
		}
	}
	return r
}

// add puts ch in the tier of its priority, once.
func (r *route) add(ch *channel) {
	for _, t := range r.tiers {
		if t.priority == ch.cfg.Priority {
			if !slices.Contains(t.channels, ch) {
				t.channels = append(t.channels, ch)
			}
			return
		}
	}
	r.tiers = append(r.tiers, &tier{priority: ch.cfg.Priority, channels: []*channel{ch}})
}

// finish orders the tiers and derives what is read per request.
func (r *route) finish(model string) {
	slices.SortFunc(r.tiers, func(a, b *tier) int { return b.priority - a.priority })
	r.maxImages = 0
	for _, t := range r.tiers {
		slices.SortFunc(t.channels, func(a, b *channel) int { return int(a.id - b.id) })
		for _, ch := range t.channels {
			r.types = append(r.types, ch.cfg.Type)
			if n := ch.maxImages(model); r.maxImages == 0 || n < r.maxImages {
				r.maxImages = n
			}
			for g := range ch.groups {
				r.groups = append(r.groups, g)
			}
		}
	}
	slices.Sort(r.groups)
	r.groups = slices.Compact(r.groups)
}

// DefaultMaxImages is the images per upstream call of a channel that sets
// no max_images (OpenAI's own limit for n), and of a model no channel serves.
const DefaultMaxImages = 10

// maxImages is how many images one call to ch may ask for model: the
// channel's max_images, else 1 for DALL·E 3 (which accepts only n=1), on a
// gemini or vertex channel 4 for Imagen and 1 for an image-output model, else
// DefaultMaxImages.
func (ch *channel) maxImages(model string) int {
	if ch.cfg.MaxImages > 0 {
		return ch.cfg.MaxImages
	}
	up := ch.cfg.UpstreamModel(model)
	if strings.HasPrefix(up, "dall-e-3") {
		return 1
	}
	if ch.cfg.Type == "gemini" || ch.cfg.Type == "vertex" {
		// As gemini.MaxImagesPerCall: Imagen's sampleCount stops at 4, an
		// image-output model makes one image per generateContent call.
		if strings.HasPrefix(up, "imagen") {
			return 4
		}
		return 1
	}
	return DefaultMaxImages
}

// MaxImages is how many images one upstream call for model may ask for:
// the smallest over the enabled channels that serve it, so that a request
// split to this size fits whichever channel is picked. It is
// DefaultMaxImages for a model no channel serves.
func (p *Pool) MaxImages(model string) int {
	if r := p.rt.Load().route(model); r != nil {
		return r.maxImages
	}
	return DefaultMaxImages
}

// Models implements relay.Scheduler: the declared model names served to
// group, never the patterns (a name is listed only if a channel declares it).
func (p *Pool) Models(group string) []string {
	if group == "" {
		group = config.DefaultGroup
	}
	return p.rt.Load().byGroup[group]
}

// ModelNames is every declared model name served to any group, sorted,
// without duplicates.
func (p *Pool) ModelNames() []string {
	var out []string
	for _, l := range p.rt.Load().byGroup {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ServesModel implements relay.Scheduler: some enabled channel serves model,
// by name or pattern, to group.
func (p *Pool) ServesModel(model, group string) bool {
	if group == "" {
		group = config.DefaultGroup
	}
	r := p.rt.Load().route(model)
	return r != nil && slices.Contains(r.groups, group)
}

// ChannelTypes implements relay.Scheduler: the types of the channels that
// serve model, by name or pattern.
func (p *Pool) ChannelTypes(model string) []string {
	if r := p.rt.Load().route(model); r != nil {
		return r.types
	}
	return nil
}

// Pick implements relay.Scheduler: the highest priority tier with a usable
// credential wins; inside a tier, channels are tried in a weighted random
// order; inside a channel, the strategy picks the credential.
func (p *Pool) Pick(ctx context.Context, q *relay.PickQuery) (relay.Lease, error) {
	rt := p.rt.Load()
	if q.PinChannel != "" || q.PinCredential != 0 {
		return p.pinned(ctx, rt, q)
	}
	r := rt.route(q.Model)
	if r == nil {
		return nil, relay.ErrNoRoute
	}
	tiers := r.tiers
	group := q.Group
	if group == "" {
		group = config.DefaultGroup
	}
	now := p.now()
	var retryAt time.Time
	served, limited := false, false
	var order [16]*channel
	for _, t := range tiers {
		chs, weights, some := t.eligible(group, q.Accept, order[:0])
		served = served || some
		for len(chs) > 0 {
			i := pickWeighted(chs, weights)
			ch := chs[i]
			weights -= max(ch.cfg.Weight, 1)
			chs = slices.Delete(chs, i, i+1)
			l, at, lim, err := p.acquire(ctx, ch, q.Exclude, now, false)
			if err != nil {
				return nil, err
			}
			if l != nil {
				return l, nil
			}
			limited = limited || lim
			if !at.IsZero() && (retryAt.IsZero() || at.Before(retryAt)) {
				retryAt = at
			}
		}
	}
	if !served {
		return nil, relay.ErrGroupDenied
	}
	return nil, &relay.NoTargetError{RetryAt: retryAt, RateLimited: limited}
}

// pickWeighted draws an index of chs in proportion to channel weight.
func pickWeighted(chs []*channel, total int) int {
	if len(chs) == 1 || total <= 0 {
		return 0
	}
	n := mrand.IntN(total)
	for i, ch := range chs {
		n -= max(ch.cfg.Weight, 1)
		if n < 0 {
			return i
		}
	}
	return len(chs) - 1
}

// acquire asks the state for one of ch's credentials not in exclude. When
// none is usable it says when one may be, and whether one only waits for a
// rate limit to pass (Grant.RateLimited).
func (p *Pool) acquire(ctx context.Context, ch *channel, exclude []int64, now time.Time, force bool) (*lease, time.Time, bool, error) {
	cands := candidates(ch, exclude)
	if len(cands) == 0 {
		return nil, time.Time{}, false, nil
	}
	id := p.newLeaseID()
	q := p.acquireArgs(ch, cands, id, now, force)
	g, err := p.state.Acquire(ctx, q)
	*q = Acquire{}
	acquirePool.Put(q)
	return p.granted(ctx, ch, id, now, g, err)
}

// candidates is ch's credentials not in exclude.
func candidates(ch *channel, exclude []int64) []Cand {
	cands := ch.cands
	if len(exclude) > 0 {
		cands = make([]Cand, 0, len(ch.cands))
		for _, c := range ch.cands {
			if !slices.Contains(exclude, c.ID) {
				cands = append(cands, c)
			}
		}
	}
	return cands
}

func (p *Pool) newLeaseID() string {
	var idb [64]byte
	return string(strconv.AppendUint(append(idb[:0], p.leaseBase...), p.leaseSeq.Add(1), 36)) // one allocation, not two
}

// acquireArgs fills an Acquire from acquirePool; put it back when done.
func (p *Pool) acquireArgs(ch *channel, cands []Cand, id string, now time.Time, force bool) *Acquire {
	q := acquirePool.Get().(*Acquire)
	*q = Acquire{
		Channel: ch.cfg.Name, Cands: cands, Strategy: ch.strategy, Now: now, Day: p.day(now),
		MinInterval: p.sched.MinInterval, Ratio: p.sched.DailyUsageRatio, Rand: mrand.Float64(),
		LeaseID: id, LeaseTTL: LeaseTTL, Force: force,
	}
	return q
}

// granted turns the state's answer into the lease of id on ch.
func (p *Pool) granted(ctx context.Context, ch *channel, id string, now time.Time, g Grant, err error) (*lease, time.Time, bool, error) {
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("acquire a credential of channel %s: %w", ch.cfg.Name, err)
	}
	if !g.Found {
		return nil, g.RetryAt, g.RateLimited, nil
	}
	var c *cred
	for _, cc := range ch.creds {
		if cc.id == g.CredID {
			c = cc
			break
		}
	}
	if c == nil {
		return nil, time.Time{}, false, fmt.Errorf("state granted credential %d, not offered by channel %s", g.CredID, ch.cfg.Name)
	}
	l := &lease{p: p, c: c, id: id, probe: g.Probe, start: now}
	if c.kind == KindOAuth && p.expiring(c, now, 30*time.Second) {
		if err := p.refreshToken(ctx, c, refreshAhead); err != nil {
			p.log.LogAttrs(ctx, slog.LevelWarn, "oauth refresh before use failed",
				slog.String("channel", ch.cfg.Name), slog.Int64("credential", c.id), slog.String("error", err.Error()))
		}
	}
	// NewTarget is inlined, its target copied: no allocation of its own.
	l.target = *relay.NewTarget(&ch.cfg, c.id, c.token(), c.client)
	p.leases.Store(l, struct{}{}) // a pointer key, unlike the id string, is not boxed
	return l, time.Time{}, false, nil
}

// acquirePool recycles Acquire arguments: the state is an interface, so
// each one would otherwise escape to the heap on every attempt.
var acquirePool = sync.Pool{New: func() any { return new(Acquire) }}

// pinned serves the admin headers X-Switchyard-Channel and -Credential.
func (p *Pool) pinned(ctx context.Context, rt *routing, q *relay.PickQuery) (relay.Lease, error) {
	ch, force, err := pinnedChannel(rt, q)
	if err != nil {
		return nil, err
	}
	now := p.now()
	// A pinned credential is leased whatever its health (testing a disabled
	// account is the point); a pinned channel still picks a healthy one.
	l, at, limited, err := p.acquire(ctx, ch, q.Exclude, now, force)
	if err != nil || l != nil {
		return l, err
	}
	return nil, &relay.NoTargetError{RetryAt: at, RateLimited: limited}
}

// pinnedChannel is the channel an admin's headers pin, and whether its
// one credential is forced.
func pinnedChannel(rt *routing, q *relay.PickQuery) (*channel, bool, error) {
	var ch *channel
	if q.PinCredential != 0 {
		c := rt.creds[q.PinCredential]
		if c == nil || (q.PinChannel != "" && c.ch.cfg.Name != q.PinChannel) {
			return nil, false, apierror.InvalidRequest(fmt.Sprintf("X-Switchyard-Credential: no credential %d in an enabled channel%s", q.PinCredential, pinSuffix(q.PinChannel)), "")
		}
		if slices.Contains(q.Exclude, c.id) {
			return nil, false, &relay.NoTargetError{}
		}
		ch = c.ch
		only := *ch
		only.creds, only.cands = []*cred{c}, []Cand{c.cand}
		ch = &only
	} else {
		ch = rt.byName[q.PinChannel]
		if ch == nil {
			return nil, false, apierror.InvalidRequest(fmt.Sprintf("X-Switchyard-Channel: no enabled channel named %q", q.PinChannel), "")
		}
	}
	if q.Accept != nil && !q.Accept(ch.cfg.Type) {
		return nil, false, apierror.InvalidRequest(fmt.Sprintf("channel %s (type %s) cannot serve this endpoint", ch.cfg.Name, ch.cfg.Type), "")
	}
	return ch, q.PinCredential != 0, nil
}

func pinSuffix(ch string) string {
	if ch == "" {
		return ""
	}
	return " of channel " + ch
}

// Day is the UTC day of t, the key of daily counters.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// dayName is Day's answer for the UTC day [start, start+86400) in Unix
// seconds.
type dayName struct {
	start int64
	name  string
}

// day is Day(t), formatted once per day rather than twice per attempt.
func (p *Pool) day(t time.Time) string {
	u := t.Unix()
	if d := p.today.Load(); d != nil && u >= d.start && u-d.start < 86400 {
		return d.name
	}
	start := u - ((u%86400)+86400)%86400
	d := &dayName{start: start, name: Day(t)}
	p.today.Store(d)
	return d.name
}

// lease is one attempt's hold on a credential.
type lease struct {
	p      *Pool
	c      *cred
	id     string
	target relay.Target // held here: one allocation for the lease and its target
	probe  bool
	start  time.Time
	done   atomic.Bool
	// release is QueueDone's queued release, until Released reads it.
	release queuedRelease
}

func (l *lease) Target() *relay.Target { return &l.target }

// Done implements relay.Lease: it classifies the outcome, releases the
// lease with it, and for an OAuth credential answered 401 refreshes the
// token once and offers the same credential again.
func (l *lease) Done(ctx context.Context, o relay.Outcome) bool {
	if !l.done.CompareAndSwap(false, true) {
		return false
	}
	so, now, again, suspect := l.classify(ctx, o)
	// Released whether or not the client is still there: a non-stream
	// client has its answer before this runs and may already have gone.
	if err := l.p.state.Release(uncancelled(ctx), l.c.id, l.id, so, now); err != nil {
		l.p.log.LogAttrs(ctx, slog.LevelWarn, "release credential",
			slog.Int64("credential", l.c.id), slog.String("error", err.Error()))
	}
	if suspect {
		l.p.suspect(ctx, l.c, so.Err)
	}
	return again
}

// uncancelled is context.WithoutCancel(ctx), or ctx itself when nothing
// can cancel it (the relay ends a committed attempt with its detached
// context): no allocation then.
func uncancelled(ctx context.Context) context.Context {
	if ctx.Done() == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// classify turns what the relay saw into what the state learns.
func (l *lease) classify(ctx context.Context, o relay.Outcome) (so Outcome, now time.Time, again, suspect bool) {
	p := l.p
	p.leases.Delete(l)
	now = p.now()
	so = Outcome{Err: o.Err, Day: p.day(now), CircuitFailures: p.sched.CircuitFailures, CircuitPause: p.sched.CircuitPause}
	switch {
	case o.Committed && o.Status >= 500:
		so.Kind = Failed // the stream broke after it reached the client
	case o.Committed:
		so.Kind = Success
		so.TTFB = o.TTFB
		so.Tokens = int64(o.Usage.PromptTokens + o.Usage.CompletionTokens)
		if p.spend != nil {
			so.Spend = p.spend(o.Model, o.Usage)
		}
	case o.ClientGone:
		so.Kind = Neutral
	case o.Status == http.StatusTooManyRequests:
		so.Kind = RateLimited
		so.Cooldown = o.RetryAfter
		if so.Cooldown <= 0 {
			so.Cooldown = p.sched.Cooldown429
		}
	case o.Status == http.StatusUnauthorized || o.Status == http.StatusForbidden:
		// Nothing is learned from the request itself (see suspect.go): a
		// refused credential is confirmed by the pool's own probe.
		so.Kind = Neutral
		suspect = refusesCredential(o.Status, o.Upstream)
		if o.Status == http.StatusUnauthorized && l.c.kind == KindOAuth && p.refreshable(l.c) {
			// An access token can be revoked or expire early: one refresh,
			// then the same credential again.
			if err := p.refreshToken(ctx, l.c, refreshAfter401); err == nil {
				suspect, again = false, true
			} else {
				so.Err = "oauth refresh after 401 failed: " + err.Error()
			}
		}
	case o.Status == 0, o.Status == http.StatusRequestTimeout, o.Status >= 500:
		so.Kind = Failed
	default:
		so.Kind = Neutral // 400-class answers caused by the request itself
	}
	return so, now, again, suspect
}

// QueueDone implements relay.PipelineLease: Done for a committed answer,
// its release queued on b (with the request's settle) and read by
// Released. A lease whose state is not Redis, or an outcome that is not a
// committed answer, is done at once as by Done. Done after it does nothing.
func (l *lease) QueueDone(ctx context.Context, b *luabatch.Batch, o relay.Outcome) {
	rs, ok := l.p.state.(*RedisState)
	if !ok || !o.Committed {
		l.Done(ctx, o)
		return
	}
	if !l.done.CompareAndSwap(false, true) {
		return
	}
	so, now, _, _ := l.classify(ctx, o) // committed: never again, never suspect
	rs.queueRelease(b, &l.release, l.c.id, l.id, so, now)
}

// Released reads the release QueueDone queued.
func (l *lease) Released(ctx context.Context) {
	if !l.release.queued {
		return
	}
	err := released(&l.release)
	l.release = queuedRelease{}
	if err != nil {
		l.p.log.LogAttrs(ctx, slog.LevelWarn, "release credential",
			slog.Int64("credential", l.c.id), slog.String("error", err.Error()))
	}
}

// statusWrite is a durable status change, written off the hot path.
type statusWrite struct {
	id        int64
	status    string
	lastError string
}

func (p *Pool) persist(id int64, status, lastError string) {
	select {
	case p.writes <- statusWrite{id, status, lastError}:
	default:
		// The state store already holds the change; only its durability is
		// delayed until the next one for this credential.
		p.log.Warn("credential status queue full; dropping a durable write", "credential", id, "status", status)
	}
}

// Start runs the background loops: status writes, lease renewal, OAuth
// refresh ahead of expiry, the periodic test of disabled credentials and
// the reload of channels changed by other processes.
func (p *Pool) Start(ctx context.Context) {
	ctx, p.stop = context.WithCancel(context.WithoutCancel(ctx))
	p.loop(ctx, 0, p.writeStatuses)
	p.loop(ctx, LeaseTTL/3, p.renewLeases)
	p.loop(ctx, 30*time.Second, p.refreshExpiring)
	p.loop(ctx, ReloadInterval, func(ctx context.Context) {
		if err := p.Reload(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("reload channels", "error", err.Error())
		}
	})
	if p.sched.ChannelTestInterval > 0 && p.probe != nil {
		p.loop(ctx, p.sched.ChannelTestInterval, p.TestDisabled)
	}
	if ms, ok := p.state.(*MemoryState); ok {
		p.loop(ctx, PersistInterval, func(ctx context.Context) { p.saveMemoryState(ctx, ms, &p.savedJSON) })
	}
}

// ReloadInterval is how often a node rereads channels and credentials, so
// an import on one node reaches the others.
var ReloadInterval = 15 * time.Second

// loop runs fn every interval until ctx ends; interval 0 runs fn once (fn
// loops itself).
func (p *Pool) loop(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if interval == 0 {
			fn(ctx)
			return
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn(ctx)
			}
		}
	}()
}

func (p *Pool) writeStatuses(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			// Drain what is queued with a short grace, so a status change
			// just before shutdown is not lost.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			for {
				select {
				case w := <-p.writes:
					p.writeStatus(dctx, w)
				default:
					return
				}
			}
		case w := <-p.writes:
			p.writeStatus(ctx, w)
		}
	}
}

func (p *Pool) writeStatus(ctx context.Context, w statusWrite) {
	if err := p.store.SetStatus(ctx, w.id, w.status, w.lastError); err != nil {
		p.log.Warn("persist credential status", "credential", w.id, "status", w.status, "error", err.Error())
	}
}

func (p *Pool) renewLeases(ctx context.Context) {
	now := p.now()
	p.leases.Range(func(k, _ any) bool {
		l := k.(*lease)
		if err := p.state.Renew(ctx, l.c.id, l.id, now, LeaseTTL); err != nil && ctx.Err() == nil {
			p.log.Warn("renew lease", "credential", l.c.id, "error", err.Error())
		}
		return true
	})
}

// Close stops the background loops, flushes queued status writes and, on a
// single node, saves the scheduler state for the next start.
func (p *Pool) Close() {
	p.suspectMu.Lock()
	p.bgCancel()
	p.suspectMu.Unlock()
	p.probes.Wait()
	if p.stop == nil {
		return
	}
	p.stop()
	p.wg.Wait()
	if ms, ok := p.state.(*MemoryState); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.saveMemoryState(ctx, ms, &p.savedJSON)
	}
}

// Enable returns a credential to rotation, durably.
func (p *Pool) Enable(ctx context.Context, id int64) error {
	if err := p.state.Enable(ctx, id, p.now()); err != nil {
		return err
	}
	return p.store.SetStatus(ctx, id, StatusActive, "")
}

// Views is the scheduler's view of every routable credential, for the CLI
// and the console.
func (p *Pool) Views(ctx context.Context) ([]CredentialView, error) {
	_, recs, err := p.store.Load(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	now := p.now()
	snaps, err := p.state.Snapshot(ctx, ids, now)
	if err != nil {
		return nil, err
	}
	return BuildViews(recs, snaps, now), nil
}

// errNoProber is returned by TestCredential before SetProber.
var errNoProber = errors.New("no prober set")
