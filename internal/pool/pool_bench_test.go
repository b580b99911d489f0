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

// BenchmarkPickDone is the scheduler's share of one request's hot path:
// route, acquire a credential (memory state) and release it with a success.
func BenchmarkPickDone(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "sy.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	kr, err := secret.New(testKey)
	if err != nil {
		b.Fatal(err)
	}
	creds := make([]config.Credential, 8)
	for i := range creds {
		creds[i] = config.Credential{Key: config.Secret(fmt.Sprintf("sk-bench-%02d-0123456789", i)), Weight: 1}
	}
	st := NewStore(db, kr)
	if err := st.ApplyConfig(ctx, []config.Channel{{Name: "main", Type: "openai", BaseURL: "http://127.0.0.1:1",
		Models: []string{"m"}, Groups: []string{config.DefaultGroup}, Weight: 1, Credentials: creds}}); err != nil {
		b.Fatal(err)
	}
	ts := relay.NewTransports(config.Upstream{})
	p, err := New(ctx, Options{Store: st, State: NewMemoryState(), Clients: ts.Client,
		Scheduler: config.Scheduler{Strategy: string(RoundRobin), DailyUsageRatio: 0.8, CircuitFailures: 5, CircuitPause: time.Second}})
	if err != nil {
		b.Fatal(err)
	}
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
