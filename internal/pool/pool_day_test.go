package pool

import (
	"testing"
	"time"
)

// Pool.day answers Day, across midnight and backwards in time too.
func TestPoolDay(t *testing.T) {
	var p Pool
	base := time.Date(2026, 12, 7, 23, 59, 59, 900, time.FixedZone("x", 5*3600))
	for _, d := range []time.Duration{0, time.Second, time.Hour, 5 * time.Hour, -24 * time.Hour, 48 * time.Hour, -30 * 365 * 24 * time.Hour} {
		now := base.Add(d)
		if got, want := p.day(now), Day(now); got != want {
			t.Fatalf("day(%v) = %s, want %s", now, got, want)
		}
	}
	before := time.Date(1969, 12, 31, 12, 0, 0, 0, time.UTC)
	if got := p.day(before); got != "1969-12-31" {
		t.Fatalf("day before 1970: %s", got)
	}
}
