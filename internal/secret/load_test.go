package secret

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

const validHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func TestLoadFromSetting(t *testing.T) {
	cases := []struct {
		name      string
		hex       string
		multiNode bool
		wantErr   string // "" for success
	}{
		{"valid", validHex, false, ""},
		{"valid multi-node", validHex, true, ""},
		{"upper case", strings.ToUpper(validHex), true, ""},
		{"trailing newline from a file", validHex + "\n", false, ""},
		{"too short", validHex[:62], false, "must be 64 hex characters"},
		{"too long", validHex + "00", false, "must be 64 hex characters"},
		{"not hex", strings.Repeat("zz", 32), false, "must be 64 hex characters"},
		{"base64 by mistake", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", true, "openssl rand -hex 32"},
		{"multi-node without a key", "", true, "required when several nodes share state"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			k, generated, err := Load(c.hex, dir, c.multiNode)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, c.wantErr)
				}
				if c.hex != "" && strings.Contains(err.Error(), strings.TrimSpace(c.hex)) {
					t.Errorf("error echoes the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if generated {
				t.Error("generated = true for a configured key")
			}
			want, _ := New(mustHex(t, validHex))
			if k.Fingerprint() != want.Fingerprint() {
				t.Error("keyring does not hold the configured key")
			}
			if _, err := os.Stat(filepath.Join(dir, FileName)); !os.IsNotExist(err) {
				t.Errorf("a configured key was written to disk (stat: %v)", err)
			}
		})
	}
}

func TestLoadGeneratesThenReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	k1, generated, err := Load("", dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if !generated {
		t.Error("generated = false on first start")
	}
	path := filepath.Join(dir, FileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("key file mode = %04o, want 0600", perm)
		}
		if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
			t.Errorf("data dir mode = %04o, want 0700", di.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only %s (temporary file left behind?)", len(entries), FileName)
	}

	k2, generated, err := Load("", dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if generated {
		t.Error("generated = true on second start")
	}
	if k1.Fingerprint() != k2.Fingerprint() {
		t.Error("second Load returned a different key")
	}
	sealed, _ := k1.Seal([]byte("v"), nil)
	if _, err := k2.Open(sealed, nil); err != nil {
		t.Errorf("value sealed before restart does not open after: %v", err)
	}

	// The file's content is the same form as SWITCHYARD_SECRET_KEY.
	b, _ := os.ReadFile(path)
	k3, _, err := Load(string(b), t.TempDir(), true)
	if err != nil || k3.Fingerprint() != k1.Fingerprint() {
		t.Errorf("file content used as secret_key: %v (same key: %v)", err, err == nil && k3.Fingerprint() == k1.Fingerprint())
	}
}

func TestLoadConcurrentFirstStart(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	fps := make([]string, n)
	gens := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, gen, err := Load("", dir, false)
			if err == nil {
				fps[i], gens[i] = k.Fingerprint(), gen
			}
			errs[i] = err
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Load %d: %v", i, errs[i])
		}
		if fps[i] != fps[0] {
			t.Errorf("Load %d got another key than Load 0", i)
		}
		if gens[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d callers report generating the key, want exactly 1", winners)
	}
}

func TestLoadRefusesExposedFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	cases := []struct {
		mode    os.FileMode
		wantErr bool
	}{
		{0o600, false},
		{0o400, false},
		{0o640, true},
		{0o644, true},
		{0o604, true},
	}
	for _, c := range cases {
		t.Run(c.mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, []byte(validHex+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			_, _, err := Load("", dir, false)
			if !c.wantErr {
				if err != nil {
					t.Fatalf("mode %04o refused: %v", c.mode, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("mode %04o accepted", c.mode)
			}
			for _, want := range []string{path, "chmod 600"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestLoadRejectsCorruptFile(t *testing.T) {
	dir := t.TempDir()
	content := "not-a-key-but-secretish-" + validHex[:20]
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load("", dir, false)
	if err == nil {
		t.Fatal("corrupt key file accepted")
	}
	if strings.Contains(err.Error(), content) {
		t.Errorf("error echoes the file content: %v", err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	k, err := parseHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return k.master[:]
}
