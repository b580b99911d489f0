package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/api/console/consoletest"
	"github.com/switchyard/switchyard/internal/liveview"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/usage"
)

// analyticsServer serves the analytics routes over a real usage log on
// SQLite holding requests of the admin (user 1), the user (user 2) and
// user 3, and a live hub the test ticks.
func analyticsServer(t *testing.T) (*consoletest.Server, *liveview.Counters, *liveview.Hub) {
	t.Helper()
	db, err := store.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "sy.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	us := usage.NewStore(db)
	now := time.Now()
	var rows []usage.Row
	for i, u := range []int64{1, 2, 2, 3, 3, 3} {
		rows = append(rows, usage.Row{ChargeID: fmt.Sprint("c", i), Time: now.Add(-time.Duration(i) * time.Minute),
			UserID: u, KeyID: u * 10, Model: fmt.Sprint("model-", u), Channel: "main", Status: 200, PromptTokens: 10,
			CostMicros: 100, Duration: 300 * time.Millisecond})
	}
	if err := us.Insert(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	var c liveview.Counters
	hub := liveview.NewHub(liveview.HubOptions{Counters: &c})
	srv := consoletest.New(t, func(a *console.API) {
		console.MountAnalytics(a, console.AnalyticsDeps{Stats: us, Live: hub})
	})
	return srv, &c, hub
}

func TestAnalyticsAccess(t *testing.T) {
	srv, _, _ := analyticsServer(t)
	for _, path := range []string{"/api/v1/admin/analytics", "/api/v1/me/analytics", "/api/v1/live"} {
		srv.Anon().Do("GET", path, nil).ExpectError(t, 401, "unauthenticated", "")
	}
	srv.User().Do("GET", "/api/v1/admin/analytics", nil).ExpectError(t, 403, "forbidden", "")
}

func TestAnalyticsValidation(t *testing.T) {
	srv, _, _ := analyticsServer(t)
	for _, tc := range []struct {
		c     *consoletest.Client
		path  string
		field string
	}{
		{srv.Admin(), "/api/v1/admin/analytics?range=1y", "range"},
		{srv.Admin(), "/api/v1/admin/analytics?range=24h&by=region", "by"},
		{srv.Admin(), "/api/v1/admin/analytics?top=0", "top"},
		{srv.Admin(), "/api/v1/admin/analytics?top=101", "top"},
		{srv.Admin(), "/api/v1/admin/analytics?user_id=ann", "user_id"},
		{srv.Admin(), "/api/v1/admin/analytics?user_id=-3", "user_id"},
		{srv.User(), "/api/v1/me/analytics?range=90d", "range"},
		{srv.User(), "/api/v1/me/analytics?by=user", "by"},
		{srv.User(), "/api/v1/me/analytics?top=x", "top"},
	} {
		tc.c.Do("GET", tc.path, nil).ExpectError(t, 422, "invalid", tc.field)
	}
}

func TestAnalyticsScopes(t *testing.T) {
	srv, _, _ := analyticsServer(t)
	var st usage.Stats
	srv.Admin().Do("GET", "/api/v1/admin/analytics?range=24h&by=user", nil).Expect(t, 200).Decode(t, &st)
	if st.Totals.Requests != 6 || len(st.Series) != 1440 || st.Bucket != "minute" || st.By != "user" ||
		len(st.Breakdown) != 3 || st.Breakdown[0].Value != "3" || st.Breakdown[0].Requests != 3 {
		t.Errorf("admin, whole gateway: totals %+v, %d points, breakdown %+v", st.Totals, len(st.Series), st.Breakdown)
	}
	srv.Admin().Do("GET", "/api/v1/admin/analytics?range=7d&user_id=3&by=model", nil).Expect(t, 200).Decode(t, &st)
	if st.Totals.Requests != 3 || len(st.Series) != 168 || len(st.Breakdown) != 1 || st.Breakdown[0].Value != "model-3" {
		t.Errorf("admin, user 3: totals %+v, breakdown %+v", st.Totals, st.Breakdown)
	}
	// A user sees their own requests only, whatever they ask for.
	for _, path := range []string{"/api/v1/me/analytics?range=30d&by=model", "/api/v1/me/analytics?range=30d&by=model&user_id=3"} {
		st = usage.Stats{}
		srv.User().Do("GET", path, nil).Expect(t, 200).Decode(t, &st)
		if st.Totals.Requests != 2 || st.Totals.SpendMicros != 200 || len(st.Breakdown) != 1 || st.Breakdown[0].Value != "model-2" {
			t.Errorf("%s: totals %+v, breakdown %+v", path, st.Totals, st.Breakdown)
		}
	}
	srv.User().Do("GET", "/api/v1/me/analytics", nil).Expect(t, 200).Decode(t, &st)
	if st.Range != "24h" || st.Breakdown == nil || len(st.Breakdown) != 0 {
		t.Errorf("defaults: range %q, breakdown %v", st.Range, st.Breakdown)
	}
}

// liveStream opens /api/v1/live as c and returns a function reading the
// next event's data.
func liveStream(t *testing.T, srv *consoletest.Server, c *consoletest.Client) func() map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Cookie", "Authorization"} {
		if v := c.Header(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if err := srv.Check("GET", "/api/v1/live", &consoletest.Resp{Status: res.StatusCode, Header: res.Header}); err != nil {
		t.Fatal(err)
	}
	schema := liveEventSchema(t)
	rd := bufio.NewReader(res.Body)
	return func() map[string]any {
		t.Helper()
		var event, data string
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("read the event stream: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			if line == "" {
				break
			}
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				data = v
			}
		}
		if event != "live" {
			t.Fatalf("event %q, want live", event)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Fatalf("event data %q: %v", data, err)
		}
		if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Fatalf("event data %s does not match LiveEvent: %v", data, err)
		}
		return v
	}
}

