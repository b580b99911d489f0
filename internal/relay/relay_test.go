package relay

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
)

func TestBadProxy(t *testing.T) {
	ts := NewTransports(config.Upstream{})
	if _, err := ts.Client("ftp://h:1"); err == nil {
		t.Fatal("ftp proxy accepted")
	}
	if _, err := ts.Client("socks5://127.0.0.1:1080"); err != nil {
		t.Fatal(err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	cases := []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"9"}}, 1500 * time.Millisecond},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{}, 0},
	}
	for _, c := range cases {
		if got := parseRetryAfter(c.h); got != c.want {
			t.Errorf("%v: got %s want %s", c.h, got, c.want)
		}
	}
}

func TestClientErrorMapping(t *testing.T) {
	cases := []struct {
		e      attemptError
		saw429 bool
		status int
		code   string
	}{
		{attemptError{status: 400, client: UpstreamError{Message: "bad"}}, false, 400, "invalid_request_error"},
		{attemptError{status: 422, client: UpstreamError{Message: "bad", Code: "context_length_exceeded"}}, false, 422, "context_length_exceeded"},
		{attemptError{status: 500}, false, 502, "upstream_error"},
		{attemptError{status: 401}, false, 502, "upstream_error"},
		{attemptError{}, false, 502, "upstream_error"},
		{attemptError{status: 429}, true, 503, "no_available_channel"},
		{attemptError{status: 500}, true, 503, "no_available_channel"},
	}
	for _, c := range cases {
		ae := c.e.clientError(c.saw429, time.Second)
		if ae.Status != c.status || ae.Code != c.code {
			t.Errorf("%+v → %d %s", c.e, ae.Status, ae.Code)
		}
	}
}
