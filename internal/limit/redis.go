package limit

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/luabatch"
)

// Redis is a Limiter whose budgets live in Redis, shared by every node that
// uses the same server and prefix. Each Take or Charge is one Lua script
// call (EVALSHA, falling back to EVAL), which Redis runs atomically.
//
// Keys, under prefix:
//
//	g:{key}        GCRA: the TAT as "q:f" (q + f/limit µs since the epoch);
//	               expires margin after the TAT, when it no longer matters
//	d:{key}:{day}  Daily: the count of UTC day number {day} (days since the
//	               epoch); expires an hour after that day's end
//
// A Take touches the keys of all its rules in one script: on Redis Cluster
// the prefix must carry a hash tag, such as "{sy}:limit:", so that they
// share one slot. The relay runs a Take and a Charge in one script call
// with billing's and the pool's (luabatch): their prefixes need the same
// hash tag.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ Limiter = (*Redis)(nil)

// gcraMargin is how long a GCRA key outlives its TAT: a node whose clock
// runs behind still finds it.
const gcraMargin = time.Minute

// dailyMargin is how long a Daily key outlives its day, for the same reason.
const dailyMargin = time.Hour

var (
	//go:embed lua/take.lua
	takeLua    string
	takeScript = redis.NewScript(takeLua)
	// takeFragment is take.lua in a relay's batch (luabatch).
	takeFragment = luabatch.NewFragment("limit.take", takeLua)
)

// NewRedis returns a limiter keeping its state in rdb under prefix (e.g.
// "sy:limit:"). Every error it returns wraps ErrUnavailable.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix}
}

// Take implements Limiter.
func (l *Redis) Take(ctx context.Context, rules []Rule, now time.Time) (Decision, error) {
	var t queuedTake
	if l.prepareTake(&t, rules, now) {
		return t.d, t.err
	}
	keys, args := l.takeArgs(make([]string, 0, len(rules)), make([]any, 0, 4+5*len(rules)), rules, t.nowUS)
	r, err := takeScript.Run(ctx, l.rdb, keys, args...).Int64Slice()
	return l.decide(&t, rules, r, err)
}

// queuedTake is a Take's script call, queued on a batch or decided
// without Redis (an invalid or impossible rule).
type queuedTake struct {
	nowUS  int64
	queued bool // on a batch: reply is its answer once the batch ran
	reply  luabatch.Reply
	d      Decision
	err    error
}

// prepareTake checks rules; true means the answer is known without Redis
// (t.d, t.err).
func (l *Redis) prepareTake(t *queuedTake, rules []Rule, now time.Time) bool {
	bad, err := precheck(rules)
	switch {
	case err != nil:
		t.d, t.err = Decision{Refused: -1}, err
		return true
	case bad >= 0:
		t.d = Decision{Refused: bad}
		return true
	case len(rules) == 0:
		t.d = Decision{Allowed: true, Refused: -1}
		return true
	}
	t.nowUS = now.UnixMicro()
	return false
}

// takeArgs appends a Take's script keys and arguments to keys and args.
func (l *Redis) takeArgs(keys []string, args []any, rules []Rule, nowUS int64) ([]string, []any) {
	args = scriptArgs(args, "take", nowUS)
	for i := range rules {
		keys, args = l.appendRule(keys, args, &rules[i], rules[i].Cost, nowUS)
	}
	return keys, args
}

// queueTake queues a Take of rules on b; takeResult reads it once b has
// run. rules must stay unchanged until then.
func (l *Redis) queueTake(b *luabatch.Batch, t *queuedTake, rules []Rule, now time.Time) {
	if l.prepareTake(t, rules, now) {
		return
	}
	t.queued = true
	keys, args := b.Buffers()
	keys, args = l.takeArgs(keys, args, rules, t.nowUS)
	b.Commit(takeFragment, &t.reply, keys, args)
}

// takeResult reads a queued Take.
func (l *Redis) takeResult(t *queuedTake, rules []Rule) (Decision, error) {
	if !t.queued {
		return t.d, t.err
	}
	var buf [2]int64
	r, err := t.reply.Int64s(buf[:0])
	return l.decide(t, rules, r, err)
}

