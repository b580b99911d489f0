package app

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

const metricsToken = "metrics-token-0123456789abcdef"

// scrape GETs url with headers and returns the status and, for an error,
// its code.
func scrape(t *testing.T, url string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if !strings.Contains(string(b), "switchyard_http_requests_in_flight") {
			t.Fatalf("GET %s: 200 without the series: %.200s", url, b)
		}
		return resp.StatusCode, ""
	}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("GET %s: %d, not an OpenAI error: %s", url, resp.StatusCode, b)
	}
	return resp.StatusCode, e.Error.Code
}

// TestMetricsAccess: /metrics names channels and models, so it is not for
// the public. Without metrics.token or metrics.listen only an unproxied
// loopback client may scrape it; with a token, anyone with the token; with
// metrics.listen, it moves to its own listener.
func TestMetricsAccess(t *testing.T) {
	type want struct {
		status int
		code   string
	}
	check := func(t *testing.T, url string, headers map[string]string, w want) {
		t.Helper()
		status, code := scrape(t, url, headers)
		if status != w.status || code != w.code {
			t.Errorf("GET %s %v: %d %q, want %d %q", url, headers, status, code, w.status, w.code)
		}
	}
	ok := want{http.StatusOK, ""}
	forbidden := want{http.StatusForbidden, "metrics_forbidden"}
	badToken := want{http.StatusUnauthorized, "invalid_metrics_token"}
	bearer := map[string]string{"Authorization": "Bearer " + metricsToken}

	t.Run("default: loopback only", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Server.TrustedProxies = []string{"127.0.0.1/32"}
		r := start(t, cfg, nil, nil)
		check(t, r.base+"/metrics", nil, ok)
		// Through a trusted proxy, for a public client.
		check(t, r.base+"/metrics", map[string]string{"X-Forwarded-For": "203.0.113.7"}, forbidden)
		// A proxy on this host passing on a client it calls local.
		check(t, r.base+"/metrics", map[string]string{"X-Forwarded-For": "127.0.0.1"}, forbidden)
		check(t, r.base+"/metrics", map[string]string{"X-Real-IP": "203.0.113.7"}, forbidden)
		check(t, r.base+"/metrics", map[string]string{"Forwarded": "for=203.0.113.7"}, forbidden)
	})
	t.Run("token", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Server.TrustedProxies = []string{"127.0.0.1/32"}
		cfg.Metrics.Token = metricsToken
		r := start(t, cfg, nil, nil)
		check(t, r.base+"/metrics", nil, badToken)
		check(t, r.base+"/metrics", map[string]string{"Authorization": "Bearer " + metricsToken + "x"}, badToken)
		check(t, r.base+"/metrics", map[string]string{"Authorization": "Basic " + metricsToken}, badToken)
		check(t, r.base+"/metrics", bearer, ok)
		// The token opens it to a client from anywhere.
		check(t, r.base+"/metrics", map[string]string{"Authorization": "Bearer " + metricsToken,
			"X-Forwarded-For": "203.0.113.7"}, ok)
	})
	t.Run("own listener with a token", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Metrics.Listen = "127.0.0.1:0"
		cfg.Metrics.Token = metricsToken
		r := start(t, cfg, nil, nil)
		m := "http://" + r.app.MetricsAddr()
		if m == "http://" || m == r.base {
			t.Fatalf("metrics address %q, main %q", m, r.base)
		}
		check(t, r.base+"/metrics", bearer, want{http.StatusNotFound, "not_found"})
		check(t, m+"/metrics", nil, badToken)
		check(t, m+"/metrics", bearer, ok)
		check(t, m+"/v1/models", bearer, want{http.StatusNotFound, "not_found"})
	})
	t.Run("own listener without a token", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Metrics.Listen = "127.0.0.1:0"
		r := start(t, cfg, nil, nil)
		m := "http://" + r.app.MetricsAddr()
		check(t, r.base+"/metrics", nil, want{http.StatusNotFound, "not_found"})
		// Whoever reaches this listener may scrape: the operator chose
		// where it listens.
		check(t, m+"/metrics", map[string]string{"X-Forwarded-For": "203.0.113.7"}, ok)
	})
}
