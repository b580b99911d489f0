package openai_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

// TestFirstByteTimeout: an upstream slower than upstream.first_byte_timeout
// is abandoned and the request fails over; when every target is that slow
// the client gets 502 upstream_error well before the upstream would answer.
func TestFirstByteTimeout(t *testing.T) {
	g := startGateway(t, func(cfg *config.Config) {
		cfg.Upstream.FirstByteTimeout = 200 * time.Millisecond
	})
	const body = `{"model":"failover-model","messages":[{"role":"user","content":"hi"}]}`
	g.mock.SetFault("fo-a", mock.Fault{Latency: 3 * time.Second})
	for i := range 2 { // round robin starts on each credential once
		start := time.Now()
		r := roundTrip(t, g, false, body)
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Fatalf("request %d took %v with a 200ms first-byte timeout", i, took)
		}
		if r.Content == "" {
			t.Fatalf("request %d: empty answer", i)
		}
	}

	g.mock.SetFault("fo-b", mock.Fault{Latency: 3 * time.Second})
	start := time.Now()
	resp := g.post(t, testKey, body)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("every target slow: status %d, want 502", resp.StatusCode)
	}
	if code := errorCode(t, resp); code != "upstream_error" {
		t.Fatalf("code %q", code)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Fatalf("gave up after %v, want about 2 × 200ms", took)
	}
}
