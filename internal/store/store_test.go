package store

import (
	"github.com/switchyard/switchyard/internal/testenv"

	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The suite below runs against every backend: SQLite always, PostgreSQL and
// MySQL when their URL is in the environment. Each test gets its own fresh
// database (a file, a schema, a database) that is removed afterwards.

const (
	envPostgres = "SWITCHYARD_TEST_POSTGRES_URL"
	envMySQL    = "SWITCHYARD_TEST_MYSQL_URL"
)

type backend struct {
	name  Dialect
	env   string                          // "" for SQLite
	need  func(testing.TB) string         // testenv lookup of the server URL
	fresh func(t *testing.T) (url string) // a new, empty, isolated database
}

var backends = []backend{
	{name: SQLite, fresh: freshSQLite},
	{name: Postgres, env: envPostgres, need: testenv.PostgresURL, fresh: freshPostgres},
	{name: MySQL, env: envMySQL, need: testenv.MySQLURL, fresh: freshMySQL},
}

func TestMain(m *testing.M) {
	var ran, skipped []string
	for _, b := range backends {
		if b.env == "" || os.Getenv(b.env) != "" {
			ran = append(ran, string(b.name))
		} else {
			skipped = append(skipped, fmt.Sprintf("%s (%s unset)", b.name, b.env))
		}
	}
	fmt.Printf("store tests: backends %s; skipped: %s\n", strings.Join(ran, ", "), strings.Join(skipped, ", "))
	os.Exit(m.Run())
}

// eachBackend runs fn as a subtest per backend, skipping one whose URL is unset.
func eachBackend(t *testing.T, fn func(t *testing.T, url string)) {
	t.Helper()
	for _, b := range backends {
		t.Run(string(b.name), func(t *testing.T) {
			if b.need != nil {
				b.need(t) // skips, or fails in CI, when the server's URL is unset
			}
			fn(t, b.fresh(t))
		})
	}
}

func randomName(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "sy_test_" + hex.EncodeToString(b[:])
}

func freshSQLite(t *testing.T) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "sub", "switchyard.db")
}

func freshPostgres(t *testing.T) string {
	base := os.Getenv(envPostgres)
	schema := randomName(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema) // pgx sends unknown parameters as session settings
	u.RawQuery = q.Encode()
	return u.String()
}

