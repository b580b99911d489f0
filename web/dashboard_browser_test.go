package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/web/browsertest"
)

// dashUser is a plain user with a key and credit, declared in the file;
// the test gives them a password so they can sign in.
var dashUser = browsertest.Account{Email: "ursula@example.com", Password: "ursula-password-1"}

const dashKey = "sk-sy-dashboard0123456789abcdefghijklmnopqrstuvwxyz"

// dashboardNode is a node whose gpt-4o-mini costs money, with dashUser and
// their key "laptop", and some traffic already through /v1: five answered
// requests and one the upstream refuses, so the charts have something to show.
func dashboardNode(t *testing.T, edit func(*config.Config)) *browsertest.Node {
	t.Helper()
	n := browsertest.Start(t, func(cfg *config.Config) {
		cfg.Pricing = map[string]config.Price{"gpt-4o-mini": {Input: 150, Output: 600}, "*": {Free: true}}
		cfg.Users = append(cfg.Users, config.User{Email: dashUser.Email, Name: "Ursula", Credit: 5})
		cfg.Keys = append(cfg.Keys, config.Key{Name: "laptop", User: dashUser.Email, Key: config.Secret(dashKey)})
		if edit != nil {
			edit(cfg)
		}
	})
	if _, err := n.Accounts().SetPassword(t.Context(), dashUser.Email, dashUser.Password); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		prompt, want := "hello dashboard", http.StatusOK
		if i == 5 {
			prompt, want = "[[mock status=400]] refuse this", http.StatusBadRequest
		}
		if got := dashChat(t, n.Base, prompt); got != want {
			t.Fatalf("chat %d: status %d, want %d", i, got, want)
		}
	}
	// The usage rows (and the rollups the dashboard reads) are written by
	// the meter's drain, a moment after each answer.
	if err := n.Meter().Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	return n
}

func dashChat(t *testing.T, base, prompt string) int {
	t.Helper()
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + prompt + `"}]}`
	req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+dashKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func runDashboard(t *testing.T, n *browsertest.Node, screenshots bool) {
	t.Setenv("SY_ADMIN_EMAIL", browsertest.Admin.Email)
	t.Setenv("SY_ADMIN_PASSWORD", browsertest.Admin.Password)
	t.Setenv("SY_USER_EMAIL", dashUser.Email)
	t.Setenv("SY_USER_PASSWORD", dashUser.Password)
	shots := "1"
	if !screenshots {
		shots = "0"
	}
	browsertest.Run(t, "dashboard.mjs", "--base", n.Base, "--key", dashKey, "--shots", shots)
}

// The dashboard on a real node (SQLite): the administrator's live tiles,
// charts, top tables and upstream health after real traffic, the range in
// the URL, both themes, 375 px and Chinese; and a user's own view.
func TestBrowserDashboard(t *testing.T) {
	browsertest.Tools(t)
	runDashboard(t, dashboardNode(t, nil), true)
}

// The same on PostgreSQL and Redis, where the rollups, the live view's
// figures (summed across nodes through Redis) and the sessions live
// elsewhere. Screenshots come from the SQLite run.
func TestBrowserDashboardPostgres(t *testing.T) {
	browsertest.Tools(t)
	dbURL := testenv.FreshPostgresURL(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, redisURL)
	n := dashboardNode(t, func(cfg *config.Config) {
		cfg.Database.URL = config.Secret(dbURL)
		cfg.Redis.URL = config.Secret(redisURL)
		cfg.Redis.Prefix = prefix
		cfg.SecretKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	})
	runDashboard(t, n, false)
}
