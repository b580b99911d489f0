package pool

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
)

// newTestPool is a pool over a fresh SQLite store holding one openai channel
// "main" serving model "m" with n API-key credentials (ids 1…n).
func newTestPool(tb testing.TB, n int, sched config.Scheduler, state State, now func() time.Time) *Pool {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(tb.TempDir(), "sy.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	kr, err := secret.New(testKey)
	if err != nil {
		tb.Fatal(err)
	}
	creds := make([]config.Credential, n)
	for i := range creds {
		creds[i] = config.Credential{Key: config.Secret(fmt.Sprintf("sk-test-%02d-0123456789", i)), Weight: 1}
	}
	st := NewStore(db, kr)
	if err := st.ApplyConfig(ctx, []config.Channel{{Name: "main", Type: "openai", BaseURL: "http://127.0.0.1:1",
		Models: []string{"m"}, Groups: []string{config.DefaultGroup}, Weight: 1, Credentials: creds}}); err != nil {
		tb.Fatal(err)
	}
	ts := relay.NewTransports(config.Upstream{})
	if sched.Strategy == "" {
		sched.Strategy = string(RoundRobin)
	}
	p, err := New(ctx, Options{Store: st, State: state, Clients: ts.Client, Scheduler: sched, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// BenchmarkPickDone is the scheduler's share of one request's hot path:
// route, acquire a credential (memory state) and release it with a success.
func BenchmarkPickDone(b *testing.B) {
	ctx := context.Background()
	p := newTestPool(b, 8, config.Scheduler{DailyUsageRatio: 0.8, CircuitFailures: 5, CircuitPause: time.Second},
		NewMemoryState(), nil)
	q := &relay.PickQuery{Model: "m", Group: config.DefaultGroup}
	o := relay.Outcome{Status: 200, Committed: true, TTFB: time.Millisecond, Model: "m"}
	b.ReportAllocs()
	for b.Loop() {
		l, err := p.Pick(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		l.Done(ctx, o)
	}
}
