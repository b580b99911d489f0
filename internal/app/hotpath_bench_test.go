package app_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/limit"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

const benchKey = "sk-sy-bench0123456789abcdefghijklmnopqrstuvwxyzABCD"

// BenchmarkHotPath is a request's path through the gateway's own state,
// without the upstream: authenticate the key, admit it against its and its
// group's limits, reserve the estimate from the wallet and the key's
// quota, settle the cost. The database is closed once the accounts are
// loaded, so a single database round trip on this path would fail the
// benchmark: the figures are the hot state's, in memory (one node, with
// its journal file) or in Redis (several nodes).
func BenchmarkHotPath(b *testing.B) {
	for _, kind := range []string{"memory", "redis"} {
		b.Run(kind, func(b *testing.B) {
			ctx := context.Background()
			db, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "sy.db"), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := db.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			const huge = 1 << 40 // never refuses during the benchmark
			quota := 1e6
			groups := []config.Group{{Name: "default", Ratio: 1, RPM: huge, TPM: huge, DailyRequests: 1 << 30}}
			users := []config.User{{Email: "bench@example.com", Group: "default", Role: "user", Credit: 1e6}}
			keys := []config.Key{{Name: "bench", User: "bench@example.com", Key: benchKey, Quota: &quota,
				RPM: huge, TPM: huge, DailyRequests: 1 << 30}}
			if err := auth.NewStore(db, nil).ApplyConfig(ctx, groups, users, keys); err != nil {
				b.Fatal(err)
			}
			if err := billing.NewLedger(db, nil).ApplyConfig(ctx, users, keys, config.Billing{}); err != nil {
				b.Fatal(err)
			}
			dir, err := auth.NewDirectory(ctx, db, auth.DirectoryOptions{})
			if err != nil {
				b.Fatal(err)
			}
			var lim limit.Limiter = limit.NewMemory()
			mo := billing.MeterOptions{DB: db, JournalDir: filepath.Join(b.TempDir(), "billing")}
			if kind == "redis" {
				url := testenv.RedisURL(b)
				rdb := testenv.RedisClient(b, url)
				prefix := testenv.RedisPrefix(b, url)
				lim = limit.NewRedis(rdb, prefix+"limit:")
				mo.Redis, mo.Prefix = rdb, prefix+"bill:"
			}
			gate := limit.NewGate(dir, lim, nil, nil)
			meter, err := billing.NewMeter(ctx, mo)
			if err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
			r.Header.Set("Authorization", "Bearer "+benchKey)
			ip := netip.MustParseAddr("127.0.0.1")
			one := func() {
				k, err := gate.Authenticate(r, ip)
				if err != nil {
					b.Fatal(err)
				}
				h, err := meter.Reserve(ctx, billing.Reservation{UserID: k.UserID, KeyID: k.ID, Quota: billing.Micros(k.QuotaMicros),
					Amount: 8_000, RequestID: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := h.Settle(ctx, 0); err != nil {
					b.Fatal(err)
				}
			}
			one() // loads the accounts from the database
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				one()
			}
		})
	}
}
