package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DB is an open database: one pool for PostgreSQL and MySQL, a single-writer
// pool plus a reader pool for SQLite.
type DB struct {
	dialect Dialect
	write   *sql.DB
	read    *sql.DB
	log     *slog.Logger
	// sqlitePath is the absolute database file, for the migration lock.
	sqlitePath string
}

// Pool defaults for PostgreSQL and MySQL. The hot path never touches the
// database, so a modest pool serves the console, background writers and
// batched usage rows.
const (
	defaultMaxOpen     = 20
	defaultMaxIdle     = 10
	defaultConnMaxLife = 30 * time.Minute // under typical proxy and wait_timeout cuts
	defaultConnMaxIdle = 5 * time.Minute
	sqliteBusyTimeout  = 10 * time.Second
)

// Open opens the database named by rawURL and checks that it answers:
//
//	sqlite://./data/switchyard.db   relative path
//	sqlite:///var/lib/switchyard.db absolute path
//	postgres://user:pass@host:5432/db?sslmode=disable  (or postgresql://)
//	mysql://user:pass@tcp(host:3306)/db?param=value
//
// Error messages carry the URL with its password redacted.
func Open(ctx context.Context, rawURL string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("open database %s: missing scheme (want sqlite://, postgres:// or mysql://)", Redact(rawURL))
	}
	var (
		db  *DB
		err error
	)
	switch strings.ToLower(scheme) {
	case "sqlite":
		db, err = openSQLite(ctx, rest, log)
	case "postgres", "postgresql":
		db, err = openPostgres(ctx, rawURL, log)
	case "mysql":
		db, err = openMySQL(ctx, rest, log)
	default:
		return nil, fmt.Errorf("open database %s: unsupported scheme %q (want sqlite://, postgres:// or mysql://)", Redact(rawURL), scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database %s: %w", strings.ToLower(scheme), Redact(rawURL), scrub(err, passwords(rawURL)))
	}
	return db, nil
}

// openSQLite opens the writer pool first: its first connection switches the
// file to WAL, which persists in the file, so readers need not (and, being
// query_only, could not).
func openSQLite(ctx context.Context, path string, log *slog.Logger) (*DB, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, errors.New("the path may not contain '?' or '#' (sqlite URLs take no parameters)")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve path: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("create directory: %w", err)
	}
	// SQLite would create the file 0644; it holds password hashes and sealed
	// credentials, and its -wal/-shm files inherit the main file's mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create database file: %w", err)
	}
	f.Close()

	// busy_timeout comes first so that the pragmas after it wait for a lock
	// instead of failing; modernc applies it first whatever the order, we keep
	// it first for the reader. _timezone=UTC with _time_format=sqlite writes
	// every time.Time as "2006-01-02 15:04:05.999999999+00:00", which sorts
	// as text in time order.
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_time_format=sqlite&_timezone=UTC",
		sqliteBusyTimeout.Milliseconds())
	write, err := sql.Open("sqlite", abs+"?"+common+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_txlock=immediate"+
		fmt.Sprintf("&_pragma=wal_autocheckpoint(%d)", walAutoCheckpoint))
	if err != nil {
		return nil, fmt.Errorf("open writer: %w", err)
	}
	// One writer connection: SQLite allows one writer at a time anyway, and
	// queueing in database/sql is cheaper and fairer than spinning on
	// SQLITE_BUSY. IMMEDIATE transactions take the write lock at BEGIN, so a
	// read-then-write transaction never fails to upgrade its lock.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	var mode string
	if err := write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		write.Close()
		return nil, fmt.Errorf("open writer: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		// WAL is refused on some network filesystems; the database still
		// works, but readers and the writer block each other.
		log.Warn("sqlite is not in WAL mode; readers will block the writer", "journal_mode", mode, "path", abs)
	}

	// Each connection keeps a page cache of its own, outside the Go heap
	// and never given back; SQLite's default is 2 MB. The readers serve the
	// console and background refreshes, not the request path, and the
	// kernel's page cache holds the file anyway, so theirs are kept small:
	// with the default, a gateway's RSS grew by 10 MB over a 10-minute soak
	// as the readers' caches filled.
	read, err := sql.Open("sqlite", abs+"?"+common+"&_pragma=query_only(1)&_pragma=cache_size(-512)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open readers: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxLifetime(0)
	if err := read.PingContext(ctx); err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("open readers: %w", err)
	}
	log.Debug("database open", "dialect", SQLite, "path", abs, "readers", n)
	return &DB{dialect: SQLite, write: write, read: read, log: log, sqlitePath: abs}, nil
}

