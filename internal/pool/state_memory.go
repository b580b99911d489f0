package pool

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// MemoryState keeps the scheduler state of a single node in memory. Its
// rules are those of RedisState's scripts, kept in step by one shared test
// suite; times are kept as unix milliseconds, as in Redis, so that both
// answer alike.
type MemoryState struct {
	mu    sync.Mutex
	creds map[int64]*memCred
	rr    map[string]int64   // channel → round-robin counter
	locks map[string]memLock // name → holder
	clock func() time.Time   // for lock expiry only; TryLock takes no now
}

var _ State = (*MemoryState)(nil)

// memCred is one credential's state; the fields mirror the Redis hash.
type memCred struct {
	lastUse, cooldown, openUntil int64 // unix ms; 0 = never / none / closed
	day                          string
	uses, tokens, spend          int64
	ewma                         int64 // ns
	fails                        int
	disabled                     bool
	why, lastError               string
	lastErrorAt                  int64      // unix ms
	probe                        string     // lease id of the half-open probe
	leases                       []memLease // reused; expired entries dropped on access
}

type memLease struct {
	id  string
	exp int64 // unix ms
}

type memLock struct {
	token string
	exp   time.Time
}

// NewMemoryState returns an empty in-memory state.
func NewMemoryState() *MemoryState {
	return &MemoryState{
		creds: make(map[int64]*memCred),
		rr:    make(map[string]int64),
		locks: make(map[string]memLock),
		clock: time.Now,
	}
}

// cred returns id's record, creating it.
func (s *MemoryState) cred(id int64) *memCred {
	c := s.creds[id]
	if c == nil {
		c = &memCred{}
		s.creds[id] = c
	}
	return c
}

// dropExpired removes the leases whose expiry is at or before now, as
// ZREMRANGEBYSCORE -inf now does in Redis.
func (c *memCred) dropExpired(now int64) {
	kept := c.leases[:0]
	for _, l := range c.leases {
		if l.exp > now {
			kept = append(kept, l)
		}
	}
	clear(c.leases[len(kept):])
	c.leases = kept
}

// leaseAt returns the index of a live lease id, or -1.
func (c *memCred) leaseAt(id string, now int64) int {
	for i, l := range c.leases {
		if l.id == id && l.exp > now {
			return i
		}
	}
	return -1
}

// liveCount counts the leases not yet expired at now.
func (c *memCred) liveCount(now int64) int {
	n := 0
	for _, l := range c.leases {
		if l.exp > now {
			n++
		}
	}
	return n
}

// today returns the daily counters if they belong to day, else zeros.
func (c *memCred) today(day string) (uses, tokens, spend int64) {
	if c.day != day {
		return 0, 0, 0
	}
	return c.uses, c.tokens, c.spend
}

// rollDay makes the counters belong to day, zeroing them if they did not.
func (c *memCred) rollDay(day string) {
	if c.day != day {
		c.day, c.uses, c.tokens, c.spend = day, 0, 0, 0
	}
}

// acquireArgs is an Acquire converted to the units the rules use.
type acquireArgs struct {
	now, minInterval, midnight int64 // unix ms, ms, unix ms
	ratio                      float64
	day                        string
}

func newAcquireArgs(q *Acquire) acquireArgs {
	now := q.Now.UnixMilli()
	return acquireArgs{
		now:         now,
		minInterval: q.MinInterval.Milliseconds(),
		midnight:    nextMidnight(now),
		ratio:       usageRatio(q.Ratio),
		day:         q.Day,
	}
}

// nextMidnight is the next UTC midnight after now (unix ms): unix time
// counts no leap seconds, so UTC days are whole multiples of 86 400 000 ms.
func nextMidnight(now int64) int64 {
	const day = 24 * 60 * 60 * 1000
	return now - now%day + day
}

// usageRatio treats an unset ratio as 1 (rest at the limit itself): a ratio
// of 0 would rest every credential that has a limit, which nobody means.
func usageRatio(r float64) float64 {
	if r <= 0 {
		return 1
	}
	return r
}

