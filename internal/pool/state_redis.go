package pool

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/luabatch"
)

// RedisState shares the scheduler state between nodes through Redis. Every
// method is one round trip: a Lua script (EVALSHA, falling back to EVAL),
// one command, or for Snapshot one pipeline of reads. Scripts run
// atomically, so two nodes can never both lease what min_interval forbids.
//
// Keys, under prefix:
//
//	c:{id}        hash: last_use, cooldown, open_until (unix ms), day, uses,
//	              tokens, spend, ewma (ns), fails, disabled, why, last_error,
//	              last_error_at (unix ms),
//	              probe (lease id of the half-open probe)
//	l:{id}        sorted set: lease id → expiry (unix ms)
//	rr:{channel}  round-robin counter
//	lock:{name}   TryLock
//
// Every key expires (keyTTL after its last write), so credentials that were
// deleted leave nothing behind. An Acquire script touches the keys of all
// its candidates: on Redis Cluster the prefix must carry a hash tag, such
// as "{sy}:pool:", so that they share one slot; the same tag as the
// limiter's and billing's, whose scripts the relay runs with Acquire and
// Release in one script call (luabatch).
type RedisState struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ State = (*RedisState)(nil)

// keyTTL is how long a key outlives its last write; long enough that a
// credential resting until tomorrow keeps its counters.
const keyTTL = 8 * 24 * time.Hour

var (
	//go:embed lua/acquire.lua
	acquireLua    string
	acquireScript = redis.NewScript(acquireLua)
	//go:embed lua/cancel.lua
	cancelLua    string
	cancelScript = redis.NewScript(cancelLua)
	//go:embed lua/release.lua
	releaseLua    string
	releaseScript = redis.NewScript(releaseLua)
	//go:embed lua/renew.lua
	renewLua    string
	renewScript = redis.NewScript(renewLua)
	//go:embed lua/enable.lua
	enableLua    string
	enableScript = redis.NewScript(enableLua)
	//go:embed lua/disable.lua
	disableLua    string
	disableScript = redis.NewScript(disableLua)
	//go:embed lua/unlock.lua
	unlockLua    string
	unlockScript = redis.NewScript(unlockLua)

	// acquire.lua and release.lua in a relay's batch (luabatch).
	acquireFragment = luabatch.NewFragment("pool.acquire", acquireLua)
	releaseFragment = luabatch.NewFragment("pool.release", releaseLua)
)

// NewRedisState returns a state kept in rdb under prefix (e.g. "sy:pool:").
func NewRedisState(rdb redis.UniversalClient, prefix string) *RedisState {
	return &RedisState{rdb: rdb, prefix: prefix}
}

func (s *RedisState) hashKey(id int64) string {
	return s.prefix + "c:" + strconv.FormatInt(id, 10)
}

func (s *RedisState) leaseKey(id int64) string {
	return s.prefix + "l:" + strconv.FormatInt(id, 10)
}

func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrStateUnavailable, op, err)
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func fmtInt(i int64) string { return strconv.FormatInt(i, 10) }

// Acquire implements State.
func (s *RedisState) Acquire(ctx context.Context, q *Acquire) (Grant, error) {
	if len(q.Cands) == 0 {
		return Grant{}, nil
	}
	n := len(q.Cands)
	keys, args := s.acquireArgs(make([]string, 0, 1+2*n), make([]any, 0, 11+4*n), q)
	r, err := acquireScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
	return grantOf(r, err, q.Cands)
}

// acquireArgs appends the acquire script's keys and arguments to keys
// and args.
func (s *RedisState) acquireArgs(keys []string, args []any, q *Acquire) ([]string, []any) {
	a := newAcquireArgs(q)
	keys = append(keys, s.prefix+"rr:"+q.Channel)
	force := "0"
	if q.Force {
		force = "1"
	}
	args = append(args, fmtInt(a.now), a.day, fmtInt(a.minInterval), fmtFloat(a.ratio), fmtFloat(q.Rand),
		q.LeaseID, fmtInt(q.LeaseTTL.Milliseconds()), force, string(q.Strategy), fmtInt(a.midnight),
		fmtInt(keyTTL.Milliseconds()))
	for i := range q.Cands {
		c := &q.Cands[i]
		keys = append(keys, s.hashKey(c.ID), s.leaseKey(c.ID))
		args = append(args, fmtInt(int64(c.Weight)), fmtInt(c.DailyRequests), fmtInt(c.DailyTokens), fmtInt(c.DailySpend))
	}
	return keys, args
}

