package billing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/switchyard/switchyard/internal/store"
)

// The hot state owns the wallets between drains, so a database must have
// exactly one: one node's memory, or one Redis prefix shared by every node.
// Two would each let a user spend the whole balance. The row 'billing' of
// leases names the owner ("node:<id>" or "redis:<prefix>"); a meter takes
// it at start and renews it every heartbeat/3, and it lapses a heartbeat
// after its last renewal. Several Redis nodes on one prefix share the
// owner's name and renew it together.
//
// Expiry is judged by each node's own clock: skew between nodes shifts
// when a crashed owner's lease can be taken over, nothing else.

const leaseName = "billing"

// ErrOtherOwner is returned by NewMeter when the database's wallets are
// kept by another hot state that is alive.
var ErrOtherOwner = errors.New("another gateway keeps this database's wallets")

type lease struct {
	db     *store.DB
	holder string
	ttl    time.Duration
	log    *slog.Logger

	mu   sync.Mutex
	lost error // set when another owner took the lease; cleared on retaking it
}

// otherOwner describes the lease's current holder when it is not us.
type otherOwner struct {
	holder  string
	expires time.Time
}

// acquire takes the lease, waiting up to one ttl for another holder's lease
// to lapse: a holder that stopped without releasing it (killed) is gone
// once it does; one that renews it meanwhile is alive, and refused.
func (l *lease) acquire(ctx context.Context) error {
	deadline := time.Now().Add(l.ttl + time.Second)
	warned := false
	for {
		other, err := l.try(ctx)
		if err != nil {
			return err
		}
		if other == nil {
			return nil
		}
		now := time.Now()
		if now.After(deadline) {
			return fmt.Errorf("%w: %q holds the billing lease until %s and keeps renewing it. "+
				"Nodes sharing a database must share one Redis (redis.url and redis.prefix the same on every node), "+
				"or there must be one node; stop the other gateway or fix redis.url",
				ErrOtherOwner, other.holder, other.expires.UTC().Format(time.RFC3339))
		}
		if !warned {
			l.log.Warn("billing: another gateway holds this database's billing lease; waiting for it to lapse",
				"holder", other.holder, "until", other.expires.UTC().Format(time.RFC3339))
			warned = true
		}
		wait := min(max(other.expires.Sub(now), 0)+50*time.Millisecond, deadline.Sub(now)+time.Millisecond)
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the billing lease: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
}

// try takes or renews the lease once; other describes the holder when it is
// someone else's and has not lapsed.
func (l *lease) try(ctx context.Context) (*otherOwner, error) {
	now := time.Now()
	d := l.db.Dialect()
	res, err := l.db.Write().ExecContext(ctx, d.Rebind(
		`UPDATE leases SET holder = ?, expires_at = ? WHERE name = ? AND (holder = ? OR expires_at < ?)`),
		l.holder, now.Add(l.ttl).UnixMilli(), leaseName, l.holder, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("take the billing lease: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return nil, nil
	}
	// Nothing changed: someone else holds it, or (MySQL counts changed
	// rows only) another node of ours wrote the same expiry this instant.
	var holder string
	var expires int64
	err = l.db.Write().QueryRowContext(ctx, d.Rebind(`SELECT holder, expires_at FROM leases WHERE name = ?`), leaseName).Scan(&holder, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errors.New("take the billing lease: the leases table has no 'billing' row; run switchyard migrate")
	}
	if err != nil {
		return nil, fmt.Errorf("read the billing lease: %w", err)
	}
	if holder == l.holder {
		return nil, nil
	}
	return &otherOwner{holder: holder, expires: time.UnixMilli(expires)}, nil
}

// renew runs every ttl/3. Losing the lease (this node stalled past the ttl
// and another took it) is logged and kept for Check; the lease is taken
// back when it lapses again.
func (l *lease) renew(ctx context.Context) {
	other, err := l.try(ctx)
	if err != nil {
		l.log.Warn("billing lease not renewed; will retry", "error", err.Error())
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if other == nil {
		if l.lost != nil {
			l.log.Warn("billing lease taken back", "holder", l.holder)
		}
		l.lost = nil
		return
	}
	if l.lost == nil {
		l.log.Error("billing lease lost: another gateway keeps this database's wallets; this node's charges may overspend them",
			"holder", other.holder)
	}
	l.lost = fmt.Errorf("%w: the billing lease is held by %q", ErrOtherOwner, other.holder)
}

// check reports a lost lease.
func (l *lease) check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// release lets the lease lapse at once, so that the next gateway starts
// without waiting. A Redis owner shared by other nodes is left to them.
func (l *lease) release(ctx context.Context, shared bool) error {
	if shared {
		return nil
	}
	d := l.db.Dialect()
	if _, err := l.db.Write().ExecContext(ctx, d.Rebind(`UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?`),
		leaseName, l.holder); err != nil {
		return fmt.Errorf("release the billing lease: %w", err)
	}
	return nil
}
