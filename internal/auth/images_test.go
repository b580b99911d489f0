package auth

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

const (
	hookSecretA = "whsec-S3CRET-aaaaaaaaaaaa"
	hookSecretN = "whsec-S3CRET-nnnnnnnnnnnn"
	valueC      = "sk-file-cccccccccccccccccccccccc"
)

func testKeyring(t testing.TB, fill byte) *secret.Keyring {
	t.Helper()
	kr, err := secret.New(bytes.Repeat([]byte{fill}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func imageGroups() []config.Group {
	return []config.Group{{Name: "default", Ratio: 1}, {Name: "vip", Ratio: 1, ImageResponseFormat: "b64_json"}}
}

func imageKeys() []config.Key {
	return []config.Key{
		// No format of its own: its group's (b64_json).
		{Name: "a", User: "alice@example.com", Key: valueA, WebhookURL: "https://hooks.example.com/a?team=1", WebhookSecret: hookSecretA},
		// Its own format wins over the group's.
		{Name: "b", User: "alice@example.com", Key: valueB, ImageResponseFormat: "url"},
		// Neither the key nor its group (default) sets one.
		{Name: "c", User: "ops@example.com", Key: valueC},
	}
}

func authKey(t *testing.T, d *Directory, value string) *Key {
	t.Helper()
	k, err := d.Authenticate(bearer(value), netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatalf("authenticate %s…: %v", value[:10], err)
	}
	return k
}

func storedSecret(t *testing.T, db *store.DB, name string) sql.NullString {
	t.Helper()
	var s sql.NullString
	if err := db.Read().QueryRowContext(t.Context(), db.Dialect().Rebind("SELECT webhook_secret FROM api_keys WHERE name = ?"), name).Scan(&s); err != nil {
		t.Fatalf("read webhook_secret of %s: %v", name, err)
	}
	return s
}

func TestImageOptions(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		kr := testKeyring(t, 7)
		users := []config.User{{Email: "alice@example.com", Group: "vip"}}

		// Without a keyring a webhook secret is refused, never stored in clear.
		if err := NewStore(db, nil).ApplyConfig(ctx, imageGroups(), users, imageKeys()); err == nil ||
			!strings.Contains(err.Error(), "no secret key") {
			t.Fatalf("ApplyConfig without keyring = %v, want a refusal", err)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM api_keys WHERE webhook_secret IS NOT NULL"); n != 0 {
			t.Fatalf("%d webhook secrets stored without a keyring", n)
		}

		s := NewStore(db, nil).WithKeyring(kr)
		for range 2 { // idempotent, resealed at each start
			if err := s.ApplyConfig(ctx, imageGroups(), users, imageKeys()); err != nil {
				t.Fatal(err)
			}
		}
		if n := count(t, db, "SELECT COUNT(*) FROM user_groups WHERE name = 'vip' AND image_response_format = 'b64_json'"); n != 1 {
			t.Errorf("vip group image_response_format not stored")
		}

		// At rest: sealed, bound to the row, never the plaintext.
		sa := storedSecret(t, db, "a")
		raw, err := base64.StdEncoding.DecodeString(sa.String)
		if !sa.Valid || err != nil || strings.Contains(sa.String, hookSecretA) || bytes.Contains(raw, []byte(hookSecretA)) {
			t.Fatalf("webhook_secret of a at rest = %q (%v): want a sealed value without the plaintext", sa.String, err)
		}
		if sb := storedSecret(t, db, "b"); sb.Valid && sb.String != "" {
			t.Errorf("key b without webhook has webhook_secret %q", sb.String)
		}

		keys, err := s.ListKeys(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if a := keyByName(t, keys, "a"); a.WebhookURL != "https://hooks.example.com/a?team=1" || a.ImageResponseFormat != "" {
			t.Errorf("listed a: %+v", a)
		}
		if b := keyByName(t, keys, "b"); b.WebhookURL != "" || b.ImageResponseFormat != "url" {
			t.Errorf("listed b: %+v", b)
		}

		d, err := NewDirectory(ctx, db, DirectoryOptions{Keyring: kr})
		if err != nil {
			t.Fatal(err)
		}
		a := authKey(t, d, valueA)
		if a.ImageResponseFormat != "b64_json" || a.WebhookURL != "https://hooks.example.com/a?team=1" || string(a.WebhookSecret) != hookSecretA {
			t.Errorf("key a loaded: format %q url %q secret ok %v", a.ImageResponseFormat, a.WebhookURL, string(a.WebhookSecret) == hookSecretA)
		}
		if b := authKey(t, d, valueB); b.ImageResponseFormat != "url" || b.WebhookURL != "" || b.WebhookSecret != nil {
			t.Errorf("key b loaded: %q %q", b.ImageResponseFormat, b.WebhookURL)
		}
		if c := authKey(t, d, valueC); c.ImageResponseFormat != "" || c.WebhookURL != "" {
			t.Errorf("key c loaded: %q %q", c.ImageResponseFormat, c.WebhookURL)
		}

		if k := d.ByID(a.ID); k != a {
			t.Errorf("ByID(%d) = %p, want the loaded key a %p", a.ID, k, a)
		}
		if k := d.ByID(a.ID + 1000); k != nil {
			t.Errorf("ByID(unknown) = %+v, want nil", k)
		}

		// Without the keyring, or with another one, the key still works but
		// its webhook is off.
		for name, o := range map[string]DirectoryOptions{"no keyring": {}, "other keyring": {Keyring: testKeyring(t, 8)}} {
			d2, err := NewDirectory(ctx, db, o)
			if err != nil {
				t.Fatal(err)
			}
			if k := authKey(t, d2, valueA); k.WebhookURL != "" || k.WebhookSecret != nil || k.ImageResponseFormat != "b64_json" {
				t.Errorf("%s: key a loaded with webhook %q", name, k.WebhookURL)
			}
		}

		// A sealed value copied to another key's row does not open there.
		if _, err := db.Write().ExecContext(ctx, db.Dialect().Rebind("UPDATE api_keys SET webhook_url = ?, webhook_secret = ? WHERE name = ?"),
			"https://evil.example.com/", sa.String, "c"); err != nil {
			t.Fatal(err)
		}
		if err := d.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if c := authKey(t, d, valueC); c.WebhookURL != "" || c.WebhookSecret != nil {
			t.Errorf("swapped secret opened on key c: %q", c.WebhookURL)
		}

		// The file drops a's webhook and the group's format: both go.
		groups, keys2 := imageGroups(), imageKeys()
		groups[1].ImageResponseFormat = ""
		keys2[0].WebhookURL, keys2[0].WebhookSecret = "", ""
		if err := s.ApplyConfig(ctx, groups, users, keys2); err != nil {
			t.Fatal(err)
		}
		if sa := storedSecret(t, db, "a"); sa.Valid {
			t.Errorf("webhook_secret of a kept after the file removed it: %q", sa.String)
		}
		if err := d.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if a := authKey(t, d, valueA); a.WebhookURL != "" || a.ImageResponseFormat != "" {
			t.Errorf("key a after removal: %q %q", a.WebhookURL, a.ImageResponseFormat)
		}

		t.Run("CreateKey", func(t *testing.T) { testCreateKeyImageOptions(t, db, kr) })
	})
}

func testCreateKeyImageOptions(t *testing.T, db *store.DB, kr *secret.Keyring) {
	ctx := t.Context()
	s := NewStore(db, nil).WithKeyring(kr)
	bad := []struct {
		name   string
		nk     NewKey
		phrase string
	}{
		{"format", NewKey{ImageResponseFormat: "png"}, `image response format "png"`},
		{"http webhook", NewKey{WebhookURL: "http://10.0.0.1/h", WebhookSecret: hookSecretN}, "must be https://"},
		{"webhook without secret", NewKey{WebhookURL: "https://h.example.com/"}, "required when webhook_url is set"},
		{"short secret", NewKey{WebhookURL: "https://h.example.com/", WebhookSecret: "short"}, "too short"},
		{"secret without webhook", NewKey{WebhookSecret: hookSecretN}, "set without webhook_url"},
	}
	for _, b := range bad {
		b.nk.User, b.nk.Name = "alice@example.com", "bad-"+b.name
		if _, _, err := s.CreateKey(ctx, b.nk); err == nil || !strings.Contains(err.Error(), b.phrase) {
			t.Errorf("%s: CreateKey = %v, want an error containing %q", b.name, err, b.phrase)
		}
	}
	nk := NewKey{User: "alice@example.com", Name: "hooked", WebhookURL: "https://h.example.com/n", WebhookSecret: hookSecretN}
	if _, _, err := NewStore(db, nil).CreateKey(ctx, nk); err == nil || !strings.Contains(err.Error(), "no secret key") {
		t.Errorf("CreateKey with a webhook secret and no keyring = %v", err)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM api_keys WHERE name = 'hooked'"); n != 0 {
		t.Fatalf("a refused key was stored")
	}
	value, info, err := s.CreateKey(ctx, nk)
	if err != nil {
		t.Fatal(err)
	}
	if info.WebhookURL != nk.WebhookURL {
		t.Errorf("info: %+v", info)
	}
	stored := storedSecret(t, db, "hooked")
	if !stored.Valid || strings.Contains(stored.String, hookSecretN) {
		t.Fatalf("webhook_secret at rest = %q", stored.String)
	}
	plainValue, _, err := s.CreateKey(ctx, NewKey{User: "alice@example.com", Name: "lan", ImageResponseFormat: "url",
		WebhookURL: "http://10.0.0.1/h", WebhookSecret: hookSecretN, WebhookAllowHTTP: true})
	if err != nil {
		t.Fatalf("CreateKey with http and WebhookAllowHTTP: %v", err)
	}
	d, err := NewDirectory(ctx, db, DirectoryOptions{Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	k := authKey(t, d, value)
	if k.WebhookURL != nk.WebhookURL || string(k.WebhookSecret) != hookSecretN || k.ImageResponseFormat != "" {
		t.Errorf("created key loaded: %q %q", k.WebhookURL, k.ImageResponseFormat)
	}
	// Alice is in vip (b64_json until the file dropped it above): the
	// key's own format is used.
	if k := authKey(t, d, plainValue); k.ImageResponseFormat != "url" || k.WebhookURL != "http://10.0.0.1/h" {
		t.Errorf("lan key loaded: %q %q", k.WebhookURL, k.ImageResponseFormat)
	}
}

func TestByIDRevokedAndExpired(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	keys := []config.Key{
		{Name: "live", User: "alice@example.com", Key: valueA},
		{Name: "old", User: "alice@example.com", Key: valueB, ExpiresAt: now.Add(-time.Second)},
	}
	db := openDB(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"))
	s := NewStore(db, nil)
	if err := s.ApplyConfig(t.Context(), nil, nil, keys); err != nil {
		t.Fatal(err)
	}
	d, err := NewDirectory(t.Context(), db, DirectoryOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.ListKeys(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	live, old := keyByName(t, list, "live"), keyByName(t, list, "old")
	if k := d.ByID(live.ID); k == nil || k.Name != "live" {
		t.Fatalf("ByID(live) = %v", k)
	}
	if k := d.ByID(old.ID); k != nil {
		t.Errorf("ByID(expired) = %v, want nil", k.Name)
	}
	if err := s.RevokeKey(t.Context(), live.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if k := d.ByID(live.ID); k != nil {
		t.Errorf("ByID(revoked) = %v, want nil", k.Name)
	}
}

func TestSecretBytesNeverPrints(t *testing.T) {
	k := Key{ID: 7, WebhookURL: "https://hooks.example.com/x", WebhookSecret: SecretBytes("super-secret-webhook-key")}
	for _, s := range []string{fmt.Sprintf("%v", k), fmt.Sprintf("%+v", &k), fmt.Sprintf("%#v", k), fmt.Sprintf("%s %x", k.WebhookSecret, k.WebhookSecret)} {
		if strings.Contains(s, "super-secret") || strings.Contains(s, hex.EncodeToString([]byte("super-secret"))) {
			t.Errorf("secret printed: %s", s)
		}
	}
}
