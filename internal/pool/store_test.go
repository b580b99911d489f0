package pool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

var testKey = bytes.Repeat([]byte{7}, secret.KeySize)

// openDB opens and migrates a new handle on url.
func openDB(t *testing.T, url string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

func newTestStore(t *testing.T, db *store.DB) *Store {
	t.Helper()
	kr, err := secret.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return NewStore(db, kr)
}

const (
	keyA = "sk-file-aaaaaaaaaaaaaaaaaaaaaaaa"
	keyB = "sk-file-bbbbbbbbbbbbbbbbbbbbbbbb"
)

func testChannels() []config.Channel {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	return []config.Channel{
		{Name: "alpha", Type: "openai", BaseURL: "http://up.example", Models: []string{"m1"}, Priority: 2,
			Credentials: []config.Credential{
				{Key: keyA, DailyLimit: 10, Weight: 3},
				{Key: keyB, Proxy: "socks5://127.0.0.1:1080"},
			}},
		{Name: "beta", Type: "anthropic", BaseURL: "http://up2.example", TokenURL: "http://auth.example/token",
			Models: []string{"m2"},
			Credentials: []config.Credential{
				{AccessToken: "at-file-0001", RefreshToken: "rt-file-0001", ExpiresAt: exp, Email: "Ops@Example.com"},
			}},
	}
}

func countCreds(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.Read().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM credentials").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func credsOf(recs []CredRecord, channel string) []CredRecord {
	var out []CredRecord
	for _, r := range recs {
		if r.Channel == channel {
			out = append(out, r)
		}
	}
	return out
}

func TestApplyConfig(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		s := newTestStore(t, db)
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		chs1, creds1, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatalf("second apply: %v", err)
		}
		chs2, creds2, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(chs2) != 2 || len(creds2) != 3 {
			t.Fatalf("after two applies: %d channels, %d credentials; want 2 and 3", len(chs2), len(creds2))
		}
		for i := range chs1 {
			if chs1[i].ID != chs2[i].ID {
				t.Errorf("channel ids changed: %d → %d", chs1[i].ID, chs2[i].ID)
			}
		}
		for i := range creds1 {
			if creds1[i].ID != creds2[i].ID || creds1[i].Secret != creds2[i].Secret {
				t.Errorf("credential %d changed between applies", creds1[i].ID)
			}
		}
		alpha := chs2[0]
		if alpha.Config.Name != "alpha" || !alpha.ManagedByFile || alpha.Config.Priority != 2 ||
			alpha.Config.BaseURL != "http://up.example" || alpha.Config.Credentials != nil {
			t.Errorf("alpha stored as %+v", alpha)
		}
		a := credsOf(creds2, "alpha")
		if len(a) != 2 || a[0].Secret.Key != keyA || a[0].Kind != KindKey || a[0].Options.DailyLimit != 10 ||
			a[0].Options.Weight != 3 || a[1].Options.Proxy != "socks5://127.0.0.1:1080" || !a[0].ManagedByFile ||
			a[0].Status != StatusActive || a[0].Version != 0 || a[0].ChannelID != alpha.ID {
			t.Errorf("alpha credentials = %+v", a)
		}
		b := credsOf(creds2, "beta")
		want := Secret{AccessToken: "at-file-0001", RefreshToken: "rt-file-0001",
			ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
		if len(b) != 1 || b[0].Kind != KindOAuth || b[0].Email != "Ops@Example.com" || !b[0].Secret.ExpiresAt.Equal(want.ExpiresAt) ||
			b[0].Secret.AccessToken != want.AccessToken || b[0].Secret.RefreshToken != want.RefreshToken {
			t.Errorf("beta credentials = %+v", b)
		}

		// Options and email follow the file.
		chs := testChannels()
		chs[0].Credentials[0].DailyLimit = 99
		chs[1].Credentials[0].Email = "ops@example.com"
		if err := s.ApplyConfig(ctx, chs); err != nil {
			t.Fatal(err)
		}
		_, creds3, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if creds3[0].Options.DailyLimit != 99 || creds3[2].Email != "ops@example.com" || len(creds3) != 3 {
			t.Errorf("after editing the file: %+v", creds3)
		}
	})
}

