package api

import (
	"net/http"
	"testing"
)

// The console's fallback answers page paths; the gateway's own paths keep
// their JSON 404 and 405 answers.
func TestFallback(t *testing.T) {
	env := newTestEnv(t, Options{}, func(rt *Router) {
		rt.Handle("POST /v1/chat/completions", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		rt.Handle("GET /api/v1/me", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		rt.SignedPaths("/files/signed/")
		rt.Fallback(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("console"))
		}))
	})
	tests := []struct {
		method, path string
		status       int
		console      bool
	}{
		{"GET", "/", 200, true},
		{"GET", "/users", 200, true},
		{"GET", "/channels/12/credentials", 200, true},
		{"HEAD", "/login", 200, true},
		{"GET", "/apiary", 200, true}, // only whole segments are reserved
		{"GET", "/api", 404, false},
		{"GET", "/api/v1/nope", 404, false},
		{"GET", "/v1", 404, false},
		{"GET", "/v1/models/x", 404, false},
		{"GET", "/v1/chat/completions", 405, false},
		{"POST", "/api/v1/me", 405, false},
		{"GET", "/p/img/abc/0", 404, false},
		{"GET", "/files/signed/x", 404, false},
		{"GET", "/healthz/x", 404, false},
		{"GET", "/readyz/x", 404, false},
		{"GET", "/metrics/x", 404, false},
		{"POST", "/users", 404, false},
		{"DELETE", "/", 404, false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := env.do(t, tt.method, tt.path, nil, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			isConsole := resp.Header.Get("Content-Type") == "text/html"
			if isConsole != tt.console {
				t.Fatalf("console answered = %v, want %v (%q)", isConsole, tt.console, body)
			}
		})
	}
}