func openPostgres(ctx context.Context, rawURL string, log *slog.Logger) (*DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	if err := poolUp(ctx, db); err != nil {
		return nil, scrub(err, []string{cfg.Password})
	}
	log.Debug("database open", "dialect", Postgres, "host", cfg.Host, "database", cfg.Database)
	return &DB{dialect: Postgres, write: db, read: db, log: log}, nil
}

func openMySQL(ctx context.Context, dsn string, log *slog.Logger) (*DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	// Times are read as time.Time and kept in UTC on both ends: the driver
	// formats and parses in UTC, and the session time zone makes
	// CURRENT_TIMESTAMP and NOW() agree with it. The migrations are split
	// into single statements by goose, so multiStatements stays off.
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Logger = mysqlLogger{log}
	if err := cfg.Apply(mysql.Charset("utf8mb4", "")); err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	if err := poolUp(ctx, db); err != nil {
		return nil, scrub(err, []string{cfg.Passwd})
	}
	log.Debug("database open", "dialect", MySQL, "address", cfg.Addr, "database", cfg.DBName)
	return &DB{dialect: MySQL, write: db, read: db, log: log}, nil
}

// poolUp sets the client-server pool limits and checks the server answers.
func poolUp(ctx context.Context, db *sql.DB) error {
	db.SetMaxOpenConns(defaultMaxOpen)
	db.SetMaxIdleConns(defaultMaxIdle)
	db.SetConnMaxLifetime(defaultConnMaxLife)
	db.SetConnMaxIdleTime(defaultConnMaxIdle)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return err
	}
	return nil
}

// mysqlLogger sends the driver's own messages (dropped connections and the
// like) to slog instead of the driver's default stderr logger.
type mysqlLogger struct{ log *slog.Logger }

func (l mysqlLogger) Print(v ...any) { l.log.Warn("mysql driver", "detail", fmt.Sprint(v...)) }

// SetPoolLimits tunes the connection pool: for PostgreSQL and MySQL the one
// shared pool, for SQLite the reader pool only (the writer stays a single
// connection). Zero leaves a setting unchanged.
func (db *DB) SetPoolLimits(maxOpen int, connMaxIdle time.Duration) {
	if maxOpen > 0 {
		db.read.SetMaxOpenConns(maxOpen)
		idle := maxOpen // an idle SQLite reader costs only memory
		if db.dialect != SQLite {
			idle = max(1, maxOpen/2)
		}
		db.read.SetMaxIdleConns(idle)
	}
	if connMaxIdle > 0 && db.dialect != SQLite {
		db.read.SetConnMaxIdleTime(connMaxIdle)
	}
}

// Dialect reports which SQL dialect the database speaks.
func (db *DB) Dialect() Dialect { return db.dialect }

// Write is the pool for statements that write. For SQLite it has exactly one
// connection and its transactions begin IMMEDIATE, so keep transactions
// short and never wait on anything else while holding one.
func (db *DB) Write() *sql.DB { return db.write }

// Read is the pool for queries. For SQLite its connections are query_only
// and read concurrently with the writer; for PostgreSQL and MySQL it is the
// same pool as Write.
func (db *DB) Read() *sql.DB { return db.read }

// Shared reports whether several gateway nodes may use this database at
// once (PostgreSQL, MySQL), which is when state must not live in one node's
// memory only.
func (db *DB) Shared() bool { return db.dialect != SQLite }

// Ping checks that the database answers, within ctx's deadline; /readyz uses it.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s database: %w", db.dialect, err)
	}
	if db.read != db.write {
		if err := db.read.PingContext(ctx); err != nil {
			return fmt.Errorf("ping %s database readers: %w", db.dialect, err)
		}
	}
	return nil
}

// Close closes the pools.
// walAutoCheckpoint is how many pages the writer's WAL may hold before a
// commit checkpoints it (SQLite's default is 1000). The billing drainer
// checkpoints after each drain (Checkpoint), between its commits, where it
// can yield first; a checkpoint inside a commit cannot, and copies every
// page the WAL gathered since the last one. This only backs the drainer up.
const walAutoCheckpoint = 4000

// Checkpoint copies what it can of SQLite's WAL into the database file
// without waiting for readers (PASSIVE), and returns how many frames the
// WAL held. It does nothing on other databases.
func (db *DB) Checkpoint(ctx context.Context) (int, error) {
	if db.dialect != SQLite {
		return 0, nil
	}
	var busy, frames, done int
	if err := db.write.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done); err != nil {
		return 0, fmt.Errorf("checkpoint sqlite wal: %w", err)
	}
	return frames, nil
}

func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	if err != nil {
		return fmt.Errorf("close %s database: %w", db.dialect, err)
	}
	return nil
}
