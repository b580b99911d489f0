package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/switchyard/switchyard/internal/backup"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/secret"
)

func backupCommand() command {
	return command{
		name:    "backup",
		summary: "copy the SQLite database while the gateway runs",
		about: `Makes a consistent copy of the SQLite database while the gateway keeps
serving (VACUUM INTO), to --out or, without it, to a file named after the
time in the data dir's backups directory, where the console lists backups.
A JSON sidecar FILE.json beside it records the fingerprint of the secret key
the copy's credentials are sealed with: keep the key (secret_key, or the
data dir's secret.key) with the backup, since a backup is of no use under
another key. PostgreSQL and MySQL are backed up with their own tools
(pg_dump, mysqldump); see docs/console-api.md.`,
		flags: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
			cf := addConfigFlags(fs, flagDatabaseURL, flagDataDir, flagLogLevel)
			out := fs.String("out", "", "write the copy to `FILE`, which must not exist (default: the data\ndir's backups directory)")
			return func(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
				if len(pos) > 0 {
					fmt.Fprintf(stderr, "switchyard backup: unexpected argument %q (the target is --out FILE)\n", pos[0])
					return 2
				}
				return backupRun(ctx, cf, *out, stdout, stderr)
			}
		},
	}
}

func backupRun(ctx context.Context, cf *configFlags, out string, stdout, stderr io.Writer) int {
	ctx, stop := signalContext(ctx)
	defer stop()
	cfg, st, code := openStorage(ctx, cf, stderr)
	if st == nil {
		return code
	}
	defer st.Close()
	var (
		info backup.Info
		err  error
	)
	if out == "" {
		dir := filepath.Join(cfg.Server.DataDir, "backups")
		info, err = backup.NewDir(st.DB, dir, st.Keyring.Fingerprint(), nil).Create(ctx)
		out = filepath.Join(dir, info.Name)
	} else {
		info, err = backup.Snapshot(ctx, st.DB, out, st.Keyring.Fingerprint(), time.Now())
	}
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	auditCLI(ctx, st.DB, stderr, []string{"backup"}, "backups.create", "backup:"+info.Name, nil, info)
	fmt.Fprintf(stdout, "wrote %s (%d bytes, secret key %s)\n", out, info.SizeBytes, info.Fingerprint)
	return 0
}

func restoreCommand() command {
	return command{
		name:    "restore",
		args:    "FILE",
		summary: "replace a stopped node's SQLite database with a backup",
		about: `Replaces the SQLite database of a stopped node with the backup FILE (made
by 'switchyard backup' or the console). It refuses while a node runs on the
data dir, and refuses a backup made under another secret key than the one
configured (secret_key, or the data dir's secret.key), whose credentials
could not be opened. The database it replaces is kept beside it, renamed
with a .before-restore-<time> suffix. Start the node afterwards; it applies
any migration the backup lacks.`,
		flags: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
			cf := addConfigFlags(fs, flagDatabaseURL, flagDataDir, flagLogLevel)
			return func(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
				if len(pos) != 1 {
					fmt.Fprint(stderr, "switchyard restore: want one argument, the backup FILE\n")
					return 2
				}
				return restoreRun(ctx, cf, pos[0], stdout, stderr)
			}
		},
	}
}

func restoreRun(ctx context.Context, cf *configFlags, file string, stdout, stderr io.Writer) int {
	ctx, stop := signalContext(ctx)
	defer stop()
	cfg, err := cf.load(nil)
	if err != nil {
		return reportConfigError(stderr, err)
	}
	dbPath, ok := backup.SQLitePath(cfg.Database.URL.Value())
	if !ok {
		fmt.Fprint(stderr, "switchyard: restore is for SQLite databases; restore PostgreSQL or MySQL with their own tools (see docs/console-api.md)\n")
		return 1
	}
	if _, err := os.Stat(file); err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	fp, err := configuredFingerprint(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	kept, err := backup.Restore(ctx, backup.RestoreOptions{Backup: file, Database: dbPath,
		Lock: filepath.Join(cfg.Server.DataDir, "billing", "lock"), Fingerprint: fp})
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "restored %s into %s\n", file, dbPath)
	if kept != "" {
		fmt.Fprintf(stdout, "the database it replaced is kept at %s\n", kept)
	}
	return 0
}

// configuredFingerprint is the fingerprint of the configured secret key,
// without generating one: a restore into a data dir that lost its key
// must say so, not make up a key that fits nothing.
func configuredFingerprint(cfg *config.Config) (string, error) {
	if cfg.SecretKey.Value() == "" {
		if _, err := os.Stat(filepath.Join(cfg.Server.DataDir, secret.FileName)); err != nil {
			return "", fmt.Errorf("no secret key: set secret_key, or put back %s, as the backup was made with",
				filepath.Join(cfg.Server.DataDir, secret.FileName))
		}
	}
	kr, _, err := secret.Load(cfg.SecretKey.Value(), cfg.Server.DataDir, cfg.MultiNode())
	if err != nil {
		return "", fmt.Errorf("load secret key: %w", err)
	}
	return kr.Fingerprint(), nil
}
