package usage

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestPagesAndFilters walks the log page by page with BeforeID, checks
// that Each sees the same rows in the same order, and that every filter
// of the console selects what it says.
func TestPagesAndFilters(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		users, keys := tenants(t, db)
		s := NewStore(db)
		base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		statuses := []int{200, 200, 429, 502, 200, 400}
		var rows []Row
		for i := range 1234 {
			r := Row{ChargeID: fmt.Sprintf("c%04d", i), RequestID: fmt.Sprintf("r%d", i), Time: base.Add(time.Duration(i) * time.Minute),
				UserID: users["ann"], KeyID: keys["ann/laptop"], Model: "m-a", Channel: "main", CredentialID: 1, Attempts: 1,
				Status: statuses[i%len(statuses)], Stream: i%2 == 0}
			if i%3 == 0 {
				r.UserID, r.KeyID, r.Model, r.Channel, r.CredentialID = users["bob"], keys["bob/laptop"], "m-b", "backup", 2
			}
			rows = append(rows, r)
		}
		if err := s.Insert(t.Context(), rows); err != nil {
			t.Fatal(err)
		}

		var paged []string
		f := Filter{Limit: 100}
		for {
			page, err := s.Query(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page {
				paged = append(paged, r.ChargeID)
			}
			if len(page) < f.Limit {
				break
			}
			f.BeforeID = page[len(page)-1].ID
		}
		var each []string
		if err := s.Each(t.Context(), Filter{Limit: 3}, func(r *Row) error {
			each = append(each, r.ChargeID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(paged) != len(rows) || strings.Join(paged, ",") != strings.Join(each, ",") {
			t.Fatalf("paged %d rows, Each %d, of %d", len(paged), len(each), len(rows))
		}
		seen := map[string]bool{}
		for i, c := range paged {
			if seen[c] {
				t.Fatalf("%s listed twice", c)
			}
			seen[c] = true
			if want := fmt.Sprintf("c%04d", len(rows)-1-i); c != want {
				t.Fatalf("row %d is %s, want %s (newest first)", i, c, want)
			}
		}
		stop := errors.New("stop")
		n := 0
		if err := s.Each(t.Context(), Filter{}, func(*Row) error { n++; return stop }); err != stop || n != 1 {
			t.Errorf("Each after fn failed: %v after %d rows", err, n)
		}

		yes, no := true, false
		count := func(pred func(Row) bool) int {
			c := 0
			for _, r := range rows {
				if pred(r) {
					c++
				}
			}
			return c
		}
		for _, c := range []struct {
			name string
			f    Filter
			want int
		}{
			{"user id", Filter{UserID: users["bob"]}, count(func(r Row) bool { return r.UserID == users["bob"] })},
			{"credential", Filter{CredentialID: 2}, count(func(r Row) bool { return r.CredentialID == 2 })},
			{"channel and model", Filter{Channel: "main", Model: "m-a"}, count(func(r Row) bool { return r.Channel == "main" })},
			{"stream", Filter{Stream: &yes}, count(func(r Row) bool { return r.Stream })},
			{"not stream", Filter{Stream: &no}, count(func(r Row) bool { return !r.Stream })},
			{"2xx", Filter{Status: "2xx"}, count(func(r Row) bool { return r.Status/100 == 2 })},
			{"4xx", Filter{Status: "4xx"}, count(func(r Row) bool { return r.Status/100 == 4 })},
			{"5xx", Filter{Status: "5xx"}, count(func(r Row) bool { return r.Status/100 == 5 })},
			{"error", Filter{Status: "error"}, count(func(r Row) bool { return r.Status/100 != 2 })},
			{"429", Filter{Status: "429"}, count(func(r Row) bool { return r.Status == 429 })},
			{"time range", Filter{Since: base.Add(100 * time.Minute), Until: base.Add(200 * time.Minute)}, 100},
			{"before id", Filter{BeforeID: 11, UserID: users["ann"]}, -1},
		} {
			var got int
			err := s.Each(t.Context(), c.f, func(r *Row) error {
				if c.f.BeforeID != 0 && r.ID >= c.f.BeforeID {
					t.Errorf("%s: row %d listed", c.name, r.ID)
				}
				got++
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			tot, err := s.Totals(t.Context(), c.f)
			if err != nil {
				t.Fatal(err)
			}
			if (c.want >= 0 && got != c.want) || tot.Requests != int64(got) {
				t.Errorf("%s: %d rows (totals %d), want %d", c.name, got, tot.Requests, c.want)
			}
		}
	})
}

func TestGetAndRoute(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		users, keys := tenants(t, db)
		s := NewStore(db)
		route := []Attempt{
			{Channel: "a\"b\\c", CredentialID: 3, Status: 0, LatencyMs: 5, Error: "send: \x00bad \xff utf-8 \u2028 é" + strings.Repeat("x", 300)},
			{Channel: "main", CredentialID: 4, Status: 200, LatencyMs: 900},
		}
		failed := Row{ChargeID: "c1", Time: time.Now(), UserID: users["ann"], KeyID: keys["ann/ci"], Channel: "main",
			CredentialID: 4, Attempts: 2, Status: 200, Duration: time.Second, Route: EncodeRoute(route)}
		single := Row{ChargeID: "c2", Time: time.Now(), UserID: users["ann"], Channel: "main", CredentialID: 4, Attempts: 1,
			Status: 502, Duration: 1500 * time.Millisecond}
		none := Row{ChargeID: "c3", Time: time.Now(), UserID: users["bob"], Status: 404}
		if err := s.Insert(t.Context(), []Row{failed, single, none}); err != nil {
			t.Fatal(err)
		}
		list, err := s.Query(t.Context(), Filter{})
		if err != nil || len(list) != 3 {
			t.Fatal(list, err)
		}
		ids := map[string]int64{}
		for _, r := range list {
			ids[r.ChargeID] = r.ID
		}
		got, err := s.Get(t.Context(), ids["c1"], users["ann"])
		if err != nil {
			t.Fatal(err)
		}
		attempts := got.RouteAttempts()
		if !json.Valid(got.Route) || len(attempts) != 2 || attempts[0].Channel != "a\"b\\c" || attempts[1].Status != 200 ||
			len([]rune(attempts[0].Error)) != maxAttemptError || !strings.Contains(attempts[0].Error, "\ufffd") {
			t.Errorf("route read back %s as %+v", got.Route, attempts)
		}
		got, err = s.Get(t.Context(), ids["c2"], 0)
		if err != nil {
			t.Fatal(err)
		}
		if a := got.RouteAttempts(); got.Route != nil || len(a) != 1 || a[0] != (Attempt{Channel: "main", CredentialID: 4, Status: 502, LatencyMs: 1500}) {
			t.Errorf("single attempt: route %s, attempts %+v", got.Route, a)
		}
		got, err = s.Get(t.Context(), ids["c3"], 0)
		if err != nil || len(got.RouteAttempts()) != 0 {
			t.Errorf("no attempt: %+v, %v", got.RouteAttempts(), err)
		}
		if _, err := s.Get(t.Context(), ids["c3"], users["ann"]); !errors.Is(err, ErrNotFound) {
			t.Errorf("someone else's row: %v, want ErrNotFound", err)
		}
		if _, err := s.Get(t.Context(), 99999, 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown row: %v, want ErrNotFound", err)
		}
	})
}

// flushCounter counts rows written between flushes: an export must leave
// in pieces, not at the end.
type flushCounter struct {
	strings.Builder
	flushes int
}

func (f *flushCounter) Flush() { f.flushes++ }

func TestWriteCSV(t *testing.T) {
	db := openDB(t, "sqlite://"+t.TempDir()+"/u.db")
	users, keys := tenants(t, db)
	s := NewStore(db)
	var rows []Row
	for i := range 1500 {
		rows = append(rows, Row{ChargeID: fmt.Sprintf("c%d", i), RequestID: "=HYPERLINK(1)", Time: time.Unix(int64(i), 0),
			UserID: users["ann"], KeyID: keys["ann/ci"], Model: "m,\"x\"\nline", Channel: "secret-channel", Status: 200,
			Attempts: 1, CostMicros: int64(i)})
	}
	if err := s.Insert(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	for _, view := range []CSVView{CSVAdmin, CSVUser} {
		var out flushCounter
		if err := s.WriteCSV(t.Context(), &out, Filter{UserID: users["ann"]}, view); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1501 || out.flushes < 1500/csvFlushEvery {
			t.Fatalf("view %d: %d records, %d flushes", view, len(recs), out.flushes)
		}
		head := map[string]int{}
		for i, h := range recs[0] {
			head[h] = i
		}
		first := recs[1]
		if first[head["model"]] != "m,\"x\"\nline" || first[head["request_id"]] != "'=HYPERLINK(1)" ||
			first[head["cost_micros"]] != "1499" || first[head["key_name"]] != "ci" {
			t.Errorf("view %d: first record %q", view, first)
		}
		_, hasChannel := head["channel"]
		if hasChannel != (view == CSVAdmin) || strings.Contains(out.String(), "secret-channel") != (view == CSVAdmin) {
			t.Errorf("view %d: channel column %v", view, hasChannel)
		}
	}
}
