package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/switchyard/switchyard/internal/pace"
)

// batchSizes are the row counts of a BatchInsert's statements, largest
// first. n rows go as whole statements of these sizes (at most three of
// each smaller size), so every batch, whatever its length, is made of a
// handful of statements that were parsed and planned once: a multi-row
// INSERT of a length never seen before costs SQLite a parse of the whole
// text, and PostgreSQL and MySQL a server-side prepare.
var batchSizes = []int{256, 64, 16, 4, 1}

// pacedMaxRows caps the statements of a paced batch (pace.Background) on
// SQLite, which runs them on the caller's P: a statement cannot yield
// inside, and 16 rows of the widest table (the usage log, its indexes) take
// about pace.Slice there. A server database runs them elsewhere, and more
// statements would only add round trips.
const pacedMaxRows = 16

// BatchInsert inserts rows into one table with multi-row INSERTs that
// ignore rows whose conflict key exists (Dialect.InsertIgnoreRows), or,
// made by NewBatchUpsertAdd, add to them.
type BatchInsert struct {
	db                *DB
	table             string
	columns, conflict []string
	add               []string // NewBatchUpsertAdd's counter columns
	sizes             []int

	mu    sync.Mutex
	stmts map[int]*sql.Stmt // prepared on the write pool, by rows
}

// NewBatchInsert returns a BatchInsert into table of the DB.
func (db *DB) NewBatchInsert(table string, columns, conflict []string) *BatchInsert {
	// Every dialect allows at least 32766 parameters in a statement
	// (SQLite's default limit; PostgreSQL and MySQL allow 65535).
	sizes := make([]int, 0, len(batchSizes))
	for _, n := range batchSizes {
		if n*len(columns) <= 32766 || n == 1 {
			sizes = append(sizes, n)
		}
	}
	return &BatchInsert{db: db, table: table, columns: columns, conflict: conflict, sizes: sizes, stmts: map[int]*sql.Stmt{}}
}

// NewBatchUpsertAdd returns a BatchInsert into table whose rows, when
// their conflict key exists, add the values of the add columns to the
// stored row (Dialect.UpsertAddRows). Exec's count means nothing then.
func (db *DB) NewBatchUpsertAdd(table string, columns, conflict, add []string) *BatchInsert {
	b := db.NewBatchInsert(table, columns, conflict)
	b.add = add
	return b
}

// MaxRows is the row count of the largest statement.
func (b *BatchInsert) MaxRows() int { return b.sizes[0] }

// Exec inserts rows in tx (with the statements Prepare made, when it was
// called before tx began): args holds their values, len(columns) per row,
// one row after another. It returns how many rows were inserted (rows
// whose conflict key was present are not).
func (b *BatchInsert) Exec(ctx context.Context, tx *sql.Tx, args []any) (int64, error) {
	w := len(b.columns)
	if len(args)%w != 0 {
		return 0, fmt.Errorf("insert into %s: %d values for rows of %d columns", b.table, len(args), w)
	}
	var inserted int64
	paced := b.db.dialect == SQLite && pace.Active(ctx)
	for len(args) > 0 {
		// Between statements: a background batch (pace.Background) gives
		// the CPU to requests here once it has run a slice.
		pace.Yield(ctx)
		rows := len(args) / w
		if paced {
			rows = min(rows, pacedMaxRows)
		}
		n := b.sizes[len(b.sizes)-1]
		for _, s := range b.sizes {
			if s <= rows {
				n = s
				break
			}
		}
		res, err := b.exec(ctx, tx, n, args[:n*w])
		if err != nil {
			return inserted, fmt.Errorf("insert %d rows into %s: %w", n, b.table, err)
		}
		got, err := res.RowsAffected()
		if err != nil {
			return inserted, fmt.Errorf("insert %d rows into %s: %w", n, b.table, err)
		}
		inserted += got
		args = args[n*w:]
	}
	return inserted, nil
}

// Prepare prepares, once each, the statements Exec may use in ctx: on
// SQLite with a paced ctx only those of up to pacedMaxRows rows, since
// parsing a statement of 256 wide rows costs more than a drain round, and
// one never run would be parsed for nothing (an unpaced ctx later prepares
// the rest). Call it before beginning the transaction Exec will run in: on
// SQLite the pool's one connection is the transaction's until it ends, so
// preparing from inside would wait for itself.
func (b *BatchInsert) Prepare(ctx context.Context) error {
	most := b.sizes[0]
	if b.db.dialect == SQLite && pace.Active(ctx) {
		most = pacedMaxRows
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range b.sizes {
		if n > most || b.stmts[n] != nil {
			continue
		}
		st, err := b.db.write.PrepareContext(ctx, b.query(n))
		if err != nil {
			return fmt.Errorf("prepare insert of %d rows into %s: %w", n, b.table, err)
		}
		b.stmts[n] = st
	}
	return nil
}

func (b *BatchInsert) query(n int) string {
	if b.add != nil {
		return b.db.dialect.UpsertAddRows(b.table, b.columns, b.conflict, b.add, n)
	}
	return b.db.dialect.InsertIgnoreRows(b.table, b.columns, b.conflict, n)
}

// exec runs the statement of n rows in tx: the prepared one, or its text
// when Prepare was not called or failed.
func (b *BatchInsert) exec(ctx context.Context, tx *sql.Tx, n int, args []any) (sql.Result, error) {
	b.mu.Lock()
	st := b.stmts[n]
	b.mu.Unlock()
	if st == nil {
		return tx.ExecContext(ctx, b.query(n), args...)
	}
	return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}
