package auth

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/testenv"
)

// A disabled key is refused as disabled (not as unknown), is nil to work
// done later on its behalf, and comes back when enabled; file keys refuse
// both, and a revoked key cannot be enabled.
func TestDisableEnableKey(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		s := NewStore(db, nil)
		if err := s.ApplyConfig(ctx, testGroups(), testUsers(), testKeys()); err != nil {
			t.Fatal(err)
		}
		value, k, err := s.CreateKey(ctx, NewKey{User: "alice@example.com", Name: "gen"})
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDirectory(ctx, db, DirectoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		local := netip.MustParseAddr("127.0.0.1")
		auth := func() string {
			t.Helper()
			_, err := d.Authenticate(bearer(value), local)
			return codeOf(err)
		}
		assumed := func() string {
			t.Helper()
			r := bearer("")
			_, err := d.Authenticate(r.WithContext(WithAssumedKey(ctx, k.ID)), local)
			return codeOf(err)
		}
		if got := auth(); got != "" {
			t.Fatalf("new key: %q", got)
		}

		before, after, err := s.SetKeyDisabled(ctx, k.ID, true)
		if err != nil || before.Status != StatusActive || after.Status != StatusDisabled {
			t.Fatalf("disable: %v, %s → %s", err, before.Status, after.Status)
		}
		if err := d.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if got := auth(); got != apierror.CodeKeyDisabled {
			t.Fatalf("disabled key: %q, want %q", got, apierror.CodeKeyDisabled)
		}
		if got := assumed(); got != apierror.CodeKeyDisabled {
			t.Fatalf("disabled key assumed by the console: %q", got)
		}
		if d.ByID(k.ID) != nil {
			t.Fatal("ByID returns a disabled key")
		}
		// Again: no change, no error.
		if _, after, err := s.SetKeyDisabled(ctx, k.ID, true); err != nil || after.Status != StatusDisabled {
			t.Fatalf("disable twice: %v, %s", err, after.Status)
		}
		page, _, err := s.QueryKeys(ctx, KeyFilter{Status: StatusDisabled}, Page{Limit: 10})
		if err != nil || len(page) != 1 || page[0].ID != k.ID {
			t.Fatalf("filter disabled: %v %v", page, err)
		}

		// Another user's key is not found through SetOwnKeyDisabled.
		if _, _, err := s.SetOwnKeyDisabled(ctx, k.UserID+1000, k.ID, false); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("enable as another user: %v, want ErrKeyNotFound", err)
		}
		if _, after, err := s.SetOwnKeyDisabled(ctx, k.UserID, k.ID, false); err != nil || after.Status != StatusActive {
			t.Fatalf("enable as owner: %v, %s", err, after.Status)
		}
		if err := d.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if got := auth(); got != "" {
			t.Fatalf("enabled again: %q", got)
		}

		// A file key.
		list, err := s.ListKeys(ctx, "alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		var mf *ManagedByFileError
		if _, _, err := s.SetKeyDisabled(ctx, keyByName(t, list, "a").ID, true); !errors.As(err, &mf) {
			t.Fatalf("disable a file key: %v, want ManagedByFileError", err)
		}

		// Revoked is for good: a disabled key may be revoked, never enabled.
		if _, _, err := s.SetKeyDisabled(ctx, k.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		var inv *InvalidError
		if _, _, err := s.SetKeyDisabled(ctx, k.ID, false); !errors.As(err, &inv) || inv.Field != "status" {
			t.Fatalf("enable a revoked key: %v, want InvalidError on status", err)
		}
		if _, _, err := s.SetKeyDisabled(ctx, k.ID, true); !errors.As(err, &inv) {
			t.Fatalf("disable a revoked key: %v, want InvalidError", err)
		}
		if err := d.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if got := auth(); got != apierror.CodeInvalidAPIKey {
			t.Fatalf("revoked key: %q", got)
		}
		if _, _, err := s.SetKeyDisabled(ctx, 1<<40, true); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
	})
}

// A key's last use is written by FlushLastUsed, not by Authenticate;
// survives a reload between the request and the flush; and never moves
// backwards when another node already wrote a later time.
func TestLastUsed(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		s := NewStore(db, nil)
		if err := s.ApplyConfig(ctx, testGroups(), testUsers(), testKeys()); err != nil {
			t.Fatal(err)
		}
		value, k, err := s.CreateKey(ctx, NewKey{User: "alice@example.com", Name: "gen"})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
		d, err := NewDirectory(ctx, db, DirectoryOptions{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		use := func() {
			t.Helper()
			if _, err := d.Authenticate(bearer(value), netip.MustParseAddr("127.0.0.1")); err != nil {
				t.Fatal(err)
			}
		}
		lastUsed := func() *time.Time {
			t.Helper()
			got, err := s.GetKey(ctx, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.LastUsedAt
		}
		if lu := lastUsed(); lu != nil {
			t.Fatalf("new key last used %v", lu)
		}
		t1 := now
		use()
		if lu := lastUsed(); lu != nil {
			t.Fatalf("last use written on the request path: %v", lu)
		}
		if err := d.FlushLastUsed(ctx); err != nil {
			t.Fatal(err)
		}
		if lu := lastUsed(); lu == nil || !lu.Equal(t1) {
			t.Fatalf("after a flush last used %v, want %v", lu, t1)
		}

		t2 := t1.Add(time.Minute)
		set(t2)
		use()
		if err := d.Reload(ctx); err != nil { // a change elsewhere, before the flush
			t.Fatal(err)
		}
		if err := d.FlushLastUsed(ctx); err != nil {
			t.Fatal(err)
		}
		if lu := lastUsed(); lu == nil || !lu.Equal(t2) {
			t.Fatalf("after a reload and a flush last used %v, want %v", lu, t2)
		}

		// Another node wrote a later time; this node's older one must not
		// overwrite it.
		t4 := t2.Add(time.Hour)
		if _, err := db.Write().ExecContext(ctx, db.Dialect().Rebind("UPDATE api_keys SET last_used_at = ? WHERE id = ?"), t4, k.ID); err != nil {
			t.Fatal(err)
		}
		set(t2.Add(time.Minute))
		use()
		if err := d.FlushLastUsed(ctx); err != nil {
			t.Fatal(err)
		}
		if lu := lastUsed(); lu == nil || !lu.Equal(t4) {
			t.Fatalf("an older use overwrote a newer one: %v, want %v", lu, t4)
		}
	})
}

// StartLastUsed's loop flushes on its own, and Close flushes what is left.
func TestLastUsedLoop(t *testing.T) {
	d := fileDirectory(t, testGroups(), testUsers(), testKeys())
	s := NewStore(d.db, nil)
	ctx := context.WithoutCancel(t.Context())
	d.StartLastUsed(ctx, 20*time.Millisecond)
	if _, err := d.Authenticate(bearer(valueB), netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListKeys(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	id := keyByName(t, list, "b").ID
	waitFor(t, "last use flushed by the loop", func() bool {
		k, err := s.GetKey(ctx, id)
		return err == nil && k.LastUsedAt != nil
	})

	// Close flushes a use the loop has not reached yet.
	d2, err := NewDirectory(ctx, d.db, DirectoryOptions{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	d2.StartLastUsed(ctx, time.Hour)
	if _, err := d2.Authenticate(bearer(valueB), netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	d2.Close()
	k, err := s.GetKey(ctx, id)
	if err != nil || k.LastUsedAt == nil || time.Until(*k.LastUsedAt) < 50*time.Minute {
		t.Fatalf("after Close last used %v (%v), want the use an hour ahead", k.LastUsedAt, err)
	}
}