func TestApplyConfigConcurrent(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		stores := []*Store{newTestStore(t, openDB(t, url)), newTestStore(t, openDB(t, url))}
		for round := range 3 {
			start := make(chan struct{})
			errs := make([]error, len(stores))
			var wg sync.WaitGroup
			for i, s := range stores {
				wg.Go(func() {
					<-start
					errs[i] = s.ApplyConfig(ctx, testChannels())
				})
			}
			close(start)
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		db := stores[0].db
		if n := countCreds(t, db); n != 3 {
			t.Errorf("%d credential rows, want 3", n)
		}
		var n int
		if err := db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM channels").Scan(&n); err != nil || n != 2 {
			t.Errorf("%d channel rows (%v), want 2", n, err)
		}
	})
}

func TestApplyConfigKeepsRotatedSecret(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s := newTestStore(t, openDB(t, url))
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		_, creds, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		oauth := credsOf(creds, "beta")[0]
		rotated := Secret{AccessToken: "at-rotated", RefreshToken: "rt-rotated", ExpiresAt: time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)}
		if _, ok, err := s.UpdateSecret(ctx, oauth.ID, rotated, oauth.Version); err != nil || !ok {
			t.Fatalf("UpdateSecret: ok %v, %v", ok, err)
		}
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		got, err := s.LoadCredential(ctx, oauth.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Secret.AccessToken != "at-rotated" || got.Secret.RefreshToken != "rt-rotated" ||
			!got.Secret.ExpiresAt.Equal(rotated.ExpiresAt) || got.Version != 1 {
			t.Errorf("after re-applying the file: version %d, rotated secret kept = %v", got.Version,
				got.Secret.RefreshToken == "rt-rotated")
		}
		if n := countCreds(t, s.db); n != 3 {
			t.Errorf("%d credentials, want 3 (the rotated one must not be re-added)", n)
		}
	})
}

func TestApplyConfigRemovals(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s := newTestStore(t, openDB(t, url))
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		res, err := s.Import(ctx, "alpha", []ImportEntry{{Line: 1, Cred: config.Credential{Key: "sk-imported-cccccccccccc"}}})
		if err != nil || res[0].Outcome != ImportAdded {
			t.Fatalf("import: %+v, %v", res, err)
		}
		res2, err := s.Import(ctx, "beta", []ImportEntry{{Line: 1, Cred: config.Credential{AccessToken: "at-imp", RefreshToken: "rt-imp"}}})
		if err != nil || res2[0].Outcome != ImportAdded {
			t.Fatalf("import: %+v, %v", res2, err)
		}
		// keyB leaves the file, and so does the whole beta channel.
		chs := testChannels()[:1]
		chs[0].Credentials = chs[0].Credentials[:1]
		// The file also lists the imported key: the imported row stays
		// imported and untouched.
		chs[0].Credentials = append(chs[0].Credentials, config.Credential{Key: "sk-imported-cccccccccccc", DailyLimit: 5})
		for range 2 {
			if err := s.ApplyConfig(ctx, chs); err != nil {
				t.Fatal(err)
			}
		}
		stored, creds, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, c := range credsOf(creds, "alpha") {
			keys = append(keys, c.Secret.Key)
		}
		if want := []string{keyA, "sk-imported-cccccccccccc"}; !slices.Equal(keys, want) {
			t.Errorf("alpha keys = %q, want %q", keys, want)
		}
		imp, err := s.LoadCredential(ctx, res[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if imp.ManagedByFile || imp.Options.DailyLimit != 0 {
			t.Errorf("imported credential was taken over by the file: %+v", imp)
		}
		if len(stored) != 2 || stored[1].Config.Name != "beta" || !stored[1].Config.Disabled || stored[0].Config.Disabled {
			t.Errorf("channels = %+v; want beta kept and disabled", stored)
		}
		if b := credsOf(creds, "beta"); len(b) != 2 {
			t.Errorf("beta credentials = %d, want both kept", len(b))
		}
		// Back in the file, the channel is enabled again.
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		stored, _, err = s.Load(ctx)
		if err != nil || stored[1].Config.Disabled {
			t.Errorf("beta still disabled after returning to the file (%v)", err)
		}
	})
}