// usable applies the usable rules to c (nil = never seen) for cand. It
// returns whether c may be leased, when it may be if not (0 = unknown),
// and whether the lease would be the half-open probe.
func (a *acquireArgs) usable(c *memCred, cand *Cand) (ok bool, retry int64, probe bool) {
	if c == nil {
		if a.minInterval > a.now { // last_use 0 + MinInterval still ahead
			return false, a.minInterval, false
		}
		return true, 0, false
	}
	switch {
	case c.disabled:
		return false, 0, false
	case c.cooldown > a.now:
		return false, c.cooldown, false
	case c.openUntil > a.now:
		return false, c.openUntil, false
	}
	if c.openUntil > 0 {
		if c.probe != "" && c.leaseAt(c.probe, a.now) >= 0 {
			return false, 0, false
		}
		probe = true
	}
	// Callers read their clocks before they take the lock, so a later use
	// may already be recorded: without min_interval that refuses nobody.
	if next := c.lastUse + a.minInterval; a.minInterval > 0 && next > a.now {
		return false, next, false
	}
	uses, tokens, spend := c.today(a.day)
	if reached(uses, cand.DailyRequests, a.ratio) || reached(tokens, cand.DailyTokens, a.ratio) ||
		reached(spend, cand.DailySpend, a.ratio) {
		return false, a.midnight, false
	}
	return true, 0, probe
}

// rateLimited reports whether c rests only until a rate limit passes: a
// 429 cooldown or min_interval, not a disabled credential or open circuit.
func (a *acquireArgs) rateLimited(c *memCred) bool {
	return c != nil && !c.disabled && (c.cooldown > a.now || a.minInterval > 0 && c.lastUse+a.minInterval > a.now)
}

// reached reports whether used has reached ratio × limit; limit 0 is none.
// The comparison is in float64, as the Lua script's is.
func reached(used, limit int64, ratio float64) bool {
	return limit > 0 && float64(used) >= ratio*float64(limit)
}

// Acquire implements State.
func (s *MemoryState) Acquire(_ context.Context, q *Acquire) (Grant, error) {
	n := len(q.Cands)
	if n == 0 {
		return Grant{}, nil
	}
	a := newAcquireArgs(q)
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Force {
		s.grant(q, &a, 0, false)
		return Grant{Found: true, CredID: q.Cands[0].ID}, nil
	}
	var retry int64
	// note folds a refusal's RetryAt into the earliest one.
	note := func(r int64) {
		if r > 0 && (retry == 0 || r < retry) {
			retry = r
		}
	}
	pick, pickProbe := -1, false
	switch q.Strategy {
	case Weighted:
		var sum float64
		for i := range q.Cands {
			if ok, _, _ := a.usable(s.creds[q.Cands[i].ID], &q.Cands[i]); ok {
				sum += float64(max(q.Cands[i].Weight, 1))
			}
		}
		target, cum := q.Rand*sum, 0.0
		for i := range q.Cands {
			ok, r, probe := a.usable(s.creds[q.Cands[i].ID], &q.Cands[i])
			if !ok {
				note(r)
				continue
			}
			cum += float64(max(q.Cands[i].Weight, 1))
			pick, pickProbe = i, probe // the last usable one if rounding leaves target ≥ sum
			if target < cum {
				break
			}
		}
	case LeastUsed, LeastLatency:
		var best int64
		for i := range q.Cands {
			c := s.creds[q.Cands[i].ID]
			ok, r, probe := a.usable(c, &q.Cands[i])
			if !ok {
				note(r)
				continue
			}
			var v int64
			if c != nil {
				if q.Strategy == LeastUsed {
					v, _, _ = c.today(a.day)
				} else {
					v = c.ewma
				}
			}
			if pick < 0 || v < best {
				pick, pickProbe, best = i, probe, v
			}
		}
	default: // RoundRobin, Random: walk forward from a start index
		var start int
		if q.Strategy == Random {
			start = min(int(math.Floor(q.Rand*float64(n))), n-1)
		} else {
			s.rr[q.Channel]++
			start = int((s.rr[q.Channel] - 1) % int64(n))
		}
		for k := range n {
			i := (start + k) % n
			ok, r, probe := a.usable(s.creds[q.Cands[i].ID], &q.Cands[i])
			if ok {
				pick, pickProbe = i, probe
				break
			}
			note(r)
		}
	}
	if pick < 0 {
		g := Grant{}
		if retry > 0 {
			g.RetryAt = time.UnixMilli(retry)
		}
		for i := range q.Cands {
			if a.rateLimited(s.creds[q.Cands[i].ID]) {
				g.RateLimited = true
				break
			}
		}
		return g, nil
	}
	s.grant(q, &a, pick, pickProbe)
	return Grant{Found: true, CredID: q.Cands[pick].ID, Probe: pickProbe}, nil
}

// grant records the lease of q.Cands[i].
func (s *MemoryState) grant(q *Acquire, a *acquireArgs, i int, probe bool) {
	c := s.cred(q.Cands[i].ID)
	c.lastUse = max(c.lastUse, a.now) // never backwards: see usable
	c.rollDay(a.day)
	c.uses++
	c.dropExpired(a.now)
	c.leases = append(c.leases, memLease{id: q.LeaseID, exp: a.now + q.LeaseTTL.Milliseconds()})
	if probe {
		c.probe = q.LeaseID
	}
}

