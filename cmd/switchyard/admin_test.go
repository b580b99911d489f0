package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/store"
)

func runCLIStdin(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{code, so.String(), se.String()}
}

// The password commands store argon2id hashes the console's sign-in
// accepts, and read the password from standard input when it is not a
// terminal.
func TestAdminPasswords(t *testing.T) {
	dir := t.TempDir()
	cfg := tenancyConfig(t, dir)
	const pw = "correct horse battery"

	login := func(email, password string) error {
		db, err := store.Open(t.Context(), "sqlite://"+filepath.Join(dir, "data", "switchyard.db"), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		_, err = auth.NewAccounts(auth.AccountsOptions{DB: db}).Login(t.Context(), email, password, "", "", netip.Addr{})
		return err
	}

	for _, c := range []struct {
		stdin string
		args  []string
		code  int
		out   string // in stdout (code 0) or stderr
	}{
		{"short\n", []string{"admin", "create", "-c", cfg, "--email", "root@example.com"}, 1, "at least 12 characters"},
		{"", []string{"admin", "create", "-c", cfg, "--email", "root@example.com"}, 1, "no password on standard input"},
		{pw + "\n", []string{"admin", "create", "-c", cfg}, 2, "--email is required"},
		{pw + "\n", []string{"admin", "create", "-c", cfg, "--email", "Root@Example.com", "--name", "Root"}, 0, "administrator root@example.com"},
		{pw + "\n", []string{"admin", "create", "-c", cfg, "--email", "root@example.com"}, 1, "already has a password"},
		{"", []string{"users", "add", "-c", cfg, "--email", "bob@example.com"}, 0, "added user"},
		{pw + "-bob", []string{"users", "set-password", "-c", cfg, "--email", "bob@example.com"}, 0, "password of bob@example.com set"},
		{pw + "\n", []string{"users", "set-password", "-c", cfg, "--email", "nobody@example.com"}, 1, "user not found"},
		{pw + "\n", []string{"admin", "reset-password", "-c", cfg, "--email", "bob@example.com"}, 1, "not an administrator"},
		{pw + "-new\r\n", []string{"admin", "reset-password", "-c", cfg, "--email", "root@example.com", "--disable-2fa"}, 0, "two-factor authentication of root@example.com is off"},
		{"", []string{"admin", "rotate", "-c", cfg, "--email", "root@example.com"}, 2, "unexpected arguments"},
	} {
		r := runCLIStdin(t, dir, c.stdin, c.args...)
		got := r.stderr
		if c.code == 0 {
			got = r.stdout
		}
		if r.code != c.code || !strings.Contains(got, c.out) {
			t.Fatalf("%v: exit %d (want %d)\nstdout %s\nstderr %s", c.args, r.code, c.code, r.stdout, r.stderr)
		}
	}
	if err := login("root@example.com", pw+"-new"); err != nil {
		t.Errorf("admin sign-in with the reset password: %v", err)
	}
	if err := login("root@example.com", pw); err == nil {
		t.Error("the old password still works")
	}
	if err := login("bob@example.com", pw+"-bob"); err != nil {
		t.Errorf("user sign-in with the set password: %v", err)
	}
}
