package app

import (
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/switchyard/switchyard/internal/tokens"

	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/live"
)

// Option adjusts how New builds a node, beyond its configuration.
type Option func(*App)

// WithClock replaces the scheduler's clock (cooldowns, min_interval,
// daily counters, token expiry), so tests can move time instead of
// waiting for it.
func WithClock(now func() time.Time) Option {
	return func(a *App) { a.now = now }
}

// WithMeter adjusts the billing meter's options (drain and heartbeat
// intervals), so tests can watch the journal drain and nodes expire fast.
func WithMeter(fn func(*billing.MeterOptions)) Option {
	return func(a *App) { a.meterOpts = append(a.meterOpts, fn) }
}

// WithLive adjusts the change bus's options (its poll interval, or no
// Redis), so tests can show the database polling alone carries a change
// between nodes that share Redis for billing.
func WithLive(fn func(*live.Options)) Option {
	return func(a *App) { a.liveOpts = append(a.liveOpts, fn) }
}

// WithRedisHook adds h to the node's Redis client before anything uses it,
// so tests can count the round trips a request makes.
func WithRedisHook(h redis.Hook) Option {
	return func(a *App) { a.redisHooks = append(a.redisHooks, h) }
}

// WithLastUsedInterval sets how often the node writes its keys' last use
// (auth.DefaultLastUsedInterval by default), so tests need not wait 30 s.
func WithLastUsedInterval(d time.Duration) Option {
	return func(a *App) { a.lastUsedEvery = d }
}

// WithTokenizerWarmup sets how long after Run starts serving the node
// builds the token-count vocabularies its models use (DefaultTokenizerWarmup
// by default; a negative delay turns the warm-up off, as apptest does), and
// with what: warm nil is Encoding.Warm, and tests pass a function that
// records or blocks to show the warm-up is off the start path.
func WithTokenizerWarmup(delay time.Duration, warm func(tokens.Encoding)) Option {
	return func(a *App) { a.warmDelay, a.warm = delay, warm }
}
