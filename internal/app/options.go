package app

import "time"

// Option adjusts how New builds a node, beyond its configuration.
type Option func(*App)

// WithClock replaces the scheduler's clock (cooldowns, min_interval,
// daily counters, token expiry), so tests can move time instead of
// waiting for it.
func WithClock(now func() time.Time) Option {
	return func(a *App) { a.now = now }
}
