package console_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// Disabling and enabling keys: an admin any key, a user their own; the
// file's keys refuse, a revoked key cannot come back, another user's key is
// not there, and every change is audited and reloads the keys.
func TestTenancyKeyDisable(t *testing.T) {
	e := newTenancy(t)
	adm, user := e.srv.Admin(), e.srv.User()
	r := user.Do("POST", "/api/v1/me/keys", map[string]any{"name": "mine"}).Expect(t, 201)
	id := int64(r.JSON["id"].(float64))
	if _, ok := r.JSON["last_used_at"]; !ok || r.JSON["last_used_at"] != nil {
		t.Fatalf("a new key's last_used_at: %s", r.Body)
	}
	mine := fmt.Sprintf("/api/v1/me/keys/%d", id)
	admins := fmt.Sprintf("/api/v1/admin/keys/%d", id)
	fileKey := fmt.Sprintf("/api/v1/admin/keys/%d", e.fileKeyID)
	const fileField = "keys[user=alice@example.com,name=a]"

	for _, c := range []struct {
		who          string
		method, path string
		status       int
		code, field  string
	}{
		{"user", "POST", admins + "/disable", 403, "forbidden", ""},
		{"user", "POST", admins + "/enable", 403, "forbidden", ""},
		{"user", "POST", fmt.Sprintf("/api/v1/me/keys/%d/disable", e.fileKeyID), 404, "not_found", ""},
		{"user", "POST", "/api/v1/me/keys/999/enable", 404, "not_found", ""},
		{"admin", "POST", "/api/v1/admin/keys/999/disable", 404, "not_found", ""},
		{"admin", "POST", "/api/v1/admin/keys/x/disable", 404, "not_found", ""},
		{"admin", "POST", fileKey + "/disable", 409, "managed_by_file", fileField},
		{"admin", "POST", fileKey + "/enable", 409, "managed_by_file", fileField},
	} {
		t.Run(c.who+" "+c.path, func(t *testing.T) {
			cl := adm
			if c.who == "user" {
				cl = user
			}
			cl.Do(c.method, c.path, nil).ExpectError(t, c.status, c.code, c.field)
		})
	}

	reloads := e.reloads.Load()
	if r := user.Do("POST", mine+"/disable", nil).Expect(t, 200); r.JSON["status"] != "disabled" {
		t.Fatalf("disabled by its owner: %s", r.Body)
	}
	if e.reloads.Load() != reloads+1 {
		t.Fatal("disabling a key did not reload the keys")
	}
	var page struct{ Items []map[string]any }
	user.Do("GET", "/api/v1/me/keys?status=disabled", nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 1 || page.Items[0]["id"] != float64(id) {
		t.Fatalf("own disabled keys: %+v", page)
	}
	// Disabling again changes nothing, so nothing is audited or reloaded.
	user.Do("POST", mine+"/disable", nil).Expect(t, 200)
	if e.reloads.Load() != reloads+1 {
		t.Fatal("a no-op disable reloaded the keys")
	}
	if r := adm.Do("POST", admins+"/enable", nil).Expect(t, 200); r.JSON["status"] != "active" {
		t.Fatalf("enabled by an admin: %s", r.Body)
	}
	adm.Do("POST", admins+"/disable", nil).Expect(t, 200)
	// Revoked is for good.
	user.Do("DELETE", mine, nil).Expect(t, 204)
	user.Do("POST", mine+"/enable", nil).ExpectError(t, 422, "invalid", "status")
	adm.Do("POST", admins+"/enable", nil).ExpectError(t, 422, "invalid", "status")

	var got []string
	for _, a := range e.srv.Audits() {
		if a.Action != "key.disable" && a.Action != "key.enable" {
			continue
		}
		var before, after struct{ Status string }
		if err := json.Unmarshal(a.Before, &before); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(a.After, &after); err != nil {
			t.Fatal(err)
		}
		if a.Target != fmt.Sprintf("key:%d", id) {
			t.Errorf("audit target %q", a.Target)
		}
		got = append(got, a.Action+" "+before.Status+"→"+after.Status)
	}
	want := []string{"key.disable active→disabled", "key.enable disabled→active", "key.disable active→disabled"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audited %q, want %q", got, want)
	}
}

// A key's last use, once flushed, is in both key lists.
func TestTenancyKeyLastUsed(t *testing.T) {
	e := newTenancy(t)
	r := e.srv.User().Do("POST", "/api/v1/me/keys", map[string]any{"name": "mine"}).Expect(t, 201)
	id := int64(r.JSON["id"].(float64))
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	// As a node's flush writes it (auth.Directory.FlushLastUsed, tested in
	// internal/auth); here only the console's reading of it is at stake.
	if _, err := e.db.Write().ExecContext(t.Context(), "UPDATE api_keys SET last_used_at = ? WHERE id = ?", at, id); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/me/keys", "/api/v1/admin/keys?user_id=2"} {
		var page struct{ Items []map[string]any }
		cl := e.srv.User()
		if path != "/api/v1/me/keys" {
			cl = e.srv.Admin()
		}
		cl.Do("GET", path, nil).Expect(t, 200).Decode(t, &page)
		if len(page.Items) != 1 || page.Items[0]["last_used_at"] != at.Format(time.RFC3339) {
			t.Fatalf("%s: %+v", path, page.Items)
		}
	}
}
