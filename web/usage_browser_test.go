package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/web/browsertest"
)

// The usage suite's tenants: ann (a user with a key) and the file admin's
// own key; both send real traffic through /v1 before the suite runs.
const (
	usageAnn         = "ann@example.com"
	usageAnnPassword = "ann-password-0123"
	usageAnnKey      = "sk-sy-usage-ann-0123456789abcdefghijklmnopqrstuv"
	usageOpsKey      = "sk-sy-usage-ops-0123456789abcdefghijklmnopqrstuv"
	usageAnnRows     = 60 // plain requests of ann's, over one page (50)
)

// TestBrowserUsage: the usage log pages on a real node (SQLite): filters
// in the URL, infinite scroll over keyset pages, a failed-over request's
// routing story, CSV export, the user's own view; keyboard, axe, zh-CN.
func TestBrowserUsage(t *testing.T) {
	browsertest.Tools(t)
	runUsageSuite(t, nil)
}

// TestBrowserUsagePostgres is the same suite with the usage log on
// PostgreSQL and the scheduler's state in Redis.
func TestBrowserUsagePostgres(t *testing.T) {
	browsertest.Tools(t)
	dbURL := testenv.FreshPostgresURL(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, redisURL)
	runUsageSuite(t, func(cfg *config.Config) {
		cfg.Database.URL = config.Secret(dbURL)
		cfg.Redis.URL = config.Secret(redisURL)
		cfg.Redis.Prefix = prefix
		cfg.SecretKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	})
}

func runUsageSuite(t *testing.T, db func(*config.Config)) {
	n := browsertest.Start(t, func(cfg *config.Config) {
		// gpt-4o is served by "flaky" first (higher priority), whose one
		// credential the mock fails with 503, then by "mock": a request
		// for it fails over, and its routing story has two attempts.
		up := cfg.Channels[len(cfg.Channels)-1].BaseURL
		cfg.Channels[len(cfg.Channels)-1].Models = append(cfg.Channels[len(cfg.Channels)-1].Models, "gpt-4o")
		cfg.Channels = append(cfg.Channels, config.Channel{Name: "flaky", Type: "openai", BaseURL: up, Priority: 10,
			Models: []string{"gpt-4o"}, Credentials: []config.Credential{{Key: "flaky-key-1"}}})
		cfg.Users = append(cfg.Users, config.User{Email: usageAnn, Name: "Ann", Credit: 10})
		cfg.Keys = append(cfg.Keys,
			config.Key{Name: "ann-laptop", User: usageAnn, Key: usageAnnKey},
			config.Key{Name: "ops-ci", User: browsertest.Admin.Email, Key: usageOpsKey})
		cfg.Pricing["gpt-4o-mini"] = config.Price{Input: 0.15, Output: 0.6}
		if db != nil {
			db(cfg)
		}
	})
	if _, err := n.Accounts().SetPassword(t.Context(), usageAnn, usageAnnPassword); err != nil {
		t.Fatal(err)
	}
	usageSend(t, "PUT", n.Upstream+"/_mock/faults", "", `{"credential":"flaky-key-1","fault":{"status":503}}`, 200)

	chat := func(key, model, prompt string, stream bool, want int) string {
		body := fmt.Sprintf(`{"model":%q,"stream":%t,"messages":[{"role":"user","content":%q}]}`, model, stream, prompt)
		return usageSend(t, "POST", n.Base+"/v1/chat/completions", key, body, want)
	}
	for i := range usageAnnRows {
		chat(usageAnnKey, "gpt-4o-mini", "hello number "+strconv.Itoa(i), false, 200)
	}
	chat(usageAnnKey, "gpt-4o-mini", "a streamed hello", true, 200)
	failover := chat(usageOpsKey, "gpt-4o", "route me around the failing channel", false, 200)
	chat(usageOpsKey, "gpt-4o", "and once more", false, 200)
	// Last, so the mock credential's failure cannot cool it down for the
	// others: every attempt fails, the client gets a 5xx.
	failed := chat(usageAnnKey, "gpt-4o-mini", "[[mock status=500]] this one fails", false, 502)
	total, annRows := usageAnnRows+4, usageAnnRows+2

	// Rows are journaled after the answer and written by a drain: wait
	// until the admin's log has them all, and check the failover there.
	cookie := usageLogin(t, n.Base)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := n.Meter().Drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct {
				RequestID string `json:"request_id"`
				Attempts  int    `json:"attempts"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(usageSend(t, "GET", n.Base+"/api/v1/admin/usage?limit=200", "cookie:"+cookie, "", 200)), &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Items) == total {
			for _, it := range page.Items {
				if it.RequestID == failover && it.Attempts < 2 {
					t.Fatalf("request %s made %d attempts; the suite needs a failover", failover, it.Attempts)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the usage log has %d rows, want %d", len(page.Items), total)
		}
		time.Sleep(50 * time.Millisecond)
	}

	t.Setenv("SY_ADMIN_EMAIL", browsertest.Admin.Email)
	t.Setenv("SY_ADMIN_PASSWORD", browsertest.Admin.Password)
	t.Setenv("SY_USER_EMAIL", usageAnn)
	t.Setenv("SY_USER_PASSWORD", usageAnnPassword)
	browsertest.Run(t, "usage.mjs", "--base", n.Base, "--rows", strconv.Itoa(total), "--user-rows", strconv.Itoa(annRows),
		"--failover", failover, "--failed", failed)
}

// usageSend makes one request and returns the body (/api, /_mock) or the
// request id (/v1); auth is an API key, "cookie:<session>", or empty.
func usageSend(t *testing.T, method, url, auth, body string, want int) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	switch {
	case strings.HasPrefix(auth, "cookie:"):
		req.Header.Set("Cookie", "sy_session="+strings.TrimPrefix(auth, "cookie:"))
	case auth != "":
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, url, res.StatusCode, want, b)
	}
	if strings.Contains(url, "/api/") || strings.Contains(url, "/_mock/") {
		return string(b)
	}
	return res.Header.Get("X-Request-Id")
}

// usageLogin signs the file admin in and returns the session cookie.
func usageLogin(t *testing.T, base string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": browsertest.Admin.Email, "password": browsertest.Admin.Password})
	req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/api/v1/auth/login", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", base)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "sy_session" && res.StatusCode == 200 {
			return c.Value
		}
	}
	t.Fatalf("admin login: %d", res.StatusCode)
	return ""
}
