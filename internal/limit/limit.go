package limit

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"time"
)

// Kind selects the algorithm of a Rule.
type Kind int

const (
	// GCRA is a smooth rate: Limit units per Period, with a burst of up to
	// Limit units from an idle key.
	GCRA Kind = iota
	// Daily allows at most Limit units per UTC calendar day.
	Daily
)

func (k Kind) String() string {
	switch k {
	case GCRA:
		return "gcra"
	case Daily:
		return "daily"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Rule is one limit a request must pass.
type Rule struct {
	// Key names the budget, e.g. "k:17:rpm"; the caller namespaces it. The
	// rules of one Take should have distinct keys: a key given twice is
	// checked twice against the same state, not against the sum.
	Key  string
	Kind Kind
	// Limit is the number of units allowed per Period (GCRA) or per UTC
	// day (Daily); it must be in 1..MaxLimit.
	Limit int64
	// Period is the window of a GCRA rule (time.Minute for rpm and tpm);
	// Daily ignores it.
	Period time.Duration
	// Cost is what this request takes: 1 for a request, N tokens for tpm.
	// Zero only checks: it passes unless the rule is already over its
	// limit (in debt, see Limiter.Charge) and consumes nothing. A Cost
	// above Limit can never pass: Take refuses it with RetryAfter 0, which
	// the caller should report as a request too large for the limit rather
	// than as "try again later".
	Cost int64
}

// Decision is the answer of Take.
type Decision struct {
	Allowed bool
	// RetryAfter is, when refused, how long until the refusing rule would
	// allow Cost (assuming nothing else takes from it meanwhile). Zero
	// together with Allowed false means never: the Cost exceeds the Limit.
	RetryAfter time.Duration
	// Refused is the index of the first refusing rule, -1 when allowed.
	Refused int
}

// Limiter checks and consumes rate budgets.
type Limiter interface {
	// Take checks every rule at now and, only when all allow, consumes
	// Cost from each: all or nothing, atomically.
	Take(ctx context.Context, rules []Rule, now time.Time) (Decision, error)
	// Charge consumes n more units of one rule without checking, such as
	// a tpm correction once the real token count is known. It may push
	// the rule into debt, which later Takes pay back by waiting. A
	// negative n gives units back, never more than are outstanding.
	Charge(ctx context.Context, r Rule, n int64, now time.Time) error
}

// ErrUnavailable wraps every failure to reach the shared store (Redis); the
// caller chooses whether to fail open or closed.
var ErrUnavailable = errors.New("rate limiter unavailable")

// MaxLimit bounds Rule.Limit. Redis scripts compute in Lua numbers
// (doubles, exact below 2^53); this keeps every sum well inside that.
const MaxLimit = 1 << 50

// maxAheadUS bounds how far a TAT may run ahead of now, and the Period, in
// microseconds (about 35 years): a debt beyond it is clamped, so that
// now + debt + increment stays below 2^53.
const maxAheadUS = 1 << 50

const dayUS = int64(24 * time.Hour / time.Microsecond)

func (r *Rule) validate() error {
	if r.Limit <= 0 || r.Limit > MaxLimit {
		return fmt.Errorf("rule %q: limit %d out of range 1..%d", r.Key, r.Limit, int64(MaxLimit))
	}
	if r.Cost < 0 {
		return fmt.Errorf("rule %q: negative cost %d", r.Key, r.Cost)
	}
	switch r.Kind {
	case GCRA:
		if r.Period < time.Microsecond || r.Period > maxAheadUS*time.Microsecond {
			return fmt.Errorf("rule %q: period %v out of range 1µs..%v", r.Key, r.Period, time.Duration(maxAheadUS)*time.Microsecond)
		}
	case Daily:
	default:
		return fmt.Errorf("rule %q: unknown kind %v", r.Key, r.Kind)
	}
	return nil
}

// precheck validates rules and returns the index of the first rule whose
// Cost exceeds its Limit, or -1. Such a request is refused before the store
// is consulted: no wait would ever let it pass.
func precheck(rules []Rule) (int, error) {
	impossible := -1
	for i := range rules {
		r := &rules[i]
		if err := r.validate(); err != nil {
			return -1, fmt.Errorf("take: %w", err)
		}
		if r.Cost > r.Limit && impossible < 0 {
			impossible = i
		}
	}
	return impossible, nil
}

// tat is a GCRA theoretical arrival time, kept exact as q + f/limit
// microseconds since the Unix epoch (0 <= f < limit). Storing the fraction
// rather than rounding the emission interval Period/Limit is what lets
// exactly Limit units fit in one Period for any Limit, including tpm limits
// in the millions where a whole-microsecond interval would be off by
// percents.
type tat struct{ q, f int64 }

// increment returns n units of a rule as time: n*period/limit microseconds
// as q + f/limit with 0 <= f < limit (floor division, also for negative n).
// It is clamped to ±maxAheadUS.
func increment(n, periodUS, limit int64) (q, f int64) {
	neg := n < 0
	if neg {
		n = -n
	}
	hi, lo := bits.Mul64(uint64(n), uint64(periodUS))
	if hi >= uint64(limit) { // quotient would not fit 64 bits
		q, f = maxAheadUS, 0
	} else {
		uq, ur := bits.Div64(hi, lo, uint64(limit))
		if uq > maxAheadUS {
			q, f = maxAheadUS, 0
		} else {
			q, f = int64(uq), int64(ur)
		}
	}
	if neg {
		if f > 0 {
			return -q - 1, limit - f
		}
		return -q, 0
	}
	return q, f
}

// gcraStep applies an increment to the stored t at nowUS, exactly as the
// Redis script does. It returns the new TAT and, for a Take, whether it is
// within the burst tolerance (new TAT - now <= period) and if not the wait
// in whole microseconds, rounded up.
func gcraStep(t tat, found bool, nowUS, periodUS, limit, iq, ifr int64) (next tat, ok bool, waitUS int64) {
	if !found || t.f >= limit || t.q < nowUS {
		// Absent or stale: an idle key starts at now. (f >= limit only
		// if the limit shrank; dropping the fraction errs by under 1µs.)
		t = tat{q: nowUS}
	}
	q, f := t.q+iq, t.f+ifr
	if f >= limit {
		q, f = q+1, f-limit
	}
	ahead := q - nowUS
	if ahead > periodUS || (ahead == periodUS && f > 0) {
		waitUS = ahead - periodUS
		if f > 0 {
			waitUS++
		}
	} else {
		ok = true
	}
	// Clamp: a refund never credits beyond now, a debt never runs past
	// maxAheadUS (which keeps the Redis arithmetic exact).
	if q < nowUS {
		q, f = nowUS, 0
	} else if q-nowUS > maxAheadUS {
		q, f = nowUS+maxAheadUS, 0
	}
	return tat{q, f}, ok, waitUS
}

// dayStart returns the UTC day number of nowUS and the microseconds to its
// next midnight.
func dayStart(nowUS int64) (day, untilMidnightUS int64) {
	day = nowUS / dayUS
	if nowUS%dayUS < 0 {
		day--
	}
	return day, (day+1)*dayUS - nowUS
}

func usDuration(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
