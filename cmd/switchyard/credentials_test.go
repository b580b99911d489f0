package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/pool"
	"github.com/switchyard/switchyard/internal/testenv"
)

// credentialsConfig writes a SQLite configuration with two channels, one
// of them able to refresh OAuth tokens, and returns its path.
func credentialsConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := `server:
  data_dir: ` + filepath.Join(dir, "data") + `
channels:
  - name: main
    type: openai
    base_url: http://127.0.0.1:9/v1
    models: [test-model]
    credentials:
      - key: sk-config-000000000000000000
  - name: accounts
    type: openai
    base_url: http://127.0.0.1:9/v1
    token_url: http://127.0.0.1:9/oauth/token
    models: [test-model]
    credentials:
      - access_token: at-config-000000000000000000
        refresh_token: rt-config-000000000000000000
`
	path := filepath.Join(dir, "switchyard.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// applyLikeServe stores the file's channels and credentials as `serve`
// does at start (the credentials command itself never applies the file).
func applyLikeServe(t *testing.T, path string, env ...string) {
	t.Helper()
	cfg, err := config.Load(config.LoadOptions{Path: path, LookupEnv: func(k string) (string, bool) {
		for _, kv := range env {
			if name, v, _ := strings.Cut(kv, "="); name == k {
				return v, true
			}
		}
		return "", false
	}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := app.OpenStorage(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := pool.NewStore(st.DB, st.Keyring).ApplyConfig(context.Background(), cfg.Channels); err != nil {
		t.Fatal(err)
	}
}

func TestCredentialsImportAndList(t *testing.T) {
	dir := t.TempDir()
	cfg := credentialsConfig(t, dir)
	applyLikeServe(t, cfg)
	secrets := []string{"sk-import-aaaaaaaaaaaaaaaaaaaa", "sk-import-bbbbbbbbbbbbbbbbbbbb", "sk-bad key", "sk-config-000000000000000000"}
	keys := filepath.Join(dir, "keys.txt")
	text := "# from the vendor\n" + secrets[0] + "\n" + secrets[1] + "\n\n" + secrets[0] + "\n" + secrets[2] + "\n" + secrets[3] + "\n"
	if err := os.WriteFile(keys, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	r := runCLI(t, dir, "credentials", "import", "--channel", "main", "-c", cfg, keys)
	if r.code != 1 {
		t.Fatalf("import with an invalid line: exit %d, want 1\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	want := regexp.MustCompile(`^line 2: added \(id (\d+)\)
line 3: added \(id (\d+)\)
line 5: duplicate
line 6: invalid: key contains whitespace
line 7: duplicate
added 2, duplicate 2, invalid 1
$`)
	m := want.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("import output:\n%s\nstderr %s", r.stdout, r.stderr)
	}
	ids := m[1:]

	// Again, without the bad line: everything is a duplicate, exit 0.
	good := filepath.Join(dir, "good.txt")
	if err := os.WriteFile(good, []byte(secrets[0]+"\n"+secrets[1]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, dir, "credentials", "import", "--channel", "main", "-c", cfg, good)
	if r.code != 0 || r.stdout != "line 1: duplicate\nline 2: duplicate\nadded 0, duplicate 2, invalid 0\n" {
		t.Fatalf("re-import: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}

	// OAuth entries from a JSON array; they need the channel's token_url.
	oauth := filepath.Join(dir, "oauth.json")
	body := `[
	  {"access_token": "at-import-cccccccccccccccccc", "refresh_token": "rt-import-cccccccccccccccccc",
	   "expires_at": "2030-01-02T03:04:05Z", "email": "one@example.com"},
	  {"access_token": "at-import-dddddddddddddddddd", "refresh_token": "rt-import-dddddddddddddddddd",
	   "email": "ONE@example.com"},
	  {"key": "sk-import-eeeeeeeeeeeeeeeeeeee", "weight": 2, "colour": "red"}
	]`
	if err := os.WriteFile(oauth, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, dir, "credentials", "import", "--channel", "accounts", "-c", cfg, oauth)
	if r.code != 1 || !regexp.MustCompile(`^line 1: added \(id \d+\)
line 2: duplicate
line 3: invalid: unknown field "colour"
added 1, duplicate 1, invalid 1
$`).MatchString(r.stdout) {
		t.Fatalf("json import: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, dir, "credentials", "import", "--channel", "main", "-c", cfg, oauth)
	if r.code != 1 || !strings.Contains(r.stdout, "line 1: invalid: channel main has no token_url") {
		t.Fatalf("oauth into a channel without token_url: exit %d\nstdout %s", r.code, r.stdout)
	}
	r = runCLI(t, dir, "credentials", "import", "--channel", "nowhere", "-c", cfg, good)
	if r.code != 1 || !strings.Contains(r.stderr, `"nowhere"`) || !strings.Contains(r.stderr, "main, accounts") {
		t.Fatalf("unknown channel: exit %d, stderr %s", r.code, r.stderr)
	}

	r = runCLI(t, dir, "credentials", "list", "--json", "-c", cfg)
	if r.code != 0 {
		t.Fatalf("list --json: exit %d, stderr %s", r.code, r.stderr)
	}
	var views []struct {
		ID      int64  `json:"id"`
		Channel string `json:"channel"`
		Kind    string `json:"kind"`
		Email   string `json:"email"`
		Hint    string `json:"hint"`
		Status  string `json:"status"`
		Circuit string `json:"circuit"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &views); err != nil {
		t.Fatalf("list --json is not JSON: %v\n%s", err, r.stdout)
	}
	if len(views) != 5 {
		t.Fatalf("%d credentials listed, want 5: %s", len(views), r.stdout)
	}
	listed := map[string]bool{}
	for _, v := range views {
		listed[strings.TrimSpace(jsonNumber(v.ID))] = true
		if v.Status != "active" || v.Circuit != "closed" {
			t.Errorf("credential %d: status %q circuit %q", v.ID, v.Status, v.Circuit)
		}
	}
	for _, id := range ids {
		if !listed[id] {
			t.Errorf("imported id %s not listed", id)
		}
	}
	if views[0].Hint != "sk-…0000" || views[len(views)-1].Kind != "oauth" || views[len(views)-1].Email != "one@example.com" {
		t.Errorf("views = %+v", views)
	}

	r = runCLI(t, dir, "credentials", "list", "--channel", "main", "-c", cfg)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], "main") {
		t.Fatalf("list --channel main: exit %d\n%s\nstderr %s", r.code, r.stdout, r.stderr)
	}

	// No output or log line of any of these runs holds a secret.
	all := ""
	for _, args := range [][]string{
		{"credentials", "list", "-c", cfg}, {"credentials", "list", "--json", "-c", cfg},
		{"credentials", "import", "--channel", "main", "-c", cfg, keys},
	} {
		r := runCLI(t, dir, args...)
		all += r.stdout + r.stderr
	}
	for _, s := range append(secrets, "at-import-cccccccccccccccccc", "rt-import-cccccccccccccccccc", "at-config-000000000000000000") {
		if strings.Contains(all, s) {
			t.Errorf("output holds the secret %q", s)
		}
	}
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestCredentialsUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"credentials"}, "unexpected arguments"},
		{[]string{"credentials", "import", "keys.txt"}, "--channel is required"},
		{[]string{"credentials", "import", "--channel", "x"}, "missing FILE"},
		{[]string{"credentials", "list", "extra"}, "unexpected arguments"},
	} {
		r := runCLI(t, dir, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, r.code, r.stderr, tt.stderr)
		}
	}
}

