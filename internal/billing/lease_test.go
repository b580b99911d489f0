package billing

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// leaseHolder reads the billing lease's holder.
func leaseHolder(t *testing.T, e *env) string {
	t.Helper()
	var h string
	if err := e.da.Read().QueryRowContext(t.Context(), "SELECT holder FROM leases WHERE name = 'billing'").Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// A database's wallets have one hot state: a second node without Redis,
// or a Redis node, is refused while the first one lives; it starts at once
// after a clean stop, and after the lease lapses when the first was killed.
// Nodes sharing one Redis prefix share the lease; another prefix is
// refused.
func TestOneHotStatePerDatabase(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		// Long enough that a renewal (every ttl/3) stalled by a loaded
		// machine under -race does not let a live holder's lease lapse (it
		// did at 400 ms in a CI rehearsal with a load average of 23).
		const ttl = 1500 * time.Millisecond
		memory := func(dir string) MeterOptions {
			return MeterOptions{DB: e.da, JournalDir: dir, Heartbeat: ttl, DrainEvery: time.Hour}
		}
		a, err := NewMeter(ctx, memory(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		a.Start(ctx)
		holderA := leaseHolder(t, e)
		if !strings.HasPrefix(holderA, "node:") {
			t.Fatalf("lease holder %q, want node:<id>", holderA)
		}

		// Another node without Redis: refused once it has seen a renewal.
		start := time.Now()
		_, err = NewMeter(ctx, memory(t.TempDir()))
		if !errors.Is(err, ErrOtherOwner) || !strings.Contains(err.Error(), "redis.url") {
			t.Fatalf("second node without Redis: %v, want ErrOtherOwner naming redis.url", err)
		}
		if waited := time.Since(start); waited < ttl {
			t.Fatalf("refused after %v, before the holder's lease could have lapsed (%v)", waited, ttl)
		}
		// A Redis node beside it: refused too.
		prefix := testenv.RedisPrefix(t, redisURL)
		rdb := testenv.RedisClient(t, redisURL)
		withRedis := func(p string) MeterOptions {
			return MeterOptions{DB: e.da, Redis: rdb, Prefix: p, Heartbeat: ttl, DrainEvery: time.Hour}
		}
		if _, err := NewMeter(ctx, withRedis(prefix+"bill:")); !errors.Is(err, ErrOtherOwner) {
			t.Fatalf("Redis node beside a node without Redis: %v, want ErrOtherOwner", err)
		}
		if got := leaseHolder(t, e); got != holderA {
			t.Fatalf("refused nodes changed the holder to %q", got)
		}

		// A clean stop frees the lease at once.
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		r1, err := NewMeter(ctx, withRedis(prefix+"bill:"))
		if err != nil {
			t.Fatalf("Redis node after a clean stop: %v", err)
		}
		defer r1.Close()
		r1.Start(ctx)
		r2, err := NewMeter(ctx, withRedis(prefix+"bill:"))
		if err != nil {
			t.Fatalf("second Redis node on the same prefix: %v", err)
		}
		defer r2.Close()
		r2.Start(ctx)
		if _, err := NewMeter(ctx, withRedis(prefix+"other:")); !errors.Is(err, ErrOtherOwner) {
			t.Fatalf("Redis node on another prefix: %v, want ErrOtherOwner", err)
		}
		if _, err := NewMeter(ctx, memory(t.TempDir())); !errors.Is(err, ErrOtherOwner) {
			t.Fatalf("node without Redis beside Redis nodes: %v, want ErrOtherOwner", err)
		}
		// One Redis node stopping leaves the lease to the other.
		if err := r1.Close(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(ttl / 2)
		if err := r2.Check(ctx); err != nil {
			t.Fatalf("remaining Redis node: %v", err)
		}
		if _, err := NewMeter(ctx, memory(t.TempDir())); !errors.Is(err, ErrOtherOwner) {
			t.Fatalf("node without Redis while a Redis node lives: %v, want ErrOtherOwner", err)
		}
		if err := r2.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// A node killed without releasing its lease: another node waits for the
// lease to lapse and takes it; the killed one, were it only stalled, learns
// it lost the lease at its next renewal and reports it to /readyz.
func TestLeaseTakenAfterLapse(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		const ttl = 300 * time.Millisecond
		stalled, err := NewMeter(ctx, MeterOptions{DB: e.da, JournalDir: t.TempDir(), Heartbeat: ttl, DrainEvery: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer stalled.Close() // never started: it does not renew
		next, err := NewMeter(ctx, MeterOptions{DB: e.da, JournalDir: t.TempDir(), Heartbeat: ttl, DrainEvery: time.Hour})
		if err != nil {
			t.Fatalf("node after the holder's lease lapsed: %v", err)
		}
		defer next.Close()
		if err := stalled.Check(ctx); err != nil {
			t.Fatalf("before its renewal the stalled node cannot know: %v", err)
		}
		stalled.lease.renew(ctx)
		if err := stalled.Check(ctx); !errors.Is(err, ErrOtherOwner) {
			t.Fatalf("stalled node after its renewal: %v, want ErrOtherOwner", err)
		}
		if err := next.Check(ctx); err != nil {
			t.Fatalf("new holder: %v", err)
		}
		// The stalled node's stop does not free the new holder's lease.
		if err := stalled.Close(); err != nil {
			t.Fatal(err)
		}
		next.lease.renew(ctx)
		if err := next.Check(ctx); err != nil {
			t.Fatalf("new holder after the stalled node stopped: %v", err)
		}
	})
}

// Two processes on one data directory would take each other's live
// journal for a dead process's leftovers: the second is refused at once.
func TestJournalDirOneProcess(t *testing.T) {
	db := openDB(t, "sqlite://"+t.TempDir()+"/sy.db")
	dir := t.TempDir()
	a, err := NewMeter(t.Context(), MeterOptions{DB: db, JournalDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewMeter(t.Context(), MeterOptions{DB: db, JournalDir: dir})
	if err == nil || !strings.Contains(err.Error(), "another switchyard process") {
		t.Fatalf("second meter on one journal dir: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := NewMeter(t.Context(), MeterOptions{DB: db, JournalDir: dir})
	if err != nil {
		t.Fatalf("after the first stopped: %v", err)
	}
	b.Close()
}
