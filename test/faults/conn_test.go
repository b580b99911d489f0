package faults_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
)

// rawConn is a plain TCP connection to the node, for clients no HTTP
// library would write: a declared body that never comes, one sent in
// slow chunks, headers left unfinished.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

func (n *node) dial(t *testing.T) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", n.app.Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{t: t, c: c, rd: bufio.NewReader(c)}
}

func (rc *rawConn) write(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// head writes a POST's request line and headers; key "" sends none.
func (rc *rawConn) head(path, key, contentType string, length int) {
	rc.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: gateway\r\nContent-Type: %s\r\nContent-Length: %d\r\n", path, contentType, length)
	if key != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", key)
	}
	b.WriteString("\r\n")
	rc.write(b.String())
}

// closedWithin reads what the server sends until it closes the connection,
// failing if it is still open after limit. It returns the answer's status
// (0 when none came) and how long the close took.
func (rc *rawConn) closedWithin(limit time.Duration) (int, time.Duration) {
	rc.t.Helper()
	start := time.Now()
	_ = rc.c.SetReadDeadline(start.Add(limit))
	b, err := io.ReadAll(rc.rd)
	took := time.Since(start)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		rc.t.Fatalf("connection still open after %v (read %q): %v", took.Round(time.Millisecond), b, err)
	}
	status := 0
	if resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil); err == nil {
		status = resp.StatusCode
	}
	return status, took
}

// clientsCut reads switchyard_http_clients_cut_total for reason from
// /metrics (served to loopback clients).
func (n *node) clientsCut(reason string) int {
	n.t.Helper()
	resp, err := n.client.Get("http://" + n.app.Addr() + "/metrics")
	if err != nil {
		n.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	prefix := `switchyard_http_clients_cut_total{reason="` + reason + `"} `
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			var x int
			if _, err := fmt.Sscan(v, &x); err != nil {
				n.t.Fatalf("metrics line %q: %v", line, err)
			}
			return x
		}
	}
	n.t.Fatalf("no %s in /metrics (status %d)", prefix, resp.StatusCode)
	return 0
}

// chatBody is a valid chat request of about size bytes.
func chatBody(size int) []byte {
	b, _ := json.Marshal(map[string]any{"model": model, "max_tokens": 10,
		"messages": []map[string]string{{"role": "user", "content": strings.Repeat("slow ", size/5)}}})
	return b
}

