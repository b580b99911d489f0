package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/internal/usage"
)

// With Redis, usage rows are journaled in batches: a burst larger than a
// batch, rows logged while Redis cannot be reached (kept, and journaled
// once it can), and rows still waiting when the drainer takes the journal
// all reach the usage log, once each.
func TestRedisUsageBatches(t *testing.T) {
	ctx := t.Context()
	url := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, url)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	// The network to the real Redis, cut at will: the connections made so
	// far are closed and no new one can be made until it is mended.
	var (
		cut   atomic.Bool
		mu    sync.Mutex
		conns []net.Conn
	)
	d := &net.Dialer{Timeout: time.Second}
	opt.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if cut.Load() {
			return nil, errors.New("network cut by the test")
		}
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	}
	opt.MaxRetries = -1
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	db := openDB(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"))
	_, u := firstUser(t, db, "a@example.com")
	m, err := NewMeter(ctx, MeterOptions{DB: db, Redis: rdb, Prefix: prefix + "bill:", DrainEvery: time.Hour, Heartbeat: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n := 0
	logRows := func(count int) {
		t.Helper()
		for range count {
			n++
			row := usage.Row{ChargeID: fmt.Sprintf("c-%d", n), RequestID: fmt.Sprintf("r-%d", n), Time: time.Now(), UserID: u.ID, Status: 200}
			if err := m.LogUsage(ctx, row); err != nil {
				t.Fatalf("row %d: %v", n, err)
			}
		}
	}
	count := func() int {
		var c int
		if err := db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM usage_logs").Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	journal := func() int64 {
		l, err := rdb.LLen(ctx, prefix+"bill:j").Result()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}

	state := m.hot.(*redisState)
	every := func(d time.Duration) {
		state.usageMu.Lock()
		state.usageEvery = d
		state.usageMu.Unlock()
	}

	// A full batch goes at once, with no timer to help it.
	every(time.Hour)
	logRows(usageFlushRows + 10)
	if got := journal(); got != usageFlushRows {
		t.Fatalf("journal holds %d rows right after a full batch, want %d", got, usageFlushRows)
	}
	// The drainer takes the rows still waiting along with the journal.
	if err := m.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != n {
		t.Fatalf("usage log holds %d rows after the first drain, want %d", got, n)
	}

	// A row goes through the Redis journal whole: every field the log
	// keeps comes back as it was logged.
	full := usage.Row{ChargeID: "c-full", RequestID: "r-full", Time: time.Now().UTC().Truncate(time.Second), UserID: u.ID,
		Model: "gpt-4o-mini", ServedModel: "gpt-4o-mini-2024", Channel: "chan a", CredentialID: 7, Attempts: 2, Stream: true,
		Status: 200, Error: "first try: 502", PromptTokens: 11, CompletionTokens: 22, CachedTokens: 3, ReasoningTokens: 4,
		Images: 1, Estimated: true, CostMicros: 1234, TTFB: 15 * time.Millisecond, Duration: 250 * time.Millisecond,
		ClientIP: "192.0.2.1", Route: json.RawMessage(`[{"channel":"chan a","status":502},{"channel":"chan a","status":200}]`)}
	if err := m.LogUsage(ctx, full); err != nil {
		t.Fatal(err)
	}
	n++
	if err := m.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := usage.NewStore(db).Query(ctx, usage.Filter{RequestID: "r-full"})
	if err != nil || len(got) != 1 {
		t.Fatalf("the full row read back: %v, %d rows", err, len(got))
	}
	back := got[0]
	back.ID, back.User, back.KeyName = 0, "", ""
	back.Time = back.Time.UTC()
	if !reflect.DeepEqual(back, full) {
		t.Fatalf("the row came back changed:\n got  %+v\n want %+v", back, full)
	}

	// Fewer rows than a batch go when the timer fires.
	every(usageFlushEvery)
	logRows(10)
	deadline := time.Now().Add(5 * time.Second)
	for journal() < 10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := journal(); got != 10 {
		t.Fatalf("journal holds %d rows after the flush interval, want 10", got)
	}

	cut.Store(true)
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	logRows(5)
	time.Sleep(3 * usageFlushEvery) // a flush fails; the rows wait
	cut.Store(false)
	logRows(2)
	if err := m.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != n {
		t.Fatalf("usage log holds %d rows, want %d", got, n)
	}
	if got := journal(); got != 0 {
		t.Fatalf("journal holds %d rows after the drain", got)
	}
}
