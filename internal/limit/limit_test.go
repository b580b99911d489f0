package limit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/testenv"
)

// base is 23:00 UTC, an hour before midnight, for the Daily tests.
var base = time.Date(2030, 5, 17, 23, 0, 0, 0, time.UTC)

// pair returns two limiters over one shared budget: the same Memory twice,
// or two Redis clients standing in for two nodes.
type pair func(t *testing.T) (Limiter, Limiter)

func TestMemory(t *testing.T) {
	runSuite(t, func(t *testing.T) (Limiter, Limiter) {
		m := NewMemory()
		return m, m
	})
}

func TestRedis(t *testing.T) {
	url := testenv.RedisURL(t)
	runSuite(t, func(t *testing.T) (Limiter, Limiter) {
		prefix := testenv.RedisPrefix(t, url)
		return NewRedis(testenv.RedisClient(t, url), prefix), NewRedis(testenv.RedisClient(t, url), prefix)
	})
}

func runSuite(t *testing.T, newPair pair) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b Limiter)
	}{
		{"GCRABurst", testGCRABurst},
		{"GCRAFraction", testGCRAFraction},
		{"GCRASteady", testGCRASteady},
		{"GCRACost", testGCRACost},
		{"CostOverLimit", testCostOverLimit},
		{"CheckOnly", testCheckOnly},
		{"AllOrNothing", testAllOrNothing},
		{"Daily", testDaily},
		{"ChargeDebt", testChargeDebt},
		{"ChargeRefund", testChargeRefund},
		{"ChargeDaily", testChargeDaily},
		{"InvalidRule", testInvalidRule},
		{"Concurrent", testConcurrent},
		{"ConcurrentMultiRule", testConcurrentMultiRule},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newPair(t)
			tc.fn(t, a, b)
		})
	}
}

func rpm(key string, limit int64) Rule {
	return Rule{Key: key, Kind: GCRA, Limit: limit, Period: time.Minute, Cost: 1}
}

func withCost(r Rule, cost int64) Rule { r.Cost = cost; return r }

// take runs one Take and fails the test on error.
func take(t *testing.T, l Limiter, now time.Time, rules ...Rule) Decision {
	t.Helper()
	d, err := l.Take(context.Background(), rules, now)
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	if d.Allowed != (d.Refused == -1) {
		t.Fatalf("decision %+v: Allowed and Refused disagree", d)
	}
	return d
}

func mustAllow(t *testing.T, l Limiter, now time.Time, rules ...Rule) {
	t.Helper()
	if d := take(t, l, now, rules...); !d.Allowed {
		t.Fatalf("at %v: refused %+v, want allowed", now.Sub(base), d)
	}
}

// mustRefuse checks that rule index i refuses with RetryAfter within 1ms
// of retry.
func mustRefuse(t *testing.T, l Limiter, now time.Time, i int, retry time.Duration, rules ...Rule) {
	t.Helper()
	d := take(t, l, now, rules...)
	if d.Allowed || d.Refused != i {
		t.Fatalf("at %v: %+v, want refused by rule %d", now.Sub(base), d, i)
	}
	if diff := d.RetryAfter - retry; diff < -time.Millisecond || diff > time.Millisecond {
		t.Fatalf("at %v: RetryAfter %v, want %v", now.Sub(base), d.RetryAfter, retry)
	}
}

func charge(t *testing.T, l Limiter, r Rule, n int64, now time.Time) {
	t.Helper()
	if err := l.Charge(context.Background(), r, n, now); err != nil {
		t.Fatalf("charge %d: %v", n, err)
	}
}

func testGCRABurst(t *testing.T, l, _ Limiter) {
	r := rpm("burst", 60)
	for i := range 60 {
		if d := take(t, l, base, r); !d.Allowed {
			t.Fatalf("request %d of a fresh burst refused: %+v", i+1, d)
		}
	}
	mustRefuse(t, l, base, 0, time.Second, r)
	mustRefuse(t, l, base.Add(999*time.Millisecond), 0, time.Millisecond, r)
	mustAllow(t, l, base.Add(time.Second), r)
	mustRefuse(t, l, base.Add(time.Second), 0, time.Second, r)
	// Idle for a whole period: the full burst is back.
	later := base.Add(2 * time.Minute)
	for range 60 {
		mustAllow(t, l, later, r)
	}
	mustRefuse(t, l, later, 0, time.Second, r)
}

