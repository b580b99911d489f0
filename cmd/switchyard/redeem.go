package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/store"
)

func redeemCommand() command {
	return command{
		name:    "redeem",
		args:    "generate --count N --value USD | list | use --email E CODE",
		subs:    []string{"generate", "list", "use"},
		summary: "generate redemption codes, list them, or redeem one for a user",
		about: `'redeem generate --count N --value USD' creates N single-use codes
(SYR- and 20 random characters) worth USD each, optionally expiring and
grouped under a batch name, and prints them once as CSV (code,value,expires),
or writes that CSV to a new file with --csv. Only their SHA-256 hashes and
first characters are stored: they cannot be shown again.

'redeem list [--batch NAME]' prints the codes by prefix with their value,
uses and expiry, never the codes. --json prints a JSON array.

'redeem use --email E CODE' credits the code to the user's wallet.

All open the database exactly as 'serve' does.`,
		flags: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
			cf := addConfigFlags(fs, flagDatabaseURL, flagDataDir, flagLogLevel)
			count := fs.Int("count", 0, "how many codes `N` to generate (generate, required)")
			value := fs.String("value", "", "`USD` each code credits (generate, required)")
			expires := fs.String("expires", "", "expiry `TIME` in RFC 3339, e.g. 2027-01-01T00:00:00Z (generate; default: never)")
			batch := fs.String("batch", "", "batch `NAME` to group codes by (generate; list: only this batch)")
			note := fs.String("note", "", "`TEXT` stored with the codes (generate)")
			csvPath := fs.String("csv", "", "write the codes to the new CSV `FILE` instead of standard output (generate)")
			email := fs.String("email", "", "the redeeming user's `EMAIL` (use, required)")
			asJSON := fs.Bool("json", false, "list as a JSON array")
			return func(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
				// flag stops at CODE; flags written after it count too.
				if len(pos) > 2 && pos[0] == "use" {
					if err := fs.Parse(pos[2:]); err != nil {
						fmt.Fprintf(stderr, "switchyard redeem: %v\n", err)
						return 2
					}
					pos = append(pos[:2], fs.Args()...)
				}
				switch {
				case len(pos) == 1 && pos[0] == "generate":
					amount, err := billing.ParseUSD(*value)
					if err != nil || amount <= 0 {
						fmt.Fprintf(stderr, "switchyard redeem generate: --value must be a positive number of USD (got %q)\n", *value)
						return 2
					}
					if *count < 1 || *count > billing.MaxCodesPerBatch {
						fmt.Fprintf(stderr, "switchyard redeem generate: --count must be between 1 and %d\n", billing.MaxCodesPerBatch)
						return 2
					}
					var exp time.Time
					if *expires != "" {
						if exp, err = time.Parse(time.RFC3339, *expires); err != nil {
							fmt.Fprintf(stderr, "switchyard redeem generate: --expires %q is not an RFC 3339 time such as 2027-01-01T00:00:00Z\n", *expires)
							return 2
						}
					}
					return redeemGenerate(ctx, cf, *count, amount, exp, *batch, *note, *csvPath, stdout, stderr)
				case len(pos) == 1 && pos[0] == "list":
					return redeemList(ctx, cf, *batch, *asJSON, stdout, stderr)
				case len(pos) == 2 && pos[0] == "use":
					if *email == "" {
						fmt.Fprintln(stderr, "switchyard redeem use: --email is required")
						return 2
					}
					return redeemUse(ctx, cf, *email, pos[1], stdout, stderr)
				}
				fmt.Fprintf(stderr, "switchyard redeem: unexpected arguments %q (want \"generate\", \"list\" or \"use --email E CODE\")\n", pos)
				return 2
			}
		},
	}
}

func openLedger(ctx context.Context, cf *configFlags, stderr io.Writer) (*billing.Ledger, *store.DB, func(), int) {
	st, _, code := openTenancy(ctx, cf, stderr)
	if st == nil {
		return nil, nil, nil, code
	}
	return billing.NewLedger(st.DB, nil), st.DB, func() { st.Close() }, 0
}

