package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// This file is the only place that knows how the three SQL dialects differ.
// Repositories write SQL once with `?` placeholders and ask the Dialect for
// the few fragments that cannot be written portably.

// Dialect names the SQL dialect of an open database.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql"
)

// Rebind rewrites `?` placeholders into the dialect's form: `$1, $2, …` for
// PostgreSQL, unchanged for SQLite and MySQL. A `?` inside a quoted string,
// a quoted identifier or a comment is left alone.
func (d Dialect) Rebind(query string) string {
	if d != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			// Copy the quoted run whole; a doubled quote is an escaped quote and
			// simply re-enters the loop as a new run.
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+2])
			i += end + 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+1])
			i += end
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+4])
			i += end + 3
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// InsertIgnore returns an INSERT of columns into table (with `?`
// placeholders, rebound) that does nothing when a row with the same conflict
// key exists. RowsAffected is 1 when the row was inserted and 0 when it was
// ignored, on all three dialects.
//
// MySQL cannot name the conflicting key, so there any unique key conflict is
// ignored; `INSERT IGNORE` is avoided on purpose because it also turns data
// errors (truncation, bad values) into warnings.
func (d Dialect) InsertIgnore(table string, columns, conflict []string) string {
	return d.InsertIgnoreRows(table, columns, conflict, 1)
}

// InsertIgnoreRows is InsertIgnore for n rows in one statement: the
// arguments are the rows' values one row after another.
func (d Dialect) InsertIgnoreRows(table string, columns, conflict []string, n int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ") + ")"
	q := "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(one+", ", n), ", ")
	switch d {
	case MySQL:
		q += " ON DUPLICATE KEY UPDATE " + conflict[0] + " = " + conflict[0]
	default:
		q += " ON CONFLICT (" + strings.Join(conflict, ", ") + ") DO NOTHING"
	}
	return d.Rebind(q)
}

// UpsertAddRows returns an INSERT of n rows that, for a row whose conflict
// key exists, adds the new values of the add columns to the stored ones
// (counters kept by key: usage rollups). The rows of one statement must
// have distinct conflict keys: PostgreSQL refuses to update a row twice in
// one statement.
func (d Dialect) UpsertAddRows(table string, columns, conflict, add []string, n int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ") + ")"
	q := "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(one+", ", n), ", ")
	set := make([]string, len(add))
	switch d {
	case MySQL:
		for i, c := range add {
			set[i] = c + " = " + c + " + VALUES(" + c + ")"
		}
		q += " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
	default:
		// Qualified with the table: PostgreSQL would find a bare name
		// ambiguous between the stored row and excluded.
		for i, c := range add {
			set[i] = c + " = " + table + "." + c + " + excluded." + c
		}
		q += " ON CONFLICT (" + strings.Join(conflict, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
	}
	return d.Rebind(q)
}

// Upsert returns an INSERT of columns into table that, when a row with the
// same conflict key exists, sets the update columns to the new values.
func (d Dialect) Upsert(table string, columns, conflict, update []string) string {
	q := insertValues(table, columns)
	set := make([]string, len(update))
	switch d {
	case MySQL:
		// VALUES(col) is deprecated in MySQL 8.0.20 in favour of a row alias,
		// but MariaDB only understands VALUES(col).
		for i, c := range update {
			set[i] = c + " = VALUES(" + c + ")"
		}
		q += " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
	default:
		for i, c := range update {
			set[i] = c + " = excluded." + c
		}
		q += " ON CONFLICT (" + strings.Join(conflict, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
	}
	return d.Rebind(q)
}

func insertValues(table string, columns []string) string {
	return "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ") + ")"
}

// SnapshotIsolation is the isolation level at which a read-only
// transaction sees one snapshot for all its queries: SQLite's transactions
// always do (and its driver accepts only the default level).
func (d Dialect) SnapshotIsolation() sql.IsolationLevel {
	if d == SQLite {
		return sql.LevelDefault
	}
	return sql.LevelRepeatableRead
}

// SerialQueries is a statement that keeps the rest of a transaction's
// queries in one process, or "" when there is none to run: for short
// queries over a few thousand index rows, PostgreSQL's parallel workers
// cost more to start than they save, much more on a busy machine.
func (d Dialect) SerialQueries() string {
	if d == Postgres {
		return "SET LOCAL max_parallel_workers_per_gather = 0"
	}
	return ""
}

// Now is the SQL expression for the current time in UTC. Repositories should
// prefer passing time from their injected clock; this is for defaults and
// maintenance queries.
func (d Dialect) Now() string {
	switch d {
	case Postgres:
		return "now()"
	case MySQL:
		return "UTC_TIMESTAMP(6)"
	default:
		return "CURRENT_TIMESTAMP"
	}
}

// ForUpdate is the row-locking suffix for a SELECT inside a write
// transaction. SQLite has no row locks and needs none: its write transactions
// begin IMMEDIATE, so the whole database is already held.
func (d Dialect) ForUpdate() string {
	if d == SQLite {
		return ""
	}
	return " FOR UPDATE"
}

// IDType is the column type of an auto-increment BIGINT primary key, for
// tables created outside the embedded migrations (tests, tools).
func (d Dialect) IDType() string {
	switch d {
	case Postgres:
		return "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
	case MySQL:
		return "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"
	default:
		// AUTOINCREMENT so an id is never reused after the highest row is
		// deleted, matching the other two dialects.
		return "INTEGER PRIMARY KEY AUTOINCREMENT"
	}
}

// Querier is what InsertID needs; *sql.DB, *sql.Tx and *sql.Conn all have it.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// InsertID runs an INSERT written with `?` placeholders into a table whose
// primary key is the auto-increment column `id`, and returns the new id.
// PostgreSQL has no LastInsertId, so there the id comes from RETURNING.
func (d Dialect) InsertID(ctx context.Context, q Querier, query string, args ...any) (int64, error) {
	if d == Postgres {
		var id int64
		err := q.QueryRowContext(ctx, d.Rebind(query)+" RETURNING id", args...).Scan(&id)
		return id, err
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// IsUniqueViolation reports whether err is a unique or primary key
// constraint violation, whichever driver produced it.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == 1062 // ER_DUP_ENTRY
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		c := liteErr.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// IsRetryable reports whether err ended a transaction that may succeed if
// run again unchanged: a deadlock, a serialisation failure, a lock wait
// that timed out, or SQLite being busy.
func IsRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01" // serialization_failure, deadlock_detected
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == 1213 || myErr.Number == 1205 // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		c := liteErr.Code() & 0xff // primary result code
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}

// Clip makes s storable in a column of n characters: valid UTF-8 (an
// upstream error may be cut mid-character, which PostgreSQL and MySQL
// refuse), without NUL (PostgreSQL refuses it), at most n characters.
func Clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if len(s) <= n { // n bytes are at most n characters
		return s
	}
	chars := 0
	for i := range s {
		if chars == n {
			return s[:i]
		}
		chars++
	}
	return s
}