func TestImport(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s := newTestStore(t, openDB(t, url))
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		text := "# keys from the vendor\n" +
			"sk-import-1111111111111111\n" +
			"\n" +
			"sk-import-2222222222222222\n" +
			"sk-import-1111111111111111\n" + // duplicate inside the file
			"sk-bad key-3333\n" +
			keyA + "\n" // already in the configuration file
		entries, err := ParseImport(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Import(ctx, "alpha", entries)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]string, len(res))
		for i, r := range res {
			got[i] = fmt.Sprintf("%d:%s:%s", r.Line, r.Outcome, r.Reason)
		}
		want := []string{"2:added:", "4:added:", "5:duplicate:", "6:invalid:key contains whitespace", "7:duplicate:"}
		if !slices.Equal(got, want) {
			t.Errorf("results = %q\nwant      %q", got, want)
		}
		if res[2].ID != res[0].ID || res[0].ID == 0 || res[1].ID == res[0].ID {
			t.Errorf("ids = %d %d %d", res[0].ID, res[1].ID, res[2].ID)
		}
		rec, err := s.LoadCredential(ctx, res[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.ManagedByFile || rec.Secret.Key != "sk-import-2222222222222222" || rec.Kind != KindKey || rec.Options.Weight != 1 {
			t.Errorf("imported = %+v", rec)
		}
		again, err := s.Import(ctx, "alpha", entries)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range again {
			if r.Outcome == ImportAdded {
				t.Errorf("line %d added again", r.Line)
			}
		}
		if n := countCreds(t, s.db); n != 5 {
			t.Errorf("%d credentials, want 5", n)
		}

		// OAuth needs a token_url on the channel.
		oauth := []ImportEntry{{Line: 1, Cred: config.Credential{AccessToken: "at-x", RefreshToken: "rt-x"}}}
		res, err = s.Import(ctx, "alpha", oauth)
		if err != nil || res[0].Outcome != ImportInvalid || res[0].Reason != "channel alpha has no token_url" {
			t.Errorf("oauth into alpha: %+v, %v", res, err)
		}
		res, err = s.Import(ctx, "beta", oauth)
		if err != nil || res[0].Outcome != ImportAdded {
			t.Errorf("oauth into beta: %+v, %v", res, err)
		}

		_, err = s.Import(ctx, "gamma", entries)
		if err == nil || !strings.Contains(err.Error(), `"gamma"`) || !strings.Contains(err.Error(), "alpha, beta") {
			t.Errorf("unknown channel: %v", err)
		}
	})
}

