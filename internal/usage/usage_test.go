package usage

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/config"
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

// tenants creates users and keys to join with: it returns the ids of
// ann@example.com and bob@example.com and of their keys by "user/key".
func tenants(t *testing.T, db *store.DB) (users map[string]int64, keys map[string]int64) {
	t.Helper()
	as := auth.NewStore(db, nil)
	if err := as.EnsureGroups(t.Context(), []config.Group{{Name: config.DefaultGroup, Ratio: 1}}); err != nil {
		t.Fatal(err)
	}
	users, keys = map[string]int64{}, map[string]int64{}
	for _, u := range []string{"ann", "bob"} {
		nu, err := as.CreateUser(t.Context(), auth.NewUser{Email: u + "@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		users[u] = nu.ID
	}
	for _, k := range []string{"ann/laptop", "ann/ci", "bob/laptop"} {
		user, name, _ := strings.Cut(k, "/")
		_, info, err := as.CreateKey(t.Context(), auth.NewKey{User: user + "@example.com", Name: name})
		if err != nil {
			t.Fatal(err)
		}
		keys[k] = info.ID
	}
	return users, keys
}

func fullRow(charge string, userID, keyID int64) Row {
	return Row{
		ChargeID: charge, RequestID: "req-" + charge,
		Time:   time.Date(2026, 3, 1, 13, 4, 5, 123456000, time.FixedZone("CET", 3600)),
		UserID: userID, KeyID: keyID, Model: "gpt-4o", ServedModel: "gpt-4o-2024-08-06", Channel: "openai-main",
		CredentialID: 7, Attempts: 2, Stream: true, Status: 502, Error: "upstream: connection reset",
		PromptTokens: 1234, CompletionTokens: 567, CachedTokens: 100, ReasoningTokens: 50, Images: 3, Estimated: true,
		CostMicros: 12_345, TTFB: 250 * time.Millisecond, Duration: 1500 * time.Millisecond, ClientIP: "2001:db8::1",
		Route: EncodeRoute([]Attempt{{Channel: "openai-main", CredentialID: 6, Status: 503, LatencyMs: 40, Error: "upstream status 503"},
			{Channel: "openai-main", CredentialID: 7, Status: 502, LatencyMs: 1460}}),
	}
}

// sameRow compares a stored row with what was inserted: the time read back
// must be the same instant, in UTC.
func sameRow(t *testing.T, got, want Row) {
	t.Helper()
	if got.Time.Location() != time.UTC || !got.Time.Equal(want.Time) {
		t.Errorf("%s: time %v, want %v in UTC", want.ChargeID, got.Time, want.Time)
	}
	got.Time = want.Time
	if got.ID <= 0 {
		t.Errorf("%s: id %d read back", want.ChargeID, got.ID)
	}
	got.ID = want.ID
	if !reflect.DeepEqual(got, want) {
		t.Errorf("row read back\n got %+v\nwant %+v", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		users, keys := tenants(t, db)
		s := NewStore(db)
		full := fullRow("ch-full", users["ann"], keys["ann/ci"])
		// Nothing but the required fields: the ids stay 0 (stored NULL).
		bare := Row{ChargeID: "ch-bare", RequestID: "req-bare", Time: time.Date(2026, 3, 1, 13, 5, 0, 0, time.UTC), Status: 401}
		if err := s.Insert(t.Context(), []Row{full, bare}); err != nil {
			t.Fatal(err)
		}
		// Written again, with changes: the first version stays.
		changed := full
		changed.CostMicros, changed.Model = 1, "other"
		if err := s.Insert(t.Context(), []Row{bare, changed}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Query(t.Context(), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d rows after inserting two rows twice: %+v", len(got), got)
		}
		full.User, full.KeyName = "ann@example.com", "ci"
		sameRow(t, got[0], bare)
		sameRow(t, got[1], full)

		var null struct{ users, keys, creds int }
		if err := db.Read().QueryRowContext(t.Context(), `SELECT
			SUM(CASE WHEN user_id IS NULL THEN 1 ELSE 0 END), SUM(CASE WHEN key_id IS NULL THEN 1 ELSE 0 END),
			SUM(CASE WHEN credential_id IS NULL THEN 1 ELSE 0 END) FROM usage_logs`).Scan(&null.users, &null.keys, &null.creds); err != nil {
			t.Fatal(err)
		}
		if null.users != 1 || null.keys != 1 || null.creds != 1 {
			t.Errorf("NULL ids: %+v, want one each (the bare row)", null)
		}

		// Sub-millisecond durations are cut to whole milliseconds.
		odd := fullRow("ch-odd", 0, 0)
		odd.TTFB, odd.Duration = 1999*time.Microsecond, 2*time.Second+500*time.Microsecond
		if err := s.Insert(t.Context(), []Row{odd}); err != nil {
			t.Fatal(err)
		}
		got, err = s.Query(t.Context(), Filter{RequestID: "req-ch-odd"})
		if err != nil || len(got) != 1 || got[0].TTFB != time.Millisecond || got[0].Duration != 2*time.Second {
			t.Fatalf("durations: %+v %v", got, err)
		}
	})
}

func TestInsertRefusesRowsWithoutIdentity(t *testing.T) {
	db := openDB(t, "sqlite://"+t.TempDir()+"/sy.db")
	s := NewStore(db)
	now := time.Now()
	for _, rows := range [][]Row{
		{{ChargeID: "a", Time: now}, {RequestID: "r", Time: now}},
		{{ChargeID: "a"}},
	} {
		if err := s.Insert(t.Context(), rows); err == nil {
			t.Errorf("Insert(%+v) = nil, want an error", rows)
		}
	}
	if n, err := s.Totals(t.Context(), Filter{}); err != nil || n.Requests != 0 {
		t.Fatalf("a refused batch stored rows: %+v %v", n, err)
	}
	if err := s.Insert(t.Context(), nil); err != nil {
		t.Fatalf("Insert(nil) = %v", err)
	}
}

func TestFilters(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		users, keys := tenants(t, db)
		s := NewStore(db)
		base := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
		mk := func(i int, user, key int64, model, channel string, status int) Row {
			return Row{ChargeID: fmt.Sprintf("ch-%d", i), RequestID: fmt.Sprintf("req-%d", i),
				Time: base.Add(time.Duration(i-1) * time.Hour), UserID: user, KeyID: key, Model: model, Channel: channel,
				Status: status, PromptTokens: int64(i * 10), CompletionTokens: int64(i), CachedTokens: int64(i * 2),
				Images: i % 2, CostMicros: int64(i * 1000)}
		}
		rows := []Row{
			mk(1, users["ann"], keys["ann/laptop"], "gpt-4o", "ch-a", 200),
			mk(2, users["ann"], keys["ann/ci"], "gpt-4o", "ch-b", 429),
			mk(3, users["bob"], keys["bob/laptop"], "claude", "ch-a", 200),
			mk(4, users["bob"], keys["bob/laptop"], "claude", "ch-b", 500),
			mk(5, 0, 0, "gpt-4o", "ch-a", 401),       // refused before authentication
			mk(6, 9999, 9999, "gpt-4o", "ch-a", 204), // user and key deleted since
		}
		if err := s.Insert(t.Context(), rows); err != nil {
			t.Fatal(err)
		}
		byCharge := map[string]Row{}
		for _, r := range rows {
			byCharge[r.ChargeID] = r
		}
		ids := func(ns ...int) []string {
			out := make([]string, len(ns))
			for i, n := range ns {
				out[i] = fmt.Sprintf("ch-%d", n)
			}
			return out
		}
		for _, tt := range []struct {
			name   string
			f      Filter
			want   []string
			summed []string // the rows Totals sums, when not want (Limit)
		}{
			{"all", Filter{}, ids(6, 5, 4, 3, 2, 1), nil},
			{"user", Filter{User: "ann@example.com"}, ids(2, 1), nil},
			{"user as typed", Filter{User: " ANN@Example.com "}, ids(2, 1), nil},
			{"unknown user", Filter{User: "nobody@example.com"}, ids(), nil},
			{"key id", Filter{KeyID: keys["ann/ci"]}, ids(2), nil},
			{"deleted key id", Filter{KeyID: 9999}, ids(6), nil},
			{"key name", Filter{KeyName: "laptop"}, ids(4, 3, 1), nil},
			{"user and key name", Filter{User: "bob@example.com", KeyName: "laptop"}, ids(4, 3), nil},
			{"model", Filter{Model: "claude"}, ids(4, 3), nil},
			{"channel", Filter{Channel: "ch-a"}, ids(6, 5, 3, 1), nil},
			{"request id", Filter{RequestID: "req-3"}, ids(3), nil},
			{"since", Filter{Since: base.Add(2 * time.Hour)}, ids(6, 5, 4, 3), nil},
			{"until", Filter{Until: base.Add(2 * time.Hour)}, ids(2, 1), nil},
			{"since in another zone", Filter{Since: base.Add(4 * time.Hour).In(time.FixedZone("X", -5*3600))}, ids(6, 5), nil},
			{"window", Filter{Since: base.Add(time.Hour), Until: base.Add(3 * time.Hour)}, ids(3, 2), nil},
			{"ok", Filter{Status: "ok"}, ids(6, 3, 1), nil},
			{"error", Filter{Status: "error"}, ids(5, 4, 2), nil},
			{"status code", Filter{Status: "429"}, ids(2), nil},
			{"model and status", Filter{Model: "gpt-4o", Status: "error"}, ids(5, 2), nil},
			{"limit", Filter{Limit: 2}, ids(6, 5), ids(1, 2, 3, 4, 5, 6)},
			{"limit and user", Filter{User: "bob@example.com", Limit: 1}, ids(4), ids(3, 4)},
		} {
			got, err := s.Query(t.Context(), tt.f)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			var gotIDs []string
			for _, r := range got {
				gotIDs = append(gotIDs, r.ChargeID)
			}
			if !slices.Equal(gotIDs, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.name, gotIDs, tt.want)
			}
			summed := tt.summed
			if summed == nil {
				summed = tt.want
			}
			var want Totals
			for _, id := range summed {
				r := byCharge[id]
				want.Requests++
				want.PromptTokens += r.PromptTokens
				want.CompletionTokens += r.CompletionTokens
				want.CachedTokens += r.CachedTokens
				want.Images += int64(r.Images)
				want.CostMicros += r.CostMicros
			}
			tot, err := s.Totals(t.Context(), tt.f)
			if err != nil || tot != want {
				t.Errorf("%s: totals %+v %v, want %+v", tt.name, tot, err, want)
			}
		}

		got, err := s.Query(t.Context(), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		names := map[string][2]string{}
		for _, r := range got {
			names[r.ChargeID] = [2]string{r.User, r.KeyName}
		}
		for id, want := range map[string][2]string{"ch-1": {"ann@example.com", "laptop"}, "ch-2": {"ann@example.com", "ci"},
			"ch-4": {"bob@example.com", "laptop"}, "ch-5": {}, "ch-6": {}} {
			if names[id] != want {
				t.Errorf("%s: user and key %q, want %q", id, names[id], want)
			}
		}

		for _, status := range []string{"bad", "6xx", "0xx", "2x", "99", "600", "-1"} {
			if _, err := s.Query(t.Context(), Filter{Status: status}); !errors.Is(err, ErrInvalidFilter) {
				t.Errorf("Query status %q: %v, want ErrInvalidFilter", status, err)
			}
			if _, err := s.Totals(t.Context(), Filter{Status: status}); !errors.Is(err, ErrInvalidFilter) {
				t.Errorf("Totals status %q: %v, want ErrInvalidFilter", status, err)
			}
		}
	})
}

func TestClipping(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		s := NewStore(db)
		long := Row{
			ChargeID:    strings.Repeat("c", 50),
			RequestID:   strings.Repeat("🙂", 200), // 4 bytes each
			Time:        time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
			Model:       strings.Repeat("é", 300), // 2 bytes each
			ServedModel: strings.Repeat("m", 191),
			Channel:     strings.Repeat("x", 192),
			Error:       "bad\xffbyte\x00 " + strings.Repeat("日本", 400), // 3 bytes each
			ClientIP:    strings.Repeat("1", 100),
		}
		if err := s.Insert(t.Context(), []Row{long}); err != nil {
			t.Fatal(err)
		}
		// The same long charge id clips to the same stored one.
		if err := s.Insert(t.Context(), []Row{long}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Query(t.Context(), Filter{})
		if err != nil || len(got) != 1 {
			t.Fatalf("%d rows, %v", len(got), err)
		}
		r := got[0]
		for _, c := range []struct {
			name, got, want string
		}{
			{"charge id", r.ChargeID, strings.Repeat("c", 40)},
			{"request id", r.RequestID, strings.Repeat("🙂", 128)},
			{"model", r.Model, strings.Repeat("é", 191)},
			{"served model", r.ServedModel, strings.Repeat("m", 191)},
			{"channel", r.Channel, strings.Repeat("x", 191)},
			{"error", r.Error, "bad\uFFFDbyte " + strings.Repeat("日本", 245) + "日"},
			{"client ip", r.ClientIP, strings.Repeat("1", 64)},
		} {
			if c.got != c.want {
				t.Errorf("%s: %d characters %.40q…, want %d characters %.40q…", c.name,
					utf8.RuneCountInString(c.got), c.got, utf8.RuneCountInString(c.want), c.want)
			}
		}
		if n := utf8.RuneCountInString(r.Error); n != maxError {
			t.Errorf("error is %d characters, want %d", n, maxError)
		}
		// The filter finds it by the stored, clipped value.
		got, err = s.Query(t.Context(), Filter{Model: strings.Repeat("é", 191)})
		if err != nil || len(got) != 1 {
			t.Errorf("query by clipped model: %d rows, %v", len(got), err)
		}
	})
}

