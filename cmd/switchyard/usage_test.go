package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/store"
	usagelog "github.com/switchyard/switchyard/internal/usage"
)

// The usage log through the built binary, on rows written by usage.Store
// into the SQLite database of a data dir: the table, JSON, totals, every
// filter, and the flags' usage errors.
func TestUsageCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := tenancyConfig(t, dir)
	run := func(want int, args ...string) result {
		t.Helper()
		r := runCLI(t, dir, append(append([]string{"usage"}, args...), "-c", cfg)...)
		if r.code != want {
			t.Fatalf("usage %v: exit %d, want %d\nstdout %s\nstderr %s", args, r.code, want, r.stdout, r.stderr)
		}
		return r
	}
	// Migrates the database as any storage command does, and shows an empty log.
	r := run(0)
	if strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(r.stdout, "TIME") {
		t.Fatalf("empty log:\n%s", r.stdout)
	}
	if r = run(0, "--json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("empty log as JSON: %q", r.stdout)
	}
	for _, add := range [][]string{
		{"users", "add", "--email", "ann@example.com"},
		{"users", "add", "--email", "bob@example.com"},
		{"keys", "create", "--user", "ann@example.com", "--name", "laptop"},
		{"keys", "create", "--user", "ann@example.com", "--name", "ci"},
		{"keys", "create", "--user", "bob@example.com", "--name", "laptop"},
	} {
		if r := runCLI(t, dir, append(add, "-c", cfg)...); r.code != 0 {
			t.Fatalf("%v: exit %d\n%s", add, r.code, r.stderr)
		}
	}

	db, err := store.Open(t.Context(), "sqlite://"+filepath.Join(dir, "data", "switchyard.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	as := auth.NewStore(db, nil)
	ids := map[string]int64{}
	for _, email := range []string{"ann@example.com", "bob@example.com"} {
		keys, err := as.ListKeys(t.Context(), email)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			ids[email+"/"+k.Name] = k.ID
		}
	}
	users, err := as.ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		ids[u.Email] = u.ID
	}

	now := time.Now().UTC().Truncate(time.Second)
	row := func(i int, ago time.Duration, user, key, model, channel string, status int) usagelog.Row {
		return usagelog.Row{ChargeID: fmt.Sprintf("ch-%d", i), RequestID: fmt.Sprintf("req-%d", i), Time: now.Add(-ago),
			UserID: ids[user], KeyID: ids[user+"/"+key], Model: model, ServedModel: model + "-served", Channel: channel,
			Attempts: 1, Status: status, PromptTokens: int64(100 * i), CompletionTokens: int64(10 * i), CachedTokens: int64(i),
			Images: i % 2, CostMicros: int64(12_345 * i), TTFB: time.Duration(i) * 100 * time.Millisecond,
			Duration: time.Duration(i) * time.Second, ClientIP: "10.0.0." + strconv.Itoa(i)}
	}
	rows := []usagelog.Row{
		row(1, 50*time.Hour, "ann@example.com", "laptop", "gpt-4o", "openai", 200),
		row(2, 30*time.Hour, "ann@example.com", "ci", "gpt-4o", "azure", 429),
		row(3, 3*time.Hour, "bob@example.com", "laptop", "claude", "anthropic", 200),
		row(4, 2*time.Hour, "bob@example.com", "laptop", "claude", "anthropic", 500),
		row(5, time.Hour, "ann@example.com", "laptop", "gpt-4o", "openai", 200),
	}
	rows[1].Error = "rate limited upstream"
	rows[3].Estimated = true
	// A request of a key and user deleted since.
	gone := usagelog.Row{ChargeID: "ch-6", RequestID: "req-6", Time: now.Add(-30 * time.Minute), UserID: 9999, KeyID: 8888,
		Model: "gpt-4o", Channel: "openai", Status: 200, PromptTokens: 1, CompletionTokens: 1, CostMicros: 1}
	rows = append(rows, gone)
	if err := usagelog.NewStore(db).Insert(t.Context(), rows); err != nil {
		t.Fatal(err)
	}

	// The table, newest first.
	r = run(0)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("table has %d lines, want a header and 6 rows:\n%s", len(lines), r.stdout)
	}
	for _, want := range []struct {
		line  int
		cells []string
	}{
		{0, []string{"TIME", "REQUEST_ID", "USER", "KEY", "MODEL", "CHANNEL", "STATUS", "IN", "OUT", "COST_USD", "LATENCY"}},
		{1, []string{now.Add(-30 * time.Minute).Format(time.RFC3339), "req-6", "#9999", "#8888", "0.000001"}},
		{2, []string{"req-5", "ann@example.com", "laptop", "gpt-4o", "openai", "200", "500", "50", "0.061725", "5s"}},
		{3, []string{"req-4", "bob@example.com", "claude", "500", "~400", "~40", "0.049380", "4s"}},
		{5, []string{"req-2", "ci", "azure", "429", "rate limited upstream"}},
	} {
		fields := strings.Fields(lines[want.line])
		for _, c := range want.cells {
			if !slices.Contains(fields, c) && !strings.Contains(lines[want.line], c) {
				t.Errorf("table line %d lacks %q:\n%s", want.line, c, lines[want.line])
			}
		}
	}

	// JSON carries every field.
	var got []usagelog.Row
	r = run(0, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if len(got) != 6 {
		t.Fatalf("--json: %d rows", len(got))
	}
	want := rows[4]
	want.User, want.KeyName = "ann@example.com", "laptop"
	if g := got[1]; !g.Time.Equal(want.Time) {
		t.Errorf("--json time %v, want %v", g.Time, want.Time)
	} else if g.Time, want.ID = want.Time, g.ID; !reflect.DeepEqual(g, want) {
		t.Errorf("--json row\n got %+v\nwant %+v", g, want)
	}
	if !strings.Contains(r.stdout, `"ttfb_ms": 500`) || !strings.Contains(r.stdout, `"duration_ms": 5000`) {
		t.Errorf("--json durations are not in milliseconds:\n%s", r.stdout)
	}

	// Totals, as text and as JSON, ignore --limit.
	r = run(0, "--sum", "--limit", "1", "--user", "bob@example.com")
	for _, want := range []string{"requests", "2", "prompt tokens", "700", "completion tokens", "70", "cached tokens", "7",
		"images", "1", "cost USD", "0.086415"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--sum lacks %q:\n%s", want, r.stdout)
		}
	}
	var tot usagelog.Totals
	r = run(0, "--sum", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &tot); err != nil {
		t.Fatalf("--sum --json: %v\n%s", err, r.stdout)
	}
	if tot != (usagelog.Totals{Requests: 6, PromptTokens: 1501, CompletionTokens: 151, CachedTokens: 15, Images: 3, CostMicros: 185_176}) {
		t.Errorf("--sum --json: %+v", tot)
	}

	// Every filter, by the request ids it keeps.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "Ann@Example.com"}, "req-5 req-2 req-1"},
		{[]string{"--user", "nobody@example.com"}, ""},
		{[]string{"--key", "laptop"}, "req-5 req-4 req-3 req-1"},
		{[]string{"--key", "laptop", "--user", "bob@example.com"}, "req-4 req-3"},
		{[]string{"--key", strconv.FormatInt(ids["ann@example.com/ci"], 10)}, "req-2"},
		{[]string{"--key", "8888"}, "req-6"},
		{[]string{"--model", "claude"}, "req-4 req-3"},
		{[]string{"--channel", "openai"}, "req-6 req-5 req-1"},
		{[]string{"--request-id", "req-3"}, "req-3"},
		{[]string{"--since", "24h"}, "req-6 req-5 req-4 req-3"},
		{[]string{"--since", "2d"}, "req-6 req-5 req-4 req-3 req-2"},
		{[]string{"--since", "150m", "--until", "45m"}, "req-5 req-4"},
		{[]string{"--until", "24h"}, "req-2 req-1"},
		{[]string{"--since", now.Add(-3 * time.Hour).Format(time.RFC3339), "--until", now.Add(-time.Hour).Format(time.RFC3339)}, "req-4 req-3"},
		{[]string{"--status", "ok"}, "req-6 req-5 req-3 req-1"},
		{[]string{"--status", "error"}, "req-4 req-2"},
		{[]string{"--status", "429"}, "req-2"},
		{[]string{"--status", "4xx"}, "req-2"},
		{[]string{"--limit", "2"}, "req-6 req-5"},
		{[]string{"--model", "gpt-4o", "--status", "ok", "--limit", "2"}, "req-6 req-5"},
	} {
		r := run(0, append(tt.args, "--json")...)
		var got []usagelog.Row
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("%v: %v\n%s", tt.args, err, r.stdout)
		}
		var reqs []string
		for _, g := range got {
			reqs = append(reqs, g.RequestID)
		}
		if s := strings.Join(reqs, " "); s != tt.want {
			t.Errorf("usage %v: %q, want %q", tt.args, s, tt.want)
		}
	}

	// Bad values name their flag and exit 2 before touching the database.
	for _, tt := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"--limit", "0"}, "--limit 0 is not between 1 and 10000"},
		{[]string{"--limit", "10001"}, "--limit 10001"},
		{[]string{"--limit", "many"}, "-limit"},
		{[]string{"--status", "bad"}, `--status "bad"`},
		{[]string{"--status", "6xx"}, `--status "6xx"`},
		{[]string{"--since", "yesterday"}, `--since "yesterday"`},
		{[]string{"--since", "-1h"}, `--since "-1h"`},
		{[]string{"--until", "0d"}, `--until "0d"`},
		{[]string{"--until", "2026-13-01"}, `--until "2026-13-01"`},
		{[]string{"--since", "1h", "--until", "2h"}, "is not before --until"},
		{[]string{"--key", "0"}, `--key "0"`},
		{[]string{"req-1"}, `unexpected argument "req-1"`},
	} {
		r := runCLI(t, dir, append(append([]string{"usage"}, tt.args...), "-c", cfg)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.stderr) || r.stdout != "" {
			t.Errorf("usage %v: exit %d, stderr %q; want 2 and %q", tt.args, r.code, r.stderr, tt.stderr)
		}
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"24h", now.Add(-24 * time.Hour), true},
		{"90m", now.Add(-90 * time.Minute), true},
		{"7d", now.Add(-7 * 24 * time.Hour), true},
		{"2026-05-01T00:00:00+02:00", time.Date(2026, 4, 30, 22, 0, 0, 0, time.UTC), true},
		{"0s", time.Time{}, false},
		{"-1h", time.Time{}, false},
		{"d", time.Time{}, false},
		{"1.5d", time.Time{}, false},
		{"2026-05-01", time.Time{}, false},
	} {
		got, ok := parseWhen(tt.in, now)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
