package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/testenv"
)

// base is the suite's clock: a whole millisecond, noon UTC.
var base = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

func TestMemoryState(t *testing.T) {
	runStateSuite(t, func(*testing.T) State { return NewMemoryState() })
}

func TestRedisState(t *testing.T) {
	url := testenv.RedisURL(t)
	runStateSuite(t, func(t *testing.T) State {
		return NewRedisState(testenv.RedisClient(t, url), testenv.RedisPrefix(t, url))
	})
}

// harness drives one State with the suite's defaults.
type harness struct {
	t     *testing.T
	st    State
	seq   atomic.Int64
	cands []Cand
}

func cands(ids ...int64) []Cand {
	out := make([]Cand, len(ids))
	for i, id := range ids {
		out[i] = Cand{ID: id, Weight: 1}
	}
	return out
}

// query is an Acquire of h.cands at base+at, round robin, no limits.
func (h *harness) query(at time.Duration) *Acquire {
	now := base.Add(at)
	return &Acquire{
		Channel: "ch", Cands: h.cands, Strategy: RoundRobin, Now: now, Day: Day(now), Ratio: 1,
		LeaseID: fmt.Sprintf("lease-%d", h.seq.Add(1)), LeaseTTL: time.Minute,
	}
}

func (h *harness) acquire(q *Acquire) Grant {
	h.t.Helper()
	g, err := h.st.Acquire(context.Background(), q)
	if err != nil {
		h.t.Fatalf("acquire: %v", err)
	}
	return g
}

// use leases a credential at base+at and releases it with o.
func (h *harness) use(at time.Duration, o Outcome) Grant {
	h.t.Helper()
	q := h.query(at)
	g := h.acquire(q)
	if !g.Found {
		h.t.Fatalf("use at %v: nothing granted (retry at %v)", at, g.RetryAt)
	}
	h.release(g.CredID, q.LeaseID, at, o)
	return g
}

func (h *harness) release(id int64, lease string, at time.Duration, o Outcome) {
	h.t.Helper()
	if o.Day == "" {
		o.Day = Day(base.Add(at))
	}
	if err := h.st.Release(context.Background(), id, lease, o, base.Add(at)); err != nil {
		h.t.Fatalf("release: %v", err)
	}
}

func (h *harness) snap(id int64, at time.Duration) Snap {
	h.t.Helper()
	s, err := h.st.Snapshot(context.Background(), []int64{id}, base.Add(at))
	if err != nil {
		h.t.Fatalf("snapshot: %v", err)
	}
	return s[0]
}

