// Package backup makes and restores copies of a node's SQLite database.
//
// A backup is taken online with VACUUM INTO: one read transaction, so the
// copy is a consistent snapshot while the node keeps serving and writing,
// and the copy is compact. Next to each copy a JSON sidecar records when it
// was made and the fingerprint of the secret key its sealed credentials
// need: a backup restored under another key would hold nothing but
// unreadable credentials, so Restore refuses that.
//
// PostgreSQL and MySQL have their own tools (pg_dump, mysqldump; see
// docs/console-api.md), which know their servers better than we could;
// Create answers ErrUnsupported for them.
package backup

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/store"
)

// FingerprintSetting is the settings row holding the fingerprint of the
// secret key a database was initialised with (app.FingerprintSetting).
const FingerprintSetting = "secret_key_fingerprint"

var (
	// ErrUnsupported is returned for a database that is not SQLite.
	ErrUnsupported = errors.New("online backups are made of SQLite databases only; use pg_dump or mysqldump for PostgreSQL or MySQL (see docs/console-api.md#backups)")
	// ErrNotFound is returned for a backup name that is not in the directory.
	ErrNotFound = errors.New("backup not found")
	// ErrFingerprint is returned by Restore for a backup made under another
	// secret key.
	ErrFingerprint = errors.New("the backup was made with another secret key")
	// ErrNodeRunning is returned by Restore while a node holds the data dir.
	ErrNodeRunning = errors.New("a switchyard node is running on this data dir; stop it before restoring")
)

// Info describes one backup: the sidecar's content.
type Info struct {
	Name        string    `json:"name"`
	SizeBytes   int64     `json:"size_bytes"`
	CreatedAt   time.Time `json:"created_at"`
	Fingerprint string    `json:"secret_key_fingerprint"`
}

// SidecarSuffix is appended to a backup's file name for its sidecar.
const SidecarSuffix = ".json"

