package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchyard/switchyard/internal/billing"
	usagelog "github.com/switchyard/switchyard/internal/usage"
)

func usageCommand() command {
	return command{
		name:    "usage",
		summary: "show the per-request usage log, or its totals",
		about: `Prints the usage log, one row per request, newest first: time (UTC),
request id, user, key, model, channel, status, prompt and completion tokens
(~ marks counts the gateway estimated because the upstream reported none),
cost in USD and latency, and the error of a failed request. A user or key
deleted since shows as its id, #N.

The flags filter the rows and combine: --since and --until take an RFC 3339
time or a duration meaning that long ago (24h, 90m, or days as 7d). --sum
prints the totals of every matching row instead (requests, tokens, images,
cost), ignoring --limit. --json prints a JSON array of rows, or the totals
as a JSON object with --sum.

The gateway writes rows in batches shortly after requests end, so the
newest requests may be missing for a moment. Opens the database exactly as
'serve' does.`,
		flags: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
			cf := addConfigFlags(fs, flagDatabaseURL, flagDataDir, flagLogLevel)
			user := fs.String("user", "", "only requests of the user with this `EMAIL`")
			key := fs.String("key", "", "only requests made with `KEY`: its id, or its name (any user's key of\nthat name unless --user)")
			model := fs.String("model", "", "only requests for this `MODEL`, as the client named it")
			channel := fs.String("channel", "", "only requests served by this `CHANNEL`")
			requestID := fs.String("request-id", "", "only the request with this `ID` (the X-Request-Id the client saw)")
			since := fs.String("since", "", "only requests started at or after `TIME`: RFC 3339, or a duration\nmeaning that long ago, such as 24h, 90m or 7d")
			until := fs.String("until", "", "only requests started before `TIME`: RFC 3339, or a duration meaning\nthat long ago, such as 1h")
			status := fs.String("status", "", "only requests that ended `STATUS`: ok (2xx), error (anything else), a\nclass such as 5xx, or an HTTP status code such as 429")
			limit := fs.Int("limit", usagelog.DefaultLimit, fmt.Sprintf("print at most `N` rows, 1 to %d", usagelog.MaxLimit))
			asJSON := fs.Bool("json", false, "print JSON: an array of rows, or the totals with --sum")
			sum := fs.Bool("sum", false, "print the totals of the matching rows instead of the rows")
			return func(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
				if len(pos) > 0 {
					fmt.Fprintf(stderr, "switchyard usage: unexpected argument %q (every filter is a flag; see --help)\n", pos[0])
					return 2
				}
				f := usagelog.Filter{User: *user, Model: *model, Channel: *channel, RequestID: *requestID, Status: *status, Limit: *limit}
				if msg := parseUsageFlags(&f, *key, *since, *until, time.Now()); msg != "" {
					fmt.Fprintf(stderr, "switchyard usage: %s\n", msg)
					return 2
				}
				return usageRun(ctx, cf, f, *sum, *asJSON, stdout, stderr)
			}
		},
	}
}

// parseUsageFlags checks the flags that need more than a string and fills
// f; it returns a usage message naming the flag, or "".
func parseUsageFlags(f *usagelog.Filter, key, since, until string, now time.Time) string {
	if f.Limit < 1 || f.Limit > usagelog.MaxLimit {
		return fmt.Sprintf("--limit %d is not between 1 and %d", f.Limit, usagelog.MaxLimit)
	}
	if err := usagelog.ParseStatus(f.Status); err != nil {
		return fmt.Sprintf("--status %q is not ok, error, a class such as 5xx or an HTTP status code such as 429", f.Status)
	}
	// A key is named by its id when the value is a number: ids are what
	// 'keys list' shows first, and a name can always be told apart by --user.
	if id, err := strconv.ParseInt(key, 10, 64); err == nil {
		if id <= 0 {
			return fmt.Sprintf("--key %q is not a key id or name", key)
		}
		f.KeyID = id
	} else {
		f.KeyName = key
	}
	var ok bool
	if f.Since, ok = parseWhen(since, now); !ok {
		return fmt.Sprintf("--since %q is neither an RFC 3339 time such as 2026-01-02T15:04:05Z nor a duration such as 24h or 7d", since)
	}
	if f.Until, ok = parseWhen(until, now); !ok {
		return fmt.Sprintf("--until %q is neither an RFC 3339 time such as 2026-01-02T15:04:05Z nor a duration such as 1h or 7d", until)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return fmt.Sprintf("--since %s is not before --until %s", f.Since.UTC().Format(time.RFC3339), f.Until.UTC().Format(time.RFC3339))
	}
	return ""
}

