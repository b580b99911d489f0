package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

// openDB opens and migrates a new handle on url.
func openDB(t testing.TB, url string) *store.DB {
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

const (
	valueA     = "sk-file-aaaaaaaaaaaaaaaaaaaaaaaa"
	valueB     = "sk-file-bbbbbbbbbbbbbbbbbbbbbbbb"
	valueAdmin = "sk-file-admin-000000000000000000"
)

func testGroups() []config.Group {
	return []config.Group{{Name: "default", Ratio: 1}, {Name: "vip", Ratio: 0.5, RPM: 60, TPM: 100000, DailyRequests: 5000}}
}

func testUsers() []config.User {
	return []config.User{{Email: "Alice@Example.com", Name: "Alice", Group: "vip", Role: "user"}}
}

func testKeys() []config.Key {
	quota := 2.5
	return []config.Key{
		{Name: "a", User: "alice@example.com", Key: valueA, Models: []string{"m1"}, Quota: &quota, RPM: 10, TPM: 2000,
			DailyRequests: 100, IPAllow: []string{"10.0.0.0/8", "127.0.0.1"}},
		{Name: "b", User: "alice@example.com", Key: valueB},
		// A user users: does not declare (admin.email): created in default.
		{Name: "ops", User: "ops@example.com", Key: valueAdmin, Admin: true},
	}
}

func count(t testing.TB, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Read().QueryRowContext(t.Context(), db.Dialect().Rebind(q), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func version(t testing.TB, db *store.DB) string {
	t.Helper()
	v, _, err := db.GetSetting(t.Context(), VersionSetting)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func keyByName(t testing.TB, keys []KeyInfo, name string) KeyInfo {
	t.Helper()
	for _, k := range keys {
		if k.Name == name {
			return k
		}
	}
	t.Fatalf("no key %q in %+v", name, keys)
	return KeyInfo{}
}

func TestApplyConfig(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		s := NewStore(db, nil)
		var versions []string
		for range 2 {
			if err := s.ApplyConfig(ctx, testGroups(), testUsers(), testKeys()); err != nil {
				t.Fatal(err)
			}
			versions = append(versions, version(t, db))
		}
		if versions[0] == "" || versions[0] == versions[1] {
			t.Errorf("tenancy versions %q: want a new non-empty value at each apply", versions)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM user_groups"); n != 2 {
			t.Errorf("%d groups, want 2", n)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM api_keys"); n != 3 {
			t.Errorf("%d keys, want 3", n)
		}
		var ppm, tpm int64
		var rpm, daily int
		var fromFile bool
		err := db.Read().QueryRowContext(ctx, "SELECT ratio_ppm, rpm, tpm, daily_requests, managed_by_file FROM user_groups WHERE name = 'vip'").
			Scan(&ppm, &rpm, &tpm, &daily, &fromFile)
		if err != nil || ppm != 500000 || rpm != 60 || tpm != 100000 || daily != 5000 || !fromFile {
			t.Errorf("vip group: %d %d %d %d %v (%v)", ppm, rpm, tpm, daily, fromFile, err)
		}

		users, err := s.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 2 || users[0].Email != "alice@example.com" || users[0].Group != "vip" || users[0].Name != "Alice" ||
			!users[0].ManagedByFile || users[1].Email != "ops@example.com" || users[1].Group != "default" || users[1].ManagedByFile {
			t.Errorf("users: %+v", users)
		}

		keys, err := s.ListKeys(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		a := keyByName(t, keys, "a")
		if a.User != "alice@example.com" || a.Prefix != valueA[:10] || a.Status != StatusActive || a.QuotaMicros == nil ||
			*a.QuotaMicros != 2_500_000 || a.RPM != 10 || a.TPM != 2000 || a.DailyRequests != 100 ||
			strings.Join(a.Models, ",") != "m1" || strings.Join(a.IPAllow, ",") != "10.0.0.0/8,127.0.0.1" || !a.ManagedByFile || a.Admin {
			t.Errorf("key a: %+v", a)
		}
		if b := keyByName(t, keys, "b"); b.QuotaMicros != nil || len(b.Models) != 0 || b.ExpiresAt != nil {
			t.Errorf("key b: %+v", b)
		}
		if ops := keyByName(t, keys, "ops"); !ops.Admin || ops.User != "ops@example.com" {
			t.Errorf("key ops: %+v", ops)
		}
		alice, err := s.ListKeys(ctx, "ALICE@example.com")
		if err != nil || len(alice) != 2 {
			t.Errorf("keys of alice: %d (%v), want 2", len(alice), err)
		}
		if _, err := s.ListKeys(ctx, "nobody@example.com"); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("keys of an unknown user: %v", err)
		}
	})
}

func TestApplyConfigConcurrent(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		stores := []*Store{NewStore(openDB(t, url), nil), NewStore(openDB(t, url), nil)}
		for round := range 3 {
			start := make(chan struct{})
			errs := make([]error, len(stores))
			var wg sync.WaitGroup
			for i, s := range stores {
				wg.Go(func() {
					<-start
					errs[i] = s.ApplyConfig(ctx, testGroups(), testUsers(), testKeys())
				})
			}
			close(start)
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		db := stores[0].db
		for q, want := range map[string]int{
			"SELECT COUNT(*) FROM user_groups":                      2,
			"SELECT COUNT(*) FROM users":                            2,
			"SELECT COUNT(*) FROM api_keys WHERE status = 'active'": 3,
			"SELECT COUNT(*) FROM api_keys":                         3,
		} {
			if n := count(t, db, q); n != want {
				t.Errorf("%s = %d, want %d", q, n, want)
			}
		}
	})
}

func TestApplyConfigChanges(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		s := NewStore(db, nil)
		if err := s.ApplyConfig(ctx, testGroups(), testUsers(), testKeys()); err != nil {
			t.Fatal(err)
		}
		status := func(name string) string {
			keys, err := s.ListKeys(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			return keyByName(t, keys, name).Status
		}

		// b leaves the file: revoked, not deleted. The user and groups stay.
		keys := testKeys()
		if err := s.ApplyConfig(ctx, testGroups()[:1], nil, []config.Key{keys[0], keys[2]}); err != nil {
			t.Fatal(err)
		}
		if st := status("b"); st != StatusRevoked {
			t.Errorf("key b after leaving the file: %s, want revoked", st)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM users"); n != 2 {
			t.Errorf("%d users after alice left the file, want 2", n)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM user_groups"); n != 2 {
			t.Errorf("%d groups after vip left the file, want 2", n)
		}

		// A key created outside the file is never revoked by it.
		if _, _, err := s.CreateKey(ctx, NewKey{User: "alice@example.com", Name: "cli"}); err != nil {
			t.Fatal(err)
		}
		if err := s.ApplyConfig(ctx, testGroups(), testUsers(), keys); err != nil {
			t.Fatal(err)
		}
		if st := status("cli"); st != StatusActive {
			t.Errorf("CLI key after apply: %s", st)
		}
		// b came back with the same value it was revoked with: it stays
		// revoked, like a key revoked by hand.
		if st := status("b"); st != StatusRevoked {
			t.Errorf("key b back with its old value: %s, want revoked", st)
		}
		// A new value brings it back.
		keys[1].Key = "sk-file-bbbbbbbbbbbbbbbbbbbb-new"
		if err := s.ApplyConfig(ctx, testGroups(), testUsers(), keys); err != nil {
			t.Fatal(err)
		}
		if st := status("b"); st != StatusActive {
			t.Errorf("key b with a new value: %s, want active", st)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM api_keys WHERE hash = ?", hashKey(keys[1].Key.Value())); n != 1 {
			t.Errorf("new value of b stored %d times", n)
		}

		// Renaming a key in the file follows its value: same row, new name.
		before := count(t, db, "SELECT id FROM api_keys WHERE hash = ?", hashKey(valueA))
		keys[0].Name = "a-renamed"
		if err := s.ApplyConfig(ctx, testGroups(), testUsers(), keys); err != nil {
			t.Fatal(err)
		}
		if after := count(t, db, "SELECT id FROM api_keys WHERE hash = ?", hashKey(valueA)); after != before {
			t.Errorf("renamed key moved from id %d to %d", before, after)
		}
		if st := status("a-renamed"); st != StatusActive {
			t.Errorf("renamed key: %s", st)
		}

		// A hand revocation of a file key holds over a restart.
		id := int64(count(t, db, "SELECT id FROM api_keys WHERE name = 'ops'"))
		if err := s.RevokeKey(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := s.ApplyConfig(ctx, testGroups(), testUsers(), keys); err != nil {
			t.Fatal(err)
		}
		if st := status("ops"); st != StatusRevoked {
			t.Errorf("revoked file key after apply: %s, want revoked", st)
		}
	})
}

func TestCreateUsersAndKeys(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		s := NewStore(db, func() time.Time { return now })
		if err := s.ApplyConfig(ctx, testGroups(), nil, nil); err != nil {
			t.Fatal(err)
		}
		v0 := version(t, db)
		u, err := s.CreateUser(ctx, NewUser{Email: "Bob@Example.com", Name: "Bob", Group: "vip"})
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "bob@example.com" || u.Role != "user" || u.Group != "vip" || u.Status != StatusActive {
			t.Errorf("created %+v", u)
		}
		v1 := version(t, db)
		if v1 == v0 {
			t.Error("CreateUser did not bump the tenancy version")
		}
		for _, bad := range []struct {
			nu   NewUser
			want error
		}{
			{NewUser{Email: "bob@example.com"}, ErrUserExists},
			{NewUser{Email: "carol@example.com", Group: "gold"}, ErrGroupNotFound},
		} {
			if _, err := s.CreateUser(ctx, bad.nu); !errors.Is(err, bad.want) {
				t.Errorf("CreateUser(%+v): %v, want %v", bad.nu, err, bad.want)
			}
		}
		for _, bad := range []NewUser{{Email: "not an email"}, {Email: "c@example.com", Role: "root"}} {
			if _, err := s.CreateUser(ctx, bad); err == nil {
				t.Errorf("CreateUser(%+v) accepted", bad)
			}
		}

		quota := int64(1_000_000)
		exp := now.Add(24 * time.Hour)
		value, info, err := s.CreateKey(ctx, NewKey{User: "BOB@example.com", Name: "laptop", Models: []string{"m1", "m2"},
			QuotaMicros: &quota, RPM: 5, TPM: 6, DailyRequests: 7, IPAllow: []string{"192.168.0.0/16"}, ExpiresAt: exp})
		if err != nil {
			t.Fatal(err)
		}
		if !keyPattern.MatchString(value) || info.Prefix != value[:10] || info.User != "bob@example.com" {
			t.Errorf("created %q %+v", value, info)
		}
		if version(t, db) == v1 {
			t.Error("CreateKey did not bump the tenancy version")
		}
		list, err := s.ListKeys(ctx, "bob@example.com")
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %+v %v", list, err)
		}
		got := list[0]
		if got.ID != info.ID || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) || *got.QuotaMicros != quota ||
			got.RPM != 5 || got.TPM != 6 || got.DailyRequests != 7 || got.ManagedByFile || !got.CreatedAt.Equal(now) {
			t.Errorf("listed %+v", got)
		}
		if _, _, err := s.CreateKey(ctx, NewKey{User: "bob@example.com", Name: "laptop"}); !errors.Is(err, ErrKeyExists) {
			t.Errorf("same name twice: %v", err)
		}
		if _, _, err := s.CreateKey(ctx, NewKey{User: "nobody@example.com", Name: "x"}); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("unknown user: %v", err)
		}
		for _, bad := range []NewKey{{User: "bob@example.com"}, {User: "bob@example.com", Name: "x", IPAllow: []string{"10.0.0.0/33"}},
			{User: "bob@example.com", Name: "x", RPM: -1}} {
			if _, _, err := s.CreateKey(ctx, bad); err == nil {
				t.Errorf("CreateKey(%+v) accepted", bad)
			}
		}

		if err := s.RevokeKey(ctx, info.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeKey(ctx, info.ID); err != nil {
			t.Errorf("revoking twice: %v", err)
		}
		if err := s.RevokeKey(ctx, info.ID+1000); !errors.Is(err, ErrKeyNotFound) {
			t.Errorf("revoking an unknown key: %v", err)
		}
		if err := s.SetUserStatus(ctx, "bob@example.com", StatusDisabled); err != nil {
			t.Fatal(err)
		}
		if err := s.SetUserStatus(ctx, "bob@example.com", StatusDisabled); err != nil {
			t.Errorf("disabling twice: %v", err)
		}
		if err := s.SetUserStatus(ctx, "nobody@example.com", StatusDisabled); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("unknown user: %v", err)
		}
	})
}

