package limit_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/limit"
	"github.com/switchyard/switchyard/internal/store"
)

// BenchmarkGateAuthenticate is the request path before routing: find the
// key in the in-memory directory and admit it against six limits (key and
// group rpm, tpm, daily) in the memory limiter. No database access.
func BenchmarkGateAuthenticate(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "sy.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	const huge = 1 << 40 // never refuses during the benchmark
	groups := []config.Group{{Name: "default", Ratio: 1, RPM: huge, TPM: huge, DailyRequests: 1 << 30}}
	users := []config.User{{Email: "bench@example.com", Group: "default", Role: "user"}}
	keys := []config.Key{{Name: "bench", User: "bench@example.com", Key: soloKey, RPM: huge, TPM: huge, DailyRequests: 1 << 30}}
	if err := auth.NewStore(db, nil).ApplyConfig(ctx, groups, users, keys); err != nil {
		b.Fatal(err)
	}
	dir, err := auth.NewDirectory(ctx, db, auth.DirectoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	gate := limit.NewGate(dir, limit.NewMemory(), nil, nil)
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	r.Header.Set("Authorization", "Bearer "+soloKey)
	ip := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gate.Authenticate(r, ip); err != nil {
			b.Fatal(err)
		}
	}
}
