package auth

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

func ptr[T any](v T) *T { return &v }

func TestQueryUsersPagesAndFilters(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		s := NewStore(db, nil)
		if err := s.ApplyConfig(ctx, testGroups(), testUsers(), nil); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if _, err := s.CreateUser(ctx, NewUser{Email: fmt.Sprintf("u%d_x@example.com", i), Group: "default"}); err != nil {
				t.Fatal(err)
			}
		}
		// A literal _ in the filter must not match any character.
		if _, err := s.CreateUser(ctx, NewUser{Email: "u9ax@example.com"}); err != nil {
			t.Fatal(err)
		}
		var seen []int64
		p := Page{Limit: 2}
		for {
			page, next, err := s.QueryUsers(ctx, UserFilter{Email: "_X@"}, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range page {
				seen = append(seen, u.ID)
			}
			if next == 0 {
				break
			}
			p.Before = next
		}
		if len(seen) != 5 {
			t.Fatalf("paged %d users matching _x@, want 5: %v", len(seen), seen)
		}
		for i := 1; i < len(seen); i++ {
			if seen[i] >= seen[i-1] {
				t.Fatalf("not newest first: %v", seen)
			}
		}
		vip, _, err := s.QueryUsers(ctx, UserFilter{Group: "vip", Role: "user", Status: StatusActive}, Page{})
		if err != nil || len(vip) != 1 || vip[0].Email != "alice@example.com" || !vip[0].ManagedByFile {
			t.Fatalf("vip users %+v, %v", vip, err)
		}
	})
}