func redeemGenerate(ctx context.Context, cf *configFlags, n int, value billing.Micros, expires time.Time, batch, note, csvPath string,
	stdout, stderr io.Writer) int {
	ctx, stop := signalContext(ctx)
	defer stop()
	// The file is created before any code exists, so that a bad path
	// leaves no codes behind that nobody saw.
	out := stdout
	if csvPath != "" {
		f, err := os.OpenFile(csvPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			fmt.Fprintf(stderr, "switchyard: create %s: %v\n", csvPath, err)
			return 1
		}
		defer f.Close()
		out = f
	}
	l, db, done, code := openLedger(ctx, cf, stderr)
	if l == nil {
		if csvPath != "" {
			os.Remove(csvPath)
		}
		return code
	}
	defer done()
	codes, err := l.GenerateCodes(ctx, n, value, expires, batch, note)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		if csvPath != "" {
			os.Remove(csvPath)
		}
		return 1
	}
	auditCLI(ctx, db, stderr, []string{"redeem", "generate"}, "codes.create", "batch:"+batch, nil,
		map[string]any{"count": n, "value_micros": int64(value), "expires_at": expires, "batch": batch, "note": note})
	exp := ""
	if !expires.IsZero() {
		exp = expires.UTC().Format(time.RFC3339)
	}
	usd := strings.TrimPrefix(value.String(), "$")
	w := csv.NewWriter(out)
	_ = w.Write([]string{"code", "value", "expires"})
	for _, c := range codes {
		_ = w.Write([]string{c, usd, exp})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		fmt.Fprintf(stderr, "switchyard: write codes: %v (the %d codes are stored but were not all written)\n", err, n)
		return 1
	}
	if f, ok := out.(*os.File); ok && csvPath != "" {
		if err := f.Sync(); err != nil {
			fmt.Fprintf(stderr, "switchyard: write %s: %v\n", csvPath, err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %d codes worth %s each to %s\n", n, value, csvPath)
	}
	fmt.Fprintln(stderr, "These codes are shown once and cannot be shown again.")
	return 0
}

func redeemList(ctx context.Context, cf *configFlags, batch string, asJSON bool, stdout, stderr io.Writer) int {
	ctx, stop := signalContext(ctx)
	defer stop()
	l, _, done, code := openLedger(ctx, cf, stderr)
	if l == nil {
		return code
	}
	defer done()
	codes, err := l.ListCodes(ctx, batch)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	if asJSON {
		return writeJSON(codes, stdout, stderr)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPREFIX\tKIND\tVALUE\tUSES\tEXPIRES\tBATCH")
	for _, c := range codes {
		exp := "-"
		if c.ExpiresAt != nil {
			exp = c.ExpiresAt.Format(time.RFC3339)
		}
		uses := strconv.FormatInt(c.Uses, 10) + "/" + strconv.FormatInt(c.MaxUses, 10)
		if c.Kind == billing.CodeInvite {
			uses = strconv.FormatInt(c.Uses, 10)
		}
		fmt.Fprintf(tw, "%d\t%s…\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Prefix, c.Kind, c.Value, uses, exp, dash(c.Batch))
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "switchyard: write list: %v\n", err)
		return 1
	}
	return 0
}

func redeemUse(ctx context.Context, cf *configFlags, email, code string, stdout, stderr io.Writer) int {
	ctx, stop := signalContext(ctx)
	defer stop()
	l, db, done, exit := openLedger(ctx, cf, stderr)
	if l == nil {
		return exit
	}
	defer done()
	uid, err := l.UserID(ctx, email)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	got, err := l.Redeem(ctx, uid, code)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	bal, err := l.Balance(ctx, uid)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "credited %s to %s; balance %s\n", got, strings.ToLower(strings.TrimSpace(email)), bal)
	auditCLI(ctx, db, stderr, []string{"redeem", "use"}, "codes.redeem", fmt.Sprintf("user:%d", uid), nil,
		map[string]any{"amount_micros": int64(got), "balance_after_micros": int64(bal)})
	return 0
}
