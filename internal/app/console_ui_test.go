package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A node serves the console UI at / and its page paths, with the UI's
// security headers, while the API paths keep their JSON answers.
func TestConsoleUIServed(t *testing.T) {
	r := start(t, testConfig(t), nil, nil)
	for _, p := range []string{"/", "/login", "/channels/3"} {
		resp, err := http.Get(r.base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `<div id="app">`) {
			t.Fatalf("GET %s: %d %.80q", p, resp.StatusCode, body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Fatalf("GET %s: CSP %q", p, csp)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Request-Id") == "" {
			t.Fatalf("GET %s: headers %v", p, resp.Header)
		}
	}
	for _, p := range []string{"/v1/nope", "/api/v1/nope"} {
		resp, err := http.Get(r.base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %q", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
