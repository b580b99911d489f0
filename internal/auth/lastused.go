package auth

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Last use of each key. The request path only stores a number in memory
// (lastUse.mark); a loop per node (StartLastUsed) writes what changed to
// api_keys.last_used_at in one transaction every interval, so no request
// ever waits on the database for it. Every write only moves the column
// forward, so nodes flushing in any order keep the newest time.

// DefaultLastUsedInterval is how often StartLastUsed flushes: "last used"
// is shown to the minute, and a busy gateway writes once per used key per
// interval, not once per request.
const DefaultLastUsedInterval = 30 * time.Second

// lastUse is a key's last use in Unix seconds (0 = none since start) and
// the last value flushed.
type lastUse struct {
	at      atomic.Int64
	flushed atomic.Int64
}

// second is the current Unix second: the loop's clock when it runs (an
// atomic load; reading the clock costs ~100 ns a request on some hosts),
// else d.now.
func (d *Directory) second() int64 {
	if s := d.clock.Load(); s != 0 {
		return s
	}
	return d.now().Unix()
}

// mark records a use at Unix second s. Within the same second it only
// reads, so that the keys' hot cache lines are not written on every
// request.
func (u *lastUse) mark(s int64) {
	if u == nil {
		return
	}
	for {
		cur := u.at.Load()
		if cur >= s || u.at.CompareAndSwap(cur, s) {
			return
		}
	}
}

type lastUsedLoop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// StartLastUsed flushes the keys' last use every interval
// (DefaultLastUsedInterval when <= 0) until ctx ends or Close is called,
// which flushes one last time. A failed flush is logged and retried at the
// next tick.
func (d *Directory) StartLastUsed(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultLastUsedInterval
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lastUsed.cancel != nil || d.stopped {
		return
	}
	// The final flush outlives ctx: it runs as the node stops.
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	d.lastUsed = lastUsedLoop{cancel: cancel, done: done}
	d.clock.Store(d.now().Unix())
	go func() {
		defer close(done)
		defer d.clock.Store(0)
		tick := time.NewTicker(min(interval, time.Second/4))
		defer tick.Stop()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-tick.C:
				d.clock.Store(d.now().Unix())
				continue
			case <-ctx.Done():
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				if err := d.FlushLastUsed(fctx); err != nil {
					d.log.Warn("flush keys' last use at shutdown", "error", err.Error())
				}
				cancel()
				return
			case <-t.C:
			}
			if err := d.FlushLastUsed(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("flush keys' last use", "error", err.Error())
			}
		}
	}()
}

func (d *Directory) stopLastUsed() {
	d.mu.Lock()
	l := d.lastUsed
	d.mu.Unlock()
	if l.cancel != nil {
		l.cancel()
		<-l.done
	}
}

// FlushLastUsed writes every key's last use not yet written, in one
// transaction. StartLastUsed calls it; tests may call it directly.
func (d *Directory) FlushLastUsed(ctx context.Context) error {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	type use struct {
		id int64
		u  *lastUse
		at int64
	}
	var todo []use
	for _, k := range d.idx.Load().byID {
		if at := k.used.at.Load(); at > k.used.flushed.Load() {
			todo = append(todo, use{k.ID, k.used, at})
		}
	}
	if len(todo) == 0 {
		return nil
	}
	// One UPDATE per key is simple and portable (no dialect's multi-row
	// UPDATE), and in one transaction it costs one commit.
	tx, err := d.db.Write().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("flush last use: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	stmt, err := tx.PrepareContext(ctx, d.db.Dialect().Rebind(
		"UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)"))
	if err != nil {
		return fmt.Errorf("flush last use: %w", err)
	}
	defer stmt.Close()
	for _, t := range todo {
		at := time.Unix(t.at, 0).UTC()
		if _, err := stmt.ExecContext(ctx, at, t.id, at); err != nil {
			return fmt.Errorf("flush last use of key id %d: %w", t.id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("flush last use: %w", err)
	}
	for _, t := range todo {
		t.u.flushed.Store(t.at)
	}
	return nil
}