// TestSlowRequestBodies: a request body must keep coming. The server has
// no overall read timeout (it would cut large uploads), so before the body
// deadlines a client that declared 100000 bytes and sent one held its
// connection forever, with or without a key; an unauthenticated one did
// too, because net/http waited for the body it meant to discard after the
// 401. Now a stall is cut after body_idle_timeout, a trickle below
// body_min_rate once its grace is spent, a body past body_timeout however
// steady — and a slow but steady upload still goes through.
func TestSlowRequestBodies(t *testing.T) {
	n := startNode(t, func(cfg *config.Config) {
		cfg.Server.BodyIdleTimeout = time.Second
		cfg.Server.BodyMinRate = 1000
		cfg.Server.BodyTimeout = 4 * time.Second
	})
	const longest = 3 * time.Second // idle timeout plus slack for a loaded machine

	// Every endpoint checks the key before the body and answers at once;
	// the connection is closed instead of waiting for the body.
	for _, tc := range []struct{ path, contentType string }{
		{"/v1/chat/completions", "application/json"},
		{"/v1/completions", "application/json"},
		{"/v1/embeddings", "application/json"},
		{"/v1/responses", "application/json"},
		{"/v1/messages", "application/json"},
		{"/v1/messages/count_tokens", "application/json"},
		{"/v1/images/generations", "application/json"},
		{"/v1/images/edits", "multipart/form-data; boundary=xyz"},
		{"/v1/no-such-endpoint", "application/json"},
	} {
		t.Run("no key "+tc.path, func(t *testing.T) {
			rc := n.dial(t)
			rc.head(tc.path, "", tc.contentType, 100000)
			rc.write("{")
			start := time.Now()
			_ = rc.c.SetReadDeadline(start.Add(longest))
			resp, err := http.ReadResponse(rc.rd, nil)
			if err != nil {
				t.Fatalf("no answer while the body is unread: %v", err)
			}
			_ = resp.Body.Close()
			if took := time.Since(start); took > 800*time.Millisecond {
				t.Errorf("answered after %v; the answer needs no body", took)
			}
			want := http.StatusUnauthorized
			if strings.Contains(tc.path, "no-such") {
				want = http.StatusNotFound
			}
			if resp.StatusCode != want || !resp.Close {
				t.Errorf("status %d close=%v, want %d and close", resp.StatusCode, resp.Close, want)
			}
			// Closed after a short drain, well before the idle timeout.
			if _, took := rc.closedWithin(longest); took > 900*time.Millisecond {
				t.Errorf("closed %v after the answer", took)
			}
		})
	}

	t.Run("stalled body with a key", func(t *testing.T) {
		rc := n.dial(t)
		rc.head("/v1/chat/completions", userKey, "application/json", 100000)
		rc.write("{")
		status, took := rc.closedWithin(longest)
		if status != http.StatusRequestTimeout {
			t.Errorf("status %d, want 408", status)
		}
		if took < 900*time.Millisecond {
			t.Errorf("cut after %v, before body_idle_timeout", took)
		}
	})

	t.Run("stalled multipart image edit with a key", func(t *testing.T) {
		rc := n.dial(t)
		rc.head("/v1/images/edits", userKey, "multipart/form-data; boundary=xyz", 100000)
		rc.write("--xyz\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na cat\r\n--xyz\r\n")
		status, took := rc.closedWithin(longest)
		// The form reader names its own error; either way the client
		// hears why and the connection goes.
		if status != http.StatusRequestTimeout && status != http.StatusBadRequest {
			t.Errorf("status %d, want 408 or 400", status)
		}
		if took < 900*time.Millisecond {
			t.Errorf("cut after %v, before body_idle_timeout", took)
		}
	})

	t.Run("trickle below the minimum rate", func(t *testing.T) {
		// 50 bytes every 250 ms is 200 B/s: never idle for a second, but
		// behind 1000 B/s once the one-second grace is spent.
		rc := n.dial(t)
		rc.head("/v1/chat/completions", userKey, "application/json", 100000)
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for time.Since(start) < 5*time.Second {
				if _, err := rc.c.Write(bytes.Repeat([]byte(" "), 50)); err != nil {
					return
				}
				time.Sleep(250 * time.Millisecond)
			}
		}()
		status, _ := rc.closedWithin(longest + time.Second)
		<-done
		if status != http.StatusRequestTimeout {
			t.Errorf("status %d, want 408", status)
		}
		if took := time.Since(start); took > 3500*time.Millisecond {
			t.Errorf("trickle cut after %v; the minimum rate should cut it at about 1.3 s", took)
		}
	})

	t.Run("steady upload past body_timeout", func(t *testing.T) {
		// 8 KiB every 150 ms is fast enough, but 400 KiB would take 7.5 s.
		rc := n.dial(t)
		body := chatBody(400 << 10)
		rc.head("/v1/chat/completions", userKey, "application/json", len(body))
		start := time.Now()
		go func() {
			for off := 0; off < len(body); off += 8 << 10 {
				if _, err := rc.c.Write(body[off:min(off+8<<10, len(body))]); err != nil {
					return
				}
				time.Sleep(150 * time.Millisecond)
			}
		}()
		status, _ := rc.closedWithin(8 * time.Second)
		took := time.Since(start)
		if status != http.StatusRequestTimeout {
			t.Errorf("status %d, want 408", status)
		}
		if took < 3900*time.Millisecond || took > 6*time.Second {
			t.Errorf("cut after %v, want about body_timeout (4s)", took)
		}
	})

	t.Run("slow but steady upload", func(t *testing.T) {
		// 64 KiB in 4 KiB chunks every 200 ms: 3.2 s in all, far past the
		// one-second idle timeout, never idle that long and well above
		// the minimum rate.
		rc := n.dial(t)
		body := chatBody(64 << 10)
		rc.head("/v1/chat/completions", userKey, "application/json", len(body))
		for off := 0; off < len(body); off += 4 << 10 {
			rc.write(string(body[off:min(off+4<<10, len(body))]))
			time.Sleep(200 * time.Millisecond)
		}
		_ = rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(rc.rd, nil)
		if err != nil {
			t.Fatalf("read answer: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		// The connection stays usable: the deadline was lifted when the
		// body ended.
		rc.write("GET /v1/models HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer " + userKey + "\r\n\r\n")
		resp, err = http.ReadResponse(rc.rd, nil)
		if err != nil {
			t.Fatalf("second request on the connection: %v", err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("second request: status %d", resp.StatusCode)
		}
	})
	// The stall, the multipart stall, the trickle and the long upload.
	if got := n.clientsCut("body_timeout"); got != 4 {
		t.Errorf("clients cut for body_timeout: %d, want 4", got)
	}
	n.settle(1) // the steady upload only: no cut request reached the relay
	n.audit()
}

// TestUnauthenticatedConnectionCap: one address may hold at most
// server.unauthenticated_conns_per_ip connections that never presented a
// valid key. Beyond that a connection must send a valid key at once or is
// refused with 429 and closed, while clients with a key from the same
// address are still served, on new connections too.
func TestUnauthenticatedConnectionCap(t *testing.T) {
	const capN = 3
	n := startNode(t, func(cfg *config.Config) {
		cfg.Server.UnauthenticatedConnsPerIP = capN
	})
	// Connections that hang in their headers; read_header_timeout (10 s)
	// would keep them all.
	var slow []*rawConn
	for range capN {
		rc := n.dial(t)
		rc.write("POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n")
		slow = append(slow, rc)
	}
	// The count is taken at accept; give the server a moment to accept
	// them all.
	time.Sleep(200 * time.Millisecond)

	t.Run("one more hanging connection is cut", func(t *testing.T) {
		rc := n.dial(t)
		rc.write("POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n")
		_, took := rc.closedWithin(5 * time.Second)
		if took > 3*time.Second {
			t.Errorf("closed after %v, want about 2s", took)
		}
	})
	t.Run("one more request without a key is refused", func(t *testing.T) {
		rc := n.dial(t)
		rc.head("/v1/chat/completions", "", "application/json", 2)
		rc.write("{}")
		_ = rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(rc.rd, nil)
		if err != nil {
			t.Fatalf("read answer: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		a := answer{status: resp.StatusCode, body: string(b)}
		n.wantError("over the cap", a, http.StatusTooManyRequests, "too_many_connections")
		if !resp.Close {
			t.Error("refused connection not closed")
		}
	})
	t.Run("a key on a new connection passes", func(t *testing.T) {
		n.tr.CloseIdleConnections() // a fresh connection, over the cap
		if a := n.send("hello", false); a.status != http.StatusOK {
			t.Fatalf("with a key: %d %s", a.status, a.body)
		}
		// And it no longer counts: more keyed requests on it pass too.
		if a := n.send("again", true); a.status != http.StatusOK {
			t.Fatalf("with a key, again: %d %s", a.status, a.body)
		}
	})
	t.Run("closing the hanging connections frees the address", func(t *testing.T) {
		for _, rc := range slow {
			_ = rc.c.Close()
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			rc := n.dial(t)
			rc.head("/v1/chat/completions", "", "application/json", 2)
			rc.write("{}")
			_ = rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(rc.rd, nil)
			if err != nil {
				t.Fatalf("read answer: %v", err)
			}
			_ = resp.Body.Close()
			_ = rc.c.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("still %d after the hanging connections closed", resp.StatusCode)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	// The hanging one, the refused one and the one with a key, and any
	// tried before the server noticed the hanging ones close.
	if got := n.clientsCut("over_cap"); got < 3 {
		t.Errorf("connections over the cap: %d, want at least 3", got)
	}
	n.settle(2)
	n.audit()
}

// TestCountTokensRateLimited: count_tokens is free — a key whose user has
// no credit may call it, and nothing is charged — but it reaches the
// upstream, so it goes through the key's rate limits like any request.
func TestCountTokensRateLimited(t *testing.T) {
	const (
		claude   = "c"
		brokeKey = "sk-faults-broke-0123456789abcdef"
	)
	n := startNode(t, func(cfg *config.Config) {
		cfg.Channels = append(cfg.Channels, config.Channel{Name: "claude", Type: "anthropic",
			BaseURL: cfg.Channels[0].BaseURL, Models: []string{claude}, Credentials: []config.Credential{{Key: "k3"}}})
		cfg.Pricing[claude] = config.Price{Input: 1, Output: 2}
		cfg.Users = append(cfg.Users, config.User{Email: "broke@example.com"})
		cfg.Keys = append(cfg.Keys, config.Key{Name: "broke", User: "broke@example.com", Key: brokeKey, RPM: 2})
	})
	post := func(path string) answer {
		body, _ := json.Marshal(map[string]any{"model": claude, "max_tokens": 10,
			"messages": []map[string]string{{"role": "user", "content": "count me"}}})
		req, _ := http.NewRequest(http.MethodPost, "http://"+n.app.Addr()+path, bytes.NewReader(body))
		req.Header.Set("x-api-key", brokeKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := n.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{status: resp.StatusCode, body: string(b)}
	}
	for i := range 2 {
		a := post("/v1/messages/count_tokens")
		if a.status != http.StatusOK || !strings.Contains(a.body, "input_tokens") {
			t.Fatalf("count_tokens %d without credit: %d %s", i+1, a.status, a.body)
		}
	}
	if got := len(n.up.mock.Requests("k3")); got != 2 {
		t.Errorf("upstream saw %d count_tokens calls, want 2", got)
	}
	a := post("/v1/messages/count_tokens")
	if a.status != http.StatusTooManyRequests || !strings.Contains(a.body, "rate_limit") {
		t.Fatalf("third count_tokens within the minute: %d %s, want 429 rate limited", a.status, a.body)
	}
	if got := len(n.up.mock.Requests("k3")); got != 2 {
		t.Errorf("the refused call reached the upstream: %d calls", got)
	}
	n.audit()
}
