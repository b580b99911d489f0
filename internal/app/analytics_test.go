package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/testenv"
)

const analyticsKey = "sk-sy-analytics0123456789abcdefghijklmnopqrstuvwxyz"

// analyticsConfig is a node with the file's admin, one channel on a mock
// upstream, and ann with the key "laptop".
func analyticsConfig(t *testing.T, upstream string) *config.Config {
	cfg := apptest.Config(t)
	cfg.Admin = config.Admin{Email: "ops@example.com", Password: filePassword}
	cfg.Channels = []config.Channel{{Name: "main", Type: "openai", BaseURL: upstream, Models: []string{"gpt-4o-mini"},
		Credentials: []config.Credential{{Key: "k1"}}}}
	cfg.Users = []config.User{{Email: "ann@example.com", Credit: 1}}
	cfg.Keys = []config.Key{{Name: "laptop", User: "ann@example.com", Key: analyticsKey}}
	return cfg
}

func mockUpstream(t *testing.T) string {
	up := httptest.NewServer(mock.New(mock.Options{}))
	t.Cleanup(up.Close)
	return up.URL
}

// chatAsAnn sends one chat request with ann's key.
func chatAsAnn(t *testing.T, base string) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+analyticsKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("chat: %d", res.StatusCode)
	}
}

func login(t *testing.T, base string) string {
	t.Helper()
	res, out := call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": "ops@example.com", "password": filePassword})
	cookie := sessionCookie(res)
	if res.StatusCode != 200 || cookie == "" {
		t.Fatalf("login: %d %v", res.StatusCode, out)
	}
	return cookie
}

// adminAnalytics polls the admin's 24-hour analytics by key on base until
// they count a request, draining the nodes' meters (the usage row is
// journaled after the client has its answer, and written by a drain).
func adminAnalytics(t *testing.T, base, cookie string, nodes ...*app.App) (totals map[string]any, groups []any) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		for _, n := range nodes {
			if err := n.Meter().Drain(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		res, out := call(t, base, "GET", "/api/v1/admin/analytics?range=24h&by=key", cookie, nil)
		if res.StatusCode != 200 {
			t.Fatalf("admin analytics: %d %v", res.StatusCode, out["error"])
		}
		totals, _ = out["totals"].(map[string]any)
		groups, _ = out["breakdown"].([]any)
		if totals["requests"] != 0.0 || time.Now().After(deadline) {
			return totals, groups
		}
	}
}

// liveUntil reads /api/v1/live on base as cookie until an event satisfies
// ok, failing after 10 s.
func liveUntil(t *testing.T, base, cookie string, ok func(ev map[string]any) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", "sy_session="+cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("live: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	var last string
	for sc.Scan() {
		data, found := strings.CutPrefix(sc.Text(), "data: ")
		if !found {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("live event %q: %v", data, err)
		}
		if ok(ev) {
			return
		}
		last = data
	}
	t.Fatalf("no live event as wanted; the last: %s (%v)", last, sc.Err())
}

// TestAnalyticsThroughANode: a request relayed by a real node shows in the
// admin's analytics once the meter has drained (the rollups are written
// with the usage row), not in the admin's own, and in the live view.
func TestAnalyticsThroughANode(t *testing.T) {
	a := apptest.Start(t, analyticsConfig(t, mockUpstream(t)))
	base := nodeBase(a)
	chatAsAnn(t, base)
	cookie := login(t, base)
	totals, groups := adminAnalytics(t, base, cookie, a)
	if totals["requests"] != 1.0 || len(groups) != 1 || groups[0].(map[string]any)["label"] != "laptop" {
		t.Fatalf("admin analytics: totals %v, breakdown %v", totals, groups)
	}
	res, out := call(t, base, "GET", "/api/v1/me/analytics", cookie, nil)
	if totals, _ := out["totals"].(map[string]any); res.StatusCode != 200 || totals["requests"] != 0.0 {
		t.Fatalf("the admin's own analytics: %d, totals %v", res.StatusCode, totals)
	}
	liveUntil(t, base, cookie, func(ev map[string]any) bool {
		return ev["scope"] == "all" && ev["requests_per_second"].(float64) > 0
	})
}

// TestAnalyticsAcrossNodes: two nodes on PostgreSQL and Redis; a request
// relayed by b shows in the analytics and the live view read on a.
func TestAnalyticsAcrossNodes(t *testing.T) {
	dbURL := testenv.FreshPostgresURL(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, redisURL)
	upstream := mockUpstream(t)
	node := func(name string) *app.App {
		cfg := analyticsConfig(t, upstream)
		cfg.Database.URL = config.Secret(dbURL)
		cfg.Redis.URL = config.Secret(redisURL)
		cfg.Redis.Prefix = prefix
		cfg.SecretKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
		cfg.Server.DataDir = filepath.Join(t.TempDir(), name)
		return apptest.Start(t, cfg)
	}
	a, b := node("a"), node("b")
	chatAsAnn(t, nodeBase(b))
	cookie := login(t, nodeBase(a))
	if totals, _ := adminAnalytics(t, nodeBase(a), cookie, a, b); totals["requests"] != 1.0 {
		t.Fatalf("analytics on a: totals %v", totals)
	}
	liveUntil(t, nodeBase(a), cookie, func(ev map[string]any) bool {
		return ev["nodes"] == 2.0 && ev["requests_per_second"].(float64) > 0
	})
}
