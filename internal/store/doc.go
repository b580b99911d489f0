// Package store opens the database (SQLite, PostgreSQL or MySQL/MariaDB),
// applies its migrations, and opens Redis. Repositories of the domain
// packages build on it.
//
// # Query layer
//
// Plain database/sql with hand-written SQL, no ORM and no query builder. The
// schema is small, the hot path never touches the database (keys, limits
// and pools are served from memory), and the queries that matter are the
// few money and lease transactions whose locking must be exactly what the
// author wrote. Portability across three dialects is handled by writing
// every query with `?` placeholders and passing it through Dialect.Rebind,
// plus a handful of helpers for what cannot be written portably (upsert,
// insert-or-ignore, RETURNING ids, FOR UPDATE, unique violations). All of
// those live in dialect.go and nowhere else.
//
// # SQLite
//
// modernc.org/sqlite is a pure-Go translation of SQLite, so the binary builds
// with CGO_ENABLED=0 and cross-compiles like any Go program; it is slower
// than the C library but far faster than the gateway needs from its database.
//
// The file is opened twice:
//   - a write pool of exactly one connection whose transactions begin
//     IMMEDIATE (`_txlock=immediate`). SQLite admits one writer at a time, so
//     a second write connection could only wait on the file lock; waiting in
//     database/sql's queue instead is fair and costs no busy-polling. BEGIN
//     IMMEDIATE takes the write lock up front: a deferred transaction that
//     reads and then writes can fail with SQLITE_BUSY regardless of
//     busy_timeout, because SQLite refuses to wait when upgrading a read lock
//     might deadlock.
//   - a read pool of several connections with `query_only`, which in WAL mode
//     read a consistent snapshot concurrently with the writer.
//
// Every connection sets busy_timeout first (so nothing after it fails on a
// momentary lock held by another process, such as a backup), then WAL,
// synchronous=NORMAL (durable across application crashes; a power cut may
// lose the last transactions but never corrupts the file) and foreign_keys=ON.
// Times are written as UTC text that sorts in time order. The file and its
// directory are created owner-only.
//
// SQLite is the single-node setup: Shared reports false, and state such as
// rate-limit counters may stay in memory. PostgreSQL and MySQL use one pool
// for reads and writes, and Shared reports true.
//
// # Migrations
//
// goose v3 applies the versioned SQL files embedded under
// migrations/<dialect>/, one directory per dialect because types, identity
// columns and table options differ. Nodes starting together are serialized
// by a lock held around the whole run, taken by Migrate itself because goose
// looks for pending migrations before taking a lock of its own: a session
// advisory lock on PostgreSQL and GET_LOCK on MySQL (each on a dedicated
// connection, released by the server if the node dies), an flock'ed file
// beside the database on SQLite. goose's output goes to the slog logger
// given to Open.
package store
