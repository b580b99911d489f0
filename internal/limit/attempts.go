package limit

import (
	"context"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
)

// Attempts counts console sign-in attempts (auth.Throttler) with l: each
// budget is a GCRA rule of Limit attempts per Window under "login:" keys,
// so attempts are shared by every node when l is the Redis limiter.
func Attempts(l Limiter) auth.Throttler { return attempts{l} }

type attempts struct{ l Limiter }

func (a attempts) rules(budgets []auth.Budget) []Rule {
	rules := make([]Rule, len(budgets))
	for i, b := range budgets {
		rules[i] = Rule{Key: b.Key, Kind: GCRA, Limit: b.Limit, Period: b.Window, Cost: 1}
	}
	return rules
}

// Take implements auth.Throttler.
func (a attempts) Take(ctx context.Context, budgets []auth.Budget, now time.Time) (bool, time.Duration, error) {
	d, err := a.l.Take(ctx, a.rules(budgets), now)
	if err != nil {
		return false, 0, err
	}
	return d.Allowed, d.RetryAfter, nil
}

// Refund implements auth.Throttler.
func (a attempts) Refund(ctx context.Context, budgets []auth.Budget, now time.Time) error {
	for _, r := range a.rules(budgets) {
		if err := a.l.Charge(ctx, r, -1, now); err != nil {
			return err
		}
	}
	return nil
}