// Snapshot copies db into path (which must not exist) with VACUUM INTO and
// writes the sidecar path+".json" with fingerprint. The copy is written
// under a temporary name and renamed, so path is either complete or absent.
func Snapshot(ctx context.Context, db *store.DB, path, fingerprint string, now time.Time) (Info, error) {
	if db.Dialect() != store.SQLite {
		return Info{}, ErrUnsupported
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Info{}, fmt.Errorf("backup to %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err == nil {
		return Info{}, fmt.Errorf("backup to %s: %w", abs, fs.ErrExist)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return Info{}, fmt.Errorf("backup to %s: %w", abs, err)
	}
	tmp := abs + ".partial"
	_ = os.Remove(tmp) // a previous attempt's leftover; VACUUM INTO wants no file
	if err := vacuumInto(ctx, db, tmp); err != nil {
		_ = os.Remove(tmp)
		return Info{}, fmt.Errorf("backup to %s: %w", abs, err)
	}
	if err := syncFile(tmp, 0o600); err != nil {
		_ = os.Remove(tmp)
		return Info{}, fmt.Errorf("backup to %s: %w", abs, err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		_ = os.Remove(tmp)
		return Info{}, fmt.Errorf("backup to %s: %w", abs, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return Info{}, fmt.Errorf("backup to %s: %w", abs, err)
	}
	info := Info{Name: filepath.Base(abs), SizeBytes: fi.Size(), CreatedAt: now.UTC().Truncate(time.Second), Fingerprint: fingerprint}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(abs+SidecarSuffix, append(b, '\n'), 0o600); err != nil {
		return Info{}, fmt.Errorf("backup to %s: write sidecar: %w", abs, err)
	}
	syncDir(filepath.Dir(abs))
	return info, nil
}

// vacuumInto copies db into path on a connection of its own: VACUUM INTO
// takes a read transaction only, so the node's single writer connection
// stays free for the requests' writes, but the node's readers are
// query_only, which refuses VACUUM in any form.
func vacuumInto(ctx context.Context, db *store.DB, path string) error {
	var (
		seq        int
		name, file string
	)
	if err := db.Read().QueryRowContext(ctx, "PRAGMA database_list").Scan(&seq, &name, &file); err != nil {
		return fmt.Errorf("find the database file: %w", err)
	}
	if file == "" {
		return errors.New("the database has no file (in memory)")
	}
	conn, err := sql.Open("sqlite", file+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("vacuum into: %w", err)
	}
	return nil
}

func syncFile(path string, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Chmod(mode); err != nil {
		return err
	}
	return f.Sync()
}

// syncDir makes a rename in dir durable; best effort (not every platform
// can sync a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Dir is a node's backup directory (data_dir/backups): the backups the
// console makes, lists and serves.
type Dir struct {
	db          *store.DB
	path        string
	fingerprint string
	now         func() time.Time
}

// NewDir returns the backups of db kept in path, made under the secret
// key of fingerprint. now is the clock (time.Now when nil).
func NewDir(db *store.DB, path, fingerprint string, now func() time.Time) *Dir {
	if now == nil {
		now = time.Now
	}
	return &Dir{db: db, path: path, fingerprint: fingerprint, now: now}
}

// namePattern is what Create names backups, and all that Open serves.
var namePattern = regexp.MustCompile(`^switchyard-[0-9]{8}T[0-9]{6}Z(-[0-9]{1,4})?\.db$`)

// Create makes a backup named after the time, switchyard-20260102T150405Z.db
// (with a -2, -3… suffix when one of that second exists).
func (d *Dir) Create(ctx context.Context) (Info, error) {
	if d.db.Dialect() != store.SQLite {
		return Info{}, ErrUnsupported
	}
	now := d.now()
	base := "switchyard-" + now.UTC().Format("20060102T150405Z")
	for i := 1; i < 1000; i++ {
		name := base + ".db"
		if i > 1 {
			name = base + "-" + strconv.Itoa(i) + ".db"
		}
		info, err := Snapshot(ctx, d.db, filepath.Join(d.path, name), d.fingerprint, now)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return info, err
	}
	return Info{}, fmt.Errorf("backup: too many backups in second %s", base)
}

// List returns the backups in the directory, newest first. A backup whose
// sidecar is missing or unreadable is listed from the file alone.
func (d *Dir) List(ctx context.Context) ([]Info, error) {
	if d.db.Dialect() != store.SQLite {
		return nil, ErrUnsupported
	}
	ents, err := os.ReadDir(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		return []Info{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	out := []Info{}
	for _, e := range ents {
		if !namePattern.MatchString(e.Name()) {
			continue
		}
		info, err := d.stat(e.Name())
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		// Within one second, by suffix: "…Z" < "…Z-2" < "…Z-10".
		an, bn := strings.TrimSuffix(a.Name, ".db"), strings.TrimSuffix(b.Name, ".db")
		if len(an) != len(bn) {
			return len(bn) - len(an)
		}
		return strings.Compare(bn, an)
	})
	return out, nil
}

func (d *Dir) stat(name string) (Info, error) {
	p := filepath.Join(d.path, name)
	fi, err := os.Stat(p)
	if err != nil {
		return Info{}, err
	}
	info := Info{}
	if b, err := os.ReadFile(p + SidecarSuffix); err == nil {
		_ = json.Unmarshal(b, &info)
	}
	info.Name, info.SizeBytes = name, fi.Size()
	if info.CreatedAt.IsZero() {
		info.CreatedAt = fi.ModTime().UTC().Truncate(time.Second)
	}
	return info, nil
}

// Open opens the backup name for reading; a name Create would not have
// made (a path, a sidecar) is ErrNotFound.
func (d *Dir) Open(name string) (*os.File, Info, error) {
	if d.db.Dialect() != store.SQLite {
		return nil, Info{}, ErrUnsupported
	}
	if !namePattern.MatchString(name) {
		return nil, Info{}, fmt.Errorf("open backup %q: %w", name, ErrNotFound)
	}
	info, err := d.stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Info{}, fmt.Errorf("open backup %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("open backup %q: %w", name, err)
	}
	f, err := os.Open(filepath.Join(d.path, name))
	if err != nil {
		return nil, Info{}, fmt.Errorf("open backup %q: %w", name, err)
	}
	return f, info, nil
}

// SQLitePath is the absolute file of a sqlite:// database URL, and false
// for any other database.
func SQLitePath(rawURL string) (string, bool) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || !strings.EqualFold(scheme, "sqlite") || rest == "" {
		return "", false
	}
	abs, err := filepath.Abs(rest)
	if err != nil {
		return "", false
	}
	return abs, true
}

// readFingerprint returns the secret key fingerprint stored in the SQLite
// file at path ("" when it has none), after checking the file is a sound
// SQLite database.
func readFingerprint(ctx context.Context, path string) (string, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return "", err
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil {
		return "", fmt.Errorf("not a readable SQLite database: %w", err)
	}
	if check != "ok" {
		return "", fmt.Errorf("the database is damaged: %s", check)
	}
	var fp string
	err = db.QueryRowContext(ctx, "SELECT value FROM settings WHERE name = ?", FingerprintSetting).Scan(&fp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read its secret key fingerprint: %w", err)
	}
	return fp, nil
}