func TestImportConcurrent(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		first := newTestStore(t, openDB(t, url))
		if err := first.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		var entries []ImportEntry
		for i := range 20 {
			entries = append(entries, ImportEntry{Line: i + 1, Cred: config.Credential{Key: config.Secret(fmt.Sprintf("sk-conc-%020d", i))}})
		}
		const importers = 4
		results := make([][]ImportResult, importers)
		errs := make([]error, importers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range importers {
			s := first
			if i > 0 {
				s = newTestStore(t, openDB(t, url)) // as if from other processes
			}
			wg.Go(func() {
				<-start
				results[i], errs[i] = s.Import(ctx, "alpha", entries)
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		added := map[int64]int{}
		for _, rs := range results {
			for _, r := range rs {
				if r.Outcome == ImportAdded {
					added[r.ID]++
				}
			}
		}
		if len(added) != 20 {
			t.Errorf("%d distinct credentials added, want 20", len(added))
		}
		for id, n := range added {
			if n != 1 {
				t.Errorf("credential %d reported added %d times", id, n)
			}
		}
		if n := countCreds(t, first.db); n != 23 {
			t.Errorf("%d credentials stored, want 23", n)
		}
	})
}

func TestUpdateSecretCAS(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s := newTestStore(t, openDB(t, url))
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		_, creds, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := credsOf(creds, "beta")[0].ID
		v, ok, err := s.UpdateSecret(ctx, id, Secret{AccessToken: "at-2", RefreshToken: "rt-2"}, 0)
		if err != nil || !ok || v != 1 {
			t.Fatalf("first update: v%d ok %v err %v", v, ok, err)
		}
		if _, ok, err := s.UpdateSecret(ctx, id, Secret{AccessToken: "at-lost", RefreshToken: "rt-lost"}, 0); err != nil || ok {
			t.Fatalf("stale update: ok %v err %v; want refused", ok, err)
		}
		// Two writers racing from the same version: exactly one wins.
		var wins sync.Map
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				_, ok, err := s.UpdateSecret(ctx, id, Secret{AccessToken: fmt.Sprintf("at-r%d", i), RefreshToken: "rt-r"}, 1)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Store(i, true)
				}
			})
		}
		wg.Wait()
		n := 0
		winner := -1
		wins.Range(func(k, _ any) bool { n++; winner = k.(int); return true })
		if n != 1 {
			t.Fatalf("%d writers won the same version, want 1", n)
		}
		got, err := s.LoadCredential(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 || got.Secret.AccessToken != fmt.Sprintf("at-r%d", winner) {
			t.Errorf("stored version %d, winner's token kept = %v", got.Version, got.Secret.AccessToken == fmt.Sprintf("at-r%d", winner))
		}
		if _, ok, err := s.UpdateSecret(ctx, 1<<40, Secret{Key: "x"}, 0); err != nil || ok {
			t.Errorf("missing credential: ok %v err %v", ok, err)
		}
		if _, err := s.LoadCredential(ctx, 1<<40); !errors.Is(err, ErrCredentialNotFound) {
			t.Errorf("LoadCredential of a missing id: %v", err)
		}
	})
}

func TestSetStatus(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s := newTestStore(t, openDB(t, url))
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		_, creds, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		long := strings.Repeat("é", maxLastError) // cut inside a rune must stay valid UTF-8
		if err := s.SetStatus(ctx, creds[0].ID, StatusDisabled, "401: "+long); err != nil {
			t.Fatal(err)
		}
		got, err := s.LoadCredential(ctx, creds[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != StatusDisabled || !strings.HasPrefix(got.LastError, "401: é") || len(got.LastError) > maxLastError {
			t.Errorf("status %q, last_error of %d bytes", got.Status, len(got.LastError))
		}
		// A file re-apply does not revive it: status is the pool's.
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.LoadCredential(ctx, creds[0].ID); got.Status != StatusDisabled {
			t.Errorf("status after re-apply = %q", got.Status)
		}
		if err := s.SetStatus(ctx, creds[0].ID, StatusActive, ""); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.LoadCredential(ctx, creds[0].ID); got.Status != StatusActive || got.LastError != "" {
			t.Errorf("after enabling: %q %q", got.Status, got.LastError)
		}
	})
}

func TestSecretsAtRest(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s := newTestStore(t, openDB(t, url))
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		rows, err := s.db.Read().QueryContext(ctx, "SELECT fingerprint, sealed, options FROM credentials")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		plainSHA := sha256.Sum256([]byte(keyA))
		prefixedSHA := sha256.Sum256([]byte("key:" + keyA))
		n := 0
		for rows.Next() {
			var fp, opts string
			var sealed []byte
			if err := rows.Scan(&fp, &sealed, &opts); err != nil {
				t.Fatal(err)
			}
			n++
			for _, plain := range []string{keyA, keyB, "at-file-0001", "rt-file-0001"} {
				if bytes.Contains(sealed, []byte(plain)) || strings.Contains(opts, plain) || strings.Contains(fp, plain) {
					t.Errorf("a stored row holds a plaintext secret")
				}
			}
			if fp == hex.EncodeToString(plainSHA[:]) || fp == hex.EncodeToString(prefixedSHA[:]) {
				t.Errorf("fingerprint is a plain SHA-256 of the key")
			}
			if len(fp) != 64 {
				t.Errorf("fingerprint %q is not 64 hex characters", fp)
			}
		}
		if err := rows.Err(); err != nil || n != 3 {
			t.Fatalf("%d rows, %v", n, err)
		}

		// Another key opens nothing, and says so instead of returning garbage.
		other, err := secret.New(bytes.Repeat([]byte{8}, secret.KeySize))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := NewStore(s.db, other).Load(ctx); !errors.Is(err, secret.ErrOpen) {
			t.Errorf("load with another key: %v, want ErrOpen", err)
		}
	})
}