// grantOf reads the acquire script's answer over cands.
func grantOf(r []int64, err error, cands []Cand) (Grant, error) {
	if err != nil {
		return Grant{}, unavailable("acquire", err)
	}
	if len(r) != 4 {
		return Grant{}, unavailable("acquire", fmt.Errorf("script answered %d values, want 4", len(r)))
	}
	if r[0] == 0 {
		return Grant{RetryAt: msTime(r[2]), RateLimited: r[3] == 1}, nil
	}
	n := len(cands)
	i := int(r[1]) - 1
	if i < 0 || i >= n {
		return Grant{}, unavailable("acquire", fmt.Errorf("script picked index %d of %d", r[1], n))
	}
	return Grant{Found: true, CredID: cands[i].ID, Probe: r[3] == 1}, nil
}

// queuedAcquire is an Acquire queued on a batch.
type queuedAcquire struct {
	cands   []Cand
	queued  bool
	reply   luabatch.Reply
	nowMS   int64
	day     string
	lastUse int64 // when granted: the credential's last use before
}

// queueAcquire queues q on b; acquired reads it once b ran. q.Cands must
// stay unchanged until then.
func (s *RedisState) queueAcquire(b *luabatch.Batch, q *Acquire, out *queuedAcquire) {
	out.cands, out.nowMS, out.day = q.Cands, q.Now.UnixMilli(), q.Day
	if len(q.Cands) == 0 {
		return
	}
	keys, args := b.Buffers()
	keys, args = s.acquireArgs(keys, args, q)
	out.queued = true
	b.Commit(acquireFragment, &out.reply, keys, args)
}

// acquired reads a queued Acquire.
func (s *RedisState) acquired(qa *queuedAcquire) (Grant, error) {
	if !qa.queued {
		return Grant{}, nil
	}
	var buf [4]int64
	r, err := qa.reply.Int64s(buf[:0])
	if err == nil && len(r) == 4 && r[0] == 1 {
		qa.lastUse = r[2]
	}
	return grantOf(r, err, qa.cands)
}

// cancel undoes the grant of a queued Acquire (cancel.lua): the request
// it was for was refused before any attempt, so the credential's use
// today, last use (what min_interval waits on) and lease are given back.
func (s *RedisState) cancel(ctx context.Context, credID int64, leaseID string, qa *queuedAcquire) error {
	err := cancelScript.Run(ctx, s.rdb, []string{s.hashKey(credID), s.leaseKey(credID)},
		leaseID, fmtInt(max(qa.nowMS, qa.lastUse)), fmtInt(qa.lastUse), qa.day).Err()
	if err != nil {
		return unavailable("cancel", err)
	}
	return nil
}

// outcomeKinds names the kinds for the release script.
var outcomeKinds = [...]string{
	Neutral: "neutral", Success: "success", RateLimited: "rate_limited", Failed: "failed", AuthFailed: "auth_failed",
}

// Release implements State.
func (s *RedisState) Release(ctx context.Context, credID int64, leaseID string, o Outcome, now time.Time) error {
	keys, args := s.releaseArgs(make([]string, 0, 2), make([]any, 0, 13), credID, leaseID, o, now)
	if err := releaseScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return unavailable("release", err)
	}
	return nil
}

// releaseArgs appends the release script's keys and arguments to keys
// and args.
func (s *RedisState) releaseArgs(keys []string, args []any, credID int64, leaseID string, o Outcome, now time.Time) ([]string, []any) {
	kind := "neutral"
	if int(o.Kind) < len(outcomeKinds) {
		kind = outcomeKinds[o.Kind]
	}
	return append(keys, s.hashKey(credID), s.leaseKey(credID)), append(args,
		leaseID, fmtInt(now.UnixMilli()), kind, fmtInt(o.Cooldown.Milliseconds()), fmtInt(int64(o.TTFB)),
		fmtInt(o.Tokens), fmtInt(o.Spend), o.Err, o.Day, fmtInt(int64(o.CircuitFailures)),
		fmtInt(o.CircuitPause.Milliseconds()), fmtFloat(EWMAWeight), fmtInt(keyTTL.Milliseconds()))
}

