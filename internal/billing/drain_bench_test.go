package billing

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/internal/usage"
)

// BenchmarkDrain is what the journal's drainer spends per request once
// the request is done: its reservation, settlement and usage row posted to
// the ledger and the usage log, in the batches a gateway under 2000
// requests/s hands the drainer (one drain per 400 requests, as the
// default 200 ms tick sees). The drainer runs beside the request path on
// the same cores, so this is request cost even though no request waits
// for it.
func BenchmarkDrain(b *testing.B) {
	urls := map[string]func(testing.TB) string{
		"sqlite":   func(tb testing.TB) string { return "sqlite://" + filepath.Join(tb.TempDir(), "sy.db") },
		"postgres": testenv.FreshPostgresURL,
		"mysql":    testenv.FreshMySQLURL,
	}
	for _, name := range []string{"sqlite", "postgres", "mysql"} {
		b.Run(name, func(b *testing.B) {
			ctx := b.Context()
			db := openDB(b, urls[name](b))
			users, u := firstUser(b, db, "bench@example.com")
			_, key, err := users.CreateKey(ctx, auth.NewKey{User: "bench@example.com", Name: "k"})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := NewLedger(db, nil).Post(ctx, Entry{UserID: u.ID, RequestID: "fund", Kind: KindTopup, Amount: 1 << 50}); err != nil {
				b.Fatal(err)
			}
			m, err := NewMeter(ctx, MeterOptions{DB: db, JournalDir: b.TempDir(), DrainEvery: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			const perDrain = 400
			request := func(i int) {
				h, err := m.Reserve(ctx, Reservation{UserID: u.ID, KeyID: key.ID, Quota: NoCap, Amount: 8_000, RequestID: fmt.Sprintf("req-%d", i)})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := h.Settle(ctx, 1_234); err != nil {
					b.Fatal(err)
				}
				row := usage.Row{ChargeID: h.Charge(), RequestID: fmt.Sprintf("req-%d", i), Time: time.Now(), UserID: u.ID, KeyID: key.ID,
					Model: "gpt-4o-mini", ServedModel: "gpt-4o-mini", Channel: "mock", CredentialID: 1, Attempts: 1, Status: 200,
					PromptTokens: 12, CompletionTokens: 40, CostMicros: 1_234, TTFB: 3 * time.Millisecond, Duration: 9 * time.Millisecond,
					ClientIP: "127.0.0.1"}
				if err := m.LogUsage(ctx, row); err != nil {
					b.Fatal(err)
				}
			}
			// A table that is not empty, as in a gateway that has run a while.
			for i := range 20 * perDrain {
				request(-1 - i)
			}
			if err := m.Drain(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				request(i)
				i++
				if i%perDrain == 0 {
					if err := m.Drain(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := m.Drain(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// firstUser creates the default group and one user in a fresh database.
func firstUser(tb testing.TB, db *store.DB, email string) (*auth.Store, auth.User) {
	tb.Helper()
	users := auth.NewStore(db, nil)
	if err := users.EnsureGroups(tb.Context(), []config.Group{{Name: config.DefaultGroup, Ratio: 1}}); err != nil {
		tb.Fatal(err)
	}
	u, err := users.CreateUser(tb.Context(), auth.NewUser{Email: email})
	if err != nil {
		tb.Fatal(err)
	}
	return users, u
}
