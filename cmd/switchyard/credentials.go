package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/pool"
)

func credentialsCommand() command {
	return command{
		name:    "credentials",
		args:    "import FILE|- | list",
		subs:    []string{"import", "list"},
		summary: "import upstream credentials in bulk, or list them with their live state",
		about: `'credentials import --channel NAME FILE' stores upstream credentials in a
channel of the database: FILE (or - for standard input) is either a JSON
array of objects with the configuration's credential fields
([{"key":"sk-…"}] or [{"access_token":…,"refresh_token":…,"expires_at":…,
"email":…}]) or plain text with one API key per line (blank lines and #
comments skipped). Each entry is reported as added, duplicate (never stored
twice) or invalid with the reason; the exit status is 1 when any entry is
invalid. Keys are never printed.

'credentials list' prints every stored credential (or one channel's) with
its status and last error, and, when redis.url is set, the scheduler's live
state shared by the nodes: cooldown, uses today, latency, circuit. --json
prints the same as a JSON array. Secrets are shown only as a hint (sk-…abcd).

Both open the database and secret key exactly as 'serve' does, and store
channels of the configuration that the database lacks (nothing else of the
file is applied: that is serve's job at start).`,
		flags: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
			cf := addConfigFlags(fs, flagDatabaseURL, flagDataDir, flagLogLevel)
			channel := fs.String("channel", "", "channel `NAME` to import into (import, required) or to list (list)")
			asJSON := fs.Bool("json", false, "list as a JSON array")
			return func(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
				switch {
				case len(pos) == 2 && pos[0] == "import":
					if *channel == "" {
						fmt.Fprintln(stderr, "switchyard credentials import: --channel is required")
						return 2
					}
					return credentialsImport(ctx, cf, *channel, pos[1], stdout, stderr)
				case len(pos) == 1 && pos[0] == "list":
					return credentialsList(ctx, cf, *channel, *asJSON, stdout, stderr)
				case len(pos) == 1 && pos[0] == "import":
					fmt.Fprintln(stderr, "switchyard credentials import: missing FILE (or - for standard input)")
					return 2
				}
				fmt.Fprintf(stderr, "switchyard credentials: unexpected arguments %q (want \"import --channel NAME FILE\" or \"list\")\n", pos)
				return 2
			}
		},
	}
}

// openCredentialStore opens storage like serve and stores the file's
// channels the database lacks, so that an import can target them.
func openCredentialStore(ctx context.Context, cf *configFlags, stderr io.Writer) (*app.Storage, *pool.Store, string, int) {
	cfg, err := cf.load(nil)
	if err != nil {
		return nil, nil, "", reportConfigError(stderr, err)
	}
	logCfg := cfg.Log
	if !cf.given("log-level") {
		logCfg.Level = "warn" // the output is the report; the log only warns
	}
	log := app.NewLogger(logCfg, stderr)
	st, err := app.OpenStorage(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return nil, nil, "", 1
	}
	ps := pool.NewStore(st.DB, st.Keyring)
	// Only add missing channels: the full apply (replace settings, disable
	// channels and delete file credentials that left the file) is serve's,
	// and a command run with another file must not undo it for running nodes.
	if err := ps.EnsureChannels(ctx, cfg.Channels); err != nil {
		st.Close()
		fmt.Fprintf(stderr, "switchyard: apply channels from the configuration: %v\n", err)
		return nil, nil, "", 1
	}
	return st, ps, cfg.Redis.Prefix, 0
}

