package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/audit"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/store"
)

// Wallet top-ups and redemption codes through the built binary, on one
// SQLite data dir: starting credit, an adjustment, a refused overdraft,
// codes generated to stdout and to a CSV file, listed without the codes,
// redeemed once.
func TestCreditAndRedeem(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "switchyard.yaml")
	yaml := "server:\n  data_dir: " + filepath.Join(dir, "data") + "\nbilling:\n  new_user_credit: 1\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(want int, args ...string) result {
		t.Helper()
		r := runCLI(t, dir, append(args, "-c", cfg)...)
		if r.code != want {
			t.Fatalf("%v: exit %d, want %d\nstdout %s\nstderr %s", args, r.code, want, r.stdout, r.stderr)
		}
		return r
	}
	run(0, "users", "add", "--email", "ann@example.com")
	r := run(0, "users", "credit", "--email", "Ann@example.com", "--amount", "2.5", "--note", "welcome gift")
	if !strings.Contains(r.stdout, "balance $3.500000") {
		t.Fatalf("credit: %s", r.stdout)
	}
	r = run(1, "users", "credit", "--email", "ann@example.com", "--amount", "-10")
	if !strings.Contains(r.stderr, "below zero") {
		t.Fatalf("overdraft: %s", r.stderr)
	}
	run(2, "users", "credit", "--email", "ann@example.com", "--amount", "lots")
	run(1, "users", "credit", "--email", "nobody@example.com", "--amount", "1")
	r = run(0, "users", "credit", "--email", "ann@example.com", "--amount", "-0.5")
	if !strings.Contains(r.stdout, "balance $3.000000") {
		t.Fatalf("debit: %s", r.stdout)
	}

	r = run(0, "redeem", "generate", "--count", "2", "--value", "0.75", "--batch", "spring", "--expires", "2099-01-01T00:00:00Z")
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || len(recs) != 3 || strings.Join(recs[0], ",") != "code,value,expires" ||
		recs[1][1] != "0.750000" || recs[1][2] != "2099-01-01T00:00:00Z" || !strings.Contains(r.stderr, "shown once") {
		t.Fatalf("generate: %q %v\n%s", recs, err, r.stderr)
	}
	shape := regexp.MustCompile(`^SYR-[0-9A-Z]{20}$`)
	codes := []string{recs[1][0], recs[2][0]}
	csvPath := filepath.Join(dir, "codes.csv")
	run(0, "redeem", "generate", "--count", "3", "--value", "1", "--csv", csvPath)
	run(1, "redeem", "generate", "--count", "3", "--value", "1", "--csv", csvPath) // never overwrites
	f, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	recs, err = csv.NewReader(strings.NewReader(string(f))).ReadAll()
	if err != nil || len(recs) != 4 || recs[3][1] != "1.000000" || recs[3][2] != "" {
		t.Fatalf("csv file: %q %v", recs, err)
	}
	for _, c := range append(codes, recs[1][0]) {
		if !shape.MatchString(c) {
			t.Fatalf("code %q", c)
		}
	}
	run(2, "redeem", "generate", "--count", "0", "--value", "1")
	run(2, "redeem", "generate", "--count", "1", "--value", "-1")

	r = run(0, "redeem", "list", "--json", "--batch", "spring")
	var list []billing.CodeInfo
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 2 || list[0].Value != 750_000 || list[0].Uses != 0 {
		t.Fatalf("list: %v\n%s", err, r.stdout)
	}
	table := run(0, "redeem", "list")
	for _, out := range []string{r.stdout, table.stdout} {
		for _, c := range codes {
			if strings.Contains(out, c[8:]) {
				t.Fatalf("a listing shows a code:\n%s", out)
			}
		}
	}
	if lines := strings.Split(strings.TrimSpace(table.stdout), "\n"); len(lines) != 6 {
		t.Fatalf("list table:\n%s", table.stdout)
	}

	r = run(0, "redeem", "use", "--email", "ann@example.com", strings.ToLower(codes[0]))
	if !strings.Contains(r.stdout, "credited $0.750000") || !strings.Contains(r.stdout, "balance $3.750000") {
		t.Fatalf("use: %s", r.stdout)
	}
	r = run(1, "redeem", "use", "--email", "ann@example.com", codes[0])
	if !strings.Contains(r.stderr, "already redeemed") {
		t.Fatalf("use twice: %s", r.stderr)
	}
	run(0, "users", "add", "--email", "ben@example.com")
	r = run(1, "redeem", "use", "--email", "ben@example.com", codes[0])
	if !strings.Contains(r.stderr, "invalid or used") {
		t.Fatalf("use a used code: %s", r.stderr)
	}
	run(2, "redeem", "use", codes[1])

	r = run(0, "users", "balance", "--email", "ann@example.com")
	for _, want := range []string{"balance $3.750000", "redeem", "adjust", "welcome gift", "topup", "new-user:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("balance output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(0, "users", "balance", "--email", "ben@example.com")
	if !strings.Contains(r.stdout, "balance $1.000000") {
		t.Fatalf("ben: %s", r.stdout)
	}

	// Every write above is in the audit log, oldest last, and no code is.
	db, err := store.Open(t.Context(), "sqlite://"+filepath.Join(dir, "data", "switchyard.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	entries, err := audit.NewStore(db, nil).List(t.Context(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
		if e.ActorEmail != "cli" || e.Via != "cli" || !strings.HasPrefix(e.Route, "switchyard ") {
			t.Errorf("audit entry %+v", e)
		}
		for _, c := range codes {
			if strings.Contains(string(e.After), c[8:]) {
				t.Errorf("audit entry shows a code: %s", e.After)
			}
		}
	}
	want := "users.create codes.redeem codes.create codes.create users.credit users.credit users.create"
	if got := strings.Join(actions, " "); got != want {
		t.Errorf("audit actions %q, want %q", got, want)
	}
	if !strings.Contains(string(entries[5].After), `"amount_micros":2500000`) || !strings.Contains(string(entries[5].After), "welcome gift") {
		t.Errorf("credit audit entry after %s", entries[5].After)
	}
}
