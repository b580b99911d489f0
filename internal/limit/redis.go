package limit

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
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
// share one slot.
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
)

// NewRedis returns a limiter keeping its state in rdb under prefix (e.g.
// "sy:limit:"). Every error it returns wraps ErrUnavailable.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix}
}

// Take implements Limiter.
func (l *Redis) Take(ctx context.Context, rules []Rule, now time.Time) (Decision, error) {
	bad, err := precheck(rules)
	if err != nil {
		return Decision{Refused: -1}, err
	}
	if bad >= 0 {
		return Decision{Refused: bad}, nil
	}
	if len(rules) == 0 {
		return Decision{Allowed: true, Refused: -1}, nil
	}
	nowUS := now.UnixMicro()
	keys, args := l.scriptArgs("take", rules, nowUS)
	for i := range rules {
		keys, args = l.appendRule(keys, args, &rules[i], rules[i].Cost, nowUS)
	}
	r, err := takeScript.Run(ctx, l.rdb, keys, args...).Int64Slice()
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
		_, untilMidnight := dayStart(nowUS)
		wait = usDuration(untilMidnight)
	}
	return Decision{RetryAfter: wait, Refused: i}, nil
}

// Charge implements Limiter.
func (l *Redis) Charge(ctx context.Context, r Rule, n int64, now time.Time) error {
	r.Cost = 0
	if err := r.validate(); err != nil {
		return fmt.Errorf("charge: %w", err)
	}
	if n == 0 {
		return nil
	}
	n = min(max(n, -maxCount), maxCount)
	nowUS := now.UnixMicro()
	keys, args := l.scriptArgs("charge", []Rule{r}, nowUS)
	keys, args = l.appendRule(keys, args, &r, n, nowUS)
	if err := takeScript.Run(ctx, l.rdb, keys, args...).Err(); err != nil {
		return unavailable("charge "+r.Key, err)
	}
	return nil
}

func (l *Redis) scriptArgs(mode string, rules []Rule, nowUS int64) ([]string, []any) {
	keys := make([]string, 0, len(rules))
	args := make([]any, 0, 4+5*len(rules))
	args = append(args, mode, nowUS, int64(maxAheadUS), gcraMargin.Milliseconds())
	return keys, args
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
