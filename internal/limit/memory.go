package limit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync"
	"time"
)

// numShards splits the memory limiter's state so that requests for
// different keys rarely contend; a Take locks the shards of its rules as a
// bit mask, in ascending order, so two Takes never deadlock.
const numShards = 32

// sweepMin is the fewest new entries a shard takes before it sweeps out
// stale ones. A shard otherwise sweeps after as many new entries as it held
// live after its last sweep, so sweeping costs O(1) amortised per insert
// while the map stays within about twice its live size.
const sweepMin = 1024

// maxCount bounds a Daily counter (debt included), as for Redis.
const maxCount = 1 << 52

// Memory is a Limiter whose budgets live in this process: each node of a
// cluster enforces its own. It is safe for concurrent use, and a Take that
// finds its keys present allocates nothing.
type Memory struct {
	seed   maphash.Seed
	shards [numShards]shard
}

var _ Limiter = (*Memory)(nil)

type shard struct {
	mu    sync.Mutex
	gcra  map[string]tat
	daily map[string]dayCount
	grown int // entries inserted since the last sweep
	live  int // entries left by the last sweep
	_     [64]byte
}

type dayCount struct{ day, n int64 }

// NewMemory returns an empty in-process limiter.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].gcra = make(map[string]tat)
		m.shards[i].daily = make(map[string]dayCount)
	}
	return m
}

func (m *Memory) shardOf(key string) uint8 {
	return uint8(maphash.String(m.seed, key) % numShards)
}

// Take implements Limiter; it holds the locks of the rules' shards for the
// check and the write.
func (m *Memory) Take(_ context.Context, rules []Rule, now time.Time) (Decision, error) {
	bad, err := precheck(rules)
	if err != nil {
		return Decision{Refused: -1}, err
	}
	if bad >= 0 {
		return Decision{Refused: bad}, nil
	}
	// Shard indices of the first rules, so the key is hashed once; more
	// rules than this are rare and just hash again.
	var idx [8]uint8
	var mask uint32
	for i := range rules {
		s := m.shardOf(rules[i].Key)
		if i < len(idx) {
			idx[i] = s
		}
		mask |= 1 << s
	}
	shardAt := func(i int) *shard {
		if i < len(idx) {
			return &m.shards[idx[i]]
		}
		return &m.shards[m.shardOf(rules[i].Key)]
	}
	m.lock(mask)
	defer m.unlock(mask)

	nowUS := now.UnixMicro()
	day, untilMidnight := dayStart(nowUS)
	for i := range rules {
		r, sh := &rules[i], shardAt(i)
		switch r.Kind {
		case GCRA:
			t, found := sh.gcra[r.Key]
			iq, ifr := increment(r.Cost, int64(r.Period/time.Microsecond), r.Limit)
			if _, ok, wait := gcraStep(t, found, nowUS, int64(r.Period/time.Microsecond), r.Limit, iq, ifr); !ok {
				return Decision{RetryAfter: usDuration(wait), Refused: i}, nil
			}
		case Daily:
			c := sh.daily[r.Key]
			if c.day != day {
				c.n = 0
			}
			if c.n+r.Cost > r.Limit {
				return Decision{RetryAfter: usDuration(untilMidnight), Refused: i}, nil
			}
		}
	}
	for i := range rules {
		if r := &rules[i]; r.Cost > 0 {
			shardAt(i).apply(r, r.Cost, nowUS, day)
		}
	}
	return Decision{Allowed: true, Refused: -1}, nil
}

// Charge implements Limiter.
func (m *Memory) Charge(_ context.Context, r Rule, n int64, now time.Time) error {
	r.Cost = 0
	if err := r.validate(); err != nil {
		return fmt.Errorf("charge: %w", err)
	}
	if n == 0 {
		return nil
	}
	sh := &m.shards[m.shardOf(r.Key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	nowUS := now.UnixMicro()
	day, _ := dayStart(nowUS)
	sh.apply(&r, n, nowUS, day)
	return nil
}

// apply consumes n units (negative: gives back) of r; the caller holds sh.mu.
func (sh *shard) apply(r *Rule, n, nowUS, day int64) {
	var added bool
	switch r.Kind {
	case GCRA:
		periodUS := int64(r.Period / time.Microsecond)
		t, found := sh.gcra[r.Key]
		iq, ifr := increment(n, periodUS, r.Limit)
		next, _, _ := gcraStep(t, found, nowUS, periodUS, r.Limit, iq, ifr)
		sh.gcra[r.Key] = next
		added = !found
	case Daily:
		c, found := sh.daily[r.Key]
		if c.day != day {
			c = dayCount{day: day}
		}
		c.n = min(max(c.n+min(max(n, -maxCount), maxCount), 0), maxCount)
		sh.daily[r.Key] = c
		added = !found
	}
	if added {
		sh.grown++
		if sh.grown >= max(sweepMin, sh.live) {
			sh.sweep(nowUS, day)
		}
	}
}

// sweep drops entries that no longer hold anything: a TAT not after now is
// the same as an absent key, a counter of a past day the same as zero.
func (sh *shard) sweep(nowUS, day int64) {
	for k, t := range sh.gcra {
		if t.q < nowUS || (t.q == nowUS && t.f == 0) {
			delete(sh.gcra, k)
		}
	}
	for k, c := range sh.daily {
		if c.day < day {
			delete(sh.daily, k)
		}
	}
	sh.grown, sh.live = 0, len(sh.gcra)+len(sh.daily)
}

func (m *Memory) lock(mask uint32) {
	for mask != 0 {
		i := bits.TrailingZeros32(mask)
		m.shards[i].mu.Lock()
		mask &^= 1 << i
	}
}

func (m *Memory) unlock(mask uint32) {
	for mask != 0 {
		i := bits.TrailingZeros32(mask)
		m.shards[i].mu.Unlock()
		mask &^= 1 << i
	}
}

// size reports the number of entries held, for tests.
func (m *Memory) size() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += len(sh.gcra) + len(sh.daily)
		sh.mu.Unlock()
	}
	return n
}
