package store

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/switchyard/switchyard/internal/pace"
)

// TestBatchInsert inserts batches of many lengths, prepared and not, on
// every backend: each row lands once, rows whose conflict key exists are
// skipped and not counted, and the statements used are the fixed sizes.
func TestBatchInsert(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := open(t, url)
		if _, err := db.Write().ExecContext(ctx, "CREATE TABLE batch_t (k VARCHAR(40) NOT NULL, part INTEGER NOT NULL, v BIGINT NOT NULL, UNIQUE (k, part))"); err != nil {
			t.Fatal(err)
		}
		b := db.NewBatchInsert("batch_t", []string{"k", "part", "v"}, []string{"k", "part"})
		insert := func(prepared bool, part int, keys []string) int64 {
			t.Helper()
			if prepared {
				if err := b.Prepare(ctx); err != nil {
					t.Fatal(err)
				}
			}
			args := make([]any, 0, 3*len(keys))
			for i, k := range keys {
				args = append(args, k, part, int64(i))
			}
			var got int64
			err := inTx(ctx, db, func(tx *sql.Tx) (err error) {
				got, err = b.Exec(ctx, tx, args)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		keys := func(n int) []string {
			out := make([]string, n)
			for i := range out {
				out[i] = fmt.Sprintf("k%05d", i)
			}
			return out
		}
		for part, n := range []int{0, 1, 3, 4, 5, 17, 64, 255, 256, 257, 343, 1000} {
			prepared := part%2 == 1
			if got := insert(prepared, part, keys(n)); got != int64(n) {
				t.Errorf("%d rows (prepared %v): %d inserted", n, prepared, got)
			}
			// The same rows and as many new ones: only the new count.
			if got := insert(!prepared, part, keys(2*n)); got != int64(n) {
				t.Errorf("%d rows again with %d new (prepared %v): %d inserted", n, n, !prepared, got)
			}
			var rows, sum int64
			if err := db.Read().QueryRowContext(ctx, db.Dialect().Rebind("SELECT COUNT(*), COALESCE(SUM(v), 0) FROM batch_t WHERE part = ?"), part).Scan(&rows, &sum); err != nil {
				t.Fatal(err)
			}
			// Each row keeps the value of its first insert: its index.
			if want := int64(2 * n * (2*n - 1) / 2); rows != int64(2*n) || sum != want {
				t.Errorf("%d rows: table holds %d rows summing %d, want %d and %d", n, rows, sum, 2*n, want)
			}
		}
		if _, err := b.Exec(ctx, nil, []any{"k", 1}); err == nil {
			t.Error("a partial row was accepted")
		}
		if len(b.stmts) != len(batchSizes) {
			t.Errorf("%d statements prepared, want one per size (%d)", len(b.stmts), len(batchSizes))
		}
	})
}

// A paced batch on SQLite runs statements of at most pacedMaxRows rows, so
// Prepare parses no larger one until an unpaced batch may use it.
func TestBatchPreparePaced(t *testing.T) {
	db := open(t, "sqlite://"+t.TempDir()+"/paced.db")
	ctx := t.Context()
	if _, err := db.Write().ExecContext(ctx, "CREATE TABLE batch_t (k VARCHAR(40) NOT NULL, v BIGINT NOT NULL, UNIQUE (k))"); err != nil {
		t.Fatal(err)
	}
	b := db.NewBatchInsert("batch_t", []string{"k", "v"}, []string{"k"})
	count := func() (small, large int) {
		for n := range b.stmts {
			if n <= pacedMaxRows {
				small++
			} else {
				large++
			}
		}
		return small, large
	}
	if err := b.Prepare(pace.Background(ctx)); err != nil {
		t.Fatal(err)
	}
	if small, large := count(); small == 0 || large != 0 {
		t.Fatalf("paced: %d statements of up to %d rows prepared and %d larger; want some and none", small, pacedMaxRows, large)
	}
	if err := b.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if len(b.stmts) != len(b.sizes) {
		t.Fatalf("unpaced: %d statements prepared, want %d", len(b.stmts), len(b.sizes))
	}
}

func inTx(ctx context.Context, db *DB, fn func(*sql.Tx) error) error {
	tx, err := db.Write().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Checkpoint runs on the writer's WAL, which a write filled, and the
// automatic checkpoint is only the backstop set in the DSN.
func TestCheckpoint(t *testing.T) {
	db := open(t, "sqlite://"+t.TempDir()+"/ckpt.db")
	ctx := t.Context()
	if _, err := db.Write().ExecContext(ctx, "CREATE TABLE ckpt_t (v INTEGER)"); err != nil {
		t.Fatal(err)
	}
	frames, err := db.Checkpoint(ctx)
	if err != nil || frames == 0 {
		t.Fatalf("checkpoint after a write: %d frames, %v; want some", frames, err)
	}
	var auto int
	if err := db.Write().QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != walAutoCheckpoint {
		t.Fatalf("wal_autocheckpoint %d, %v; want %d", auto, err, walAutoCheckpoint)
	}
}
