package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/store"
)

func migrateCommand() command {
	return command{
		name:    "migrate",
		args:    "[status]",
		subs:    []string{"status"},
		summary: "apply pending database migrations, or show their status",
		about: `Applies the pending database migrations and prints each one it applied;
'serve' does the same at start, so this is for upgrading the schema ahead of
a rollout or checking a database by hand. 'migrate status' changes nothing
and prints every migration this binary knows with whether and when it was
applied. The database comes from the configuration (database.url, or SQLite
under the data dir) unless --database-url is given. Several nodes migrating
at once are serialized by a database lock.`,
		flags: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
			cf := addConfigFlags(fs, flagDatabaseURL, flagDataDir, flagLogLevel)
			return func(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
				status := false
				switch {
				case len(pos) == 0:
				case pos[0] == "status" && len(pos) == 1:
					status = true
				default:
					fmt.Fprintf(stderr, "switchyard migrate: unexpected arguments %q (want nothing or \"status\")\n", pos)
					return 2
				}
				return migrate(ctx, cf, status, stdout, stderr)
			}
		},
	}
}

func migrate(ctx context.Context, cf *configFlags, status bool, stdout, stderr io.Writer) int {
	cfg, err := loadForMigrate(cf)
	if err != nil {
		return reportConfigError(stderr, err)
	}
	// Progress goes to stdout as plain lines; the log only carries warnings
	// unless asked for more, so the output stays readable.
	logCfg := cfg.Log
	if !cf.given("log-level") {
		logCfg.Level = "warn"
	}
	log := app.NewLogger(logCfg, stderr)
	ctx, stop := signalContext(ctx)
	defer stop()

	db, err := store.Open(ctx, cfg.Database.URL.Value(), log)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	defer db.Close()

	if status {
		return printStatus(ctx, db, stdout, stderr)
	}
	applied, err := db.Migrate(ctx)
	for _, m := range applied {
		fmt.Fprintf(stdout, "applied %s (version %d) in %s\n", m.Name, m.Version, m.Duration.Round(time.Millisecond))
	}
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "database %s is up to date\n", db.Dialect())
	}
	return 0
}

// loadForMigrate loads the configuration like serve does, except that a
// missing secret_key is not an error here: migrations never use the key,
// and requiring it would make a schema upgrade need the production secret.
// The placeholder never leaves this process.
func loadForMigrate(cf *configFlags) (*config.Config, error) {
	cfg, err := cf.load(nil)
	var fe config.Errors
	if err == nil || !errors.As(err, &fe) {
		return cfg, err
	}
	for _, e := range fe {
		if e.Path != "secret_key" {
			return nil, err
		}
	}
	return cf.load(map[string]string{"secret_key": strings.Repeat("0", 64)})
}

func (cf *configFlags) given(name string) bool {
	found := false
	cf.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

func printStatus(ctx context.Context, db *store.DB, stdout, stderr io.Writer) int {
	states, err := db.MigrationStatus(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED\tAPPLIED_AT")
	for _, s := range states {
		applied, at := "no", "-"
		if s.Applied {
			applied = "yes"
			if !s.AppliedAt.IsZero() {
				at = s.AppliedAt.UTC().Format(time.RFC3339)
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Version, s.Name, applied, at)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "switchyard: write status: %v\n", err)
		return 1
	}
	return 0
}