// A drain's worth of rows goes in one call, in chunks, and again without
// duplicates when the drainer retries with some new rows added.
func TestBulkInsert(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		s := NewStore(db)
		base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
		rows := make([]Row, 1000)
		for i := range rows {
			rows[i] = fullRow(fmt.Sprintf("bulk-%04d", i), int64(i%7+1), int64(i%13+1))
			rows[i].Time = base.Add(time.Duration(i) * time.Second)
			rows[i].CostMicros = int64(i)
		}
		if err := s.Insert(t.Context(), rows); err != nil {
			t.Fatal(err)
		}
		more := append(slices.Clone(rows[990:]), fullRow("bulk-new-1", 1, 1), fullRow("bulk-new-2", 1, 1))
		if err := s.Insert(t.Context(), append(slices.Clone(rows), more...)); err != nil {
			t.Fatal(err)
		}
		tot, err := s.Totals(t.Context(), Filter{})
		wantCost := int64(999*1000/2) + 2*12_345
		if err != nil || tot.Requests != 1002 || tot.CostMicros != wantCost || tot.PromptTokens != 1002*1234 {
			t.Fatalf("totals %+v %v, want 1002 requests costing %d", tot, err, wantCost)
		}
		got, err := s.Query(t.Context(), Filter{Limit: MaxLimit + 5})
		if err != nil || len(got) != 1002 {
			t.Fatalf("query: %d rows, %v", len(got), err)
		}
		if got[0].ChargeID != "bulk-new-2" || got[2].ChargeID != "bulk-0999" || got[1001].ChargeID != "bulk-0000" {
			t.Errorf("order: %s, %s … %s", got[0].ChargeID, got[2].ChargeID, got[1001].ChargeID)
		}
		got, err = s.Query(t.Context(), Filter{})
		if err != nil || len(got) != DefaultLimit {
			t.Fatalf("default limit: %d rows, %v", len(got), err)
		}
		got, err = s.Query(t.Context(), Filter{Since: base.Add(500 * time.Second), Until: base.Add(510 * time.Second)})
		if err != nil || len(got) != 10 || got[0].ChargeID != "bulk-0509" {
			t.Fatalf("window: %d rows, %v", len(got), err)
		}
	})
}

func TestRowJSON(t *testing.T) {
	r := fullRow("ch-json", 3, 4)
	r.Time = r.Time.UTC()
	r.User, r.KeyName = "ann@example.com", "ci"
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["ttfb_ms"] != 250.0 || m["duration_ms"] != 1500.0 || m["charge_id"] != "ch-json" || m["user_email"] != "ann@example.com" ||
		m["key_name"] != "ci" || m["time"] != "2026-03-01T12:04:05.123456Z" || m["cost_micros"] != 12345.0 {
		t.Errorf("JSON %s", b)
	}
	var back Row
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("JSON round trip\n got %+v\nwant %+v", back, r)
	}
	b, _ = json.Marshal(Row{ChargeID: "x"})
	if strings.Contains(string(b), "user_email") || strings.Contains(string(b), "key_name") {
		t.Errorf("empty names written: %s", b)
	}
}
