package limit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/luabatch"
)

// Authenticator identifies a request's caller (auth.Directory).
type Authenticator interface {
	Authenticate(r *http.Request, clientIP netip.Addr) (*auth.Key, error)
}

// Gate admits an authenticated request against its key's and its group's
// limits. It wraps the key directory, so every handler that authenticates
// also counts:
//   - rpm and daily_requests take one unit per request, per key and per
//     group (one budget shared by all keys of the group);
//   - tpm cannot be known before the answer, so admission only checks that
//     the key and group are not in debt, and Charge adds the real tokens
//     once the request is done: a key over its tpm waits until the debt is
//     paid back at the configured rate.
//
// When the limiter fails (Redis unreachable) requests are refused with 503
// limiter_unavailable: failing open would let each node admit traffic the
// others cannot count.
type Gate struct {
	keys Authenticator
	lim  Limiter
	rl   *Redis // lim, when it can join a script batch (AuthenticateDeferred)
	now  func() time.Time
	log  *slog.Logger
	// refused remembers, per key id, until when (unix ns) its last Take
	// on this node was refused: such a key is admitted at once again
	// rather than deferred (see AuthenticateDeferred).
	refused sync.Map
}

// NewGate builds a gate over keys; now may be nil (time.Now).
func NewGate(keys Authenticator, lim Limiter, now func() time.Time, log *slog.Logger) *Gate {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gate{keys: keys, lim: lim, now: now, log: log}
	g.rl, _ = lim.(*Redis)
	return g
}

// rulePool recycles the rules of one admission: Take is an interface call,
// so a local array would escape to the heap on every request.
var rulePool = sync.Pool{New: func() any { s := make([]Rule, 0, 6); return &s }}

// Authenticate authenticates r and admits it. Errors are *apierror.Error.
func (g *Gate) Authenticate(r *http.Request, clientIP netip.Addr) (*auth.Key, error) {
	k, err := g.keys.Authenticate(r, clientIP)
	if err != nil {
		return nil, err
	}
	rp := rulePool.Get().(*[]Rule)
	rules := appendRules((*rp)[:0], k)
	defer func() { *rp = rules[:0]; rulePool.Put(rp) }()
	if len(rules) == 0 {
		return k, nil
	}
	d, err := g.lim.Take(r.Context(), rules, g.now())
	if err := g.answer(r.Context(), k, d, err); err != nil {
		return nil, err
	}
	return k, nil
}

// answer maps a Take's outcome to the client's error, nil when admitted.
func (g *Gate) answer(ctx context.Context, k *auth.Key, d Decision, err error) error {
	if err != nil {
		g.log.LogAttrs(ctx, slog.LevelError, "rate limiter failed", slog.String("error", err.Error()))
		return apierror.LimiterUnavailable()
	}
	if !d.Allowed {
		wait := max(d.RetryAfter, time.Millisecond)
		if g.rl != nil {
			g.refused.Store(k.ID, g.now().Add(wait).UnixNano())
		}
		return apierror.RateLimited(wait)
	}
	return nil
}

// AuthenticateDeferred authenticates r like Authenticate but, when the
// limiter is Redis, leaves the Take to the returned Admission, so that the
// relay runs it in one script call (luabatch) with the billing
// reservation and the credential lease: one round trip before the upstream
// call instead of three. The Admission is nil when the request was admitted here (no
// limits, a memory limiter, a key refused moments ago); otherwise its
// holder must resolve it on every path (Take, or Queue then Result)
// before answering anything but its error.
//
// Deferring changes one thing a client can see: a rate-limited request's
// body is read (within the size limit) before its 429. A key refused on
// this node within its last Retry-After is taken at once, as Authenticate
// does, so a client hammering past its limit costs one script per request
// and no reservation or lease to undo.
func (g *Gate) AuthenticateDeferred(r *http.Request, clientIP netip.Addr) (*auth.Key, *Admission, error) {
	if g.rl == nil {
		k, err := g.Authenticate(r, clientIP)
		return k, nil, err
	}
	k, err := g.keys.Authenticate(r, clientIP)
	if err != nil {
		return nil, nil, err
	}
	if g.recentlyRefused(r.Context(), k.ID) {
		k, err := g.admitNow(r.Context(), k)
		return k, nil, err
	}
	rp := rulePool.Get().(*[]Rule)
	rules := appendRules((*rp)[:0], k)
	if len(rules) == 0 {
		rulePool.Put(rp)
		return k, nil, nil
	}
	*rp = rules
	return k, &Admission{g: g, key: k, rules: rp}, nil
}

