package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/config"

	"github.com/switchyard/switchyard/internal/testenv"
)

// fileDirectory applies a configuration to a fresh SQLite database and
// returns a Directory over it. groups nil means default and staff.
func fileDirectory(t testing.TB, groups []config.Group, users []config.User, keys []config.Key) *Directory {
	t.Helper()
	if groups == nil {
		groups = []config.Group{{Name: "default", Ratio: 1}, {Name: "staff", Ratio: 1}}
	}
	db := openDB(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"))
	if err := NewStore(db, nil).ApplyConfig(t.Context(), groups, users, keys); err != nil {
		t.Fatal(err)
	}
	d, err := NewDirectory(t.Context(), db, DirectoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func request(header, value string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	if header != "" {
		r.Header.Set(header, value)
	}
	return r
}

func bearer(value string) *http.Request { return request("Authorization", "Bearer "+value) }

func codeOf(err error) string {
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	if err != nil {
		return "not an apierror: " + err.Error()
	}
	return ""
}

func TestDirectory(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		s := NewStore(db, func() time.Time { return now })
		const (
			vNet    = "sk-file-net-00000000000000000000"
			vOld    = "sk-file-old-00000000000000000000"
			vFuture = "sk-file-future-00000000000000000"
			vBob    = "sk-file-bob-00000000000000000000"
		)
		keys := append(testKeys(),
			config.Key{Name: "net", User: "alice@example.com", Key: vNet, IPAllow: []string{"10.0.0.0/8", "192.168.1.5"}},
			config.Key{Name: "old", User: "alice@example.com", Key: vOld, ExpiresAt: now},
			config.Key{Name: "future", User: "alice@example.com", Key: vFuture, ExpiresAt: now.Add(time.Hour)},
			config.Key{Name: "bob", User: "bob@example.com", Key: vBob})
		users := append(testUsers(), config.User{Email: "bob@example.com", Group: "default"})
		if err := s.ApplyConfig(ctx, testGroups(), users, keys); err != nil {
			t.Fatal(err)
		}
		revoked, _, err := s.CreateKey(ctx, NewKey{User: "alice@example.com", Name: "revoked"})
		if err != nil {
			t.Fatal(err)
		}
		generated, gen, err := s.CreateKey(ctx, NewKey{User: "alice@example.com", Name: "generated"})
		if err != nil {
			t.Fatal(err)
		}
		list, err := s.ListKeys(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeKey(ctx, keyByName(t, list, "revoked").ID); err != nil {
			t.Fatal(err)
		}
		if err := s.SetUserStatus(ctx, "bob@example.com", StatusDisabled); err != nil {
			t.Fatal(err)
		}
		d, err := NewDirectory(ctx, db, DirectoryOptions{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		local := netip.MustParseAddr("127.0.0.1")
		cases := []struct {
			name string
			r    *http.Request
			ip   netip.Addr
			code string
		}{
			{"bearer", bearer(valueA), local, ""},
			{"bearer any case", request("Authorization", "bearer "+valueB), local, ""},
			{"x-api-key", request("x-api-key", valueB), local, ""},
			{"generated", bearer(generated), local, ""},
			{"missing", request("", ""), local, apierror.CodeInvalidAPIKey},
			{"empty bearer", request("Authorization", "Bearer "), local, apierror.CodeInvalidAPIKey},
			{"unknown", bearer("sk-file-nobody-0000000000000000"), local, apierror.CodeInvalidAPIKey},
			{"revoked", bearer(revoked), local, apierror.CodeInvalidAPIKey},
			{"expired", bearer(vOld), local, apierror.CodeInvalidAPIKey},
			{"not yet expired", bearer(vFuture), local, ""},
			{"disabled user", bearer(vBob), local, apierror.CodeInvalidAPIKey},
			{"ip outside", bearer(vNet), local, apierror.CodeIPNotAllowed},
			{"ip inside", bearer(vNet), netip.MustParseAddr("10.1.2.3"), ""},
			{"single ip", bearer(vNet), netip.MustParseAddr("::ffff:192.168.1.5"), ""},
			{"single ip neighbour", bearer(vNet), netip.MustParseAddr("192.168.1.6"), apierror.CodeIPNotAllowed},
		}
		for _, c := range cases {
			k, err := d.Authenticate(c.r, c.ip)
			if got := codeOf(err); got != c.code || (c.code == "" && k == nil) {
				t.Errorf("%s: key %v, error %q, want %q", c.name, k, got, c.code)
			}
		}

		a, err := d.Authenticate(bearer(valueA), local)
		if err != nil {
			t.Fatal(err)
		}
		want := Key{ID: a.ID, Name: "a", UserID: a.UserID, User: "alice@example.com", Group: "vip", Models: []string{"m1"},
			QuotaMicros: 2_500_000, RPM: 10, TPM: 2000, DailyRequests: 100,
			GroupRatioPPM: 500_000, GroupRPM: 60, GroupTPM: 100_000, GroupDailyRequests: 5000}
		if a.ID == 0 || a.UserID == 0 || a.Name != want.Name || a.User != want.User || a.Group != want.Group ||
			!slices.Equal(a.Models, want.Models) || a.QuotaMicros != want.QuotaMicros || a.RPM != want.RPM ||
			a.TPM != want.TPM || a.DailyRequests != want.DailyRequests || a.GroupRatioPPM != want.GroupRatioPPM ||
			a.GroupRPM != want.GroupRPM || a.GroupTPM != want.GroupTPM || a.GroupDailyRequests != want.GroupDailyRequests ||
			a.Admin || !a.ExpiresAt.IsZero() {
			t.Errorf("key a:\n got %+v\nwant %+v", *a, want)
		}
		if a.AllowModel("m1") != nil || codeOf(a.AllowModel("m2")) != apierror.CodeModelNotAllowed {
			t.Error("model allowlist of key a")
		}
		g, err := d.Authenticate(bearer(generated), local)
		if err != nil {
			t.Fatal(err)
		}
		if g.ID != gen.ID || g.QuotaMicros != NoQuota || g.Models != nil || g.AllowModel("anything") != nil || g.Group != "vip" {
			t.Errorf("generated key: %+v", *g)
		}
		ops, err := d.Authenticate(bearer(valueAdmin), local)
		if err != nil || !ops.Admin || ops.Group != config.DefaultGroup || ops.GroupRatioPPM != 1_000_000 {
			t.Errorf("ops key: %+v %v", ops, err)
		}
		if fut, _ := d.Authenticate(bearer(vFuture), local); fut == nil || !fut.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Errorf("future key expiry: %+v", fut)
		}

		// A key assumed by id (the console acting for its owner) is checked
		// like a presented one: revoked, expired, a disabled owner's, an
		// address outside its allowlist are refused; a presented header
		// does not override it.
		idOf := func(v string) int64 {
			k, err := d.Authenticate(bearer(v), netip.MustParseAddr("10.1.2.3"))
			if err != nil {
				t.Fatalf("%s: %v", v, err)
			}
			return k.ID
		}
		assumed := func(id int64, r *http.Request) *http.Request {
			return r.WithContext(WithAssumedKey(r.Context(), id))
		}
		netID := idOf(vNet)
		for _, c := range []struct {
			name string
			r    *http.Request
			ip   netip.Addr
			want int64
			code string
		}{
			{"assumed", assumed(a.ID, request("", "")), local, a.ID, ""},
			{"assumed over a presented key", assumed(a.ID, bearer(generated)), local, a.ID, ""},
			{"assumed revoked", assumed(keyByName(t, list, "revoked").ID, request("", "")), local, 0, apierror.CodeInvalidAPIKey},
			{"assumed unknown", assumed(1<<40, request("", "")), local, 0, apierror.CodeInvalidAPIKey},
			{"assumed ip outside", assumed(netID, request("", "")), local, 0, apierror.CodeIPNotAllowed},
			{"assumed ip inside", assumed(netID, request("", "")), netip.MustParseAddr("10.9.9.9"), netID, ""},
		} {
			k, err := d.Authenticate(c.r, c.ip)
			if got := codeOf(err); got != c.code || (c.code == "" && (k == nil || k.ID != c.want)) {
				t.Errorf("%s: key %v, error %q, want key %d error %q", c.name, k, got, c.want, c.code)
			}
		}
	})
}

// A change made through another handle (another node) reaches a Directory
// when it reloads: at once with Reload, within the interval when started.
func TestDirectorySecondNode(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db1, db2 := openDB(t, url), openDB(t, url)
		if err := NewStore(db1, nil).ApplyConfig(ctx, testGroups(), testUsers(), testKeys()); err != nil {
			t.Fatal(err)
		}
		other := NewStore(db2, nil)
		local := netip.MustParseAddr("10.0.0.1")

		d, err := NewDirectory(ctx, db1, DirectoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := d.Authenticate(bearer(valueA), local)
		if err != nil {
			t.Fatal(err)
		}
		if err := other.RevokeKey(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		// Not started, not reloaded: the index is what was loaded.
		if _, err := d.Authenticate(bearer(valueA), local); err != nil {
			t.Fatalf("before reload: %v", err)
		}
		if err := d.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Authenticate(bearer(valueA), local); codeOf(err) != apierror.CodeInvalidAPIKey {
			t.Fatalf("after reload, revoked key: %v", err)
		}

		// Started: a key created and then revoked on the other node is
		// accepted, then refused, without anyone calling Reload.
		const interval = 50 * time.Millisecond
		live, err := NewDirectory(ctx, db1, DirectoryOptions{Interval: interval})
		if err != nil {
			t.Fatal(err)
		}
		live.Start(ctx)
		t.Cleanup(live.Close)
		value, info, err := other.CreateKey(ctx, NewKey{User: "alice@example.com", Name: "late"})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the new key to be accepted", func() bool {
			_, err := live.Authenticate(bearer(value), local)
			return err == nil
		})
		start := time.Now()
		if err := other.RevokeKey(ctx, info.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the revoked key to be refused", func() bool {
			_, err := live.Authenticate(bearer(value), local)
			return codeOf(err) == apierror.CodeInvalidAPIKey
		})
		// Generous for slow CI; the documented bound is interval + query time.
		if took := time.Since(start); took > interval+2*time.Second {
			t.Errorf("revocation took %s to arrive with a %s interval", took, interval)
		}
		if err := other.SetUserStatus(ctx, "alice@example.com", StatusDisabled); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the disabled user's key to be refused", func() bool {
			_, err := live.Authenticate(bearer(valueB), local)
			return codeOf(err) == apierror.CodeInvalidAPIKey
		})
		live.Close()
		live.Close() // twice is fine
	})
}

