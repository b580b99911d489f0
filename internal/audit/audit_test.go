package audit

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

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

func TestRecordAndList(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		s := NewStore(db, func() time.Time { return base })
		actions := []string{"users.create", "users.update", "keys.revoke", "user_x.create"}
		for i := range 120 {
			e := Entry{ActorID: int64(1 + i%2), ActorEmail: fmt.Sprintf("admin%d@example.com", 1+i%2), Via: "session",
				IP: "192.0.2.1", Method: "POST", Route: "/api/v1/admin/users", Action: actions[i%4],
				Target: fmt.Sprintf("user:%d", i%5), Status: 201, RequestID: fmt.Sprint("r", i),
				After: json.RawMessage(`{"email":"x@example.com","password":"hunter2"}`)}
			if i >= 60 {
				e.Time = base.Add(time.Hour)
			}
			if err := s.Record(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Record(t.Context(), Entry{ActorEmail: "cli", Via: "cli", Action: "credit.add", Target: "user:1",
			Before: json.RawMessage(`null`), After: json.RawMessage(strings.Repeat(" ", 10) + `{"x":"` + strings.Repeat("a", maxValue) + `"}`)}); err != nil {
			t.Fatal(err)
		}

		var all []Entry
		f := Filter{Limit: 7}
		for {
			page, err := s.List(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if len(page) < f.Limit {
				break
			}
			f.BeforeID = page[len(page)-1].ID
		}
		if len(all) != 121 {
			t.Fatalf("paged %d entries, want 121", len(all))
		}
		for i := 1; i < len(all); i++ {
			if all[i].ID >= all[i-1].ID {
				t.Fatalf("entries out of order at %d", i)
			}
		}
		cli := all[0]
		if cli.ActorID != 0 || cli.Before != nil || string(cli.After) != fmt.Sprintf(`{"truncated":true,"bytes":%d}`, maxValue+8) {
			t.Errorf("cli entry %+v (after %s)", cli, cli.After)
		}
		e := all[1]
		if e.ActorID != 2 || e.Status != 201 || e.Method != "POST" || !e.Time.Equal(base.Add(time.Hour)) ||
			string(e.After) != `{"email":"x@example.com","password":"[redacted]"}` || e.RequestID != "r119" {
			t.Errorf("entry read back %+v (after %s)", e, e.After)
		}

		for _, c := range []struct {
			f    Filter
			want int
		}{
			{Filter{ActorID: 1}, 60},
			{Filter{Actor: "Admin2@example.com"}, 60},
			{Filter{Actor: "cli"}, 1},
			{Filter{Action: "users.create"}, 30},
			{Filter{Action: "users.*"}, 60},
			{Filter{Action: "user_*"}, 30}, // '_' is a letter here, not LIKE's wildcard
			{Filter{Target: "user:3"}, 24},
			{Filter{Since: base.Add(time.Minute)}, 60},
			{Filter{Until: base.Add(time.Minute)}, 61},
			{Filter{Action: "keys.revoke", ActorID: 1, Target: "user:2"}, 6},
		} {
			c.f.Limit = 1000
			got, err := s.List(t.Context(), c.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.want {
				t.Errorf("%+v: %d entries, want %d", c.f, len(got), c.want)
			}
		}
	})
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		`{"email":"a@b","password":"x","new_password":"y","has_password":true}`:                  `{"email":"a@b","has_password":true,"new_password":"[redacted]","password":"[redacted]"}`,
		`{"apiKey":"sk-1","key_id":5,"key_name":"laptop","key":"sk-2","keys":["a","b"]}`:         `{"apiKey":"[redacted]","key":"[redacted]","key_id":5,"key_name":"laptop","keys":["[redacted]","[redacted]"]}`,
		`{"credentials":[{"value":"sk-x","label":"a"}],"refresh_token":"r","totp_enabled":true}`: `{"credentials":[{"label":"[redacted]","value":"[redacted]"}],"refresh_token":"[redacted]","totp_enabled":true}`,
		`{"monkey":"ok","keyboard":"ok","invite_code":"c","code_count":3,"secret":""}`:           `{"code_count":3,"invite_code":"[redacted]","keyboard":"ok","monkey":"ok","secret":""}`,
		`[{"token":"t"},{"name":"n"}]`: `[{"token":"[redacted]"},{"name":"n"}]`,
		`12345678901234567890`:         `12345678901234567890`,
		`null`:                         ``,
		``:                             ``,
		`{"a":`:                        `"[not JSON]"`,
	} {
		if got := string(Redact(json.RawMessage(in))); got != want {
			t.Errorf("Redact(%s)\n = %s\nwant %s", in, got, want)
		}
	}
}