func freshMySQL(t *testing.T) string {
	base := strings.TrimPrefix(os.Getenv(envMySQL), "mysql://")
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("mysql", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := randomName(t)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE " + name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return "mysql://" + cfg.FormatDSN()
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func open(t *testing.T, url string) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := Open(ctx, url, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func openMigrated(t *testing.T, url string) *DB {
	t.Helper()
	db := open(t, url)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

func TestOpenMigrateStatus(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db := open(t, url)
		if err := db.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if err := db.Ping(cancelled); !errors.Is(err, context.Canceled) {
			t.Errorf("Ping with a cancelled context: err = %v, want context.Canceled", err)
		}
		if got, want := db.Shared(), db.Dialect() != SQLite; got != want {
			t.Errorf("Shared() = %v, want %v", got, want)
		}

		before, err := db.MigrationStatus(ctx)
		if err != nil {
			t.Fatalf("MigrationStatus before: %v", err)
		}
		if len(before) == 0 {
			t.Fatal("no migrations embedded")
		}
		for _, s := range before {
			if s.Applied {
				t.Errorf("migration %d applied on a fresh database", s.Version)
			}
		}

		applied, err := db.Migrate(ctx)
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if len(applied) != len(before) {
			t.Fatalf("Migrate applied %d, want %d", len(applied), len(before))
		}
		if applied[0].Version != 1 || applied[0].Name != "00001_init.sql" {
			t.Errorf("first applied = %+v, want version 1 00001_init.sql", applied[0])
		}

		after, err := db.MigrationStatus(ctx)
		if err != nil {
			t.Fatalf("MigrationStatus after: %v", err)
		}
		for _, s := range after {
			if !s.Applied || s.AppliedAt.IsZero() {
				t.Errorf("migration %d %s: applied=%v at %v", s.Version, s.Name, s.Applied, s.AppliedAt)
			}
			if d := time.Since(s.AppliedAt); d < -time.Minute || d > time.Hour {
				t.Errorf("migration %d applied at %v, %v from now: time zone handling is off", s.Version, s.AppliedAt, d)
			}
		}

		again, err := db.Migrate(ctx)
		if err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		if len(again) != 0 {
			t.Errorf("second Migrate applied %d migrations, want none", len(again))
		}
	})
}

// TestSchema writes and reads back a row in every table, exercising the types
// the three dialects must agree on: 64-bit integers, booleans, nullable
// columns, blobs, UTC times, and the unique keys repositories rely on.
func TestSchema(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db := openMigrated(t, url)
		d := db.Dialect()
		w := db.Write()
		now := time.Now().UTC().Truncate(time.Microsecond)

		groupID, err := d.InsertID(ctx, w, "INSERT INTO user_groups (name, ratio_ppm, managed_by_file, created_at) VALUES (?, ?, ?, ?)",
			"default", 1_500_000, true, now)
		if err != nil {
			t.Fatalf("insert group: %v", err)
		}
		const bigBalance = int64(9_000_000_000_000) // beyond 32 bits
		userID, err := d.InsertID(ctx, w, "INSERT INTO users (email, group_id, balance_micros, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
			"alice@example.com", groupID, bigBalance, now, now)
		if err != nil {
			t.Fatalf("insert user: %v", err)
		}
		if _, err := d.InsertID(ctx, w, "INSERT INTO users (email, group_id) VALUES (?, ?)", "alice@example.com", groupID); !IsUniqueViolation(err) {
			t.Errorf("duplicate email: err = %v, want a unique violation", err)
		}
		if _, err := d.InsertID(ctx, w, "INSERT INTO users (email, group_id) VALUES (?, ?)", "bob@example.com", groupID+999); err == nil {
			t.Error("user with unknown group_id inserted: foreign keys are not enforced")
		}

		hash := strings.Repeat("ab", 32)
		keyID, err := d.InsertID(ctx, w, "INSERT INTO api_keys (user_id, name, prefix, hash, models, ip_allow, is_admin, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			userID, "app", "sk-ab", hash, `["gpt-4o-mini"]`, `[]`, false, now.Add(24*time.Hour*365*20))
		if err != nil {
			t.Fatalf("insert key: %v", err)
		}
		var (
			gotQuota  sql.NullInt64
			gotAdmin  bool
			gotExp    time.Time
			gotModels string
			gotUsed   int64
		)
		err = db.Read().QueryRowContext(ctx, d.Rebind("SELECT quota_micros, is_admin, expires_at, models, used_micros FROM api_keys WHERE hash = ?"), hash).
			Scan(&gotQuota, &gotAdmin, &gotExp, &gotModels, &gotUsed)
		if err != nil {
			t.Fatalf("read key: %v", err)
		}
		if gotQuota.Valid || gotAdmin || gotUsed != 0 || gotModels != `["gpt-4o-mini"]` {
			t.Errorf("key read back: quota=%v admin=%v used=%d models=%q", gotQuota, gotAdmin, gotUsed, gotModels)
		}
		if want := now.Add(24 * time.Hour * 365 * 20); !gotExp.Equal(want) {
			t.Errorf("expires_at = %v, want %v (past 2038 and in UTC)", gotExp, want)
		}

		var balance int64
		if err := db.Read().QueryRowContext(ctx, d.Rebind("SELECT balance_micros FROM users WHERE id = ?"), userID).Scan(&balance); err != nil || balance != bigBalance {
			t.Errorf("balance = %d, %v; want %d", balance, err, bigBalance)
		}

		ledger := d.Rebind("INSERT INTO ledger (user_id, key_id, request_id, kind, amount_micros, balance_after_micros) VALUES (?, ?, ?, ?, ?, ?)")
		steps := []struct {
			name      string
			requestID any
			kind      string
			wantDup   bool
		}{
			{"reserve", "req-1", "reserve", false},
			{"settle same request", "req-1", "settle", false},
			{"reserve twice", "req-1", "reserve", true},
			{"topup without request", nil, "topup", false},
			{"second topup without request", nil, "topup", false},
		}
		for _, s := range steps {
			_, err := w.ExecContext(ctx, ledger, userID, keyID, s.requestID, s.kind, -100, bigBalance-100)
			if s.wantDup != IsUniqueViolation(err) || (!s.wantDup && err != nil) {
				t.Errorf("ledger %s: err = %v, want duplicate=%v", s.name, err, s.wantDup)
			}
		}

		chID, err := d.InsertID(ctx, w, "INSERT INTO channels (name, type, config) VALUES (?, ?, ?)", "main", "openai", `{}`)
		if err != nil {
			t.Fatalf("insert channel: %v", err)
		}
		sealed := []byte{0x01, 0x00, 0xff, 0x80, 0x7f, 0x00}
		credIns := d.Rebind("INSERT INTO credentials (channel_id, fingerprint, sealed) VALUES (?, ?, ?)")
		if _, err := w.ExecContext(ctx, credIns, chID, hash, sealed); err != nil {
			t.Fatalf("insert credential: %v", err)
		}
		if _, err := w.ExecContext(ctx, credIns, chID, hash, sealed); !IsUniqueViolation(err) {
			t.Errorf("duplicate credential fingerprint: err = %v, want a unique violation", err)
		}
		var got []byte
		if err := db.Read().QueryRowContext(ctx, d.Rebind("SELECT sealed FROM credentials WHERE channel_id = ?"), chID).Scan(&got); err != nil || string(got) != string(sealed) {
			t.Errorf("sealed = %x, %v; want %x", got, err, sealed)
		}
	})
}

func TestSettings(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db := openMigrated(t, url)

		if v, ok, err := db.GetSetting(ctx, "missing"); err != nil || ok || v != "" {
			t.Errorf("GetSetting(missing) = %q, %v, %v", v, ok, err)
		}
		steps := []struct {
			op, value, want string
		}{
			{"ifAbsent", "first", "first"},
			{"ifAbsent", "second", "first"},
			{"set", "third", "third"},
			{"ifAbsent", "fourth", "third"},
		}
		for _, s := range steps {
			var err error
			if s.op == "set" {
				err = db.SetSetting(ctx, "k", s.value)
			} else {
				var stored string
				stored, err = db.SetSettingIfAbsent(ctx, "k", s.value)
				if stored != s.want {
					t.Errorf("SetSettingIfAbsent(%q) = %q, want %q", s.value, stored, s.want)
				}
			}
			if err != nil {
				t.Fatalf("%s(%q): %v", s.op, s.value, err)
			}
			if v, ok, err := db.GetSetting(ctx, "k"); err != nil || !ok || v != s.want {
				t.Errorf("after %s(%q): GetSetting = %q, %v, %v; want %q", s.op, s.value, v, ok, err, s.want)
			}
		}
	})
}

func TestSetSettingIfAbsentConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db := openMigrated(t, url)
		other := open(t, url) // a second node

		const n = 20
		results := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				h := db
				if i%2 == 1 {
					h = other
				}
				<-start
				results[i], errs[i] = h.SetSettingIfAbsent(ctx, "fingerprint", fmt.Sprintf("value-%d", i))
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("goroutine %d: %v", i, err)
			}
		}
		winner := results[0]
		if !strings.HasPrefix(winner, "value-") {
			t.Fatalf("stored %q is none of the candidates", winner)
		}
		for i, r := range results {
			if r != winner {
				t.Errorf("goroutine %d got %q, goroutine 0 got %q", i, r, winner)
			}
		}
		if v, _, err := db.GetSetting(ctx, "fingerprint"); err != nil || v != winner {
			t.Errorf("GetSetting = %q, %v; want %q", v, err, winner)
		}
	})
}

func TestMigrateRace(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		a, b := open(t, url), open(t, url)
		// Create goose's version table first (status does that), so both
		// runs reach "apply 00001" together instead of one of them being
		// delayed by goose's retry around creating that table.
		if _, err := a.MigrationStatus(ctx); err != nil {
			t.Fatal(err)
		}
		var (
			wg     sync.WaitGroup
			counts [2]int
			errs   [2]error
		)
		for i, db := range []*DB{a, b} {
			wg.Go(func() {
				var res []MigrationResult
				res, errs[i] = db.Migrate(ctx)
				counts[i] = len(res)
			})
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("racing Migrate: %v / %v", errs[0], errs[1])
		}
		st, err := a.MigrationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts[0]+counts[1] != len(st) {
			t.Errorf("applied %d + %d migrations, want %d in total (each exactly once)", counts[0], counts[1], len(st))
		}
		for _, s := range st {
			if !s.Applied {
				t.Errorf("migration %d not applied", s.Version)
			}
		}
	})
}