// testGCRAFraction uses limits whose interval is not a whole number of
// microseconds: exactly Limit units still fit one period.
func testGCRAFraction(t *testing.T, l, _ Limiter) {
	r := Rule{Key: "seven", Kind: GCRA, Limit: 7, Period: time.Minute, Cost: 1}
	for range 7 {
		mustAllow(t, l, base, r)
	}
	// T = 60s/7 = 8571428.57µs, rounded up.
	mustRefuse(t, l, base, 0, 8571429*time.Microsecond, r)
	mustAllow(t, l, base.Add(8571429*time.Microsecond), r)

	// A tpm limit of 7M: T = 8.57µs, where a rounded interval would be
	// 7% off. Seven takes of 1M tokens fill it exactly.
	tpm := Rule{Key: "tpm", Kind: GCRA, Limit: 7_000_000, Period: time.Minute, Cost: 1_000_000}
	for range 7 {
		mustAllow(t, l, base, tpm)
	}
	mustRefuse(t, l, base, 0, 8571429*time.Microsecond, withCost(tpm, 1_000_000))
	mustRefuse(t, l, base, 0, 9*time.Microsecond, withCost(tpm, 1))
	mustAllow(t, l, base.Add(9*time.Microsecond), withCost(tpm, 1))

	// T = 2/3µs: the fractions carry exactly, so a fourth unit does not
	// squeeze in.
	tiny := Rule{Key: "tiny", Kind: GCRA, Limit: 3, Period: 2 * time.Microsecond, Cost: 1}
	for range 3 {
		mustAllow(t, l, base, tiny)
	}
	mustRefuse(t, l, base, 0, time.Microsecond, tiny)
}

// testGCRASteady sends a request every 100ms for 10 minutes at 60/min: the
// burst, then one per second.
func testGCRASteady(t *testing.T, l, _ Limiter) {
	r := rpm("steady", 60)
	admitted := 0
	for now := base; now.Sub(base) < 10*time.Minute; now = now.Add(100 * time.Millisecond) {
		if take(t, l, now, r).Allowed {
			admitted++
		}
	}
	if want := 60*10 + 60; admitted < want-1 || admitted > want+1 {
		t.Fatalf("admitted %d over 10 minutes, want %d±1", admitted, want)
	}
}

func testGCRACost(t *testing.T, l, _ Limiter) {
	r := Rule{Key: "cost", Kind: GCRA, Limit: 100, Period: time.Minute} // T = 600ms
	mustAllow(t, l, base, withCost(r, 60))
	// 60 + 50 > 100: 10 units over, 6s.
	mustRefuse(t, l, base, 0, 6*time.Second, withCost(r, 50))
	mustAllow(t, l, base, withCost(r, 40))
	mustRefuse(t, l, base, 0, 600*time.Millisecond, withCost(r, 1))
	mustRefuse(t, l, base.Add(time.Second), 0, 5*time.Second, withCost(r, 10))
	mustAllow(t, l, base.Add(6*time.Second), withCost(r, 10))
	mustAllow(t, l, base.Add(time.Hour), withCost(r, 100))
}

func testCostOverLimit(t *testing.T, l, _ Limiter) {
	a := rpm("ok", 10)
	big := Rule{Key: "big", Kind: GCRA, Limit: 100, Period: time.Minute, Cost: 101}
	d := take(t, l, base, a, big)
	if d.Allowed || d.Refused != 1 || d.RetryAfter != 0 {
		t.Fatalf("cost over limit: %+v, want refused by rule 1 with RetryAfter 0", d)
	}
	day := Rule{Key: "day", Kind: Daily, Limit: 5, Cost: 6}
	if d := take(t, l, base, day); d.Allowed || d.Refused != 0 || d.RetryAfter != 0 {
		t.Fatalf("daily cost over limit: %+v, want refused with RetryAfter 0", d)
	}
	// Nothing was consumed from a.
	mustAllow(t, l, base, withCost(a, 10))
}