func TestFingerprintIdentity(t *testing.T) {
	kr, err := secret.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{kr: kr, fpKey: kr.Subkey(fingerprintPurpose)}
	fp := func(c config.Credential) string { return s.fingerprint(c) }
	if fp(config.Credential{AccessToken: "a1", RefreshToken: "r1", Email: "X@Y.z"}) !=
		fp(config.Credential{AccessToken: "a2", RefreshToken: "r2", Email: "x@y.Z"}) {
		t.Error("an OAuth credential with an email is identified by the email, case-insensitively")
	}
	if fp(config.Credential{AccessToken: "a1", RefreshToken: "r1"}) != fp(config.Credential{AccessToken: "a2", RefreshToken: "r1"}) {
		t.Error("without an email, the refresh token identifies an OAuth credential")
	}
	if fp(config.Credential{AccessToken: "a1"}) == fp(config.Credential{AccessToken: "a2"}) {
		t.Error("access-token-only credentials with different tokens collide")
	}
	if fp(config.Credential{Key: "k"}) == fp(config.Credential{AccessToken: "k"}) {
		t.Error("a key and an access token with the same text collide")
	}
	other, _ := secret.New(bytes.Repeat([]byte{9}, secret.KeySize))
	s2 := &Store{kr: other, fpKey: other.Subkey(fingerprintPurpose)}
	if s2.fingerprint(config.Credential{Key: "k"}) == fp(config.Credential{Key: "k"}) {
		t.Error("the fingerprint does not depend on the secret key")
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	rec := CredRecord{ID: 1, Secret: Secret{Key: "sk-visible-key", AccessToken: "at-visible", RefreshToken: "rt-visible"}}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "rec", rec, "secret", rec.Secret)
	js, _ := json.Marshal(rec)
	out := string(js) + logged.String()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		out += fmt.Sprintf(verb, rec) + fmt.Sprintf(verb, rec.Secret)
	}
	for _, s := range []string{"sk-visible-key", "at-visible", "rt-visible", hex.EncodeToString([]byte("sk-visible-key"))} {
		if strings.Contains(out, s) {
			t.Errorf("secret %q printed in %s", s, out)
		}
	}
}

