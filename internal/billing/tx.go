package billing

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/switchyard/switchyard/internal/store"
)

// txAttempts bounds how often a transaction the database chose as a
// deadlock victim (or failed to serialise) is run again. Every write here
// is idempotent or rolled back whole, so running one again is safe.
const txAttempts = 5

// inTx runs fn in a write transaction and commits it, again when the
// database aborted it for a deadlock or a serialisation failure. On SQLite
// the transaction begins IMMEDIATE (the writer's DSN), so it holds the
// database from its first statement.
func (l *Ledger) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for range txAttempts {
		if err = l.tryTx(ctx, fn); err == nil || !store.IsRetryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (l *Ledger) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := l.db.Write().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