// recentlyRefused reports whether key id was refused on this node and its
// Retry-After has not passed.
func (g *Gate) recentlyRefused(_ context.Context, id int64) bool {
	v, ok := g.refused.Load(id)
	if !ok {
		return false
	}
	if g.now().UnixNano() < v.(int64) {
		return true
	}
	g.refused.CompareAndDelete(id, v)
	return false
}

// admitNow takes k's rules at once (Authenticate after authentication).
func (g *Gate) admitNow(ctx context.Context, k *auth.Key) (*auth.Key, error) {
	rp := rulePool.Get().(*[]Rule)
	rules := appendRules((*rp)[:0], k)
	defer func() { *rp = rules[:0]; rulePool.Put(rp) }()
	if len(rules) == 0 {
		return k, nil
	}
	d, err := g.lim.Take(ctx, rules, g.now())
	if err := g.answer(ctx, k, d, err); err != nil {
		return nil, err
	}
	return k, nil
}

// Admission is a request's Take, deferred by AuthenticateDeferred. Take
// runs it on its own; Queue puts it on a script batch and Result reads it
// once the batch ran. Either way it runs once: later calls return the same
// answer, nil when admitted or the *apierror.Error to answer (429 with
// Retry-After, 503 when the limiter failed). Not safe for concurrent use.
type Admission struct {
	g     *Gate
	key   *auth.Key
	rules *[]Rule // from rulePool, returned once resolved
	q     queuedTake
	state uint8 // admPending, admQueued, admDone
	err   error
	// charges are QueueCharge's, key's tpm then group's, until Charged.
	charges [2]queuedTake
	keys    [2]string // their rules' keys, for the log
}

const (
	admPending uint8 = iota
	admQueued
	admDone
)

// Take runs the admission now, unless it ran already.
func (a *Admission) Take(ctx context.Context) error {
	if a.state == admPending {
		d, err := a.g.lim.Take(ctx, *a.rules, a.g.now())
		a.finish(ctx, d, err)
	}
	return a.Result(ctx)
}

// Queue puts the admission's script on b; Result reads it after b.Exec.
func (a *Admission) Queue(b *luabatch.Batch) {
	if a.state != admPending {
		return
	}
	a.state = admQueued
	a.g.rl.queueTake(b, &a.q, *a.rules, a.g.now())
}

// Result is the admission's answer; a queued one is read (its batch must
// have run), one never queued nor taken is taken now.
func (a *Admission) Result(ctx context.Context) error {
	switch a.state {
	case admPending:
		return a.Take(ctx)
	case admQueued:
		d, err := a.g.rl.takeResult(&a.q, *a.rules)
		a.finish(ctx, d, err)
	}
	return a.err
}

// QueueCharge is Gate.Charge of the admitted request's tokens, queued on
// b (with the request's settle); Charged reads it once b ran.
func (a *Admission) QueueCharge(b *luabatch.Batch, tokens int64) {
	if tokens <= 0 || a.g.rl == nil {
		return
	}
	now := a.g.now()
	for i, r := range tpmRules(a.key) {
		if r.Limit <= 0 {
			continue
		}
		a.keys[i] = r.Key
		a.g.rl.queueCharge(b, &a.charges[i], r, tokens, now)
	}
}

// Charged reads what QueueCharge queued, logging a failure as Charge does.
func (a *Admission) Charged(ctx context.Context) {
	for i := range a.charges {
		t := &a.charges[i]
		if !t.queued && t.err == nil {
			continue
		}
		if err := a.g.rl.chargeResult(t, a.keys[i]); err != nil {
			a.g.chargeFailed(ctx, a.keys[i], err)
		}
		*t = queuedTake{}
	}
}

func (a *Admission) finish(ctx context.Context, d Decision, err error) {
	a.err = a.g.answer(ctx, a.key, d, err)
	a.state = admDone
	*a.rules = (*a.rules)[:0]
	rulePool.Put(a.rules)
	a.rules, a.q = nil, queuedTake{}
}

