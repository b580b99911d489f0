package api

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
)

// limitedServer serves a router whose POST /auth authenticates the bearer
// "good" (as the key directory's wrapper does) through a ConnLimiter.
func limitedServer(t *testing.T, max int, trusted []netip.Prefix) (*httptest.Server, *ConnLimiter) {
	t.Helper()
	good := func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer good" }
	rt := New(Options{KeyValid: good})
	rt.Handle("POST /auth", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !good(r) {
			apierror.WriteOpenAI(w, r, apierror.InvalidAPIKey())
			return
		}
		MarkAuthenticated(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	// A signed link: its signature is its credential.
	rt.Handle("GET /p/{name}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("sig") != "ok" {
			apierror.WriteOpenAI(w, r, apierror.LinkInvalid())
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	rt.SignedPaths("/p/")
	l := NewConnLimiter(max, trusted)
	srv := httptest.NewUnstartedServer(rt.Handler())
	srv.Listener = l.Listener(srv.Listener)
	srv.Config.ConnContext = ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, l
}

func dialRaw(t *testing.T, srv *httptest.Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// post sends POST /auth on c and returns the status and whether the server
// said it closes the connection.
func post(t *testing.T, c net.Conn, rd *bufio.Reader, key string) (int, bool) {
	t.Helper()
	req := "POST /auth HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
	if key != "" {
		req += "Authorization: Bearer " + key + "\r\n"
	}
	if _, err := c.Write([]byte(req + "\r\n{}")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Close
}

func get(t *testing.T, c net.Conn, rd *bufio.Reader, path string) int {
	t.Helper()
	if _, err := c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func waitCount(t *testing.T, l *ConnLimiter, want int) {
	t.Helper()
	ip := netip.MustParseAddr("127.0.0.1")
	deadline := time.Now().Add(3 * time.Second)
	for l.Unauthenticated(ip) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d unauthenticated connections counted, want %d", l.Unauthenticated(ip), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConnLimiterCounts: a connection counts from accept until it carries
// a valid key or closes; one over the cap is served only with a valid key;
// a trusted proxy's connections are not counted.
func TestConnLimiterCounts(t *testing.T) {
	srv, l := limitedServer(t, 2, nil)
	c1, c2 := dialRaw(t, srv), dialRaw(t, srv)
	waitCount(t, l, 2)

	c3 := dialRaw(t, srv)
	rd3 := bufio.NewReader(c3)
	if status, closing := post(t, c3, rd3, "bad"); status != http.StatusTooManyRequests || !closing {
		t.Fatalf("over the cap, bad key: %d close=%v, want 429 and close", status, closing)
	}
	c4 := dialRaw(t, srv)
	rd4 := bufio.NewReader(c4)
	for i := range 2 { // and again on the same connection, now authenticated
		if status, closing := post(t, c4, rd4, "good"); status != http.StatusNoContent || closing {
			t.Fatalf("over the cap, good key (%d): %d close=%v", i, status, closing)
		}
	}
	waitCount(t, l, 2) // over-cap connections never counted

	rd1 := bufio.NewReader(c1)
	if status, _ := post(t, c1, rd1, "good"); status != http.StatusNoContent {
		t.Fatalf("counted connection, good key: %d", status)
	}
	waitCount(t, l, 1) // c1 authenticated
	_ = c2.Close()
	waitCount(t, l, 0) // c2 gone
	_ = c1.Close()
	waitCount(t, l, 0) // c1 was released once only

	// Signed links: a connection that fetched one stops counting, and an
	// over-cap connection may fetch one.
	s1 := dialRaw(t, srv)
	waitCount(t, l, 1)
	rs1 := bufio.NewReader(s1)
	if status := get(t, s1, rs1, "/p/a?sig=bad"); status != http.StatusForbidden {
		t.Fatalf("bad signature: %d", status)
	}
	waitCount(t, l, 1) // a failed link proves nothing
	if status := get(t, s1, rs1, "/p/a?sig=ok"); status != http.StatusOK {
		t.Fatalf("signed link: %d", status)
	}
	waitCount(t, l, 0)
	dialRaw(t, srv)
	dialRaw(t, srv)
	waitCount(t, l, 2)
	s2 := dialRaw(t, srv) // over the cap
	rs2 := bufio.NewReader(s2)
	if status := get(t, s2, rs2, "/p/b?sig=ok"); status != http.StatusOK {
		t.Fatalf("signed link over the cap: %d", status)
	}
	if status := get(t, s2, rs2, "/healthz"); status != http.StatusOK {
		t.Fatalf("the same connection, now authenticated: %d", status)
	}

	proxied, pl := limitedServer(t, 1, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	dialRaw(t, proxied)
	p2 := dialRaw(t, proxied)
	if status, _ := post(t, p2, bufio.NewReader(p2), "bad"); status != http.StatusUnauthorized {
		t.Fatalf("from a trusted proxy: %d, want 401 (not counted)", status)
	}
	waitCount(t, pl, 0)
}

// TestEarlyErrorClosesConnection: an error answered before the body was
// read closes the connection, so net/http does not wait for the rest; an
// error after the body was read keeps it.
func TestEarlyErrorClosesConnection(t *testing.T) {
	srv, _ := limitedServer(t, 0, nil)
	c := dialRaw(t, srv)
	rd := bufio.NewReader(c)
	if _, err := c.Write([]byte("POST /auth HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatalf("no answer while the body is unread: %v", err)
	}
	if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
		t.Fatalf("%d close=%v, want 401 and close", resp.StatusCode, resp.Close)
	}

	// Read first, then refused: nothing left on the wire, keep-alive.
	env := newTestEnv(t, Options{}, func(rt *Router) {
		rt.Handle("POST /read", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := ReadJSONBody(r); err != nil {
				apierror.WriteOpenAI(w, r, err)
				return
			}
			apierror.WriteOpenAI(w, r, apierror.InvalidAPIKey())
		}))
	})
	resp2, _ := env.do(t, "POST", "/read", strings.NewReader(`{"a":1}`), nil)
	if resp2.StatusCode != http.StatusUnauthorized || resp2.Close {
		t.Fatalf("%d close=%v, want 401 and keep-alive", resp2.StatusCode, resp2.Close)
	}
}
