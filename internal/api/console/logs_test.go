package console_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/api/console/consoletest"
	"github.com/switchyard/switchyard/internal/audit"
	"github.com/switchyard/switchyard/internal/backup"
	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/internal/usage"
)

// auditAdapter records the console's audit entries in the audit store, as
// internal/app wires it.
type auditAdapter struct{ s *audit.Store }

func (a auditAdapter) Record(ctx context.Context, e console.AuditEntry) error {
	return a.s.Record(ctx, audit.Entry{Time: e.Time, ActorID: e.ActorID, ActorEmail: e.ActorEmail, Via: e.Via, IP: e.IP,
		Method: e.Method, Route: e.Route, Action: e.Action, Target: e.Target, Status: e.Status, Before: e.Before,
		After: e.After, RequestID: e.RequestID})
}

type logsEnv struct {
	srv   *consoletest.Server
	db    *store.DB
	usage *usage.Store
	tasks *images.Tasks
	dir   string
}

func openLogsDB(t *testing.T, url string) *store.DB {
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

func newLogsEnv(t *testing.T, url string) *logsEnv {
	t.Helper()
	db := openLogsDB(t, url)
	e := &logsEnv{db: db, usage: usage.NewStore(db), tasks: images.NewTasks(db, nil), dir: t.TempDir()}
	deps := console.LogsDeps{Usage: e.usage, Audit: audit.NewStore(db, nil),
		Backups: backup.NewDir(db, filepath.Join(e.dir, "backups"), "fp-test", nil), Images: e.tasks}
	e.srv = consoletest.New(t, func(a *console.API) { console.MountLogs(a, deps) },
		consoletest.WithAuditor(auditAdapter{audit.NewStore(db, nil)}))
	return e
}

var logsBase = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// seedUsage writes n rows: every third is user 3's on channel backup with
// credential 2, the others user 2's (the consoletest User) on main with
// credential 1; statuses cycle through 200, 200, 429, 502, 200, 400.
func (e *logsEnv) seedUsage(t *testing.T, n int) {
	t.Helper()
	statuses := []int{200, 200, 429, 502, 200, 400}
	rows := make([]usage.Row, 0, n)
	for i := range n {
		r := usage.Row{ChargeID: fmt.Sprintf("c%05d", i), RequestID: fmt.Sprintf("req-%d", i),
			Time: logsBase.Add(time.Duration(i) * time.Minute), UserID: 2, KeyID: 20, Model: "gpt-a", Channel: "main",
			CredentialID: 1, Attempts: 1, Status: statuses[i%len(statuses)], Stream: i%2 == 0, Error: "upstream secret text",
			PromptTokens: 10, CompletionTokens: 5, CostMicros: 100, Duration: time.Second}
		if i%3 == 0 {
			r.UserID, r.KeyID, r.Model, r.Channel, r.CredentialID = 3, 30, "gpt-b", "backup", 2
		}
		rows = append(rows, r)
	}
	if err := e.usage.Insert(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
}

type usagePage struct {
	Items []struct {
		ID        int64  `json:"id"`
		RequestID string `json:"request_id"`
		Status    int    `json:"status"`
		Channel   string `json:"channel"`
		Route     []struct {
			Channel      string `json:"channel"`
			CredentialID int64  `json:"credential_id"`
			Status       int    `json:"status"`
			Error        string `json:"error"`
		} `json:"route"`
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// walk lists every page of path and returns the request ids in order.
func walk(t *testing.T, c *consoletest.Client, path string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for range 1000 {
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		var page usagePage
		c.Do("GET", p, nil).Expect(t, http.StatusOK).Decode(t, &page)
		for _, it := range page.Items {
			ids = append(ids, it.RequestID)
		}
		if page.NextCursor == nil {
			return ids
		}
		cursor = *page.NextCursor
	}
	t.Fatal("no last page")
	return nil
}

func TestUsageRoutes(t *testing.T) {
	e := newLogsEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"))
	const n = 300
	e.seedUsage(t, n)
	admin, user := e.srv.Admin(), e.srv.User()

	// Every row once, newest first, across pages.
	ids := walk(t, admin, "/api/v1/admin/usage?limit=37")
	if len(ids) != n {
		t.Fatalf("walked %d rows, want %d", len(ids), n)
	}
	for i, id := range ids {
		if want := fmt.Sprintf("req-%d", n-1-i); id != want {
			t.Fatalf("row %d is %s, want %s: a duplicate or a gap", i, id, want)
		}
	}
	count := func(pred func(i int) bool) int {
		c := 0
		for i := range n {
			if pred(i) {
				c++
			}
		}
		return c
	}
	statuses := []int{200, 200, 429, 502, 200, 400}
	for _, c := range []struct {
		query string
		want  int
	}{
		{"user_id=3", count(func(i int) bool { return i%3 == 0 })},
		{"credential_id=1", count(func(i int) bool { return i%3 != 0 })},
		{"channel=backup&model=gpt-b", count(func(i int) bool { return i%3 == 0 })},
		{"key_id=20", count(func(i int) bool { return i%3 != 0 })},
		{"status=5xx", count(func(i int) bool { return statuses[i%6] >= 500 })},
		{"status=4xx", count(func(i int) bool { return statuses[i%6]/100 == 4 })},
		{"status=2xx&stream=true", count(func(i int) bool { return statuses[i%6] == 200 && i%2 == 0 })},
		{"stream=false", n / 2},
		{"status=429", count(func(i int) bool { return statuses[i%6] == 429 })},
		{"since=" + logsBase.Add(100*time.Minute).Format(time.RFC3339) + "&until=" + logsBase.Add(150*time.Minute).Format(time.RFC3339), 50},
		{"request_id=req-7", 1},
	} {
		if got := len(walk(t, admin, "/api/v1/admin/usage?limit=200&"+c.query)); got != c.want {
			t.Errorf("%s: %d rows, want %d", c.query, got, c.want)
		}
	}
	for _, c := range []struct{ query, field string }{
		{"status=7xx", "status"}, {"stream=maybe", "stream"}, {"user_id=abc", "user_id"}, {"user_id=-1", "user_id"},
		{"credential_id=0", "credential_id"}, {"key_id=x", "key_id"}, {"since=yesterday", "since"},
		{"until=2026-13-01T00:00:00Z", "until"}, {"since=2026-06-02T00:00:00Z&until=2026-06-01T00:00:00Z", "until"},
		{"limit=0", "limit"}, {"limit=201", "limit"}, {"cursor=!!!", "cursor"}, {"cursor=" + "YWJj", "cursor"},
	} {
		admin.Do("GET", "/api/v1/admin/usage?"+c.query, nil).ExpectError(t, http.StatusUnprocessableEntity, "invalid", c.field)
	}
	admin.Do("GET", "/api/v1/admin/usage.csv?status=bad", nil).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "status")
	user.Do("GET", "/api/v1/me/usage?stream=1", nil).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "stream")

	// A user sees their own rows only, without the operator's routing,
	// whatever they ask for.
	mine := walk(t, user, "/api/v1/me/usage?limit=50&user_id=3&channel=backup")
	if len(mine) != count(func(i int) bool { return i%3 != 0 }) {
		t.Errorf("user listed %d rows", len(mine))
	}
	r := user.Do("GET", "/api/v1/me/usage?limit=1", nil).Expect(t, http.StatusOK)
	if strings.Contains(string(r.Body), "upstream secret text") || strings.Contains(string(r.Body), `"channel"`) ||
		strings.Contains(string(r.Body), `"credential_id"`) {
		t.Errorf("a user sees the routing: %s", r.Body)
	}

	// One row, with its routing story.
	var page usagePage
	admin.Do("GET", "/api/v1/admin/usage?limit=1&user_id=3", nil).Expect(t, http.StatusOK).Decode(t, &page)
	id := page.Items[0].ID
	var row struct {
		usagePage
		Route []map[string]any `json:"route"`
	}
	admin.Do("GET", fmt.Sprintf("/api/v1/admin/usage/%d", id), nil).Expect(t, http.StatusOK).Decode(t, &row)
	if len(row.Route) != 1 || row.Route[0]["channel"] != "backup" || row.Route[0]["credential_id"] != float64(2) {
		t.Errorf("single-attempt route %v", row.Route)
	}
	user.Do("GET", fmt.Sprintf("/api/v1/me/usage/%d", id), nil).ExpectError(t, http.StatusNotFound, "not_found", "")
	admin.Do("GET", "/api/v1/admin/usage/999999", nil).ExpectError(t, http.StatusNotFound, "not_found", "")
	admin.Do("GET", "/api/v1/admin/usage/abc", nil).ExpectError(t, http.StatusNotFound, "not_found", "")

	// Access.
	user.Do("GET", "/api/v1/admin/usage", nil).ExpectError(t, http.StatusForbidden, "forbidden", "")
	user.Do("GET", "/api/v1/admin/usage.csv", nil).ExpectError(t, http.StatusForbidden, "forbidden", "")
	e.srv.Anon().Do("GET", "/api/v1/me/usage", nil).ExpectError(t, http.StatusUnauthorized, "unauthenticated", "")
}

func TestUsageRouteStory(t *testing.T) {
	e := newLogsEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"))
	route := usage.EncodeRoute([]usage.Attempt{
		{Channel: "main", CredentialID: 1, Status: 429, LatencyMs: 12, Error: "upstream status 429: Too Many Requests"},
		{Channel: "main", CredentialID: 4, Status: 0, LatencyMs: 3000, Error: "send to channel main: timeout"},
		{Channel: "backup", CredentialID: 9, Status: 200, LatencyMs: 800},
	})
	if err := e.usage.Insert(t.Context(), []usage.Row{{ChargeID: "c1", RequestID: "r1", Time: logsBase, UserID: 2,
		Channel: "backup", CredentialID: 9, Attempts: 3, Status: 200, Route: route}}); err != nil {
		t.Fatal(err)
	}
	var page usagePage
	e.srv.Admin().Do("GET", "/api/v1/admin/usage", nil).Expect(t, http.StatusOK).Decode(t, &page)
	var row struct {
		Route []struct {
			Channel      string `json:"channel"`
			CredentialID int64  `json:"credential_id"`
			Status       int    `json:"status"`
			LatencyMs    int64  `json:"latency_ms"`
			Error        string `json:"error"`
		} `json:"route"`
	}
	e.srv.Admin().Do("GET", fmt.Sprintf("/api/v1/admin/usage/%d", page.Items[0].ID), nil).Expect(t, http.StatusOK).Decode(t, &row)
	if len(row.Route) != 3 || row.Route[0].Status != 429 || row.Route[1].Error != "send to channel main: timeout" ||
		row.Route[2].Channel != "backup" || row.Route[2].Error != "" || row.Route[1].LatencyMs != 3000 {
		t.Errorf("route %+v", row.Route)
	}
	// The user's view of the same row has no route.
	r := e.srv.User().Do("GET", fmt.Sprintf("/api/v1/me/usage/%d", page.Items[0].ID), nil).Expect(t, http.StatusOK)
	if strings.Contains(string(r.Body), "route") {
		t.Errorf("the user's view shows the route: %s", r.Body)
	}
}

func TestUsageCSVStreams(t *testing.T) {
	e := newLogsEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"))
	const n = 5000
	e.seedUsage(t, n)
	r := e.srv.Admin().Do("GET", "/api/v1/admin/usage.csv", nil).Expect(t, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" ||
		!strings.HasPrefix(r.Header.Get("Content-Disposition"), `attachment; filename="usage-`) {
		t.Errorf("headers %v", r.Header)
	}
	recs, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 || recs[0][0] != "id" || recs[1][2] != fmt.Sprintf("req-%d", n-1) || recs[n][2] != "req-0" {
		t.Fatalf("%d records, first %q, last %q", len(recs), recs[1], recs[len(recs)-1])
	}
	// Streamed: chunked, with no length known in advance.
	if r.Header.Get("Content-Length") != "" {
		t.Errorf("the export was buffered: Content-Length %s", r.Header.Get("Content-Length"))
	}

	r = e.srv.User().Do("GET", "/api/v1/me/usage.csv?status=4xx", nil).Expect(t, http.StatusOK)
	recs, err = csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[1:] {
		if rec[7] != "429" && rec[7] != "400" {
			t.Fatalf("user export row %q", rec)
		}
	}
	if strings.Contains(string(r.Body), "backup") || strings.Contains(recs[0][len(recs[0])-1], "channel") || len(recs) < 10 {
		t.Errorf("user export: %d records, header %q", len(recs), recs[0])
	}
}

func TestAuditRoutes(t *testing.T) {
	e := newLogsEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"))
	st := audit.NewStore(e.db, nil)
	for i := range 75 {
		if err := st.Record(t.Context(), audit.Entry{ActorID: int64(1 + i%2), ActorEmail: fmt.Sprintf("a%d@example.com", 1+i%2),
			Via: "session", Action: []string{"users.create", "keys.revoke", "channels.update"}[i%3],
			Target: fmt.Sprintf("user:%d", i%4), Status: 200, Time: logsBase.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	admin := e.srv.Admin()
	// A write through the API is audited by the skeleton into the store.
	admin.Do("POST", "/api/v1/admin/backups", nil).Expect(t, http.StatusCreated)

	type entry struct {
		ID     int64  `json:"id"`
		Action string `json:"action"`
		Target string `json:"target"`
		After  any    `json:"after"`
	}
	type page struct {
		Items      []entry `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	var all []entry
	cursor := ""
	for {
		var p page
		admin.Do("GET", "/api/v1/admin/audit?limit=10&cursor="+url.QueryEscape(cursor), nil).Expect(t, http.StatusOK).Decode(t, &p)
		all = append(all, p.Items...)
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if len(all) != 76 || all[0].Action != "backups.create" || !strings.HasPrefix(all[0].Target, "backup:switchyard-") || all[0].After == nil {
		t.Fatalf("%d entries, newest %+v", len(all), all[0])
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatal("entries out of order or repeated")
		}
	}
	for _, c := range []struct {
		query string
		want  int
	}{
		{"actor_id=2", 37 + 1}, // the consoletest admin is user 1: its backup is not here
		{"actor=a1@example.com", 38},
		{"action=users.create", 25},
		{"action=" + url.QueryEscape("keys.*"), 25},
		{"target=user:3", 18},
		{"since=" + logsBase.Add(70*time.Minute).Format(time.RFC3339) + "&until=" + logsBase.Add(80*time.Minute).Format(time.RFC3339), 5},
	} {
		var p page
		admin.Do("GET", "/api/v1/admin/audit?limit=200&"+c.query, nil).Expect(t, http.StatusOK).Decode(t, &p)
		if c.query == "actor_id=2" {
			c.want = 37
		}
		if len(p.Items) != c.want {
			t.Errorf("%s: %d entries, want %d", c.query, len(p.Items), c.want)
		}
	}
	admin.Do("GET", "/api/v1/admin/audit?actor_id=x", nil).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "actor_id")
	admin.Do("GET", "/api/v1/admin/audit?action=*.create", nil).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "action")
	admin.Do("GET", "/api/v1/admin/audit?since=now", nil).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "since")
	e.srv.User().Do("GET", "/api/v1/admin/audit", nil).ExpectError(t, http.StatusForbidden, "forbidden", "")
	// The log cannot be written through the API.
	admin.Do("DELETE", "/api/v1/admin/audit", nil)
	var p page
	admin.Do("GET", "/api/v1/admin/audit?limit=200", nil).Expect(t, http.StatusOK).Decode(t, &p)
	if len(p.Items) != 76 {
		t.Errorf("%d entries after a DELETE", len(p.Items))
	}
}

func TestBackupRoutes(t *testing.T) {
	e := newLogsEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"))
	admin := e.srv.Admin()
	var made backup.Info
	admin.Do("POST", "/api/v1/admin/backups", nil).Expect(t, http.StatusCreated).Decode(t, &made)
	if made.Fingerprint != "fp-test" || made.SizeBytes == 0 || !strings.HasPrefix(made.Name, "switchyard-") {
		t.Fatalf("made %+v", made)
	}
	var list struct {
		Items []backup.Info `json:"items"`
	}
	admin.Do("GET", "/api/v1/admin/backups", nil).Expect(t, http.StatusOK).Decode(t, &list)
	if len(list.Items) != 1 || list.Items[0] != made {
		t.Fatalf("list %+v", list.Items)
	}
	r := admin.Do("GET", "/api/v1/admin/backups/"+made.Name, nil).Expect(t, http.StatusOK)
	if !strings.HasPrefix(string(r.Body), "SQLite format 3\x00") || int64(len(r.Body)) != made.SizeBytes ||
		r.Header.Get("X-Switchyard-Secret-Key-Fingerprint") != "fp-test" {
		t.Errorf("download: %d bytes, headers %v", len(r.Body), r.Header)
	}
	for _, name := range []string{"switchyard-20990101T000000Z.db", made.Name + ".json", "..%2Fsy.db", "x"} {
		admin.Do("GET", "/api/v1/admin/backups/"+name, nil).ExpectError(t, http.StatusNotFound, "not_found", "")
	}
	stale := e.srv.As(&console.Principal{UserID: 1, Email: "admin@example.com", Role: console.RoleAdmin,
		StepUpAt: time.Now().Add(-time.Hour)})
	stale.Do("GET", "/api/v1/admin/backups/"+made.Name, nil).ExpectError(t, http.StatusForbidden, "step_up_required", "")
	stale.Do("GET", "/api/v1/admin/backups", nil).Expect(t, http.StatusOK)
	readOnly := e.srv.As(&console.Principal{UserID: 1, Role: console.RoleAdmin, Via: console.ViaToken, ReadOnly: true})
	readOnly.Do("GET", "/api/v1/admin/backups/"+made.Name, nil).ExpectError(t, http.StatusForbidden, "step_up_required", "")
	full := e.srv.As(&console.Principal{UserID: 1, Role: console.RoleAdmin, Via: console.ViaToken})
	full.Do("GET", "/api/v1/admin/backups/"+made.Name, nil).Expect(t, http.StatusOK)
	e.srv.User().Do("POST", "/api/v1/admin/backups", nil).ExpectError(t, http.StatusForbidden, "forbidden", "")
	e.srv.User().Do("GET", "/api/v1/admin/backups/"+made.Name, nil).ExpectError(t, http.StatusForbidden, "forbidden", "")
	admin.With("Origin", "http://evil.test").Do("POST", "/api/v1/admin/backups", nil).ExpectError(t, http.StatusForbidden, "csrf_failed", "")
}

func TestBackupRoutesOnPostgres(t *testing.T) {
	e := newLogsEnv(t, testenv.FreshPostgresURL(t))
	r := e.srv.Admin().Do("POST", "/api/v1/admin/backups", nil).ExpectError(t, http.StatusConflict, "conflict", "")
	if !strings.Contains(string(r.Body), "pg_dump") || !strings.Contains(string(r.Body), "docs/console-api.md") {
		t.Errorf("the answer does not point at the docs: %s", r.Body)
	}
	e.srv.Admin().Do("GET", "/api/v1/admin/backups", nil).ExpectError(t, http.StatusConflict, "conflict", "")
}

func TestImageTaskRoutes(t *testing.T) {
	e := newLogsEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"))
	var ids []string
	for i := range 9 {
		task := &images.Task{UserID: int64(2 + i%2), KeyID: 7, Kind: images.KindGeneration, Model: "gpt-image-1", Async: true, N: 1,
			CreatedAt: logsBase.Add(time.Duration(i) * time.Second)}
		if err := e.tasks.Create(t.Context(), task); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, task.ID)
	}
	admin, user := e.srv.Admin(), e.srv.User()
	type page struct {
		Items []struct {
			ID     string  `json:"id"`
			UserID int64   `json:"user_id"`
			Status string  `json:"status"`
			Node   *string `json:"node"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	var seen []string
	cursor := ""
	for {
		var p page
		admin.Do("GET", "/api/v1/admin/image-tasks?limit=4&cursor="+url.QueryEscape(cursor), nil).Expect(t, http.StatusOK).Decode(t, &p)
		for _, it := range p.Items {
			seen = append(seen, it.ID)
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if len(seen) != 9 || seen[0] != ids[8] || seen[8] != ids[0] {
		t.Fatalf("admin listed %v", seen)
	}
	var mine page
	user.Do("GET", "/api/v1/me/image-tasks?user_id=3", nil).Expect(t, http.StatusOK).Decode(t, &mine)
	if len(mine.Items) != 5 || mine.Items[0].Node != nil {
		t.Fatalf("user listed %+v", mine.Items)
	}
	for _, it := range mine.Items {
		if it.UserID != 2 {
			t.Fatalf("user sees task %s of user %d", it.ID, it.UserID)
		}
	}
	// ids[1] is user 3's: not the user's to cancel, nor to know of.
	user.Do("POST", "/api/v1/me/image-tasks/"+ids[1]+"/cancel", nil).ExpectError(t, http.StatusNotFound, "not_found", "")
	user.Do("POST", "/api/v1/me/image-tasks/"+ids[0]+"/cancel", nil).Expect(t, http.StatusOK)
	user.Do("POST", "/api/v1/me/image-tasks/"+ids[0]+"/cancel", nil).ExpectError(t, http.StatusConflict, "conflict", "")
	r := admin.Do("POST", "/api/v1/admin/image-tasks/"+ids[1]+"/cancel", nil).Expect(t, http.StatusOK)
	if r.JSON["status"] != "cancelled" {
		t.Errorf("admin cancel: %s", r.Body)
	}
	admin.Do("POST", "/api/v1/admin/image-tasks/imgt_nope/cancel", nil).ExpectError(t, http.StatusNotFound, "not_found", "")
	admin.Do("POST", "/api/v1/admin/image-tasks/..%2Fx/cancel", nil).ExpectError(t, http.StatusNotFound, "not_found", "")
	var cancelled page
	admin.Do("GET", "/api/v1/admin/image-tasks?status=cancelled", nil).Expect(t, http.StatusOK).Decode(t, &cancelled)
	if len(cancelled.Items) != 2 {
		t.Errorf("%d cancelled tasks", len(cancelled.Items))
	}
	admin.Do("GET", "/api/v1/admin/image-tasks?status=done", nil).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "status")
	admin.Do("GET", "/api/v1/admin/image-tasks?user_id=x", nil).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "user_id")
	admin.Do("GET", "/api/v1/admin/image-tasks?cursor="+url.QueryEscape("aW1ndF9ub3Bl"), nil).ExpectError(t, http.StatusUnprocessableEntity, "invalid", "cursor")
	user.Do("GET", "/api/v1/admin/image-tasks", nil).ExpectError(t, http.StatusForbidden, "forbidden", "")
	e.srv.Anon().Do("GET", "/api/v1/me/image-tasks", nil).ExpectError(t, http.StatusUnauthorized, "unauthenticated", "")

	audits, err := audit.NewStore(e.db, nil).List(t.Context(), audit.Filter{Action: "image_tasks.cancel"})
	if err != nil || len(audits) != 2 || audits[0].Target != "image_task:"+ids[1] || audits[0].ActorID != 1 {
		t.Errorf("cancel audits %+v, %v", audits, err)
	}
}
