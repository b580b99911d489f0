package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("scrape status %d: %s", resp.StatusCode, b)
	}
	return string(b)
}

func TestRequestSeries(t *testing.T) {
	m := New()
	tests := []struct {
		method, route string
		status        int
		want          string
	}{
		{"GET", "GET /healthz", 200, `switchyard_http_requests_total{method="GET",route="GET /healthz",status="200"} 1`},
		{"BREW", "/", 404, `switchyard_http_requests_total{method="OTHER",route="/",status="404"} 1`},
		{"POST", "", 405, `switchyard_http_requests_total{method="POST",route="unmatched",status="405"} 1`},
	}
	for _, tt := range tests {
		m.RequestStarted()
		m.RequestDone(tt.method, tt.route, tt.status, 20*time.Millisecond)
	}
	m.RequestStarted() // one left in flight
	out := scrape(t, m)
	for _, tt := range tests {
		if !strings.Contains(out, tt.want) {
			t.Errorf("missing %s", tt.want)
		}
	}
	for _, want := range []string{
		"switchyard_http_requests_in_flight 1",
		`switchyard_http_request_duration_seconds_count{method="GET",route="GET /healthz"} 1`,
		"go_goroutines",
		"process_start_time_seconds",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
}

func TestRegistriesAreIndependent(t *testing.T) {
	a, b := New(), New()
	a.RequestStarted()
	a.RequestDone("GET", "GET /x", 200, time.Millisecond)
	if strings.Contains(scrape(t, b), `route="GET /x"`) {
		t.Fatal("a's series visible in b")
	}
	// Later packages register on the same registry; a second registration of
	// the same name must be refused, not silently merged.
	if err := a.Registry().Register(a.requests); err == nil {
		t.Fatal("duplicate registration accepted")
	}
}

func TestClientCutSeries(t *testing.T) {
	m := New()
	out := scrape(t, m)
	// Both reasons exist from the start, so a rate() has a zero to begin at.
	for _, want := range []string{`switchyard_http_clients_cut_total{reason="body_timeout"} 0`,
		`switchyard_http_clients_cut_total{reason="over_cap"} 0`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
	m.ClientCut(CutOverCap)
	m.ClientCut(CutOverCap)
	var nilM *Metrics
	nilM.ClientCut(CutBodyTimeout) // no registry: a no-op
	if out := scrape(t, m); !strings.Contains(out, `switchyard_http_clients_cut_total{reason="over_cap"} 2`) {
		t.Errorf("over_cap not counted:\n%s", out)
	}
}