func TestUpdateAndDeleteUser(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		s := NewStore(db, nil)
		if err := s.ApplyConfig(ctx, testGroups(), testUsers(), nil); err != nil {
			t.Fatal(err)
		}
		alice, _, err := s.QueryUsers(ctx, UserFilter{Email: "alice"}, Page{})
		if err != nil || len(alice) != 1 {
			t.Fatal(alice, err)
		}
		a := alice[0]
		var mf *ManagedByFileError
		if _, _, err := s.UpdateUser(ctx, a.ID, UserPatch{Role: ptr("admin")}); !errors.As(err, &mf) || mf.Field != "users[email=alice@example.com]" {
			t.Fatalf("role change of a file user: %v", err)
		}
		// The same value is no change; status is not the file's.
		v0 := version(t, db)
		_, after, err := s.UpdateUser(ctx, a.ID, UserPatch{Group: ptr("vip"), Status: ptr(StatusDisabled)})
		if err != nil || after.Status != StatusDisabled {
			t.Fatalf("disable file user: %+v %v", after, err)
		}
		if version(t, db) == v0 {
			t.Error("UpdateUser did not bump the tenancy version")
		}

		bob, err := s.CreateUser(ctx, NewUser{Email: "bob@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		var inv *InvalidError
		for field, p := range map[string]UserPatch{
			"role":   {Role: ptr("root")},
			"status": {Status: ptr("gone")},
			"group":  {Group: ptr("gold")},
		} {
			if _, _, err := s.UpdateUser(ctx, bob.ID, p); !errors.As(err, &inv) || inv.Field != field {
				t.Errorf("patch %s: %v", field, err)
			}
		}
		before, after, err := s.UpdateUser(ctx, bob.ID, UserPatch{Name: ptr("Bob"), Group: ptr("vip"), Role: ptr("admin")})
		if err != nil || before.Role != "user" || after.Role != "admin" || after.Group != "vip" || after.Name != "Bob" {
			t.Fatalf("update: %+v → %+v, %v", before, after, err)
		}
		if _, _, err := s.UpdateUser(ctx, 99999, UserPatch{}); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("unknown user: %v", err)
		}

		if _, err := s.DeleteUser(ctx, a.ID); !errors.As(err, &mf) {
			t.Errorf("delete file user: %v", err)
		}
		// A user with a ledger row stays (billing owns the row; written
		// here directly to keep this package free of billing).
		if _, err := db.Write().ExecContext(ctx, db.Dialect().Rebind(
			"INSERT INTO ledger (user_id, request_id, kind, amount_micros, balance_after_micros, created_at) VALUES (?, ?, ?, ?, ?, ?)"),
			bob.ID, "t1", "topup", 0, 0, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteUser(ctx, bob.ID); !errors.Is(err, ErrUserHasLedger) {
			t.Errorf("delete user with ledger: %v", err)
		}
		carol, err := s.CreateUser(ctx, NewUser{Email: "carol@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CreateKey(ctx, NewKey{User: carol.Email, Name: "k"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteUser(ctx, carol.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetUser(ctx, carol.ID); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("deleted user still there: %v", err)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM api_keys WHERE user_id = ?", carol.ID); n != 0 {
			t.Errorf("deleted user's keys: %d", n)
		}
	})
}

func TestGroupsCRUD(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		s := NewStore(db, nil)
		if err := s.ApplyConfig(ctx, testGroups(), nil, nil); err != nil {
			t.Fatal(err)
		}
		g, err := s.CreateGroup(ctx, Group{Name: "gold", Ratio: 0.8, RPM: 10})
		if err != nil || g.ID == 0 || g.Ratio != 0.8 || g.ManagedByFile {
			t.Fatalf("create: %+v %v", g, err)
		}
		if _, err := s.CreateGroup(ctx, Group{Name: "gold", Ratio: 1}); !errors.Is(err, ErrGroupExists) {
			t.Errorf("duplicate: %v", err)
		}
		var inv *InvalidError
		for field, bad := range map[string]Group{
			"name":                  {Name: " ", Ratio: 1},
			"ratio":                 {Name: "x", Ratio: -1},
			"rpm":                   {Name: "x", Ratio: 1, RPM: -1},
			"image_response_format": {Name: "x", Ratio: 1, ImageResponseFormat: "png"},
		} {
			if _, err := s.CreateGroup(ctx, bad); !errors.As(err, &inv) || inv.Field != field {
				t.Errorf("%s: %v", field, err)
			}
		}
		_, after, err := s.UpdateGroup(ctx, g.ID, GroupPatch{TPM: ptr(int64(500)), Name: ptr("platinum")})
		if err != nil || after.TPM != 500 || after.Name != "platinum" {
			t.Fatalf("update: %+v %v", after, err)
		}
		all, _, err := s.QueryGroups(ctx, Page{})
		if err != nil || len(all) != 3 || all[0].Name != "platinum" {
			t.Fatalf("groups %+v %v", all, err)
		}
		// The names a channel may be given: the file's and the console's.
		if names, err := s.GroupNames(ctx); err != nil || !slices.Equal(names, []string{"default", "platinum", "vip"}) {
			t.Errorf("group names %v %v", names, err)
		}
		var vip Group
		for _, x := range all {
			if x.Name == "vip" {
				vip = x
			}
		}
		var mf *ManagedByFileError
		if _, _, err := s.UpdateGroup(ctx, vip.ID, GroupPatch{RPM: ptr(1)}); !errors.As(err, &mf) || mf.Field != "groups[name=vip]" {
			t.Errorf("file group: %v", err)
		}
		u, err := s.CreateUser(ctx, NewUser{Email: "p@example.com", Group: "platinum"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteGroup(ctx, g.ID); !errors.Is(err, ErrGroupInUse) {
			t.Errorf("delete used group: %v", err)
		}
		if _, _, err := s.UpdateUser(ctx, u.ID, UserPatch{Group: ptr("default")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteGroup(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetGroup(ctx, g.ID); !errors.Is(err, ErrGroupNotFound) {
			t.Errorf("deleted group: %v", err)
		}
	})
}

func TestKeysConsole(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		s := NewStore(db, func() time.Time { return now })
		if err := s.ApplyConfig(ctx, testGroups(), testUsers(), testKeys()); err != nil {
			t.Fatal(err)
		}
		alice, _, _ := s.QueryUsers(ctx, UserFilter{Email: "alice@"}, Page{})
		bob, err := s.CreateUser(ctx, NewUser{Email: "bob@example.com", Group: "vip"})
		if err != nil {
			t.Fatal(err)
		}
		var inv *InvalidError
		for field, nk := range map[string]NewKey{
			"admin":          {Name: "x", Admin: true},
			"rpm":            {Name: "x", RPM: 61},
			"tpm":            {Name: "x", TPM: 100001},
			"daily_requests": {Name: "x", DailyRequests: 5001},
			"webhook_url":    {Name: "x", WebhookURL: "https://example.com/h", WebhookSecret: "0123456789abcdef0"},
			"ip_allow[1]":    {Name: "x", IPAllow: []string{"10.0.0.1", "nope"}},
			"name":           {Name: ""},
		} {
			if _, _, err := s.CreateOwnKey(ctx, bob.ID, nk); !errors.As(err, &inv) || inv.Field != field {
				t.Errorf("%s: %v", field, err)
			}
		}
		value, k, err := s.CreateOwnKey(ctx, bob.ID, NewKey{Name: "mine", RPM: 60, Models: []string{"m1"}})
		if err != nil || value == "" || k.UserID != bob.ID || k.RPM != 60 {
			t.Fatalf("own key: %+v %v", k, err)
		}
		// Alice cannot see, change or revoke Bob's key.
		if _, _, err := s.UpdateOwnKey(ctx, alice[0].ID, k.ID, KeyPatch{RPM: ptr(1)}, OwnKeyRules{}); !errors.Is(err, ErrKeyNotFound) {
			t.Errorf("other's key update: %v", err)
		}
		if _, err := s.RevokeOwnKey(ctx, alice[0].ID, k.ID); !errors.Is(err, ErrKeyNotFound) {
			t.Errorf("other's key revoke: %v", err)
		}
		rules, err := s.OwnKeyRules(ctx, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.UpdateOwnKey(ctx, bob.ID, k.ID, KeyPatch{RPM: ptr(100)}, rules); !errors.As(err, &inv) || inv.Field != "rpm" {
			t.Errorf("own key above group: %v", err)
		}
		exp := now.Add(time.Hour)
		_, after, err := s.UpdateKey(ctx, k.ID, KeyPatch{QuotaMicros: ptr(int64(5_000_000)), ExpiresAt: &exp, Models: &[]string{}})
		if err != nil || after.QuotaMicros == nil || *after.QuotaMicros != 5_000_000 || after.ExpiresAt == nil || len(after.Models) != 0 {
			t.Fatalf("admin update: %+v %v", after, err)
		}
		_, after, err = s.UpdateKey(ctx, k.ID, KeyPatch{QuotaMicros: ptr(NoQuota), ExpiresAt: &time.Time{}})
		if err != nil || after.QuotaMicros != nil || after.ExpiresAt != nil {
			t.Fatalf("clear quota and expiry: %+v %v", after, err)
		}
		fileKeys, _, err := s.QueryKeys(ctx, KeyFilter{UserID: alice[0].ID, Name: "a"}, Page{})
		if err != nil || len(fileKeys) != 1 {
			t.Fatalf("alice's key a: %+v %v", fileKeys, err)
		}
		var mf *ManagedByFileError
		if _, _, err := s.UpdateKey(ctx, fileKeys[0].ID, KeyPatch{RPM: ptr(1)}); !errors.As(err, &mf) ||
			mf.Field != "keys[user=alice@example.com,name=a]" {
			t.Errorf("file key: %v", err)
		}
		if _, err := s.RevokeOwnKey(ctx, bob.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		for status, want := range map[string]int{StatusRevoked: 1, StatusActive: 0} {
			got, _, err := s.QueryKeys(ctx, KeyFilter{UserID: bob.ID, Status: status}, Page{})
			if err != nil || len(got) != want {
				t.Errorf("bob's %s keys: %d %v", status, len(got), err)
			}
		}
		if _, _, err := s.QueryKeys(ctx, KeyFilter{Status: "lost"}, Page{}); !errors.As(err, &inv) || inv.Field != "status" {
			t.Errorf("bad status filter: %v", err)
		}
	})
}
