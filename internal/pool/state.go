package pool

import (
	"context"
	"errors"
	"time"
)

// State is the scheduler's live view of credentials: last use, cooldowns,
// daily counters, latency, circuit breaker, automatic disabling and leases.
// One node keeps it in memory (MemoryState); several nodes share it in
// Redis (RedisState), where every method is one atomic script, so two nodes
// can never both lease a credential that min_interval forbids.
//
// Every method takes the current time from its caller (Acquire.Now and the
// now arguments) instead of reading a clock: tests drive time, and the Redis
// scripts stay deterministic. Nodes sharing Redis are assumed to keep their
// clocks in sync (NTP); a skew of s shifts cooldowns and min_interval by s.
type State interface {
	// Acquire picks one usable credential among q.Cands, following
	// q.Strategy, and leases it atomically: last use, today's use count and
	// the lease are recorded in the same step. Found is false when none is
	// usable; RetryAt then says when the earliest one becomes usable again
	// (zero when unknown or never, such as all disabled).
	Acquire(ctx context.Context, q *Acquire) (Grant, error)
	// Release ends a lease and applies what the attempt taught. Releasing a
	// lease that has expired or was never granted still applies the outcome.
	Release(ctx context.Context, credID int64, leaseID string, o Outcome, now time.Time) error
	// Renew extends a live lease to now+ttl (long streams).
	Renew(ctx context.Context, credID int64, leaseID string, now time.Time, ttl time.Duration) error
	// Disable takes the credential out of rotation until Enable.
	Disable(ctx context.Context, credID int64, reason string, now time.Time) error
	// Enable returns the credential to rotation and clears its cooldown,
	// failure count and circuit.
	Enable(ctx context.Context, credID int64, now time.Time) error
	// Snapshot returns the state of each id (a Snap with only ID set for
	// unknown ids), in the order given. Expired leases are not counted, and
	// daily counters of a day other than now's UTC day read as zero.
	Snapshot(ctx context.Context, ids []int64, now time.Time) ([]Snap, error)
	// TryLock takes a named lock for ttl, for work only one node should do
	// at a time (an OAuth refresh, a periodic test). It reports false when
	// another holder has it. Unlock releases it only if token still holds it.
	TryLock(ctx context.Context, name, token string, ttl time.Duration) (bool, error)
	Unlock(ctx context.Context, name, token string) error
}

// Strategy orders the usable credentials of a channel.
type Strategy string

// The strategies of scheduler.strategy.
const (
	RoundRobin   Strategy = "round_robin"   // the next one after the channel's counter
	Random       Strategy = "random"        // uniformly at random
	Weighted     Strategy = "weighted"      // at random, in proportion to Cand.Weight
	LeastUsed    Strategy = "least_used"    // fewest uses today; ties by order
	LeastLatency Strategy = "least_latency" // lowest EWMA time to first byte; unknown (0) first; ties by order
)

// Acquire is one pick among the credentials of one channel.
type Acquire struct {
	// Channel names the round-robin counter (one per channel).
	Channel  string
	Cands    []Cand // in the channel's configured order
	Strategy Strategy
	Now      time.Time
	// Day is the current UTC day, "2006-01-02"; daily counters kept under
	// another day count as zero (the day has turned).
	Day         string
	MinInterval time.Duration
	// Ratio is scheduler.daily_usage_ratio: a credential whose use today
	// has reached Ratio × a daily limit rests until the day turns.
	Ratio float64
	// Rand is a uniform number in [0,1) drawn by the caller, used by the
	// random and weighted strategies (the Redis script must be deterministic).
	Rand     float64
	LeaseID  string
	LeaseTTL time.Duration
	// Force skips every health check (admin pinning to test one account):
	// the first candidate is leased whatever its state.
	Force bool
}

// Cand is a credential offered to Acquire.
type Cand struct {
	ID     int64
	Weight int // ≥ 1
	// Daily limits; 0 means none.
	DailyRequests int64
	DailyTokens   int64
	DailySpend    int64 // micro-USD
}