func credentialsImport(ctx context.Context, cf *configFlags, channel, file string, stdout, stderr io.Writer) int {
	ctx, stop := signalContext(ctx)
	defer stop()
	var in io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			fmt.Fprintf(stderr, "switchyard: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	entries, err := pool.ParseImport(in)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %s: %v\n", file, err)
		return 1
	}
	st, ps, _, code := openCredentialStore(ctx, cf, stderr)
	if st == nil {
		return code
	}
	defer st.Close()
	results, err := ps.Import(ctx, channel, entries)
	var added []int64
	for _, r := range results {
		if r.Outcome == pool.ImportAdded {
			added = append(added, r.ID)
		}
	}
	if len(added) > 0 {
		auditCLI(ctx, st.DB, stderr, []string{"credentials", "import"}, "credentials.import", "channel:"+channel, nil,
			map[string]any{"added_ids": added, "lines": len(results)})
	}
	counts := map[string]int{}
	for _, r := range results {
		counts[r.Outcome]++
		switch r.Outcome {
		case pool.ImportAdded:
			fmt.Fprintf(stdout, "line %d: added (id %d)\n", r.Line, r.ID)
		case pool.ImportInvalid:
			fmt.Fprintf(stdout, "line %d: invalid: %s\n", r.Line, r.Reason)
		default:
			fmt.Fprintf(stdout, "line %d: %s\n", r.Line, r.Outcome)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "added %d, duplicate %d, invalid %d\n",
		counts[pool.ImportAdded], counts[pool.ImportDuplicate], counts[pool.ImportInvalid])
	if counts[pool.ImportInvalid] > 0 {
		return 1
	}
	return 0
}

func credentialsList(ctx context.Context, cf *configFlags, channel string, asJSON bool, stdout, stderr io.Writer) int {
	ctx, stop := signalContext(ctx)
	defer stop()
	st, ps, prefix, code := openCredentialStore(ctx, cf, stderr)
	if st == nil {
		return code
	}
	defer st.Close()
	chs, creds, err := ps.Load(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	if channel != "" {
		if !slices.ContainsFunc(chs, func(c pool.ChannelRecord) bool { return c.Config.Name == channel }) {
			names := make([]string, len(chs))
			for i, c := range chs {
				names[i] = c.Config.Name
			}
			fmt.Fprintf(stderr, "switchyard: no channel %q (known channels: %s)\n", channel, strings.Join(names, ", "))
			return 1
		}
		creds = slices.DeleteFunc(creds, func(c pool.CredRecord) bool { return c.Channel != channel })
	}
	now := time.Now()
	var snaps []pool.Snap
	if st.Redis != nil {
		// The scheduler's state is shared only through Redis; without it
		// each server keeps its own in memory, out of this process's reach.
		ids := make([]int64, len(creds))
		for i, c := range creds {
			ids[i] = c.ID
		}
		state := pool.NewRedisState(st.Redis, prefix+"pool:")
		if snaps, err = state.Snapshot(ctx, ids, now); err != nil {
			fmt.Fprintf(stderr, "switchyard: read scheduler state: %v\n", err)
			return 1
		}
	}
	views := pool.BuildViews(creds, snaps, now)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(views); err != nil {
			fmt.Fprintf(stderr, "switchyard: write list: %v\n", err)
			return 1
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	head := "ID\tCHANNEL\tKIND\tEMAIL\tHINT\tSTATUS\tLAST_ERROR"
	if snaps != nil {
		head += "\tCOOLDOWN_UNTIL\tUSES_TODAY\tEWMA_TTFB\tCIRCUIT\tLEASES"
	}
	fmt.Fprintln(tw, head)
	for _, v := range views {
		line := fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s", v.ID, v.Channel, v.Kind, dash(v.Email), v.Hint, v.Status,
			dash(truncate(v.LastError, 60)))
		if snaps != nil {
			cool := "-"
			if v.CooldownUntil.After(now) {
				cool = v.CooldownUntil.UTC().Format(time.RFC3339)
			}
			line += fmt.Sprintf("\t%s\t%d\t%s\t%s\t%d", cool, v.UsesToday,
				time.Duration(v.EWMATTFBMillis*float64(time.Millisecond)).Round(time.Millisecond), v.Circuit, v.Leases)
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "switchyard: write list: %v\n", err)
		return 1
	}
	return 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// truncate shortens s to n runes on one line, for a table cell.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