// parseWhen reads an RFC 3339 time, or a positive duration meaning that
// long before now; Go durations have no days, so "7d" is read too. An
// empty value is the zero time.
func parseWhen(s string, now time.Time) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 100*366 {
			return time.Time{}, false
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			return time.Time{}, false
		}
	}
	return now.Add(-d), true
}

func usageRun(ctx context.Context, cf *configFlags, f usagelog.Filter, sum, asJSON bool, stdout, stderr io.Writer) int {
	ctx, stop := signalContext(ctx)
	defer stop()
	_, st, code := openStorage(ctx, cf, stderr)
	if st == nil {
		return code
	}
	defer st.Close()
	s := usagelog.NewStore(st.DB)
	if sum {
		t, err := s.Totals(ctx, f)
		if err != nil {
			fmt.Fprintf(stderr, "switchyard: %v\n", err)
			return 1
		}
		if asJSON {
			return writeJSON(t, stdout, stderr)
		}
		return writeTotals(t, stdout, stderr)
	}
	rows, err := s.Query(ctx, f)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return 1
	}
	if asJSON {
		return writeJSON(rows, stdout, stderr)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tREQUEST_ID\tUSER\tKEY\tMODEL\tCHANNEL\tSTATUS\tIN\tOUT\tCOST_USD\tLATENCY\tERROR")
	for _, r := range rows {
		in, out := strconv.FormatInt(r.PromptTokens, 10), strconv.FormatInt(r.CompletionTokens, 10)
		if r.Estimated {
			in, out = "~"+in, "~"+out
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339),
			dash(r.RequestID), named(r.User, r.UserID), named(r.KeyName, r.KeyID), dash(truncate(r.Model, 40)),
			dash(r.Channel), r.Status, in, out, usd(r.CostMicros), r.Duration, dash(truncate(r.Error, 60)))
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "switchyard: write list: %v\n", err)
		return 1
	}
	return 0
}

func writeTotals(t usagelog.Totals, stdout, stderr io.Writer) int {
	lines := [][2]string{
		{"requests", strconv.FormatInt(t.Requests, 10)},
		{"prompt tokens", strconv.FormatInt(t.PromptTokens, 10)},
		{"completion tokens", strconv.FormatInt(t.CompletionTokens, 10)},
		{"cached tokens", strconv.FormatInt(t.CachedTokens, 10)},
		{"images", strconv.FormatInt(t.Images, 10)},
		{"cost USD", usd(t.CostMicros)},
	}
	width := 0
	for _, l := range lines {
		width = max(width, len(l[1]))
	}
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%-17s  %*s\n", l[0], width, l[1])
	}
	if _, err := io.WriteString(stdout, b.String()); err != nil {
		fmt.Fprintf(stderr, "switchyard: write totals: %v\n", err)
		return 1
	}
	return 0
}

// named is a user's email or a key's name for a table cell: "-" when the
// row has none, "#id" when it was deleted since.
func named(name string, id int64) string {
	switch {
	case name != "":
		return name
	case id != 0:
		return "#" + strconv.FormatInt(id, 10)
	}
	return "-"
}

// usd formats micro-USD with 6 decimals, without a dollar sign.
func usd(micros int64) string {
	return strings.Replace(billing.Micros(micros).String(), "$", "", 1)
}