func testCheckOnly(t *testing.T, l, _ Limiter) {
	r := rpm("check", 5)
	for range 20 {
		mustAllow(t, l, base, withCost(r, 0))
	}
	for range 5 {
		mustAllow(t, l, base, r)
	}
	mustRefuse(t, l, base, 0, 12*time.Second, r)
	// Full but not over: a check passes; once in debt it waits it out.
	mustAllow(t, l, base, withCost(r, 0))
	charge(t, l, r, 1, base)
	mustRefuse(t, l, base, 0, 12*time.Second, withCost(r, 0))
	mustAllow(t, l, base.Add(12*time.Second), withCost(r, 0))

	day := Rule{Key: "checkday", Kind: Daily, Limit: 2}
	for range 5 {
		mustAllow(t, l, base, day)
	}
	mustAllow(t, l, base, withCost(day, 2))
	mustAllow(t, l, base, day)
	mustRefuse(t, l, base, 0, time.Hour, withCost(day, 1))
}

func testAllOrNothing(t *testing.T, l, _ Limiter) {
	a := rpm("a", 10)
	b := rpm("b", 1)
	day := Rule{Key: "c", Kind: Daily, Limit: 10, Cost: 1}
	mustAllow(t, l, base, b)
	mustRefuse(t, l, base, 1, time.Minute, a, b, day)
	mustRefuse(t, l, base, 2, time.Minute, day, a, b)
	// a and day still have their whole budgets.
	mustAllow(t, l, base, withCost(a, 10), withCost(day, 10))
	mustRefuse(t, l, base, 0, 6*time.Second, a)
	mustRefuse(t, l, base, 0, time.Hour, day)
}

func testDaily(t *testing.T, l, _ Limiter) {
	r := Rule{Key: "daily", Kind: Daily, Limit: 3, Cost: 1}
	for range 3 {
		mustAllow(t, l, base, r)
	}
	mustRefuse(t, l, base, 0, time.Hour, r)
	lastMs := base.Add(time.Hour - time.Millisecond)
	mustRefuse(t, l, lastMs, 0, time.Millisecond, r)
	midnight := base.Add(time.Hour)
	mustAllow(t, l, midnight, withCost(r, 3))
	mustRefuse(t, l, midnight.Add(time.Hour), 0, 23*time.Hour, r)
	// The day's count holds through the day, however spread out.
	mustRefuse(t, l, midnight.Add(24*time.Hour-time.Microsecond), 0, time.Microsecond, r)
	mustAllow(t, l, midnight.Add(24*time.Hour), r)
}

func testChargeDebt(t *testing.T, l, _ Limiter) {
	r := rpm("debt", 60)
	mustAllow(t, l, base, r)
	// 1 + 120 units, plus the next request's 1: 62 beyond the burst.
	charge(t, l, r, 120, base)
	mustRefuse(t, l, base, 0, 62*time.Second, r)
	mustRefuse(t, l, base.Add(60*time.Second), 0, 2*time.Second, r)
	mustAllow(t, l, base.Add(62*time.Second), r)
	mustRefuse(t, l, base.Add(62*time.Second), 0, time.Second, r)
	// Charge on an idle key counts from now.
	fresh := rpm("debt2", 60)
	charge(t, l, fresh, 90, base)
	mustRefuse(t, l, base, 0, 31*time.Second, fresh)
	// A huge debt is clamped, not overflowed.
	charge(t, l, fresh, 1<<62, base)
	if d := take(t, l, base.Add(24*time.Hour), fresh); d.Allowed || d.RetryAfter < 365*24*time.Hour {
		t.Fatalf("after a huge charge: %+v, want a wait of years", d)
	}
}

func testChargeRefund(t *testing.T, l, _ Limiter) {
	r := Rule{Key: "refund", Kind: GCRA, Limit: 100, Period: time.Minute, Cost: 100}
	mustAllow(t, l, base, r)
	charge(t, l, r, -30, base)
	mustAllow(t, l, base, withCost(r, 30))
	mustRefuse(t, l, base, 0, 600*time.Millisecond, withCost(r, 1))
	// A refund never credits more than is outstanding.
	charge(t, l, r, -1000, base)
	mustAllow(t, l, base, withCost(r, 100))
	mustRefuse(t, l, base, 0, 600*time.Millisecond, withCost(r, 1))
}