// Grant is the answer of Acquire.
type Grant struct {
	Found   bool
	CredID  int64
	RetryAt time.Time // when !Found: earliest time a candidate becomes usable, zero if unknown
	// RateLimited, when !Found, says some candidate rests only until a rate
	// limit passes (a 429 cooldown or min_interval), not because it is
	// disabled or its circuit is open: the gateway then answers 429.
	RateLimited bool
	// Probe is set when the credential's circuit was half-open: this lease
	// is the single probe whose outcome closes or re-opens it.
	Probe bool
}

// Usable rules, in the order Acquire checks them (a credential fails on the
// first that holds), with what each contributes to RetryAt:
//   - disabled                                  → nothing
//   - cooldown_until > now                      → cooldown_until
//   - circuit open and open_until > now         → open_until
//   - circuit half-open (open_until ≤ now) with a live probe lease → nothing
//   - last_use + MinInterval > now              → last_use + MinInterval
//   - today's requests ≥ Ratio × DailyRequests, tokens ≥ Ratio × DailyTokens
//     or spend ≥ Ratio × DailySpend             → next UTC midnight
//
// On a grant: last_use = now, uses (today) += 1, the lease is recorded with
// expiry now+LeaseTTL; for a half-open circuit the lease is also the probe.

// OutcomeKind classifies how an attempt ended.
type OutcomeKind uint8

// The outcome kinds.
const (
	// Neutral: the request was the client's fault (a 400) or the client
	// went away; nothing is learned about the credential.
	Neutral OutcomeKind = iota
	// Success: failures reset to 0, circuit closed, EWMA updated with TTFB,
	// today's tokens and spend increased.
	Success
	// RateLimited: cooldown_until = max(cooldown_until, now+Cooldown).
	RateLimited
	// Failed (5xx, timeout, connection error): failures += 1; at
	// CircuitFailures (when > 0) the circuit opens until now+CircuitPause.
	// A failed probe re-opens it at once.
	Failed
	// AuthFailed: the credential is disabled with Err as the reason. The
	// pool no longer reports it for a request (a request's 401/403 only
	// makes the credential a suspect, see suspect.go); it disables through
	// State.Disable once its own probe is refused.
	AuthFailed
)

// Outcome is what one attempt taught about its credential.
type Outcome struct {
	Kind     OutcomeKind
	Cooldown time.Duration // RateLimited
	TTFB     time.Duration // Success; 0 = not measured, EWMA unchanged
	Tokens   int64         // Success: prompt + completion tokens, for daily_tokens
	Spend    int64         // Success: micro-USD, for daily_spend
	Err      string        // last_error; reason for AuthFailed
	Day      string        // the UTC day the tokens and spend count toward

	// Circuit settings, from scheduler.circuit_failures and circuit_pause.
	CircuitFailures int
	CircuitPause    time.Duration
}

// EWMAWeight is the weight of a new TTFB sample in the latency average.
const EWMAWeight = 0.3

// Snap is one credential's state, for `switchyard credentials list` and
// the console.
type Snap struct {
	ID            int64         `json:"id"`
	Disabled      bool          `json:"disabled"`
	DisabledWhy   string        `json:"disabled_reason,omitempty"`
	CooldownUntil time.Time     `json:"cooldown_until,omitzero"`
	LastUse       time.Time     `json:"last_use,omitzero"`
	Day           string        `json:"day,omitempty"`
	UsesToday     int64         `json:"uses_today"`
	TokensToday   int64         `json:"tokens_today"`
	SpendToday    int64         `json:"spend_today_micros"`
	EWMA          time.Duration `json:"ewma_ttfb_ns"`
	Failures      int           `json:"consecutive_failures"`
	OpenUntil     time.Time     `json:"circuit_open_until,omitzero"` // zero: closed
	Leases        int           `json:"leases"`
	LastError     string        `json:"last_error,omitempty"`
	LastErrorAt   time.Time     `json:"last_error_at,omitzero"` // when LastError was set
}

// Circuit names the circuit state at now: "closed", "open" or "half_open".
func (s Snap) Circuit(now time.Time) string {
	switch {
	case s.OpenUntil.IsZero():
		return "closed"
	case now.Before(s.OpenUntil):
		return "open"
	}
	return "half_open"
}

// ErrStateUnavailable wraps a failure to reach the shared state (Redis).
// The pool fails closed on it: no credential is leased that the other nodes
// cannot see, and the client gets 503.
var ErrStateUnavailable = errors.New("scheduler state unavailable")