func liveEventSchema(t *testing.T) *openapi3.Schema {
	t.Helper()
	raw, err := console.DocumentWith()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := doc.Components.Schemas["LiveEvent"]
	if s == nil || s.Value == nil {
		t.Fatal("no LiveEvent schema in the document")
	}
	return s.Value
}

// TestLiveStream: an admin's events carry the whole gateway, a user's only
// their own requests; an event comes at once and then at every tick.
func TestLiveStream(t *testing.T) {
	srv, c, hub := analyticsServer(t)
	c.InFlight(2, 1)
	c.InFlight(3, 1)
	c.InFlight(3, 1)
	hub.Tick(t.Context())
	admin, user := liveStream(t, srv, srv.Admin()), liveStream(t, srv, srv.User())
	if ev := admin(); ev["scope"] != "all" || ev["in_flight"] != 3.0 || ev["nodes"] != 1.0 {
		t.Errorf("admin's first event %v", ev)
	}
	if ev := user(); ev["scope"] != "user" || ev["in_flight"] != 1.0 {
		t.Errorf("user's first event %v", ev)
	}
	c.InFlight(2, -1)
	hub.Tick(t.Context())
	if ev := admin(); ev["in_flight"] != 2.0 {
		t.Errorf("admin's event after a tick %v", ev)
	}
	if ev := user(); ev["in_flight"] != 0.0 {
		t.Errorf("user's event after a tick %v", ev)
	}
}

// TestLiveStreamEndsWithTheNode: when the hub stops (the node shuts down)
// open streams end, so they never hold up the server's drain.
func TestLiveStreamEndsWithTheNode(t *testing.T) {
	srv, _, hub := analyticsServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() { hub.Run(ctx); close(stopped) }()
	req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/api/v1/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", srv.Admin().Header("Cookie"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	cancel()
	<-stopped
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, res.Body); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("stream ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream is still open after the hub stopped")
	}
}
