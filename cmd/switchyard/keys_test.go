package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/audit"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
)

func tenancyConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := `server:
  data_dir: ` + filepath.Join(dir, "data") + `
groups:
  - {name: default}
  - {name: vip, ratio: 0.5, rpm: 60}
`
	path := filepath.Join(dir, "switchyard.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A key created with the CLI works against a gateway on the same database,
// and stops working once revoked with the CLI.
func TestUsersAndKeys(t *testing.T) {
	dir := t.TempDir()
	cfg := tenancyConfig(t, dir)

	r := runCLI(t, dir, "users", "add", "-c", cfg, "--email", "Bob@Example.com", "--name", "Bob", "--group", "vip")
	if r.code != 0 || !strings.Contains(r.stdout, "added user bob@example.com") {
		t.Fatalf("users add: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, dir, "users", "add", "-c", cfg, "--email", "bob@example.com")
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("users add twice: exit %d, stderr %s", r.code, r.stderr)
	}
	r = runCLI(t, dir, "users", "add", "-c", cfg, "--email", "carol@example.com", "--group", "gold")
	if r.code != 1 || !strings.Contains(r.stderr, "group gold") {
		t.Fatalf("users add to an unknown group: exit %d, stderr %s", r.code, r.stderr)
	}
	r = runCLI(t, dir, "users", "list", "--json", "-c", cfg)
	var users []auth.User
	if err := json.Unmarshal([]byte(r.stdout), &users); err != nil || r.code != 0 {
		t.Fatalf("users list --json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if len(users) != 1 || users[0].Email != "bob@example.com" || users[0].Group != "vip" || users[0].Name != "Bob" {
		t.Fatalf("users = %+v", users)
	}
	r = runCLI(t, dir, "users", "list", "-c", cfg)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(lines) != 2 || !strings.Contains(lines[1], "bob@example.com") {
		t.Fatalf("users list: exit %d\n%s", r.code, r.stdout)
	}

	r = runCLI(t, dir, "keys", "create", "-c", cfg, "--user", "bob@example.com", "--name", "laptop", "--models", "m1, m2",
		"--quota", "1.5", "--rpm", "5", "--tpm", "600", "--daily-requests", "70", "--ip-allow", "127.0.0.1,10.0.0.0/8",
		"--expires", "2030-01-01T00:00:00Z")
	value := strings.TrimSpace(r.stdout)
	if r.code != 0 || !regexp.MustCompile(`^sk-sy-[0-9A-Za-z]{48}$`).MatchString(value) ||
		!strings.Contains(r.stderr, "cannot be shown again") {
		t.Fatalf("keys create: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	sum := sha256.Sum256([]byte(value))
	hash := hex.EncodeToString(sum[:])

	r = runCLI(t, dir, "keys", "list", "--json", "-c", cfg, "--user", "BOB@example.com")
	var keys []auth.KeyInfo
	if err := json.Unmarshal([]byte(r.stdout), &keys); err != nil || r.code != 0 {
		t.Fatalf("keys list --json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if len(keys) != 1 || keys[0].Prefix != value[:10] || keys[0].Name != "laptop" || *keys[0].QuotaMicros != 1_500_000 ||
		keys[0].RPM != 5 || keys[0].TPM != 600 || keys[0].DailyRequests != 70 || strings.Join(keys[0].Models, ",") != "m1,m2" ||
		keys[0].ExpiresAt == nil || keys[0].ExpiresAt.Year() != 2030 || keys[0].Status != "active" {
		t.Fatalf("keys = %+v", keys)
	}
	id := keys[0].ID
	table := runCLI(t, dir, "keys", "list", "-c", cfg)
	if table.code != 0 || !strings.Contains(table.stdout, value[:10]+"…") {
		t.Fatalf("keys list: exit %d\n%s", table.code, table.stdout)
	}
	for _, out := range []string{r.stdout, table.stdout} {
		if strings.Contains(out, value) || strings.Contains(out, value[10:]) || strings.Contains(out, hash) {
			t.Errorf("a listing shows the key or its hash:\n%s", out)
		}
	}

	// A gateway on the same data dir accepts the key (GET /v1/models
	// authenticates), with its group's limits.
	gw := apptest.Config(t)
	data := filepath.Join(dir, "data")
	gw.Server.DataDir = data
	gw.Database.URL = config.Secret("sqlite://" + filepath.Join(data, "switchyard.db"))
	gw.Groups = []config.Group{{Name: "default", Ratio: 1}, {Name: "vip", Ratio: 0.5, RPM: 60}}
	node := apptest.Start(t, gw)
	models := func() int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+node.Addr()+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := models(); code != http.StatusOK {
		t.Fatalf("GET /v1/models with the new key: %d", code)
	}
	// And a Directory of its own, read directly.
	db, err := store.Open(t.Context(), string(gw.Database.URL), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d, err := auth.NewDirectory(t.Context(), db, auth.DirectoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("x-api-key", value)
	k, err := d.Authenticate(req, netip.MustParseAddr("10.2.3.4"))
	if err != nil || k.Group != "vip" || k.GroupRPM != 60 || k.GroupRatioPPM != 500_000 || k.RPM != 5 {
		t.Fatalf("directory: %+v %v", k, err)
	}

	// The config flag last, as people type it.
	r = runCLI(t, dir, "keys", "revoke", strconv.FormatInt(id, 10), "-c", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "revoked key id") {
		t.Fatalf("keys revoke: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if err := d.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(req, netip.MustParseAddr("10.2.3.4")); err == nil {
		t.Fatal("revoked key accepted after Reload")
	}
	// The creation and the revocation are in the audit log, without the key.
	entries, err := audit.NewStore(db, nil).List(t.Context(), audit.Filter{Action: "keys.*"})
	if err != nil || len(entries) != 2 || entries[0].Action != "keys.revoke" || entries[1].Action != "keys.create" ||
		entries[0].Target != "key:"+strconv.FormatInt(id, 10) || entries[1].ActorEmail != "cli" ||
		strings.Contains(string(entries[1].After), value[8:]) || !strings.Contains(string(entries[1].After), `"user":"bob@example.com"`) {
		t.Fatalf("key audit entries %+v, %v", entries, err)
	}
	// The gateway notices within its 2 s poll.
	deadline := time.Now().Add(2*auth.DefaultReloadInterval + 3*time.Second)
	for models() != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the gateway still accepts the revoked key")
		}
		time.Sleep(50 * time.Millisecond)
	}

	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"keys", "revoke", "-c", cfg, "999999"}, 1, "not found"},
		{[]string{"keys", "revoke", "999999", "-c", cfg}, 1, "not found"},
		{[]string{"-c", cfg, "keys", "revoke", "999999"}, 1, "not found"},
		{[]string{"--config=" + cfg, "keys", "revoke", "abc"}, 2, "not a key id"},
		{[]string{"keys", "revoke", "1", "2", "-c", cfg}, 2, "unexpected arguments"},
		{[]string{"keys", "revoke", "-c", cfg, "abc"}, 2, "not a key id"},
		{[]string{"keys", "revoke", "-c", cfg}, 2, "missing ID"},
		{[]string{"keys", "create", "-c", cfg, "--name", "x"}, 2, "--user is required"},
		{[]string{"keys", "create", "-c", cfg, "--user", "bob@example.com"}, 2, "--name is required"},
		{[]string{"keys", "create", "-c", cfg, "--user", "bob@example.com", "--name", "x", "--quota", "-1"}, 2, "--quota"},
		{[]string{"keys", "create", "-c", cfg, "--user", "bob@example.com", "--name", "x", "--expires", "tomorrow"}, 2, "RFC 3339"},
		{[]string{"keys", "create", "-c", cfg, "--user", "bob@example.com", "--name", "laptop"}, 1, "already has a key"},
		{[]string{"keys", "create", "-c", cfg, "--user", "nobody@example.com", "--name", "x"}, 1, "user not found"},
		{[]string{"keys", "create", "-c", cfg, "--user", "bob@example.com", "--name", "x", "--ip-allow", "nowhere"}, 1, "not an IP"},
		{[]string{"users", "add", "-c", cfg}, 2, "--email is required"},
		{[]string{"users"}, 2, "unexpected arguments"},
		{[]string{"keys"}, 2, "unexpected arguments"},
	} {
		r := runCLI(t, dir, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, r.code, r.stderr, tt.code, tt.stderr)
		}
	}
}

// keys create sets a key's image response format and webhook; the webhook
// secret comes from a flag or the environment and is stored sealed.
func TestKeysImageOptions(t *testing.T) {
	dir := t.TempDir()
	cfg := tenancyConfig(t, dir)
	const fromEnv, fromFlag = "whsec-S3CRET-from-the-env", "whsec-S3CRET-from-a-flag"
	if r := runCLI(t, dir, "users", "add", "-c", cfg, "--email", "bob@example.com", "--group", "vip"); r.code != 0 {
		t.Fatalf("users add: exit %d, stderr %s", r.code, r.stderr)
	}
	create := func(env []string, args ...string) result {
		t.Helper()
		return runCLIEnv(t, dir, env, append([]string{"keys", "create", "-c", cfg, "--user", "bob@example.com"}, args...)...)
	}
	r := create([]string{"SWITCHYARD_WEBHOOK_SECRET=" + fromEnv}, "--name", "env", "--image-response-format", "url",
		"--webhook-url", "https://hooks.example.com/bob?token=abc")
	envKey := strings.TrimSpace(r.stdout)
	if r.code != 0 {
		t.Fatalf("keys create with the secret from the environment: exit %d, stderr %s", r.code, r.stderr)
	}
	r = create([]string{"SWITCHYARD_WEBHOOK_SECRET=" + fromEnv}, "--name", "flag", "--webhook-url", "https://hooks.example.com/2",
		"--webhook-secret", fromFlag)
	flagKey := strings.TrimSpace(r.stdout)
	if r.code != 0 {
		t.Fatalf("keys create with --webhook-secret: exit %d, stderr %s", r.code, r.stderr)
	}
	// The environment's secret is used only with --webhook-url.
	if r = create([]string{"SWITCHYARD_WEBHOOK_SECRET=" + fromEnv}, "--name", "plain"); r.code != 0 {
		t.Fatalf("keys create without webhook but with the variable set: exit %d, stderr %s", r.code, r.stderr)
	}
	for _, tt := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"--name", "x1", "--webhook-url", "http://10.0.0.1/h", "--webhook-secret", fromFlag}, "must be https://"},
		{[]string{"--name", "x2", "--webhook-url", "https://h.example.com/"}, "required when webhook_url is set"},
		{[]string{"--name", "x3", "--webhook-url", "https://h.example.com/", "--webhook-secret", "short"}, "too short"},
		{[]string{"--name", "x4", "--image-response-format", "png"}, `image response format "png"`},
	} {
		if r := create(nil, tt.args...); r.code != 1 || !strings.Contains(r.stderr, tt.stderr) || strings.Contains(r.stderr, fromFlag) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tt.args, r.code, r.stderr, tt.stderr)
		}
	}
	// With images.webhook_allow_private, http:// is accepted.
	lan := filepath.Join(dir, "lan.yaml")
	if err := os.WriteFile(lan, []byte("server:\n  data_dir: "+filepath.Join(dir, "data")+"\nimages:\n  webhook_allow_private: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, dir, "keys", "create", "-c", lan, "--user", "bob@example.com", "--name", "lan",
		"--webhook-url", "http://10.0.0.1/h", "--webhook-secret", fromFlag); r.code != 0 {
		t.Errorf("keys create http webhook with webhook_allow_private: exit %d, stderr %s", r.code, r.stderr)
	}

	r = runCLI(t, dir, "keys", "list", "--json", "-c", cfg)
	var keys []auth.KeyInfo
	if err := json.Unmarshal([]byte(r.stdout), &keys); err != nil || r.code != 0 {
		t.Fatalf("keys list --json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if len(keys) != 4 || keys[0].ImageResponseFormat != "url" || keys[0].WebhookURL != "https://hooks.example.com/bob?token=abc" ||
		keys[2].WebhookURL != "" || keys[2].ImageResponseFormat != "" {
		t.Fatalf("keys = %+v", keys)
	}
	table := runCLI(t, dir, "keys", "list", "-c", cfg)
	if table.code != 0 || !strings.Contains(table.stdout, "https://hooks.example.com") || strings.Contains(table.stdout, "token=abc") {
		t.Fatalf("keys list: exit %d\n%s", table.code, table.stdout)
	}
	for _, out := range []string{r.stdout, table.stdout} {
		if strings.Contains(out, fromEnv) || strings.Contains(out, fromFlag) {
			t.Errorf("a listing shows a webhook secret:\n%s", out)
		}
	}

	// At rest the secrets are sealed; a Directory with the node's key opens them.
	data := filepath.Join(dir, "data")
	db, err := store.Open(t.Context(), "sqlite://"+filepath.Join(data, "switchyard.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Read().QueryContext(t.Context(), "SELECT COALESCE(webhook_secret, '') FROM api_keys")
	if err != nil {
		t.Fatal(err)
	}
	sealed := 0
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(s, "S3CRET") {
			t.Errorf("webhook_secret stored in clear: %q", s)
		}
		if s != "" {
			sealed++
		}
	}
	rows.Close()
	if sealed != 3 {
		t.Errorf("%d sealed webhook secrets, want 3", sealed)
	}
	kr, _, err := secret.Load("", data, false)
	if err != nil {
		t.Fatal(err)
	}
	d, err := auth.NewDirectory(t.Context(), db, auth.DirectoryOptions{Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	for value, want := range map[string]string{envKey: fromEnv, flagKey: fromFlag} {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+value)
		k, err := d.Authenticate(req, netip.MustParseAddr("127.0.0.1"))
		if err != nil || string(k.WebhookSecret) != want {
			t.Errorf("key %s…: webhook secret opened = %v (%v)", value[:10], k != nil && string(k.WebhookSecret) == want, err)
		}
	}
}
