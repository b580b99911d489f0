package relay

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
)

func TestRouterRoundRobin(t *testing.T) {
	chans := []config.Channel{
		{Name: "a", Type: "openai", Models: []string{"m"}, Credentials: []config.Credential{{Key: "a0"}, {Key: "a1"}}},
		{Name: "b", Type: "openai", Models: []string{"x"}, ModelMap: map[string]string{"m": "x"}, Credentials: []config.Credential{{Key: "b0"}}},
		{Name: "off", Type: "openai", Models: []string{"m"}, Disabled: true, Credentials: []config.Credential{{Key: "z"}}},
	}
	rt, err := NewRouter(chans, NewTransports(config.Upstream{}))
	if err != nil {
		t.Fatal(err)
	}
	var firsts []string
	for range 3 {
		ts := rt.Pick("m", 3)
		if len(ts) != 3 {
			t.Fatalf("%d targets", len(ts))
		}
		firsts = append(firsts, ts[0].Secret())
	}
	if firsts[0] == firsts[1] || firsts[1] == firsts[2] || firsts[0] == firsts[2] {
		t.Fatalf("not round robin: %v", firsts)
	}
	if rt.Pick("nope", 3) != nil || rt.Has("nope") || !rt.Has("x") {
		t.Fatal("model index wrong")
	}
	if got := rt.Pick("m", 2); len(got) != 2 {
		t.Fatalf("max attempts not applied: %d", len(got))
	}
}

func TestBadProxy(t *testing.T) {
	chans := []config.Channel{{Name: "a", Type: "openai", Models: []string{"m"}, Proxy: "ftp://h:1",
		Credentials: []config.Credential{{Key: "k"}}}}
	if _, err := NewRouter(chans, NewTransports(config.Upstream{})); err == nil {
		t.Fatal("ftp proxy accepted")
	}
	chans[0].Proxy = "socks5://127.0.0.1:1080"
	if _, err := NewRouter(chans, NewTransports(config.Upstream{})); err != nil {
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
		{attemptError{status: 400, msg: "bad"}, false, 400, "invalid_request_error"},
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