func testChargeDaily(t *testing.T, l, _ Limiter) {
	r := Rule{Key: "chargeday", Kind: Daily, Limit: 3, Cost: 1}
	mustAllow(t, l, base, r)
	charge(t, l, r, 5, base)
	mustRefuse(t, l, base, 0, time.Hour, withCost(r, 0))
	charge(t, l, r, -4, base) // 6 - 4 = 2
	mustAllow(t, l, base, r)
	mustRefuse(t, l, base, 0, time.Hour, r)
	// The debt ends with the day.
	charge(t, l, r, 100, base)
	mustAllow(t, l, base.Add(time.Hour), withCost(r, 3))
}

func testInvalidRule(t *testing.T, l, _ Limiter) {
	bad := []Rule{
		{Key: "zero", Kind: GCRA, Limit: 0, Period: time.Minute, Cost: 1},
		{Key: "huge", Kind: Daily, Limit: MaxLimit + 1, Cost: 1},
		{Key: "neg", Kind: GCRA, Limit: 5, Period: time.Minute, Cost: -1},
		{Key: "noperiod", Kind: GCRA, Limit: 5, Cost: 1},
		{Key: "kind", Kind: Kind(9), Limit: 5, Cost: 1},
	}
	for _, r := range bad {
		if _, err := l.Take(context.Background(), []Rule{rpm("fine", 5), r}, base); err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("take %+v: err %v, want an invalid-rule error", r, err)
		}
	}
	if err := l.Charge(context.Background(), Rule{Key: "x", Kind: GCRA, Limit: 5}, 1, base); err == nil {
		t.Error("charge without a period: no error")
	}
	mustAllow(t, l, base, withCost(rpm("fine", 5), 5))
}

// testConcurrent races 200 Takes at one instant against a limit of 50,
// split over the two limiters of the pair.
func testConcurrent(t *testing.T, a, b Limiter) {
	r := rpm("race", 50)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 200)
	for i := range 200 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			<-start
			d, err := l.Take(context.Background(), []Rule{r}, base)
			if err != nil {
				errs <- err
				return
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := allowed.Load(); n != 50 {
		t.Fatalf("allowed %d of 200, want exactly 50", n)
	}
}

