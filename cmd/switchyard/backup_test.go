package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/store"
)

// A backup made from the CLI restores into a stopped node only, and only
// under the key it was made with.
func TestBackupAndRestoreCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "switchyard.yaml")
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(cfg, []byte("server:\n  data_dir: "+data+"\n"), 0o600); err != nil {
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
	out := filepath.Join(dir, "copy.db")
	r := run(0, "backup", "--out", out)
	if !strings.Contains(r.stdout, "wrote "+out) {
		t.Fatalf("backup: %s", r.stdout)
	}
	if b, err := os.ReadFile(out + ".json"); err != nil || !strings.Contains(string(b), "secret_key_fingerprint") {
		t.Fatalf("sidecar: %s %v", b, err)
	}
	run(1, "backup", "--out", out) // never overwrites
	r = run(0, "backup")
	if !strings.Contains(r.stdout, filepath.Join(data, "backups", "switchyard-")) {
		t.Fatalf("backup into the data dir: %s", r.stdout)
	}
	run(0, "users", "add", "--email", "bob@example.com")

	if err := os.MkdirAll(filepath.Join(data, "billing"), 0o700); err != nil {
		t.Fatal(err)
	}
	unlock, err := store.LockFile(t.Context(), filepath.Join(data, "billing", "lock"))
	if err != nil {
		t.Fatal(err)
	}
	r = run(1, "restore", out)
	unlock()
	if !strings.Contains(r.stderr, "stop it before restoring") {
		t.Fatalf("restore under a running node: %s", r.stderr)
	}
	r = run(0, "restore", out)
	if !strings.Contains(r.stdout, "kept at") {
		t.Fatalf("restore: %s", r.stdout)
	}
	r = run(0, "users", "list")
	if !strings.Contains(r.stdout, "ann@example.com") || strings.Contains(r.stdout, "bob@example.com") {
		t.Fatalf("users after restore:\n%s", r.stdout)
	}

	// Under another key, the restore is refused.
	other := filepath.Join(dir, "other.yaml")
	yaml := "server:\n  data_dir: " + data + "\nsecret_key: " + strings.Repeat("ab", 32) + "\n"
	if err := os.WriteFile(other, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, dir, "restore", out, "-c", other)
	if r.code != 1 || !strings.Contains(r.stderr, "another secret key") {
		t.Fatalf("restore under another key: %d %s", r.code, r.stderr)
	}
	run(2, "restore")
}