// Release implements State.
func (s *MemoryState) Release(_ context.Context, credID int64, leaseID string, o Outcome, now time.Time) error {
	ms := now.UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cred(credID)
	c.dropExpired(ms)
	for i, l := range c.leases {
		if l.id == leaseID {
			c.leases = slices.Delete(c.leases, i, i+1)
			break
		}
	}
	wasProbe := c.probe != "" && c.probe == leaseID
	if wasProbe {
		c.probe = ""
	}
	switch o.Kind {
	case Success:
		c.fails, c.openUntil = 0, 0
		if o.TTFB > 0 {
			c.ewma = nextEWMA(c.ewma, int64(o.TTFB))
		}
		c.rollDay(o.Day)
		c.tokens += o.Tokens
		c.spend += o.Spend
	case RateLimited:
		c.cooldown = max(c.cooldown, ms+o.Cooldown.Milliseconds())
		c.lastError, c.lastErrorAt = o.Err, ms
	case Failed:
		c.fails++
		c.lastError, c.lastErrorAt = o.Err, ms
		if o.CircuitFailures > 0 && (c.fails >= o.CircuitFailures || wasProbe) {
			c.openUntil = ms + o.CircuitPause.Milliseconds()
		}
	case AuthFailed:
		c.disabled, c.why, c.lastError, c.lastErrorAt = true, o.Err, o.Err, ms
	}
	return nil
}

// nextEWMA folds a sample into the average; the first sample is taken as
// is. Rounding is floor(x+0.5), as in the Lua script.
func nextEWMA(ewma, sample int64) int64 {
	if ewma == 0 {
		return sample
	}
	// The explicit conversions round each product, forbidding a fused
	// multiply-add that Lua would not do.
	kept := float64(float64(ewma) * (1 - EWMAWeight))
	added := float64(float64(sample) * EWMAWeight)
	return int64(math.Floor(kept + added + 0.5))
}

// Renew implements State.
func (s *MemoryState) Renew(_ context.Context, credID int64, leaseID string, now time.Time, ttl time.Duration) error {
	ms := now.UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.creds[credID]
	if c == nil {
		return nil
	}
	if i := c.leaseAt(leaseID, ms); i >= 0 {
		c.leases[i].exp = ms + ttl.Milliseconds()
	}
	return nil
}

// Disable implements State.
func (s *MemoryState) Disable(_ context.Context, credID int64, reason string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cred(credID)
	c.disabled, c.why, c.lastError, c.lastErrorAt = true, reason, reason, now.UnixMilli()
	return nil
}

// Enable implements State.
func (s *MemoryState) Enable(_ context.Context, credID int64, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cred(credID)
	c.disabled, c.why = false, ""
	c.cooldown, c.fails, c.openUntil, c.probe = 0, 0, 0, ""
	return nil
}

// Snapshot implements State.
func (s *MemoryState) Snapshot(_ context.Context, ids []int64, now time.Time) ([]Snap, error) {
	ms, day := now.UnixMilli(), Day(now)
	out := make([]Snap, len(ids))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, id := range ids {
		out[i].ID = id
		c := s.creds[id]
		if c == nil {
			continue
		}
		out[i] = Snap{
			ID: id, Disabled: c.disabled, DisabledWhy: c.why,
			CooldownUntil: msTime(c.cooldown), LastUse: msTime(c.lastUse),
			EWMA: time.Duration(c.ewma), Failures: c.fails, OpenUntil: msTime(c.openUntil),
			Leases: c.liveCount(ms), LastError: c.lastError, LastErrorAt: msTime(c.lastErrorAt),
		}
		if c.day == day {
			out[i].Day, out[i].UsesToday, out[i].TokensToday, out[i].SpendToday = day, c.uses, c.tokens, c.spend
		}
	}
	return out, nil
}

// msTime converts unix ms to a time, 0 to the zero time.
func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// TryLock implements State. Locks expire by the wall clock, as Redis's do.
func (s *MemoryState) TryLock(_ context.Context, name, token string, ttl time.Duration) (bool, error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.locks[name]; ok && now.Before(l.exp) {
		return false, nil
	}
	s.locks[name] = memLock{token: token, exp: now.Add(ttl)}
	return true, nil
}

// Unlock implements State.
func (s *MemoryState) Unlock(_ context.Context, name, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.locks[name]; ok && l.token == token {
		delete(s.locks, name)
	}
	return nil
}