// queuedRelease is a Release queued on a batch.
type queuedRelease struct {
	queued bool
	reply  luabatch.Reply
}

// queueRelease queues a Release on b into qr; released reads it.
func (s *RedisState) queueRelease(b *luabatch.Batch, qr *queuedRelease, credID int64, leaseID string, o Outcome, now time.Time) {
	keys, args := b.Buffers()
	keys, args = s.releaseArgs(keys, args, credID, leaseID, o, now)
	qr.queued = true
	b.Commit(releaseFragment, &qr.reply, keys, args)
}

// released reads a queued Release.
func released(qr *queuedRelease) error {
	if err := qr.reply.Err(); err != nil {
		return unavailable("release", err)
	}
	return nil
}

// Renew implements State.
func (s *RedisState) Renew(ctx context.Context, credID int64, leaseID string, now time.Time, ttl time.Duration) error {
	err := renewScript.Run(ctx, s.rdb, []string{s.leaseKey(credID)},
		leaseID, fmtInt(now.UnixMilli()), fmtInt(ttl.Milliseconds()), fmtInt(keyTTL.Milliseconds())).Err()
	if err != nil {
		return unavailable("renew", err)
	}
	return nil
}

// Disable implements State.
func (s *RedisState) Disable(ctx context.Context, credID int64, reason string, now time.Time) error {
	err := disableScript.Run(ctx, s.rdb, []string{s.hashKey(credID)}, reason, fmtInt(keyTTL.Milliseconds()),
		fmtInt(now.UnixMilli())).Err()
	if err != nil {
		return unavailable("disable", err)
	}
	return nil
}

// Enable implements State.
func (s *RedisState) Enable(ctx context.Context, credID int64, _ time.Time) error {
	err := enableScript.Run(ctx, s.rdb, []string{s.hashKey(credID)}, fmtInt(keyTTL.Milliseconds())).Err()
	if err != nil {
		return unavailable("enable", err)
	}
	return nil
}

// snapFields are read by Snapshot, in this order.
var snapFields = []string{"disabled", "why", "cooldown", "last_use", "day", "uses", "tokens", "spend",
	"ewma", "fails", "open_until", "last_error", "last_error_at"}

// Snapshot implements State. It reads without writing, in one pipeline,
// so it also works against a replica.
func (s *RedisState) Snapshot(ctx context.Context, ids []int64, now time.Time) ([]Snap, error) {
	out := make([]Snap, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	hashes := make([]*redis.SliceCmd, len(ids))
	counts := make([]*redis.IntCmd, len(ids))
	live := "(" + fmtInt(now.UnixMilli()) // live: expiry > now
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			hashes[i] = p.HMGet(ctx, s.hashKey(id), snapFields...)
			counts[i] = p.ZCount(ctx, s.leaseKey(id), live, "+inf")
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("snapshot", err)
	}
	day := Day(now)
	for i, id := range ids {
		v := hashes[i].Val()
		str := func(k int) string { s, _ := v[k].(string); return s }
		num := func(k int) int64 { n, _ := strconv.ParseInt(str(k), 10, 64); return n }
		out[i] = Snap{
			ID: id, Disabled: str(0) == "1", DisabledWhy: str(1),
			CooldownUntil: msTime(num(2)), LastUse: msTime(num(3)),
			EWMA: time.Duration(num(8)), Failures: int(num(9)), OpenUntil: msTime(num(10)),
			Leases: int(counts[i].Val()), LastError: str(11), LastErrorAt: msTime(num(12)),
		}
		if str(4) == day {
			out[i].Day, out[i].UsesToday, out[i].TokensToday, out[i].SpendToday = day, num(5), num(6), num(7)
		}
	}
	return out, nil
}

// TryLock implements State.
func (s *RedisState) TryLock(ctx context.Context, name, token string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.prefix+"lock:"+name, token, ttl).Result()
	if err != nil {
		return false, unavailable("lock "+name, err)
	}
	return ok, nil
}

// Unlock implements State.
func (s *RedisState) Unlock(ctx context.Context, name, token string) error {
	if err := unlockScript.Run(ctx, s.rdb, []string{s.prefix + "lock:" + name}, token).Err(); err != nil {
		return unavailable("unlock "+name, err)
	}
	return nil
}