func runStateSuite(t *testing.T, newState func(t *testing.T) State) {
	h := func(t *testing.T, ids ...int64) *harness {
		return &harness{t: t, st: newState(t), cands: cands(ids...)}
	}

	t.Run("RoundRobinEven", func(t *testing.T) {
		h := h(t, 1, 2, 3, 4)
		counts := map[int64]int{}
		for i := range 100 {
			g := h.use(time.Duration(i)*time.Second, Outcome{Kind: Neutral})
			if i < 4 && g.CredID != int64(i+1) {
				t.Fatalf("pick %d = credential %d, want %d", i, g.CredID, i+1)
			}
			counts[g.CredID]++
		}
		for id := int64(1); id <= 4; id++ {
			if counts[id] != 25 {
				t.Errorf("credential %d picked %d times, want 25 (%v)", id, counts[id], counts)
			}
		}
	})

	// Concurrent requests read their clocks before they reach the state, so
	// one that read an earlier time may arrive after a later one was granted.
	t.Run("ClockOrderWithoutMinInterval", func(t *testing.T) {
		h := h(t, 1)
		if g := h.acquire(h.query(2 * time.Millisecond)); !g.Found {
			t.Fatal("first acquire refused")
		}
		if g := h.acquire(h.query(time.Millisecond)); !g.Found {
			t.Fatalf("an earlier-stamped request was refused without min_interval (retry at %v)", g.RetryAt)
		}
		if ls := h.snap(1, 3*time.Millisecond).LastUse; !ls.Equal(base.Add(2 * time.Millisecond)) {
			t.Fatalf("last use went backwards: %v", ls)
		}
	})

	t.Run("RoundRobinSkipsUnusable", func(t *testing.T) {
		h := h(t, 1, 2, 3)
		if err := h.st.Disable(context.Background(), 2, "x", base); err != nil {
			t.Fatal(err)
		}
		var got []int64
		for i := range 6 {
			got = append(got, h.use(time.Duration(i)*time.Second, Outcome{}).CredID)
		}
		// Counter 1→1, 2→(2 disabled)→3, 3→3, 4→1, 5→3, 6→3.
		want := []int64{1, 3, 3, 1, 3, 3}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("picks %v, want %v", got, want)
		}
	})

	midnight := time.Date(2025, 3, 11, 0, 0, 0, 0, time.UTC)
	skips := []struct {
		name  string
		cand  Cand
		ratio float64
		min   time.Duration
		setup func(h *harness)
		at    time.Duration // of the checked Acquire
		found bool
		retry time.Time
		// limited: refused only for a rate limit (Grant.RateLimited).
		limited bool
	}{
		{name: "healthy", found: true},
		{name: "disabled", setup: func(h *harness) {
			if err := h.st.Disable(context.Background(), 1, "banned", base); err != nil {
				h.t.Fatal(err)
			}
		}},
		{name: "cooling", setup: func(h *harness) {
			h.use(0, Outcome{Kind: RateLimited, Cooldown: 30 * time.Second})
		}, at: time.Second, retry: base.Add(30 * time.Second), limited: true},
		{name: "cooling keeps the later end", setup: func(h *harness) {
			h.use(0, Outcome{Kind: RateLimited, Cooldown: 30 * time.Second})
			h.release(1, "none", time.Second, Outcome{Kind: RateLimited, Cooldown: 5 * time.Second})
		}, at: 2 * time.Second, retry: base.Add(30 * time.Second), limited: true},
		{name: "cooldown over", setup: func(h *harness) {
			h.use(0, Outcome{Kind: RateLimited, Cooldown: 30 * time.Second})
		}, at: 30 * time.Second, found: true},
		{name: "failures below threshold", setup: func(h *harness) {
			h.use(0, Outcome{Kind: Failed, CircuitFailures: 2, CircuitPause: time.Minute})
		}, at: time.Second, found: true},
		{name: "circuit open", setup: func(h *harness) {
			h.use(0, Outcome{Kind: Failed, CircuitFailures: 2, CircuitPause: time.Minute})
			h.use(time.Second, Outcome{Kind: Failed, CircuitFailures: 2, CircuitPause: time.Minute})
		}, at: 2 * time.Second, retry: base.Add(time.Second + time.Minute)},
		{name: "no circuit without threshold", setup: func(h *harness) {
			for i := range 5 {
				h.use(time.Duration(i)*time.Second, Outcome{Kind: Failed, CircuitPause: time.Minute})
			}
		}, at: 10 * time.Second, found: true},
		{name: "auth failed", setup: func(h *harness) {
			h.use(0, Outcome{Kind: AuthFailed, Err: "401"})
		}, at: time.Hour},
		{name: "min interval", min: time.Minute, setup: func(h *harness) {
			h.use(0, Outcome{Kind: Success})
		}, at: 10 * time.Second, retry: base.Add(time.Minute), limited: true},
		{name: "min interval over", min: time.Minute, setup: func(h *harness) {
			h.use(0, Outcome{Kind: Success})
		}, at: time.Minute, found: true},
		{name: "daily requests", cand: Cand{DailyRequests: 2}, setup: func(h *harness) {
			h.use(0, Outcome{})
			h.use(time.Second, Outcome{})
		}, at: 2 * time.Second, retry: midnight},
		{name: "daily requests at ratio", cand: Cand{DailyRequests: 4}, ratio: 0.5, setup: func(h *harness) {
			h.use(0, Outcome{})
			h.use(time.Second, Outcome{})
		}, at: 2 * time.Second, retry: midnight},
		{name: "daily requests below ratio", cand: Cand{DailyRequests: 4}, ratio: 0.75, setup: func(h *harness) {
			h.use(0, Outcome{})
			h.use(time.Second, Outcome{})
		}, at: 2 * time.Second, found: true},
		{name: "daily tokens", cand: Cand{DailyTokens: 100}, setup: func(h *harness) {
			h.use(0, Outcome{Kind: Success, Tokens: 60})
			h.use(time.Second, Outcome{Kind: Success, Tokens: 40})
		}, at: 2 * time.Second, retry: midnight},
		{name: "daily spend at ratio", cand: Cand{DailySpend: 1000}, ratio: 0.8, setup: func(h *harness) {
			h.use(0, Outcome{Kind: Success, Spend: 800})
		}, at: time.Second, retry: midnight},
		{name: "daily spend below ratio", cand: Cand{DailySpend: 1000}, ratio: 0.8, setup: func(h *harness) {
			h.use(0, Outcome{Kind: Success, Spend: 799})
		}, at: time.Second, found: true},
		{name: "daily limit turns at midnight", cand: Cand{DailyRequests: 1}, setup: func(h *harness) {
			h.use(0, Outcome{})
		}, at: 12 * time.Hour, found: true},
	}
	for _, tc := range skips {
		t.Run("Skip/"+tc.name, func(t *testing.T) {
			h := h(t, 1)
			c := tc.cand
			c.ID, c.Weight = 1, 1
			h.cands = []Cand{c}
			if tc.setup != nil {
				tc.setup(h)
			}
			q := h.query(tc.at)
			q.MinInterval = tc.min
			if tc.ratio != 0 {
				q.Ratio = tc.ratio
			}
			g := h.acquire(q)
			if g.Found != tc.found || !g.RetryAt.Equal(tc.retry) || g.RateLimited != tc.limited {
				t.Fatalf("got found=%v retry=%v limited=%v, want found=%v retry=%v limited=%v",
					g.Found, g.RetryAt, g.RateLimited, tc.found, tc.retry, tc.limited)
			}
			if tc.found {
				return
			}
			// A healthy second candidate is taken instead.
			h.cands = append(h.cands, Cand{ID: 2, Weight: 1})
			q.Cands, q.LeaseID = h.cands, "other"
			if g := h.acquire(q); !g.Found || g.CredID != 2 {
				t.Fatalf("with a healthy alternative: %+v, want credential 2", g)
			}
		})
	}

	t.Run("RetryAtEarliest", func(t *testing.T) {
		h := h(t, 1, 2, 3)
		h.release(1, "x", 0, Outcome{Kind: RateLimited, Cooldown: 30 * time.Second})
		h.release(2, "x", 0, Outcome{Kind: RateLimited, Cooldown: 10 * time.Second})
		if err := h.st.Disable(context.Background(), 3, "x", base); err != nil {
			t.Fatal(err)
		}
		if g := h.acquire(h.query(time.Second)); g.Found || !g.RetryAt.Equal(base.Add(10*time.Second)) {
			t.Fatalf("got %+v, want retry at +10s", g)
		}
		if err := h.st.Disable(context.Background(), 2, "x", base); err != nil {
			t.Fatal(err)
		}
		if err := h.st.Disable(context.Background(), 1, "x", base); err != nil {
			t.Fatal(err)
		}
		if g := h.acquire(h.query(time.Second)); g.Found || !g.RetryAt.IsZero() {
			t.Fatalf("all disabled: got %+v, want no retry time", g)
		}
	})

	t.Run("DayRollover", func(t *testing.T) {
		h := h(t, 1)
		h.cands[0].DailyRequests = 1
		h.use(0, Outcome{Kind: Success, Tokens: 10, Spend: 5})
		if s := h.snap(1, 0); s.Day != "2025-03-10" || s.UsesToday != 1 || s.TokensToday != 10 || s.SpendToday != 5 {
			t.Fatalf("same day: %+v", s)
		}
		next := 12 * time.Hour // 2025-03-11 00:00
		if s := h.snap(1, next); s.UsesToday != 0 || s.TokensToday != 0 || s.SpendToday != 0 {
			t.Fatalf("next day reads old counters: %+v", s)
		}
		q := h.query(next)
		if g := h.acquire(q); !g.Found {
			t.Fatalf("next day: %+v", g)
		}
		// A late release of yesterday's attempt counts toward yesterday, which is gone.
		h.release(1, "old", next, Outcome{Kind: Success, Tokens: 7, Day: "2025-03-10"})
		h.release(1, q.LeaseID, next, Outcome{Kind: Success, Tokens: 3})
		if s := h.snap(1, next); s.Day != "2025-03-11" || s.UsesToday != 0 || s.TokensToday != 3 {
			t.Fatalf("after release on the next day: %+v", s)
		}
	})

	const pause = time.Minute
	fail := Outcome{Kind: Failed, Err: "502", CircuitFailures: 1, CircuitPause: pause}
	t.Run("HalfOpenSingleProbe", func(t *testing.T) {
		h := h(t, 1)
		h.use(0, fail)
		if s := h.snap(1, time.Second); s.Circuit(base.Add(time.Second)) != "open" || !s.OpenUntil.Equal(base.Add(pause)) {
			t.Fatalf("after failure: %+v", s)
		}
		q := h.query(pause)
		g := h.acquire(q)
		if !g.Found || !g.Probe {
			t.Fatalf("half-open: %+v, want a probe", g)
		}
		if g := h.acquire(h.query(pause + time.Second)); g.Found || !g.RetryAt.IsZero() {
			t.Fatalf("second acquire during the probe: %+v, want refusal without retry time", g)
		}
		// The probe's lease expires (its node died): a new probe is allowed.
		g = h.acquire(h.query(pause + time.Minute))
		if !g.Found || !g.Probe {
			t.Fatalf("after the probe lease expired: %+v, want a new probe", g)
		}
	})

	t.Run("ProbeSuccessCloses", func(t *testing.T) {
		h := h(t, 1)
		h.use(0, fail)
		q := h.query(pause)
		if g := h.acquire(q); !g.Probe {
			t.Fatalf("want probe: %+v", g)
		}
		h.release(1, q.LeaseID, pause+time.Second, Outcome{Kind: Success, TTFB: time.Second})
		s := h.snap(1, pause+time.Second)
		if !s.OpenUntil.IsZero() || s.Failures != 0 || s.Leases != 0 {
			t.Fatalf("after probe success: %+v", s)
		}
		if g := h.acquire(h.query(pause + 2*time.Second)); !g.Found || g.Probe {
			t.Fatalf("closed circuit: %+v, want a plain grant", g)
		}
	})

	t.Run("ProbeFailureReopens", func(t *testing.T) {
		h := h(t, 1)
		o := fail
		o.CircuitFailures = 3
		for i := range 3 {
			h.use(time.Duration(i)*time.Second, o)
		}
		opened := 2*time.Second + pause
		if s := h.snap(1, 0); !s.OpenUntil.Equal(base.Add(opened)) || s.Failures != 3 {
			t.Fatalf("after 3 failures: %+v", s)
		}
		if err := h.st.Enable(context.Background(), 1, base); err != nil {
			t.Fatal(err)
		}
		// Enable reset the count; reopen with one failure below the threshold,
		// so that only the probe rule can re-open.
		h.use(3*time.Second, o)
		h.use(4*time.Second, o)
		h.use(5*time.Second, o)
		reopened := 5*time.Second + pause
		q := h.query(reopened)
		if g := h.acquire(q); !g.Probe {
			t.Fatalf("want probe: %+v", g)
		}
		h.release(1, q.LeaseID, reopened+time.Second, o)
		s := h.snap(1, reopened+time.Second)
		if !s.OpenUntil.Equal(base.Add(reopened+time.Second+pause)) || s.Failures != 4 || s.LastError != "502" {
			t.Fatalf("after probe failure: %+v", s)
		}
		if g := h.acquire(h.query(reopened + 2*time.Second)); g.Found {
			t.Fatalf("re-opened circuit granted: %+v", g)
		}
	})

	t.Run("ProbeReopensBelowThreshold", func(t *testing.T) {
		h := h(t, 1)
		h.use(0, fail)
		q := h.query(pause)
		if g := h.acquire(q); !g.Probe {
			t.Fatalf("want probe: %+v", g)
		}
		// A neutral end of another lease does not touch the probe.
		h.release(1, "other", pause, Outcome{})
		if g := h.acquire(h.query(pause + time.Second)); g.Found {
			t.Fatalf("probe lost by an unrelated release: %+v", g)
		}
		o := fail
		o.CircuitFailures = 10 // far above the count: only the probe rule applies
		h.release(1, q.LeaseID, pause+time.Second, o)
		if s := h.snap(1, pause+time.Second); !s.OpenUntil.Equal(base.Add(2*pause + time.Second)) {
			t.Fatalf("failed probe did not re-open: %+v", s)
		}
	})

	t.Run("EWMA", func(t *testing.T) {
		h := h(t, 1)
		steps := []struct {
			ttfb, want time.Duration
		}{
			{100 * time.Millisecond, 100 * time.Millisecond}, // first sample taken as is
			{200 * time.Millisecond, 130 * time.Millisecond}, // 0.7×100 + 0.3×200
			{0, 130 * time.Millisecond},                      // not measured
			{30 * time.Millisecond, 100 * time.Millisecond},  // 91 + 9
			{101, 70000030},      // 70 000 000 + 30.3 → rounds to …030
			{70000040, 70000033}, // 49 000 021 + 21 000 012
		}
		for i, st := range steps {
			h.use(time.Duration(i)*time.Second, Outcome{Kind: Success, TTFB: st.ttfb})
			if got := h.snap(1, time.Duration(i)*time.Second).EWMA; got != st.want {
				t.Fatalf("step %d (ttfb %v): ewma %d, want %d", i, st.ttfb, got, st.want)
			}
		}
	})

	t.Run("LeastUsed", func(t *testing.T) {
		h := h(t, 1, 2, 3)
		// Uses today: 1→2, 2→1, 3→1 (round robin puts them there).
		for i := range 4 {
			h.use(time.Duration(i)*time.Second, Outcome{})
		}
		q := h.query(10 * time.Second)
		q.Strategy = LeastUsed
		if g := h.acquire(q); g.CredID != 2 {
			t.Fatalf("least used picked %d, want 2", g.CredID)
		}
		q = h.query(11 * time.Second)
		q.Strategy = LeastUsed
		if g := h.acquire(q); g.CredID != 3 {
			t.Fatalf("least used picked %d, want 3", g.CredID)
		}
	})

	t.Run("LeastLatency", func(t *testing.T) {
		h := h(t, 1, 2, 3)
		h.release(1, "x", 0, Outcome{Kind: Success, TTFB: 100 * time.Millisecond})
		h.release(2, "x", 0, Outcome{Kind: Success, TTFB: 50 * time.Millisecond})
		q := h.query(time.Second)
		q.Strategy = LeastLatency
		if g := h.acquire(q); g.CredID != 3 {
			t.Fatalf("unknown latency should come first; picked %d", g.CredID)
		}
		h.release(3, q.LeaseID, time.Second, Outcome{Kind: Success, TTFB: 50 * time.Millisecond})
		q = h.query(2 * time.Second)
		q.Strategy = LeastLatency
		if g := h.acquire(q); g.CredID != 2 {
			t.Fatalf("tie should go to the earlier one; picked %d", g.CredID)
		}
	})

	t.Run("Weighted", func(t *testing.T) {
		h := h(t, 1, 2, 3)
		h.cands[1].Weight = 2
		h.cands[2].Weight = 0 // counts as 1
		for _, tc := range []struct {
			rand float64
			want int64
		}{{0, 1}, {0.2499, 1}, {0.25, 2}, {0.7499, 2}, {0.75, 3}, {0.9999, 3}} {
			q := h.query(0)
			q.Strategy, q.Rand = Weighted, tc.rand
			if g := h.acquire(q); g.CredID != tc.want {
				t.Errorf("rand %v picked %d, want %d", tc.rand, g.CredID, tc.want)
			}
		}
		if err := h.st.Disable(context.Background(), 2, "x", base); err != nil {
			t.Fatal(err)
		}
		q := h.query(0)
		q.Strategy, q.Rand = Weighted, 0.5 // 1 of the 2 usable weight
		if g := h.acquire(q); g.CredID != 3 {
			t.Errorf("weighted without 2 picked %d, want 3", g.CredID)
		}
	})

	t.Run("Random", func(t *testing.T) {
		h := h(t, 1, 2, 3, 4)
		for _, tc := range []struct {
			rand float64
			want int64
		}{{0, 1}, {0.5, 3}, {0.9999, 4}} {
			q := h.query(0)
			q.Strategy, q.Rand = Random, tc.rand
			if g := h.acquire(q); g.CredID != tc.want {
				t.Errorf("rand %v picked %d, want %d", tc.rand, g.CredID, tc.want)
			}
		}
		if err := h.st.Disable(context.Background(), 3, "x", base); err != nil {
			t.Fatal(err)
		}
		q := h.query(0)
		q.Strategy, q.Rand = Random, 0.5
		if g := h.acquire(q); g.CredID != 4 {
			t.Errorf("random past a disabled one picked %d, want 4", g.CredID)
		}
	})

	t.Run("Force", func(t *testing.T) {
		h := h(t, 1, 2)
		if err := h.st.Disable(context.Background(), 1, "banned", base); err != nil {
			t.Fatal(err)
		}
		q := h.query(time.Second)
		q.Force, q.MinInterval = true, time.Hour
		if g := h.acquire(q); !g.Found || g.CredID != 1 || g.Probe {
			t.Fatalf("force: %+v, want credential 1", g)
		}
		s := h.snap(1, time.Second)
		if s.UsesToday != 1 || s.Leases != 1 || !s.LastUse.Equal(base.Add(time.Second)) || !s.Disabled {
			t.Fatalf("after force: %+v", s)
		}
	})

	t.Run("Renew", func(t *testing.T) {
		h := h(t, 1)
		q := h.query(0) // lease until +60s
		h.acquire(q)
		ctx := context.Background()
		if err := h.st.Renew(ctx, 1, q.LeaseID, base.Add(30*time.Second), time.Minute); err != nil {
			t.Fatal(err)
		}
		if s := h.snap(1, 80*time.Second); s.Leases != 1 {
			t.Fatalf("renewed lease gone at +80s: %+v", s)
		}
		if s := h.snap(1, 90*time.Second); s.Leases != 0 {
			t.Fatalf("renewed lease alive at +90s: %+v", s)
		}
		if err := h.st.Renew(ctx, 1, q.LeaseID, base.Add(91*time.Second), time.Minute); err != nil {
			t.Fatal(err)
		}
		if s := h.snap(1, 92*time.Second); s.Leases != 0 {
			t.Fatalf("expired lease was renewed: %+v", s)
		}
		if err := h.st.Renew(ctx, 7, "never", base, time.Minute); err != nil {
			t.Fatalf("renew of an unknown lease: %v", err)
		}
	})

	t.Run("EnableClears", func(t *testing.T) {
		h := h(t, 1)
		h.use(0, Outcome{Kind: RateLimited, Cooldown: time.Hour, Err: "429"})
		h.release(1, "x", 0, fail)
		h.release(1, "x", 0, Outcome{Kind: AuthFailed, Err: "401 invalid key"})
		s := h.snap(1, time.Second)
		if !s.Disabled || s.DisabledWhy != "401 invalid key" || s.LastError != "401 invalid key" || s.Failures != 1 {
			t.Fatalf("before enable: %+v", s)
		}
		if err := h.st.Enable(context.Background(), 1, base); err != nil {
			t.Fatal(err)
		}
		s = h.snap(1, time.Second)
		if s.Disabled || s.DisabledWhy != "" || !s.CooldownUntil.IsZero() || s.Failures != 0 || !s.OpenUntil.IsZero() {
			t.Fatalf("after enable: %+v", s)
		}
		if g := h.acquire(h.query(time.Second)); !g.Found || g.Probe {
			t.Fatalf("enabled credential: %+v", g)
		}
	})

	t.Run("Snapshot", func(t *testing.T) {
		h := h(t, 1, 2)
		q := h.query(0)
		h.acquire(q) // credential 1, lease held
		h.release(1, "x", 0, Outcome{Kind: Success, TTFB: 40 * time.Millisecond, Tokens: 12, Spend: 34})
		h.release(2, "x", 0, Outcome{Kind: RateLimited, Cooldown: time.Minute, Err: "429"})
		if err := h.st.Disable(context.Background(), 2, "paused by admin", base); err != nil {
			t.Fatal(err)
		}
		got, err := h.st.Snapshot(context.Background(), []int64{2, 9, 1}, base.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		want := []Snap{
			{ID: 2, Disabled: true, DisabledWhy: "paused by admin", CooldownUntil: base.Add(time.Minute),
				LastError: "paused by admin", LastErrorAt: base},
			{ID: 9},
			{ID: 1, LastUse: base, Day: "2025-03-10", UsesToday: 1, TokensToday: 12, SpendToday: 34,
				EWMA: 40 * time.Millisecond, Leases: 1},
		}
		if len(got) != len(want) {
			t.Fatalf("got %d snaps", len(got))
		}
		for i := range want {
			if !snapEqual(got[i], want[i]) {
				t.Errorf("snap %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
		if s, err := h.st.Snapshot(context.Background(), nil, base); err != nil || len(s) != 0 {
			t.Errorf("empty snapshot: %v %v", s, err)
		}
	})

	t.Run("TryLock", func(t *testing.T) {
		st := newState(t)
		ctx := context.Background()
		lock := func(token string, ttl time.Duration) bool {
			ok, err := st.TryLock(ctx, "refresh:7", token, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		unlock := func(token string) {
			if err := st.Unlock(ctx, "refresh:7", token); err != nil {
				t.Fatal(err)
			}
		}
		if !lock("a", time.Minute) {
			t.Fatal("free lock refused")
		}
		if lock("b", time.Minute) {
			t.Fatal("held lock taken")
		}
		unlock("b") // not the holder: no effect
		if lock("b", time.Minute) {
			t.Fatal("lock released by a non-holder")
		}
		unlock("a")
		if !lock("b", 20*time.Millisecond) {
			t.Fatal("released lock refused")
		}
		// Lock expiry runs on the wall clock (Redis PX), so this waits.
		time.Sleep(50 * time.Millisecond)
		if !lock("c", time.Minute) {
			t.Fatal("expired lock refused")
		}
	})

	t.Run("ConcurrentMinInterval", func(t *testing.T) {
		st := newState(t)
		concurrentGrants(t, []State{st})
	})
}

// snapEqual compares snaps with time.Time.Equal.
func snapEqual(a, b Snap) bool {
	ta := []time.Time{a.CooldownUntil, a.LastUse, a.OpenUntil, a.LastErrorAt}
	tb := []time.Time{b.CooldownUntil, b.LastUse, b.OpenUntil, b.LastErrorAt}
	for i := range ta {
		if !ta[i].Equal(tb[i]) {
			return false
		}
	}
	a.CooldownUntil, a.LastUse, a.OpenUntil, a.LastErrorAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	b.CooldownUntil, b.LastUse, b.OpenUntil, b.LastErrorAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}

// concurrentGrants has 50 goroutines, spread over states (nodes sharing
// one store), acquire from 3 credentials that min_interval allows once an
// hour, all at the same instant: exactly 3 may win, each a different one.
func concurrentGrants(t *testing.T, states []State) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		won   = map[int64]int{}
		start = make(chan struct{})
	)
	for i := range 50 {
		wg.Go(func() {
			<-start
			g, err := states[i%len(states)].Acquire(context.Background(), &Acquire{
				Channel: "ch", Cands: cands(1, 2, 3), Strategy: RoundRobin, Now: base, Day: Day(base),
				MinInterval: time.Hour, Ratio: 1, LeaseID: fmt.Sprintf("g%d", i), LeaseTTL: time.Minute,
			})
			if err != nil {
				t.Error(err)
				return
			}
			if g.Found {
				mu.Lock()
				won[g.CredID]++
				mu.Unlock()
			} else if !g.RetryAt.Equal(base.Add(time.Hour)) {
				t.Errorf("refusal retry at %v, want %v", g.RetryAt, base.Add(time.Hour))
			}
		})
	}
	close(start)
	wg.Wait()
	if len(won) != 3 || won[1] != 1 || won[2] != 1 || won[3] != 1 {
		t.Fatalf("grants %v, want one each of 1, 2, 3", won)
	}
}

// TestRedisStateTwoNodes races two clients, as two nodes would.
func TestRedisStateTwoNodes(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, url)
	concurrentGrants(t, []State{
		NewRedisState(testenv.RedisClient(t, url), prefix),
		NewRedisState(testenv.RedisClient(t, url), prefix),
	})
}

// TestRedisStateKeys checks that every key the state writes expires.
func TestRedisStateKeys(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, url)
	rdb := testenv.RedisClient(t, url)
	st := NewRedisState(rdb, prefix)
	ctx := context.Background()
	q := &Acquire{Channel: "ch", Cands: cands(1), Strategy: RoundRobin, Now: base, Day: Day(base), Ratio: 1,
		LeaseID: "l", LeaseTTL: time.Minute}
	if _, err := st.Acquire(ctx, q); err != nil {
		t.Fatal(err)
	}
	if err := st.Release(ctx, 2, "x", Outcome{Kind: Failed, Err: "e"}, base); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 { // rr:ch, c:1, l:1, c:2
		t.Errorf("keys %v, want 4", keys)
	}
	for _, k := range keys {
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > keyTTL {
			t.Errorf("key %s: ttl %v", k, ttl)
		}
	}
}

// TestRedisStateUnavailable checks that a dead connection fails closed.
func TestRedisStateUnavailable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	st := NewRedisState(rdb, "sy:none:")
	ctx := context.Background()
	q := &Acquire{Channel: "ch", Cands: cands(1), Now: base, Day: Day(base), LeaseID: "l", LeaseTTL: time.Minute}
	checks := map[string]error{}
	_, checks["acquire"] = st.Acquire(ctx, q)
	checks["release"] = st.Release(ctx, 1, "l", Outcome{}, base)
	checks["renew"] = st.Renew(ctx, 1, "l", base, time.Minute)
	checks["enable"] = st.Enable(ctx, 1, base)
	checks["disable"] = st.Disable(ctx, 1, "x", base)
	_, checks["snapshot"] = st.Snapshot(ctx, []int64{1}, base)
	_, checks["trylock"] = st.TryLock(ctx, "n", "t", time.Second)
	checks["unlock"] = st.Unlock(ctx, "n", "t")
	for op, err := range checks {
		if !errors.Is(err, ErrStateUnavailable) {
			t.Errorf("%s: %v, want ErrStateUnavailable", op, err)
		}
	}
}