func TestParseImport(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // "line:key-or-token|err"
		wantErr  string
	}{
		{name: "text", in: "# c\n\n sk-one-1111 \r\nsk-two-2222\n", want: []string{"3:sk-one-1111", "4:sk-two-2222"}},
		{name: "text whitespace", in: "sk-a b\n", want: []string{"1|key contains whitespace"}},
		{name: "text control", in: "sk-a\x01b\n", want: []string{"1|key contains a control character"}},
		{name: "text long", in: strings.Repeat("k", 4097), want: []string{"1|key longer than 4096 bytes"}},
		{name: "text max", in: strings.Repeat("k", 4096), want: []string{"1:" + strings.Repeat("k", 4096)}},
		{name: "text bad utf8", in: "sk-\xff\n", want: []string{"1|key is not valid UTF-8"}},
		{name: "empty", in: "", want: nil},
		{name: "json keys", in: ` [{"key":"sk-j1"},{"key":"sk-j2","weight":2,"daily_limit":5,"proxy":"http://p:1"}]`,
			want: []string{"1:sk-j1", "2:sk-j2"}},
		{name: "json oauth", in: `[{"access_token":"at1","refresh_token":"rt1","expires_at":"2030-01-02T03:04:05Z","email":"a@b.c"}]`,
			want: []string{"1:at1"}},
		{name: "json empty array", in: `[]`, want: []string{}},
		{name: "json unknown field", in: `[{"key":"sk-1","colour":"red"}]`, want: []string{`1|unknown field "colour"`}},
		{name: "json no credential", in: `[{"email":"a@b.c"}]`, want: []string{"1|empty: set key (an API key) or access_token (an OAuth token)"}},
		{name: "json both", in: `[{"key":"k","access_token":"a"}]`, want: []string{"1|set either key or access_token/refresh_token, not both"}},
		{name: "json rt alone", in: `[{"refresh_token":"r"}]`, want: []string{"1|refresh_token goes with access_token"}},
		{name: "json negative weight", in: `[{"key":"k","weight":-1}]`, want: []string{"1|weight -1 is negative"}},
		{name: "json negative limit", in: `[{"key":"k","daily_tokens":-5}]`, want: []string{"1|daily_tokens -5 is negative"}},
		{name: "json negative spend", in: `[{"key":"k","daily_spend":-0.5}]`, want: []string{"1|daily_spend must be 0 (no limit) or more"}},
		{name: "json bad proxy", in: `[{"key":"k","proxy":"ftp://p:1"}]`, want: []string{"1|proxy scheme must be http, https or socks5"}},
		{name: "json proxy not url", in: `[{"key":"k","proxy":"p"}]`, want: []string{"1|proxy is not a URL such as http://host:3128"}},
		{name: "json wrong type", in: `[{"key":123}]`, want: []string{"1|field key: want string, found number"}},
		{name: "json bad time", in: `[{"access_token":"a","expires_at":"tomorrow"}]`,
			want: []string{"1|field expires_at: want an RFC 3339 time such as 2030-01-02T15:04:05Z"}},
		{name: "json not object", in: `["sk-1", null, {"key":"sk-2"}]`, want: []string{"1|not a JSON object", "2|not a JSON object", "3:sk-2"}},
		{name: "json token whitespace", in: `[{"access_token":"a\nb"}]`, want: []string{"1|access_token contains whitespace"}},
		{name: "json malformed", in: `[{"key":"k"},]`, wantErr: "malformed JSON at byte offset 14"},
		{name: "json truncated", in: `[{"key":"k"}`, wantErr: "malformed JSON at byte offset"},
		{name: "json trailing", in: `[{"key":"k"}] x`, wantErr: "after the JSON array"},
		{name: "json object", in: `[1`, wantErr: "byte offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := ParseImport(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if tt.want != nil {
				got = []string{}
			}
			for _, e := range entries {
				if e.Err != nil {
					got = append(got, fmt.Sprintf("%d|%v", e.Line, e.Err))
					continue
				}
				v := e.Cred.Key.Value()
				if v == "" {
					v = e.Cred.AccessToken.Value()
				}
				got = append(got, fmt.Sprintf("%d:%s", e.Line, v))
				if e.Cred.Weight < 1 {
					t.Errorf("line %d: weight %d, want ≥ 1", e.Line, e.Cred.Weight)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}

	entries, err := ParseImport(strings.NewReader(`[{"key":"sk-j2","weight":2,"daily_limit":5,"daily_tokens":6,"daily_spend":1.5,"proxy":"http://p:1"},` +
		`{"access_token":"at1","refresh_token":"rt1","expires_at":"2030-01-02T03:04:05+02:00","email":"a@b.c"}]`))
	if err != nil {
		t.Fatal(err)
	}
	k, o := entries[0].Cred, entries[1].Cred
	if k.Weight != 2 || k.DailyLimit != 5 || k.DailyTokens != 6 || k.DailySpend != 1.5 || k.Proxy != "http://p:1" {
		t.Errorf("key options = %+v", k)
	}
	if o.RefreshToken.Value() != "rt1" || o.Email != "a@b.c" || !o.ExpiresAt.Equal(time.Date(2030, 1, 2, 1, 4, 5, 0, time.UTC)) {
		t.Errorf("oauth entry = %+v", o)
	}
}

func FuzzParseImport(f *testing.F) {
	for _, s := range []string{
		"sk-one\nsk-two\n# c\n", `[{"key":"sk-1"}]`, `[{"access_token":"a","refresh_token":"r","expires_at":"2030-01-02T03:04:05Z"}]`,
		`[{"key":"k","weight":-1,"proxy":"socks5://h:1"}]`, "[", " [1,2]", "\xef\xbb\xbf[{}]", "a\x00b",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		entries, err := ParseImport(bytes.NewReader(in))
		if err != nil {
			return
		}
		prev := 0
		for _, e := range entries {
			if e.Line <= prev {
				t.Fatalf("lines not increasing: %d after %d", e.Line, prev)
			}
			prev = e.Line
			if e.Err != nil {
				continue
			}
			if err := validateCredential(e.Cred); err != nil {
				t.Fatalf("line %d accepted but invalid: %v", e.Line, err)
			}
			if e.Cred.Weight < 1 {
				t.Fatalf("line %d: weight %d", e.Line, e.Cred.Weight)
			}
			for _, v := range []string{e.Cred.Key.Value(), e.Cred.AccessToken.Value(), e.Cred.RefreshToken.Value()} {
				if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
					t.Fatalf("line %d: accepted a value with whitespace or control characters", e.Line)
				}
			}
		}
	})
}

