package pool

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/relay"
)

// A long stream keeps its lease alive by renewal; a lease nobody renews
// (its node died) expires after LeaseTTL.
func TestLeaseRenewalAndExpiry(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	state := NewMemoryState()
	p := newTestPool(t, 2, config.Scheduler{DailyUsageRatio: 1}, state, clock)
	q := &relay.PickQuery{Model: "m"}
	held, err := p.Pick(ctx, q) // the long stream
	if err != nil {
		t.Fatal(err)
	}
	dead, err := p.Pick(ctx, q) // a node that dies: its lease is never renewed nor released
	if err != nil {
		t.Fatal(err)
	}
	p.leases.Delete(dead.(*lease)) // as if its node were gone
	leases := func() map[int64]int {
		snaps, err := state.Snapshot(ctx, []int64{1, 2}, now)
		if err != nil {
			t.Fatal(err)
		}
		return map[int64]int{1: snaps[0].Leases, 2: snaps[1].Leases}
	}
	if got := leases(); got[1] != 1 || got[2] != 1 {
		t.Fatalf("leases after two picks: %v", got)
	}
	for range 5 { // 5 × 20 s: well past LeaseTTL
		now = now.Add(LeaseTTL / 3)
		p.renewLeases(ctx)
	}
	heldID, deadID := held.Target().CredentialID, dead.Target().CredentialID
	got := leases()
	if got[heldID] != 1 {
		t.Fatalf("renewed lease of credential %d expired: %v", heldID, got)
	}
	if got[deadID] != 0 {
		t.Fatalf("lease of a dead node did not expire: %v", got)
	}
	held.Done(ctx, relay.Outcome{Status: 200, Committed: true})
	if got := leases(); got[heldID] != 0 {
		t.Fatalf("lease outlived its request: %v", got)
	}
	// Done twice is harmless and reports nothing.
	if held.Done(ctx, relay.Outcome{Status: 401}) {
		t.Fatal("second Done offered a retry")
	}
}

// With Redis unreachable the pool fails closed, quickly: no lease the
// other nodes cannot see.
func TestPickFailsClosedWithoutRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	p := newTestPool(t, 2, config.Scheduler{DailyUsageRatio: 1}, NewMemoryState(), nil)
	p.state = NewRedisState(rdb, "sy-test-closed:") // built after load: loading needs no state write here
	start := time.Now()
	_, err = p.Pick(context.Background(), &relay.PickQuery{Model: "m"})
	if !errors.Is(err, ErrStateUnavailable) {
		t.Fatalf("Pick with Redis down: %v, want ErrStateUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Pick took %v to fail", d)
	}
}
