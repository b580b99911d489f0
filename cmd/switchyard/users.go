package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
)

func usersCommand() command {
	return command{
		name:    "users",
		args:    "add --email E | list | set-password --email E | credit --email E --amount USD | balance --email E",
		subs:    []string{"add", "list", "set-password", "credit", "balance"},
		summary: "add users to the database, list them, credit their wallets",
		about: `'users add --email E [--name N] [--group G] [--role user|admin]' stores a
new user (active) in the database; the group must exist (declared under
groups: in the configuration, or default). When billing.new_user_credit
is set, the new user is credited it once.

'users list' prints every user with their group, role and status, and
whether the configuration file manages them. --json prints a JSON array.

'users set-password --email E' sets the user's console password, read as
one line from standard input (or asked twice on a terminal), and ends
their console sessions. Users declared in the file may be given one too:
the file declares no passwords.

'users credit --email E --amount USD [--note TEXT]' adds USD to the user's
wallet, or takes it away when negative (never below zero), as an adjust row
on the ledger. 'users balance --email E' prints the balance and the last 10
ledger rows.

Both open the database exactly as 'serve' does and create the
configuration's groups that are not stored yet; the file's users and keys
are applied by 'serve' only. Running servers see a change within 2 seconds.`,
		flags: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
			cf := addConfigFlags(fs, flagDatabaseURL, flagDataDir, flagLogLevel)
			email := fs.String("email", "", "the user's `EMAIL` (add, set-password, credit, balance: required)")
			name := fs.String("name", "", "display `NAME` (add)")
			group := fs.String("group", "", "`GROUP` of the new user (add; default: default)")
			role := fs.String("role", "user", "`ROLE`: user or admin (add)")
			asJSON := fs.Bool("json", false, "list as a JSON array")
			money := addCreditFlags(fs)
			return func(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
				switch {
				case len(pos) == 1 && (pos[0] == "credit" || pos[0] == "balance"):
					return usersMoney(ctx, cf, pos[0], *email, money, stdout, stderr)
				case len(pos) == 1 && pos[0] == "add":
					if *email == "" {
						fmt.Fprintln(stderr, "switchyard users add: --email is required")
						return 2
					}
					return usersAdd(ctx, cf, auth.NewUser{Email: *email, Name: *name, Group: *group, Role: *role}, stdout, stderr)
				case len(pos) == 1 && pos[0] == "list":
					return usersList(ctx, cf, *asJSON, stdout, stderr)
				case len(pos) == 1 && pos[0] == "set-password":
					if *email == "" {
						fmt.Fprintln(stderr, "switchyard users set-password: --email is required")
						return 2
					}
					return withAccounts(ctx, cf, stderr, func(ctx context.Context, acc *auth.Accounts) int {
						pw, err := readPassword(os.Stdin, stderr)
						if err != nil {
							fmt.Fprintf(stderr, "switchyard: %v\n", err)
							return 1
						}
						return setPassword(ctx, acc, *email, pw, false, false, stdout, stderr)
					})
				}
				fmt.Fprintf(stderr, "switchyard users: unexpected arguments %q (want \"add --email E\", \"list\", \"set-password\", \"credit\" or \"balance\")\n", pos)
				return 2
			}
		},
	}
}

// openTenancy loads the configuration, opens storage like serve and
// creates the file's groups that are not stored yet, so that a user can be
// added to one before any server ran. It does not apply the file's users
// and keys: this command's configuration may not be the servers' (run
// without -c, say), and applying it would revoke their keys; serve does.
func openTenancy(ctx context.Context, cf *configFlags, stderr io.Writer) (*app.Storage, *auth.Store, int) {
	st, as, _, code := openTenancyConfig(ctx, cf, stderr)
	return st, as, code
}

// openTenancyConfig is openTenancy that also returns the configuration.
func openTenancyConfig(ctx context.Context, cf *configFlags, stderr io.Writer) (*app.Storage, *auth.Store, *config.Config, int) {
	cfg, err := cf.load(nil)
	if err != nil {
		return nil, nil, nil, reportConfigError(stderr, err)
	}
	logCfg := cfg.Log
	if !cf.given("log-level") {
		logCfg.Level = "warn" // the output is the report; the log only warns
	}
	st, err := app.OpenStorage(ctx, cfg, app.NewLogger(logCfg, stderr))
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return nil, nil, nil, 1
	}
	as := auth.NewStore(st.DB, nil)
	if err := as.EnsureGroups(ctx, cfg.Groups); err != nil {
		st.Close()
		fmt.Fprintf(stderr, "switchyard: create the configuration's groups: %v\n", err)
		return nil, nil, nil, 1
	}
	return st, as, cfg, 0
}

func usersAdd(ctx context.Context, cf *configFlags, nu auth.NewUser, stdout, stderr io.Writer) int {
	return withTenancy(ctx, cf, stderr, func(ctx context.Context, t tenancy) int {
		st, as, cfg := t.st, t.as, t.cfg
		u, err := as.CreateUser(ctx, nu)
		if err != nil {
			fmt.Fprintf(stderr, "switchyard: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "added user %s (id %d, group %s, role %s)\n", u.Email, u.ID, u.Group, u.Role)
		auditCLI(ctx, st.DB, stderr, []string{"users", "add"}, "users.create", fmt.Sprintf("user:%d", u.ID), nil, u)
		if err := billing.NewLedger(st.DB, nil).NewUserCredit(ctx, u.ID, cfg.Billing); err != nil {
			fmt.Fprintf(stderr, "switchyard: user %s: %v\n", u.Email, err)
			return 1
		}
		return 0
	})
}

func usersList(ctx context.Context, cf *configFlags, asJSON bool, stdout, stderr io.Writer) int {
	return withTenancy(ctx, cf, stderr, func(ctx context.Context, t tenancy) int {
		as := t.as
		users, err := as.ListUsers(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "switchyard: %v\n", err)
			return 1
		}
		if asJSON {
			if users == nil {
				users = []auth.User{}
			}
			return writeJSON(users, stdout, stderr)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tGROUP\tROLE\tSTATUS\tFROM_FILE")
		for _, u := range users {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%v\n", u.ID, u.Email, dash(u.Name), u.Group, u.Role, u.Status, u.ManagedByFile)
		}
		if err := tw.Flush(); err != nil {
			fmt.Fprintf(stderr, "switchyard: write list: %v\n", err)
			return 1
		}
		return 0
	})
}

func writeJSON(v any, stdout, stderr io.Writer) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "switchyard: write list: %v\n", err)
		return 1
	}
	return 0
}

// tenancy is what the users, keys, credit and redeem commands work on.
type tenancy struct {
	cfg *config.Config
	st  *app.Storage
	as  *auth.Store
}

// withTenancy opens storage for one command, runs fn with a context that
// ends on SIGINT/SIGTERM, and closes storage; it returns fn's exit code.
func withTenancy(ctx context.Context, cf *configFlags, stderr io.Writer, fn func(context.Context, tenancy) int) int {
	ctx, stop := signalContext(ctx)
	defer stop()
	st, as, cfg, code := openTenancyConfig(ctx, cf, stderr)
	if st == nil {
		return code
	}
	defer st.Close()
	return fn(ctx, tenancy{cfg: cfg, st: st, as: as})
}