func TestBuildViews(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	creds := []CredRecord{
		{ID: 1, Channel: "a", Kind: KindKey, Secret: Secret{Key: "sk-abcdefghijklmnopqrstuvwxyz"}, Status: StatusActive},
		{ID: 2, Channel: "a", Kind: KindKey, Secret: Secret{Key: "sk-short"}, Status: StatusDisabled, LastError: "401 from upstream"},
		{ID: 3, Channel: "b", Kind: KindOAuth, Email: "o@x", Secret: Secret{AccessToken: "at-0123456789abcdef"}, Status: StatusActive},
		{ID: 4, Channel: "b", Kind: KindKey, Secret: Secret{Key: "sk-0123456789abcdef"}, Status: StatusActive},
	}
	snaps := []Snap{
		{ID: 1, CooldownUntil: now.Add(time.Minute), UsesToday: 7, EWMA: 1500 * time.Microsecond, Leases: 2},
		{ID: 3, OpenUntil: now.Add(time.Second), Failures: 5},
		{ID: 4, OpenUntil: now.Add(-time.Second), LastError: "502 bad gateway"},
	}
	v := BuildViews(creds, snaps, now)
	if len(v) != 4 {
		t.Fatalf("%d views", len(v))
	}
	if v[0].Hint != "sk-…wxyz" || v[1].Hint != "…" || v[2].Hint != "at-…cdef" {
		t.Errorf("hints = %q %q %q", v[0].Hint, v[1].Hint, v[2].Hint)
	}
	if v[0].Status != "cooldown" || v[0].UsesToday != 7 || v[0].EWMATTFBMillis != 1.5 || v[0].Leases != 2 || v[0].Circuit != "closed" {
		t.Errorf("view 1 = %+v", v[0])
	}
	if v[1].Status != StatusDisabled || v[1].DisabledReason != "401 from upstream" {
		t.Errorf("view 2 = %+v", v[1])
	}
	if v[2].Status != "circuit_open" || v[2].Circuit != "open" || v[2].ConsecutiveFailures != 5 {
		t.Errorf("view 3 = %+v", v[2])
	}
	if v[3].Status != StatusActive || v[3].Circuit != "half_open" || v[3].LastError != "502 bad gateway" {
		t.Errorf("view 4 = %+v", v[3])
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"abcdefghijklmnop", "sk-short", "0123456789"} {
		if bytes.Contains(js, []byte(s)) {
			t.Errorf("views JSON holds secret text %q", s)
		}
	}
	if v := BuildViews(creds[:1], nil, now); v[0].Status != StatusActive || v[0].Circuit != "closed" {
		t.Errorf("without snapshots: %+v", v[0])
	}
}