// The database holds the hash and a 10-character prefix, never the value.
func TestHashStoredNotPlaintext(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		s := NewStore(db, nil)
		if err := s.ApplyConfig(ctx, testGroups(), testUsers(), testKeys()); err != nil {
			t.Fatal(err)
		}
		value, _, err := s.CreateKey(ctx, NewKey{User: "alice@example.com", Name: "gen"})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{valueA, valueB, valueAdmin, value} {
			sum := sha256.Sum256([]byte(v))
			if n := count(t, db, "SELECT COUNT(*) FROM api_keys WHERE hash = ? AND prefix = ?", hex.EncodeToString(sum[:]), v[:10]); n != 1 {
				t.Errorf("%s…: %d rows with its hash and prefix, want 1", v[:10], n)
			}
			// No column of any row contains the value.
			for _, col := range []string{"name", "prefix", "hash", "models", "ip_allow"} {
				if n := count(t, db, "SELECT COUNT(*) FROM api_keys WHERE "+col+" LIKE ?", "%"+v[10:]+"%"); n != 0 {
					t.Errorf("column %s holds the value of %s…", col, v[:10])
				}
			}
		}
	})
}

var keyPattern = regexp.MustCompile(`^sk-sy-[0-9A-Za-z]{48}$`)

func TestGenerateKey(t *testing.T) {
	seen := map[string]bool{}
	var keys []string
	for range 1000 {
		k := GenerateKey()
		if !keyPattern.MatchString(k) {
			t.Fatalf("%q does not match %s", k, keyPattern)
		}
		if seen[k] {
			t.Fatalf("%q generated twice", k)
		}
		seen[k] = true
		keys = append(keys, k)
	}
	// Chi-square over the 62 characters (61 degrees of freedom: mean 61,
	// standard deviation 11; P(X > 130) < 1e-6). Taking b % 62 of a random
	// byte without rejection makes the first 8 characters 25% likelier,
	// which over 48000 characters scores about 300.
	const bound = 130
	if x := chiSquare(keys); x > bound {
		t.Errorf("character distribution chi-square %.1f > %d: not uniform", x, bound)
	}
	// The check can fail: a modulo-biased generator does.
	biased := make([]string, len(keys))
	for i := range biased {
		var buf [keyRandomLen]byte
		_, _ = rand.Read(buf[:])
		b := []byte(KeyPrefix)
		for _, x := range buf {
			b = append(b, base62[x%62])
		}
		biased[i] = string(b)
	}
	if x := chiSquare(biased); x <= bound {
		t.Errorf("a modulo-biased generator scores %.1f, within the bound %d: the check is too weak", x, bound)
	}
}

func chiSquare(keys []string) float64 {
	counts := map[byte]int{}
	n := 0
	for _, k := range keys {
		for _, c := range []byte(k[len(KeyPrefix):]) {
			counts[c]++
			n++
		}
	}
	want := float64(n) / 62
	x := 0.0
	for _, c := range []byte(base62) {
		d := float64(counts[c]) - want
		x += d * d / want
	}
	return x
}