// With Redis configured, list reads the scheduler's shared state too.
func TestCredentialsListRedis(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	dir := t.TempDir()
	cfg := credentialsConfig(t, dir)
	var b [6]byte
	_, _ = rand.Read(b[:])
	env := []string{
		"SWITCHYARD_REDIS_URL=" + redisURL,
		"SWITCHYARD_REDIS_PREFIX=sy_t_" + hex.EncodeToString(b[:]) + ":", // nothing here writes under it
		"SWITCHYARD_SECRET_KEY=" + strings.Repeat("ab", 32),
	}
	applyLikeServe(t, cfg, env...)
	r := runCLIEnv(t, dir, env, "credentials", "list", "-c", cfg)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 || !strings.Contains(lines[0], "CIRCUIT") || !strings.Contains(lines[1], "closed") {
		t.Fatalf("list with redis: exit %d\n%s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	r = runCLIEnv(t, dir, env, "credentials", "list", "--json", "-c", cfg)
	var views []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &views); r.code != 0 || err != nil || len(views) != 2 {
		t.Fatalf("list --json with redis: exit %d, %v\n%s\nstderr %s", r.code, err, r.stdout, r.stderr)
	}
}

// The command never applies the file: run with a file that lacks the
// servers' channels, it must not disable them or delete their credentials.
func TestCredentialsCommandLeavesServeStateAlone(t *testing.T) {
	dir := t.TempDir()
	cfg := credentialsConfig(t, dir)
	applyLikeServe(t, cfg)
	bare := filepath.Join(dir, "bare.yaml")
	if err := os.WriteFile(bare, []byte("server:\n  data_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, dir, "credentials", "list", "-c", bare); r.code != 0 {
		t.Fatalf("list: exit %d %s", r.code, r.stderr)
	}
	c, err := config.Load(config.LoadOptions{Path: bare})
	if err != nil {
		t.Fatal(err)
	}
	st, err := app.OpenStorage(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	chs, creds, err := pool.NewStore(st.DB, st.Keyring).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != 2 || len(creds) != 2 {
		t.Fatalf("stored channels %d, credentials %d; want 2 and 2", len(chs), len(creds))
	}
	for _, ch := range chs {
		if ch.Config.Disabled {
			t.Errorf("channel %s disabled by a command run with another file", ch.Config.Name)
		}
	}
}
