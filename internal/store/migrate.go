package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrationFiles embed.FS

// MigrationResult is one migration applied by Migrate.
type MigrationResult struct {
	Version  int64
	Name     string // file name, e.g. 00001_init.sql
	Duration time.Duration
}

// MigrationState is one known migration and whether this database has it.
type MigrationState struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time // zero when not applied
}

// Migrate applies the pending migrations and returns those it applied; none
// when the database is current. Several nodes (or processes) may call it at
// once: a lock held for the whole run makes the others wait and then find
// nothing to do.
func (db *DB) Migrate(ctx context.Context) ([]MigrationResult, error) {
	p, err := db.migrator()
	if err != nil {
		return nil, err
	}
	// The lock is taken here rather than handed to goose: goose checks for
	// pending migrations (creating its version table) before taking its own
	// lock, so two nodes on a fresh database would race there.
	unlock, err := db.lockMigrations(ctx)
	if err != nil {
		return nil, err
	}
	applied, err := p.Up(ctx)
	if uerr := unlock(); uerr != nil {
		db.log.Warn("release migration lock", "dialect", db.dialect, "err", uerr)
	}
	out := make([]MigrationResult, 0, len(applied))
	for _, r := range applied {
		m := MigrationResult{Version: r.Source.Version, Name: path.Base(r.Source.Path), Duration: r.Duration}
		db.log.Info("migration applied", "dialect", db.dialect, "version", m.Version, "name", m.Name, "duration", m.Duration)
		out = append(out, m)
	}
	if err != nil {
		return out, fmt.Errorf("migrate %s database: %w", db.dialect, err)
	}
	return out, nil
}

// MigrationStatus lists every migration this binary knows, oldest first.
func (db *DB) MigrationStatus(ctx context.Context) ([]MigrationState, error) {
	p, err := db.migrator()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status of %s database: %w", db.dialect, err)
	}
	out := make([]MigrationState, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationState{
			Version:   s.Source.Version,
			Name:      path.Base(s.Source.Path),
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

// migrator builds a goose provider over the write pool with this dialect's
// embedded migrations. It is never Closed: that would close the pool.
func (db *DB) migrator() (*goose.Provider, error) {
	files, err := fs.Sub(migrationFiles, "migrations/"+string(db.dialect))
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", db.dialect, err)
	}
	dialect := map[Dialect]goose.Dialect{
		SQLite:   goose.DialectSQLite3,
		Postgres: goose.DialectPostgres,
		MySQL:    goose.DialectMySQL,
	}[db.dialect]
	p, err := goose.NewProvider(dialect, db.write, files,
		// goose's default logger prints to stdout; give it slog, and keep it
		// quiet (its verbose mode logs every statement): Migrate logs results.
		goose.WithSlog(db.log.With("component", "migrate")),
		goose.WithVerbose(false),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", db.dialect, err)
	}
	return p, nil
}

// lockMigrations takes the lock that serializes migrations across nodes and
// processes. Each kind dies with its holder: a PostgreSQL session advisory
// lock and a MySQL GET_LOCK are released when their connection ends, a
// flock when its process ends.
func (db *DB) lockMigrations(ctx context.Context) (unlock func() error, err error) {
	if db.dialect == SQLite {
		p := db.sqlitePath + "-migrate.lock"
		unlock, err := LockFile(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("sqlite migration lock %s: %w", p, err)
		}
		return unlock, nil
	}
	var l lock.SessionLocker = &mysqlLocker{wait: 10 * time.Minute}
	if db.dialect == Postgres {
		id, err := db.postgresLockID(ctx)
		if err != nil {
			return nil, err
		}
		// Retries every second for up to ten minutes.
		if l, err = lock.NewPostgresSessionLocker(lock.WithLockID(id), lock.WithLockTimeout(1, 600)); err != nil {
			return nil, fmt.Errorf("postgres migration lock: %w", err)
		}
	}
	// A dedicated connection holds the lock while goose works on others.
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s migration lock: %w", db.dialect, err)
	}
	if err := l.SessionLock(ctx, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s migration lock: %w", db.dialect, err)
	}
	return func() error {
		err := l.SessionUnlock(context.WithoutCancel(ctx), conn)
		if err != nil {
			// Never return a connection that may still hold the lock to the
			// pool: marking it bad makes database/sql close it, and the
			// server releases the lock with it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		return errors.Join(err, conn.Close())
	}, nil
}

// postgresLockID derives the advisory lock id from the database and schema,
// so that separate schemas (tests, several installations on one server)
// migrate independently while nodes sharing one schema exclude each other.
func (db *DB) postgresLockID(ctx context.Context) (int64, error) {
	var name string
	err := db.write.QueryRowContext(ctx, "SELECT current_database() || '.' || current_schema()").Scan(&name)
	if err != nil {
		return 0, fmt.Errorf("postgres migration lock id: %w", err)
	}
	sum := sha256.Sum256([]byte("switchyard/migrate/" + name))
	return int64(binary.BigEndian.Uint64(sum[:8])), nil
}

// mysqlLocker is a goose.SessionLocker built on GET_LOCK, a named lock held
// by the connection and released by the server when that connection ends,
// so a node that dies mid-migration does not leave the lock behind.
type mysqlLocker struct {
	wait time.Duration
	name string
}

var _ lock.SessionLocker = (*mysqlLocker)(nil)

func (l *mysqlLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var schema sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&schema); err != nil {
		return fmt.Errorf("mysql migration lock: %w", err)
	}
	// Lock names are server-wide and at most 64 characters.
	sum := sha256.Sum256([]byte(schema.String))
	l.name = "switchyard.migrate." + hex.EncodeToString(sum[:12])
	deadline := time.Now().Add(l.wait)
	for {
		// Short server-side waits keep ctx cancellation prompt.
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 1)", l.name).Scan(&got); err != nil {
			return fmt.Errorf("mysql migration lock: %w", err)
		}
		if got.Valid && got.Int64 == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mysql migration lock: still held by another node after %s", l.wait)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mysql migration lock: %w", err)
		}
	}
}

func (l *mysqlLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", l.name).Scan(&released); err != nil {
		return fmt.Errorf("mysql migration unlock: %w", err)
	}
	if !released.Valid || released.Int64 != 1 {
		return fmt.Errorf("mysql migration unlock: lock %s was not held", l.name)
	}
	return nil
}