// testConcurrentMultiRule takes pairs of keys in both orders at once (a
// lock-order deadlock would hang here) and checks both budgets stay exact.
func testConcurrentMultiRule(t *testing.T, a, b Limiter) {
	var keys []Rule
	for i := range 8 {
		keys = append(keys, rpm(fmt.Sprintf("multi%d", i), 1000))
	}
	var wg sync.WaitGroup
	var allowed atomic.Int64
	for g := range 16 {
		l := a
		if g%2 == 1 {
			l = b
		}
		wg.Go(func() {
			for i := range 50 {
				x, y := keys[(g+i)%8], keys[(g+i+1)%8]
				if g%3 == 0 {
					x, y = y, x
				}
				d, err := l.Take(context.Background(), []Rule{x, y}, base)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	// 800 Takes, each spending 1 on two of 8 keys of 1000: all fit.
	if n := allowed.Load(); n != 800 {
		t.Fatalf("allowed %d of 800", n)
	}
	// Each key spent exactly 200: 800 left.
	for _, k := range keys {
		mustAllow(t, a, base, withCost(k, 800))
		mustRefuse(t, a, base, 0, 60*time.Millisecond, k)
	}
}

// TestMemoryZeroAlloc checks the hot path: a Take on known keys allocates
// nothing.
func TestMemoryZeroAlloc(t *testing.T) {
	m := NewMemory()
	rules := benchRules("k:1")
	now := base
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond)
		if _, err := m.Take(context.Background(), rules, now); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Take allocates %v times, want 0", allocs)
	}
}

// TestMemorySweep checks that stale keys are dropped as new ones arrive,
// so the map stays bounded by the live keys.
func TestMemorySweep(t *testing.T) {
	m := NewMemory()
	now := base
	for round := range 20 {
		for i := range 5000 {
			r := rpm(fmt.Sprintf("sweep:%d:%d", round, i), 60)
			d := Rule{Key: r.Key, Kind: Daily, Limit: 10, Cost: 1}
			mustAllow(t, m, now, r, d)
		}
		// A day later every entry is stale.
		now = now.Add(25 * time.Hour)
	}
	// Live entries: the last round's 10000; a shard sweeps after at most
	// max(sweepMin, live) new entries.
	if n := m.size(); n > numShards*sweepMin+2*10000 {
		t.Fatalf("%d entries held after 20 rounds of 10000, want a bounded map", n)
	}
	// A swept key starts again from a full budget.
	mustAllow(t, m, now, withCost(rpm("sweep:0:0", 60), 60))
}

// TestRedisKeys checks key names and that every key expires.
func TestRedisKeys(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, url)
	rdb := testenv.RedisClient(t, url)
	l := NewRedis(rdb, prefix)
	ctx := context.Background()
	now := time.Now() // PTTL runs on the server's clock
	r := rpm("k:1:rpm", 60)
	d := Rule{Key: "k:1:day", Kind: Daily, Limit: 10, Cost: 1}
	mustAllow(t, l, now, withCost(r, 30), d)
	day, untilMidnight := dayStart(now.UnixMicro())
	want := map[string]time.Duration{
		prefix + "g:k:1:rpm":                    30*time.Second + gcraMargin,
		prefix + "d:k:1:day:" + fmt.Sprint(day): usDuration(untilMidnight) + dailyMargin,
	}
	for k, ttl := range want {
		got, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatalf("pttl %s: %v", k, err)
		}
		if got <= 0 || got > ttl+time.Millisecond || got < ttl-5*time.Second { // ms rounded up
			t.Errorf("key %s: ttl %v, want about %v", k, got, ttl)
		}
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(want) {
		t.Errorf("keys %v, want %d", keys, len(want))
	}
}

// TestRedisUnavailable checks that a dead server fails fast with
// ErrUnavailable.
func TestRedisUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	l := NewRedis(rdb, "sy:none:")
	ctx := context.Background()
	start := time.Now()
	d, err := l.Take(ctx, []Rule{rpm("x", 5)}, base)
	if !errors.Is(err, ErrUnavailable) || d.Allowed {
		t.Errorf("take: %+v, %v; want ErrUnavailable", d, err)
	}
	if err := l.Charge(ctx, rpm("x", 5), 3, base); !errors.Is(err, ErrUnavailable) {
		t.Errorf("charge: %v; want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("failing took %v", took)
	}
}

func benchRules(id string) []Rule {
	return []Rule{
		{Key: id + ":rpm", Kind: GCRA, Limit: 1_000_000, Period: time.Minute, Cost: 1},
		{Key: id + ":tpm", Kind: GCRA, Limit: 1_000_000_000, Period: time.Minute, Cost: 500},
		{Key: id + ":day", Kind: Daily, Limit: 1 << 40, Cost: 1},
	}
}

func BenchmarkMemoryTake(b *testing.B) {
	m := NewMemory()
	rules := benchRules("k:1")
	now := base
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		d, err := m.Take(context.Background(), rules, now)
		if err != nil || !d.Allowed {
			b.Fatalf("%+v %v", d, err)
		}
	}
}

func BenchmarkMemoryTakeParallel(b *testing.B) {
	m := NewMemory()
	var ids atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rules := benchRules(fmt.Sprintf("k:%d", ids.Add(1)))
		now := base
		for pb.Next() {
			now = now.Add(time.Millisecond)
			d, err := m.Take(context.Background(), rules, now)
			if err != nil || !d.Allowed {
				b.Fatalf("%+v %v", d, err)
			}
		}
	})
}

func BenchmarkRedisTake(b *testing.B) {
	url := testenv.RedisURL(b)
	l := NewRedis(testenv.RedisClient(b, url), testenv.RedisPrefix(b, url))
	rules := benchRules("k:1")
	now := base
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		d, err := l.Take(context.Background(), rules, now)
		if err != nil || !d.Allowed {
			b.Fatalf("%+v %v", d, err)
		}
	}
}
