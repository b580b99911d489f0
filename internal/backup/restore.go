package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/switchyard/switchyard/internal/store"
)

// RestoreOptions says what to restore where.
type RestoreOptions struct {
	// Backup is the backup file to restore.
	Backup string
	// Database is the node's SQLite file, replaced by the backup. The file
	// it replaces (and its -wal and -shm files) is kept beside it, renamed
	// with a ".before-restore-<time>" suffix.
	Database string
	// Lock is the file a running node holds locked (the billing journal's,
	// data_dir/billing/lock): Restore holds it too, so that no node starts
	// on a half-restored data dir, and refuses while a node holds it.
	Lock string
	// Fingerprint is the configured secret key's: a backup recording
	// another is refused.
	Fingerprint string
	Now         func() time.Time
}

// Restore replaces a stopped node's database with a backup. It checks the
// backup is a sound SQLite file made under the configured secret key, and
// swaps it in with renames, so that the database is at every moment the
// old one or the new one. It returns where the old database was moved
// ("" when there was none).
func Restore(ctx context.Context, o RestoreOptions) (kept string, err error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(o.Lock), 0o700); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	lockCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	unlock, err := store.LockFile(lockCtx, o.Lock)
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return "", fmt.Errorf("restore: %w (%s is locked)", ErrNodeRunning, o.Lock)
		}
		return "", fmt.Errorf("restore: lock %s: %w", o.Lock, err)
	}
	defer unlock()

	// The backup is copied next to the database first: the rename that
	// puts it in place is then atomic, and the check below reads the very
	// bytes that will be used.
	dir := filepath.Dir(o.Database)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	tmp := o.Database + ".restoring"
	if err := copyFile(o.Backup, tmp); err != nil {
		return "", fmt.Errorf("restore %s: %w", o.Backup, err)
	}
	defer os.Remove(tmp)
	fp, err := readFingerprint(ctx, tmp)
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		_ = os.Remove(tmp + suffix)
	}
	if err != nil {
		return "", fmt.Errorf("restore %s: %w", o.Backup, err)
	}
	if fp != "" && fp != o.Fingerprint {
		return "", fmt.Errorf("restore %s: %w (backup %s, configured %s): set secret_key, or put back the data dir's secret.key, that the backup was made with",
			o.Backup, ErrFingerprint, fp, o.Fingerprint)
	}

	if _, err := os.Stat(o.Database); err == nil {
		kept = o.Database + ".before-restore-" + o.Now().UTC().Format("20060102T150405Z")
		// The WAL goes with its database: a stale -wal beside the restored
		// file would be replayed into it.
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(o.Database+suffix, kept+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return "", fmt.Errorf("restore: move the current database aside: %w", err)
			}
		}
	}
	if err := os.Rename(tmp, o.Database); err != nil {
		return kept, fmt.Errorf("restore: put the backup in place: %w", err)
	}
	syncDir(dir)
	return kept, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