// decide turns the script's answer into a Decision.
func (l *Redis) decide(t *queuedTake, rules []Rule, r []int64, err error) (Decision, error) {
	if err != nil {
		return Decision{Refused: -1}, unavailable("take", err)
	}
	if len(r) != 2 || r[0] < 0 || r[0] > int64(len(rules)) {
		return Decision{Refused: -1}, unavailable("take", fmt.Errorf("script answered %v", r))
	}
	if r[0] == 0 {
		return Decision{Allowed: true, Refused: -1}, nil
	}
	i := int(r[0]) - 1
	wait := usDuration(r[1])
	if rules[i].Kind == Daily {
		_, untilMidnight := dayStart(t.nowUS)
		wait = usDuration(untilMidnight)
	}
	return Decision{RetryAfter: wait, Refused: i}, nil
}

// Charge implements Limiter.
func (l *Redis) Charge(ctx context.Context, r Rule, n int64, now time.Time) error {
	var t queuedTake
	if l.prepareCharge(&t, &r, &n, now) {
		return t.err
	}
	keys, args := l.chargeArgs(make([]string, 0, 1), make([]any, 0, 4+5), &r, n, t.nowUS)
	if err := takeScript.Run(ctx, l.rdb, keys, args...).Err(); err != nil {
		return unavailable("charge "+r.Key, err)
	}
	return nil
}

// prepareCharge checks a Charge, clamping *n; true means nothing is to
// be sent (t.err).
func (l *Redis) prepareCharge(t *queuedTake, r *Rule, n *int64, now time.Time) bool {
	r.Cost = 0
	if err := r.validate(); err != nil {
		t.err = fmt.Errorf("charge: %w", err)
		return true
	}
	if *n == 0 {
		return true
	}
	*n = min(max(*n, -maxCount), maxCount)
	t.nowUS = now.UnixMicro()
	return false
}

// chargeArgs appends a Charge's script keys and arguments to keys and args.
func (l *Redis) chargeArgs(keys []string, args []any, r *Rule, n, nowUS int64) ([]string, []any) {
	return l.appendRule(keys, scriptArgs(args, "charge", nowUS), r, n, nowUS)
}

// queueCharge queues a Charge on b; chargeResult reads it.
func (l *Redis) queueCharge(b *luabatch.Batch, t *queuedTake, r Rule, n int64, now time.Time) {
	if l.prepareCharge(t, &r, &n, now) {
		return
	}
	t.queued = true
	keys, args := b.Buffers()
	keys, args = l.chargeArgs(keys, args, &r, n, t.nowUS)
	b.Commit(takeFragment, &t.reply, keys, args)
}

// chargeResult reads a queued Charge.
func (l *Redis) chargeResult(t *queuedTake, key string) error {
	if !t.queued {
		return t.err
	}
	if err := t.reply.Err(); err != nil {
		return unavailable("charge "+key, err)
	}
	return nil
}

// scriptArgs appends the script's leading arguments to args.
func scriptArgs(args []any, mode string, nowUS int64) []any {
	return append(args, mode, nowUS, int64(maxAheadUS), gcraMargin.Milliseconds())
}

// appendRule adds r with n units to the script's keys and arguments.
func (l *Redis) appendRule(keys []string, args []any, r *Rule, n, nowUS int64) ([]string, []any) {
	switch r.Kind {
	case GCRA:
		periodUS := int64(r.Period / time.Microsecond)
		iq, ifr := increment(n, periodUS, r.Limit)
		keys = append(keys, l.prefix+"g:"+r.Key)
		args = append(args, "g", r.Limit, periodUS, iq, ifr)
	case Daily:
		day, untilMidnight := dayStart(nowUS)
		ttl := (untilMidnight+999)/1000 + dailyMargin.Milliseconds()
		keys = append(keys, l.prefix+"d:"+r.Key+":"+strconv.FormatInt(day, 10))
		args = append(args, "d", r.Limit, n, ttl, 0)
	}
	return keys, args
}

func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}