// waitFor polls cond until it holds or 5 s pass. The Directory's loop runs
// on its own ticker, so there is no event to wait on but its effect.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Authenticate reads no database: it keeps working with the handle closed,
// and a failed reload keeps the last good index.
func TestAuthenticateWithoutDatabase(t *testing.T) {
	db := openDB(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"))
	if err := NewStore(db, nil).ApplyConfig(t.Context(), testGroups(), testUsers(), testKeys()); err != nil {
		t.Fatal(err)
	}
	d, err := NewDirectory(t.Context(), db, DirectoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("10.9.9.9")
	for range 3 {
		if k, err := d.Authenticate(bearer(valueA), ip); err != nil || k.Name != "a" {
			t.Fatalf("with the database closed: %v", err)
		}
		if _, err := d.Authenticate(bearer("sk-file-nobody-0000000000000000"), ip); codeOf(err) != apierror.CodeInvalidAPIKey {
			t.Fatalf("unknown key with the database closed: %v", err)
		}
	}
	if err := d.Reload(t.Context()); err == nil {
		t.Fatal("reload with the database closed succeeded")
	}
	if _, err := d.Authenticate(bearer(valueA), ip); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	keys := testKeys()
	for i := range 1000 {
		keys = append(keys, config.Key{Name: "bulk" + string(rune('a'+i%26)) + time.Duration(i).String(),
			User: "alice@example.com", Key: config.Secret(GenerateKey())})
	}
	d := fileDirectory(b, testGroups(), testUsers(), keys)
	// As serve runs it: the last-use loop keeps the clock that requests
	// read to note a key's use.
	d.StartLastUsed(b.Context(), time.Hour)
	r := bearer(valueA)
	ip := netip.MustParseAddr("10.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Authenticate(r, ip); err != nil {
			b.Fatal(err)
		}
	}
}