// Charge adds a finished request's tokens to its key's and group's tpm.
func (g *Gate) Charge(ctx context.Context, k *auth.Key, tokens int64) {
	if tokens <= 0 {
		return
	}
	now := g.now()
	for _, r := range tpmRules(k) {
		if r.Limit <= 0 {
			continue
		}
		if err := g.lim.Charge(ctx, r, tokens, now); err != nil {
			g.chargeFailed(ctx, r.Key, err)
		}
	}
}

// tpmRules are k's token limits, key then group (Limit 0: none).
func tpmRules(k *auth.Key) [2]Rule {
	var rules [2]Rule
	if k.TPM > 0 {
		rules[0] = Rule{Key: keyRules(k).tpm, Kind: GCRA, Limit: k.TPM, Period: time.Minute}
	}
	if k.GroupTPM > 0 {
		rules[1] = Rule{Key: groupRules(k).tpm, Kind: GCRA, Limit: k.GroupTPM, Period: time.Minute}
	}
	return rules
}

func (g *Gate) chargeFailed(ctx context.Context, rule string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	g.log.LogAttrs(ctx, slog.LevelWarn, "charge tokens to the rate limiter",
		slog.String("rule", rule), slog.String("error", err.Error()))
}

// ruleKeys are the limiter's names for one key's or one group's rules.
type ruleKeys struct{ rpm, day, tpm string }

// maxMemoKeys bounds each nameMemo; past it a memo starts over.
const maxMemoKeys = 1 << 14

// nameMemo keeps the rule names of the keys (or groups) seen lately:
// building them per request was two allocations of every limited request.
type nameMemo[K comparable] struct {
	mu sync.RWMutex
	m  map[K]*ruleKeys
}

// get is k's names, made from prefix(k) when they are not kept.
func (m *nameMemo[K]) get(k K, prefix func(K) string) *ruleKeys {
	m.mu.RLock()
	n := m.m[k]
	m.mu.RUnlock()
	if n != nil {
		return n
	}
	p := prefix(k)
	n = &ruleKeys{rpm: p + "rpm", day: p + "day", tpm: p + "tpm"}
	m.mu.Lock()
	if m.m == nil || len(m.m) >= maxMemoKeys {
		m.m = make(map[K]*ruleKeys)
	}
	m.m[k] = n
	m.mu.Unlock()
	return n
}

var (
	keyNames   nameMemo[int64]
	groupNames nameMemo[string]
)

func keyRules(k *auth.Key) *ruleKeys {
	return keyNames.get(k.ID, func(id int64) string { return "k:" + strconv.FormatInt(id, 10) + ":" })
}

func groupRules(k *auth.Key) *ruleKeys {
	return groupNames.get(k.Group, func(g string) string { return "g:" + g + ":" })
}

// appendRules lists k's limits: requests take one unit, tpm is check-only.
func appendRules(rules []Rule, k *auth.Key) []Rule {
	if k.RPM > 0 || k.DailyRequests > 0 || k.TPM > 0 {
		n := keyRules(k)
		if k.RPM > 0 {
			rules = append(rules, Rule{Key: n.rpm, Kind: GCRA, Limit: int64(k.RPM), Period: time.Minute, Cost: 1})
		}
		if k.DailyRequests > 0 {
			rules = append(rules, Rule{Key: n.day, Kind: Daily, Limit: int64(k.DailyRequests), Cost: 1})
		}
		if k.TPM > 0 {
			rules = append(rules, Rule{Key: n.tpm, Kind: GCRA, Limit: k.TPM, Period: time.Minute})
		}
	}
	if k.GroupRPM > 0 || k.GroupDailyRequests > 0 || k.GroupTPM > 0 {
		n := groupRules(k)
		if k.GroupRPM > 0 {
			rules = append(rules, Rule{Key: n.rpm, Kind: GCRA, Limit: int64(k.GroupRPM), Period: time.Minute, Cost: 1})
		}
		if k.GroupDailyRequests > 0 {
			rules = append(rules, Rule{Key: n.day, Kind: Daily, Limit: int64(k.GroupDailyRequests), Cost: 1})
		}
		if k.GroupTPM > 0 {
			rules = append(rules, Rule{Key: n.tpm, Kind: GCRA, Limit: k.GroupTPM, Period: time.Minute})
		}
	}
	return rules
}
