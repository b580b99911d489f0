// Package apptest runs real gateway nodes inside tests: a loopback listener
// on a free port, SQLite in the test's temp dir, and a clean stop when the
// test ends.
package apptest

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
)

// Config is the default configuration moved into t's temp dir, listening
// on 127.0.0.1 at a free port.
func Config(t testing.TB) *config.Config {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cfg.Server.Listen = "127.0.0.1:0"
	// Port 0 here means the bound port: signed image URLs use it.
	cfg.Server.PublicURL = "http://127.0.0.1:0"
	cfg.Server.DataDir = dir
	cfg.Server.ShutdownTimeout = 5 * time.Second
	cfg.Database.URL = config.Secret("sqlite://" + dir + "/switchyard.db")
	cfg.Images.Storage = "file://" + dir + "/images"
	// Every model is free unless a test prices it: the gateway refuses an
	// unpriced model, and only the billing tests are about money.
	cfg.Pricing = map[string]config.Price{"*": {Free: true}}
	return cfg
}

// Start builds and runs a node from cfg, returns it once it is listening,
// and stops it (failing the test if it does not drain) when the test ends.
func Start(t testing.TB, cfg *config.Config) *app.App {
	t.Helper()
	return StartWith(t, cfg, nil)
}

// StartWith is Start with a logger (nil discards) and app options.
func StartWith(t testing.TB, cfg *config.Config, log *slog.Logger, opts ...app.Option) *app.App {
	t.Helper()
	a, _ := Run(t, cfg, log, opts...)
	return a
}

// Run is StartWith that also returns stop, which stops the node and waits
// for it (failing the test if Run failed or did not drain); stop is safe
// to call more than once and runs at the end of the test in any case.
func Run(t testing.TB, cfg *config.Config, log *slog.Logger, opts ...app.Option) (*app.App, func()) {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Tests do not warm the tokenizer (a test that wants to passes its own
	// WithTokenizerWarmup, which comes later and wins).
	opts = append([]app.Option{app.WithTokenizerWarmup(-1, nil)}, opts...)
	a, err := app.New(context.Background(), cfg, log, opts...)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("gateway stopped before listening: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("gateway not listening after 10s")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("gateway Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("gateway did not stop within 10s")
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}

// Balance returns a reader of the wallet of the user with email on node a,
// taken once every charge so far is written (the meter drained), so that a
// test can compare it before and after a request.
func Balance(t testing.TB, a *app.App, email string) func() billing.Micros {
	t.Helper()
	ctx := context.Background()
	ledger := billing.NewLedger(a.DB(), time.Now)
	uid, err := ledger.UserID(ctx, email)
	if err != nil {
		t.Fatalf("wallet of %s: %v", email, err)
	}
	return func() billing.Micros {
		t.Helper()
		if err := a.Meter().Drain(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := ledger.Balance(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}