func TestOpenErrorsRedactPassword(t *testing.T) {
	const pw = "Hunter2-Secret"
	cases := []struct {
		name string
		url  func() string // "" skips
	}{
		{"postgres refused", func() string { return "postgres://app:" + pw + "@127.0.0.1:1/db?connect_timeout=2" }},
		{"postgres password param", func() string { return "postgres://127.0.0.1:1/db?user=app&password=" + pw }},
		{"postgres bad port", func() string { return "postgres://app:" + pw + "@127.0.0.1:notaport/db" }},
		{"mysql refused", func() string { return "mysql://app:" + pw + "@tcp(127.0.0.1:1)/db?timeout=2s" }},
		{"mysql bad dsn", func() string { return "mysql://app:" + pw + "@tcp(127.0.0.1:1)/db?parseTime=maybe" }},
		{"unknown scheme", func() string { return "oracle://app:" + pw + "@host/db" }},
		{"no scheme", func() string { return "app:" + pw + "@tcp(host)/db" }},
		{"mysql wrong password", func() string {
			base := os.Getenv(envMySQL)
			if base == "" {
				return ""
			}
			cfg, err := mysql.ParseDSN(strings.TrimPrefix(base, "mysql://"))
			if err != nil {
				return ""
			}
			cfg.Passwd = pw
			return "mysql://" + cfg.FormatDSN()
		}},
		{"postgres unknown database", func() string {
			base := os.Getenv(envPostgres)
			u, err := url.Parse(base)
			if base == "" || err != nil {
				return ""
			}
			u.User = url.UserPassword(u.User.Username(), pw)
			u.Path = "/sy_no_such_database"
			return u.String()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := c.url()
			if raw == "" {
				t.Skip("server URL unset")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			db, err := Open(ctx, raw, nil)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error reveals the password: %v", err)
			}
			if !strings.Contains(err.Error(), redacted) {
				t.Errorf("error does not show the redacted URL: %v", err)
			}
			t.Log(err)
		})
	}
}

func TestOpenSQLiteFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Chdir(dir)
	db := open(t, "sqlite://./data/x.db") // relative, parent created
	for path, want := range map[string]os.FileMode{"data": 0o700, "data/x.db": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, path))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %o, want %o", path, got, want)
		}
	}
	var mode string
	if err := db.Write().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var busy int
	if err := db.Read().QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil || busy != int(sqliteBusyTimeout.Milliseconds()) {
		t.Errorf("reader busy_timeout = %d, %v", busy, err)
	}
	if _, err := db.Read().ExecContext(ctx, "CREATE TABLE t (x)"); err == nil {
		t.Error("the read pool accepted a write; it should be query_only")
	}
	db.SetPoolLimits(7, time.Minute)
	if got := db.Write().Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool allows %d connections, want 1", got)
	}
	if got := db.Read().Stats().MaxOpenConnections; got != 7 {
		t.Errorf("reader pool allows %d connections after SetPoolLimits(7), want 7", got)
	}

	abs := filepath.Join(dir, "abs", "y.db")
	open(t, "sqlite://"+abs)
	if _, err := os.Stat(abs); err != nil {
		t.Errorf("absolute sqlite:///path: %v", err)
	}
	for _, bad := range []string{"sqlite://", "sqlite://x.db?cache=shared"} {
		if db, err := Open(ctx, bad, nil); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

// TestSQLiteConcurrency hammers one file from two handles (as two processes
// would) with read-modify-write transactions while readers query throughout.
// Any SQLITE_BUSY ("database is locked") or lost update fails it.
func TestSQLiteConcurrency(t *testing.T) {
	const writers, inserts, readers = 8, 200, 8
	ctx := context.Background()
	url := freshSQLite(t)
	db := openMigrated(t, url)
	other := open(t, url)
	if _, err := db.Write().ExecContext(ctx, "CREATE TABLE hits (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL, n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSetting(ctx, "counter", "0"); err != nil {
		t.Fatal(err)
	}

	var (
		writersWG, readersWG sync.WaitGroup
		done                 = make(chan struct{})
		errCount             atomic.Int64
		reads                atomic.Int64
		firstErr             sync.Once
	)
	fail := func(err error) {
		errCount.Add(1)
		firstErr.Do(func() { t.Errorf("first error: %v", err) })
	}
	for w := range writers {
		h := db
		if w%2 == 1 {
			h = other
		}
		writersWG.Go(func() {
			for i := range inserts {
				if err := incrementTx(ctx, h, w, i); err != nil {
					fail(err)
				}
			}
		})
	}
	for r := range readers {
		h := db
		if r%2 == 1 {
			h = other
		}
		readersWG.Go(func() {
			last := -1
			for {
				select {
				case <-done:
					return
				default:
				}
				var n int
				if err := h.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM hits").Scan(&n); err != nil {
					fail(err)
					return
				}
				if n < last {
					fail(fmt.Errorf("row count went back from %d to %d", last, n))
				}
				last = n
				reads.Add(1)
			}
		})
	}
	writersWG.Wait()
	close(done)
	readersWG.Wait()

	if n := errCount.Load(); n != 0 {
		t.Fatalf("%d errors", n)
	}
	var rows int
	if err := db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM hits").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	counter, _, err := db.GetSetting(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	want := writers * inserts
	if rows != want || counter != fmt.Sprint(want) {
		t.Errorf("rows = %d, counter = %s; want %d for both", rows, counter, want)
	}
	t.Logf("%d writes and %d concurrent reads, no errors", want, reads.Load())
}

// incrementTx reads the counter, writes it back plus one and inserts a row,
// in one transaction: the read-then-write shape that fails under deferred
// transactions.
func incrementTx(ctx context.Context, db *DB, writer, i int) error {
	tx, err := db.Write().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "SELECT CAST(value AS INTEGER) FROM settings WHERE name = 'counter'").Scan(&v); err != nil {
		return fmt.Errorf("read counter: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE settings SET value = ? WHERE name = 'counter'", fmt.Sprint(v+1)); err != nil {
		return fmt.Errorf("write counter: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO hits (writer, n) VALUES (?, ?)", writer, i); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func TestMigrateCancelled(t *testing.T) {
	// A held migration lock must not block forever: the waiter gives up with ctx.
	url := freshSQLite(t)
	db := open(t, url)
	unlock, err := LockFile(context.Background(), db.sqlitePath+"-migrate.lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := db.Migrate(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Migrate with the lock held elsewhere: err = %v, want deadline exceeded", err)
	}
}

func BenchmarkSQLiteWrite(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	q := "INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)"
	now := time.Now().UTC()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := db.Write().ExecContext(ctx, q, fmt.Sprint("k", i), "v", now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSQLiteReadParallel(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	const keys = 1000
	for i := range keys {
		if err := db.SetSetting(ctx, fmt.Sprint("k", i), "value"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok, err := db.GetSetting(ctx, fmt.Sprint("k", i%keys)); err != nil || !ok {
				b.Errorf("GetSetting: %v %v", ok, err)
				return
			}
			i++
		}
	})
}
