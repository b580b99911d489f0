package pool

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/luabatch"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/testenv"
)

// TestQueuePickCancel: a lease queued on a script batch and then cancelled
// (the request was refused in the same round trip) leaves the credential
// as it was: no use today, no lease, min_interval not started.
func TestQueuePickCancel(t *testing.T) {
	url := testenv.RedisURL(t)
	rdb := testenv.RedisClient(t, url)
	st := NewRedisState(rdb, testenv.RedisPrefix(t, url))
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	p := newTestPool(t, 1, config.Scheduler{MinInterval: time.Minute}, st, clock)
	ctx := context.Background()
	q := &relay.PickQuery{Model: "m", Group: config.DefaultGroup}

	// An earlier use, a minute and more ago, so min_interval lets it pass.
	l, err := p.Pick(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	l.Done(ctx, relay.Outcome{Status: 200, Committed: true, Model: "m"})
	snap := func() Snap {
		s, err := st.Snapshot(ctx, []int64{1}, now)
		if err != nil {
			t.Fatal(err)
		}
		return s[0]
	}
	before := snap()
	now = now.Add(2 * time.Minute)

	var b luabatch.Batch
	pl, err := p.QueuePick(&b, q)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Exec(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	pl.Cancel(ctx)
	after := snap()
	if after.UsesToday != before.UsesToday || !after.LastUse.Equal(before.LastUse) || after.Leases != 0 {
		t.Fatalf("after cancel: uses %d last use %v leases %d; before: uses %d last use %v",
			after.UsesToday, after.LastUse, after.Leases, before.UsesToday, before.LastUse)
	}
	// min_interval did not start: the credential is usable at once.
	if l, err := p.Pick(ctx, q); err != nil {
		t.Fatalf("pick after cancel: %v", err)
	} else {
		l.Done(ctx, relay.Outcome{Status: 200, Committed: true, Model: "m"})
	}

	// A queued lease read: the pick; the next one, within min_interval,
	// finds nothing (the only channel: its answer is final).
	now = now.Add(2 * time.Minute)
	if pl, err = p.QueuePick(&b, q); err != nil {
		t.Fatal(err)
	}
	if err := b.Exec(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	l, err = pl.Lease(ctx)
	if err != nil || l.Target().CredentialID != 1 {
		t.Fatalf("lease: %v, %v", l, err)
	}
	pl2, err := p.QueuePick(&b, q)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Exec(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	if _, err := pl2.Lease(ctx); !errors.As(err, new(*relay.NoTargetError)) {
		t.Fatalf("second lease within min_interval: %v, want NoTargetError", err)
	}
	l.Done(ctx, relay.Outcome{Status: 200, Committed: true, Model: "m"})

	// Errors known without Redis come back at once.
	if _, err := p.QueuePick(&b, &relay.PickQuery{Model: "nope"}); !errors.Is(err, relay.ErrNoRoute) {
		t.Fatalf("unknown model: %v", err)
	}
}
