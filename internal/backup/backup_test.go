package backup

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

func openDB(t *testing.T, url string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

func countSettings(t *testing.T, path string) int {
	t.Helper()
	db := openDB(t, "sqlite://"+path)
	defer db.Close()
	var n int
	if err := db.Read().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM settings WHERE name LIKE 'k%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A backup taken while the node writes is a consistent copy; it lists,
// opens, and restores only into a stopped node with the same secret key.
func TestBackupAndRestore(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "data", "switchyard.db")
	db := openDB(t, "sqlite://"+dbPath)
	ctx := t.Context()
	if _, err := db.SetSettingIfAbsent(ctx, FingerprintSetting, "fp-1"); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := db.SetSetting(ctx, "k"+strings.Repeat("x", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	// Writes keep going during the backups.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = db.SetSetting(context.Background(), "w"+strings.Repeat("y", i%50), "v")
		}
	})
	now := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	d := NewDir(db, filepath.Join(dir, "data", "backups"), "fp-1", func() time.Time { return now })
	first, err := d.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := d.Create(ctx)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if first.Name != "switchyard-20261206T070000Z.db" || second.Name != "switchyard-20261206T070000Z-2.db" ||
		first.Fingerprint != "fp-1" || first.SizeBytes == 0 || !first.CreatedAt.Equal(now) {
		t.Fatalf("backups %+v %+v", first, second)
	}
	list, err := d.List(ctx)
	if err != nil || len(list) != 2 || list[0].Name != second.Name || list[1] != first {
		t.Fatalf("list %+v, %v", list, err)
	}
	f, info, err := d.Open(first.Name)
	if err != nil || info != first {
		t.Fatalf("open %+v, %v", info, err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if !strings.HasPrefix(string(b), "SQLite format 3\x00") || int64(len(b)) != first.SizeBytes {
		t.Fatalf("opened backup: %d bytes", len(b))
	}
	for _, name := range []string{"../data/switchyard.db", first.Name + SidecarSuffix, "switchyard-20991206T070000Z.db", ""} {
		if _, _, err := d.Open(name); !errors.Is(err, ErrNotFound) {
			t.Errorf("open %q: %v, want ErrNotFound", name, err)
		}
	}

	// Restore into another data dir.
	target := filepath.Join(dir, "other", "switchyard.db")
	lock := filepath.Join(dir, "other", "billing", "lock")
	if err := os.MkdirAll(filepath.Dir(lock), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte("old database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target+"-wal", []byte("old wal"), 0o600); err != nil {
		t.Fatal(err)
	}
	backupFile := filepath.Join(dir, "data", "backups", first.Name)
	opts := RestoreOptions{Backup: backupFile, Database: target, Lock: lock, Fingerprint: "fp-1", Now: func() time.Time { return now }}

	unlock, err := store.LockFile(ctx, lock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, opts); !errors.Is(err, ErrNodeRunning) {
		t.Errorf("restore under a running node: %v", err)
	}
	unlock()
	wrong := opts
	wrong.Fingerprint = "fp-2"
	if _, err := Restore(ctx, wrong); !errors.Is(err, ErrFingerprint) {
		t.Errorf("restore under another key: %v", err)
	}
	junk := opts
	junk.Backup = filepath.Join(dir, "junk.db")
	_ = os.WriteFile(junk.Backup, []byte("not a database at all, not even close............................................................"), 0o600)
	if _, err := Restore(ctx, junk); err == nil {
		t.Error("restored a file that is no database")
	}
	if b, _ := os.ReadFile(target); string(b) != "old database" {
		t.Fatalf("a refused restore touched the database: %q", b)
	}
	kept, err := Restore(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(kept); string(b) != "old database" {
		t.Errorf("old database not kept at %s", kept)
	}
	if b, _ := os.ReadFile(kept + "-wal"); string(b) != "old wal" {
		t.Errorf("old wal not kept beside it")
	}
	if _, err := os.Stat(target + "-wal"); err == nil {
		// A new WAL may only exist once the restored file is opened.
		t.Errorf("stale wal left beside the restored database")
	}
	if n := countSettings(t, target); n != 100 {
		t.Errorf("restored database has %d of 100 rows", n)
	}
}

func TestOtherDatabasesRefuse(t *testing.T) {
	db := openDB(t, testenv.FreshPostgresURL(t))
	d := NewDir(db, t.TempDir(), "fp", nil)
	if _, err := d.Create(t.Context()); !errors.Is(err, ErrUnsupported) {
		t.Errorf("create on postgres: %v", err)
	}
	if _, err := d.List(t.Context()); !errors.Is(err, ErrUnsupported) {
		t.Errorf("list on postgres: %v", err)
	}
}

func TestSQLitePath(t *testing.T) {
	if p, ok := SQLitePath("sqlite:///var/lib/s.db"); !ok || p != "/var/lib/s.db" {
		t.Errorf("absolute: %q %v", p, ok)
	}
	if p, ok := SQLitePath("sqlite://data/s.db"); !ok || !filepath.IsAbs(p) || !strings.HasSuffix(p, "data/s.db") {
		t.Errorf("relative: %q %v", p, ok)
	}
	if _, ok := SQLitePath("postgres://x@y/z"); ok {
		t.Error("postgres URL taken for a file")
	}
}
