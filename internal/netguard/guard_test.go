package netguard

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr   string
		reason string // "" when allowed; else a substring of Reason
	}{
		// Public addresses pass.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"2606:4700:4700::1111", ""},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},  // 6to4 of 8.8.8.8
		{"100.63.255.255", ""},   // just below CGNAT
		{"100.128.0.0", ""},      // just above CGNAT
		{"172.32.0.1", ""},       // just above 172.16/12
		{"198.20.0.1", ""},       // just above 198.18/15
		{"223.255.255.255", ""},  // just below multicast
		{"192.0.1.1", ""},        // between 192.0.0/24 and 192.0.2/24
		{"2a00:1450:4001::200e", ""},

		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"::1", "loopback"},
		{"10.0.0.5", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"fec0::1", "site-local"},
		{"169.254.169.254", "cloud metadata"},
		{"169.254.1.1", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"0.1.2.3", "this network"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.255", "carrier-grade NAT"},
		{"192.0.0.8", "IETF"},
		{"192.0.2.1", "documentation"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"2001:db8::1", "documentation"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"240.0.0.1", "reserved"},
		{"250.1.2.3", "reserved"},
		// IPv4 hidden in IPv6 is judged as the IPv4 it reaches.
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.0.0.5", "private"},
		{"::ffff:169.254.169.254", "cloud metadata"},
		{"::127.0.0.1", "IPv4-compatible"},
		{"64:ff9b::7f00:1", "NAT64 of loopback address 127.0.0.1"},
		{"64:ff9b::a00:5", "NAT64 of private address 10.0.0.5"},
		{"64:ff9b::a9fe:a9fe", "NAT64 of link-local (cloud metadata)"},
		{"64:ff9b:1::1", "local-use NAT64"},
		{"2002:a00:5::1", "6to4 of private address 10.0.0.5"},
		{"2001::1", "Teredo"},
		{"100::1", "discard"},
	}
	var g Guard
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.addr)
			err := g.CheckAddr(ip)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("CheckAddr(%s) = %v, want allowed", ip, err)
				}
				return
			}
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("CheckAddr(%s) = %v, want *BlockedError", ip, err)
			}
			if be.Addr != ip || !strings.Contains(be.Reason, tt.reason) {
				t.Fatalf("CheckAddr(%s) = {%s, %q}, want reason containing %q", ip, be.Addr, be.Reason, tt.reason)
			}
			if !strings.Contains(err.Error(), ip.String()) {
				t.Fatalf("error %q does not name the address", err)
			}
			// AllowPrivate lets everything through.
			if err := (&Guard{AllowPrivate: true}).CheckAddr(ip); err != nil {
				t.Fatalf("AllowPrivate: CheckAddr(%s) = %v", ip, err)
			}
		})
	}
}

func TestCheckAddrInvalid(t *testing.T) {
	var be *BlockedError
	if err := (&Guard{}).CheckAddr(netip.Addr{}); !errors.As(err, &be) {
		t.Fatalf("zero Addr: %v, want *BlockedError", err)
	}
	// A nil *Guard is the strict guard, not a panic.
	var g *Guard
	if err := g.CheckAddr(netip.MustParseAddr("127.0.0.1")); !errors.As(err, &be) {
		t.Fatalf("nil guard: %v, want *BlockedError", err)
	}
}

func TestAllowPrefixes(t *testing.T) {
	g := Guard{Allow: []netip.Prefix{
		netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("fd00:1::/32"),
	}}
	for addr, allowed := range map[string]bool{
		"10.1.2.3":         true,
		"::ffff:10.1.2.3":  true, // unmapped before the Allow check
		"64:ff9b::a01:203": true, // NAT64 of 10.1.2.3
		"fd00:1::5":        true,
		"10.2.0.1":         false,
		"fd00:2::5":        false,
		"127.0.0.1":        false,
	} {
		err := g.CheckAddr(netip.MustParseAddr(addr))
		if (err == nil) != allowed {
			t.Errorf("CheckAddr(%s) = %v, want allowed=%v", addr, err, allowed)
		}
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url     string
		invalid bool // ErrInvalidURL
		blocked bool // *BlockedError
	}{
		{"https://example.com/hook", false, false},
		{"http://example.com:8080/hook?x=1", false, false},
		{"https://8.8.8.8/", false, false},
		{"https://[2606:4700:4700::1111]/", false, false},
		// A name is checked when dialled, not here.
		{"http://localhost/", false, false},
		{"ftp://example.com/", true, false},
		{"file:///etc/passwd", true, false},
		{"gopher://example.com/", true, false},
		{"//example.com/", true, false},
		{"http:///path", true, false},
		{"http:example.com", true, false},
		{"https://user:pass@example.com/", true, false},
		{"http://127.0.0.1:8080/", false, true},
		{"http://[::1]/", false, true},
		{"http://[::ffff:127.0.0.1]/", false, true},
		{"http://169.254.169.254/latest/meta-data/", false, true},
		{"http://[fe80::1%25eth0]/", false, true},
		{"http://0.0.0.0:80/", false, true},
	}
	var g Guard
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatalf("parse %q: %v", tt.url, err)
		}
		err = g.CheckURL(u)
		var be *BlockedError
		switch {
		case tt.invalid && !errors.Is(err, ErrInvalidURL):
			t.Errorf("CheckURL(%q) = %v, want ErrInvalidURL", tt.url, err)
		case tt.blocked && !errors.As(err, &be):
			t.Errorf("CheckURL(%q) = %v, want *BlockedError", tt.url, err)
		case !tt.invalid && !tt.blocked && err != nil:
			t.Errorf("CheckURL(%q) = %v, want nil", tt.url, err)
		}
	}
	if err := g.CheckURL(nil); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("CheckURL(nil) = %v", err)
	}
	if err := (&Guard{AllowPrivate: true}).CheckURL(&url.URL{Scheme: "http", Host: "127.0.0.1"}); err != nil {
		t.Errorf("AllowPrivate: %v", err)
	}
}

// loopbackServer serves on 127.0.0.1 and returns the URL with the host
// spelt "localhost", so a refusal proves the check ran on the resolved
// address and not on a literal in the URL.
func loopbackServer(t *testing.T, h http.Handler) (byName string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return "http://localhost:" + port
}

func TestClientRefusesLoopbackByName(t *testing.T) {
	var hits int
	base := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		io.WriteString(w, "reached")
	}))

	// The URL passes CheckURL: the name is only judged once resolved.
	u, _ := url.Parse(base + "/x")
	if err := (&Guard{}).CheckURL(u); err != nil {
		t.Fatalf("CheckURL(%s) = %v", u, err)
	}

	resp, err := NewClient(&Guard{}, 5*time.Second).Get(base + "/x")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("default guard reached %s", base)
	}
	var be *BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("error %v (%T) does not carry a *BlockedError", err, err)
	}
	if !be.Addr.IsLoopback() || be.Reason != "loopback" {
		t.Fatalf("blocked %s for %q, want a loopback address", be.Addr, be.Reason)
	}
	if hits != 0 {
		t.Fatalf("server saw %d requests", hits)
	}

	// The same guard with an Allow entry for loopback, and AllowPrivate,
	// both get through.
	for name, g := range map[string]*Guard{
		"allow-private": {AllowPrivate: true},
		"allow-prefix":  {Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
	} {
		resp, err := NewClient(g, 5*time.Second).Get(base + "/x")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "reached" {
			t.Fatalf("%s: body %q", name, body)
		}
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	var followed bool
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	mux.HandleFunc("/target", func(w http.ResponseWriter, r *http.Request) { followed = true })
	base := loopbackServer(t, mux)

	resp, err := NewClient(&Guard{AllowPrivate: true}, 5*time.Second).Get(base + "/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || followed {
		t.Fatalf("status %d, followed=%v; want the 302 itself", resp.StatusCode, followed)
	}
	if loc := resp.Header.Get("Location"); loc != "/target" {
		t.Fatalf("Location %q", loc)
	}
}

func TestClientIgnoresProxyEnvironment(t *testing.T) {
	// A proxy would make every dial go to the proxy's address; the guard
	// must see the target's. The proxy here would answer "proxied".
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "proxied")
	}))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	base := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "direct")
	}))
	resp, err := NewClient(&Guard{AllowPrivate: true}, 5*time.Second).Get(base)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "direct" {
		t.Fatalf("body %q, want the direct answer", body)
	}
}

func TestDialerKeepsBaseControl(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	var called int
	base := &net.Dialer{Timeout: time.Second, Control: func(network, address string, c syscall.RawConn) error {
		called++
		return nil
	}}
	// Blocked: the base Control is not reached.
	_, err = (&Guard{}).Dialer(base).DialContext(context.Background(), "tcp", ln.Addr().String())
	var be *BlockedError
	if !errors.As(err, &be) || called != 0 {
		t.Fatalf("strict dial: err=%v called=%d", err, called)
	}
	// Allowed: the base Control runs after the check.
	c, err := (&Guard{AllowPrivate: true}).Dialer(base).DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if called != 1 {
		t.Fatalf("base Control called %d times", called)
	}
	if base.ControlContext != nil {
		t.Fatal("Dialer modified its argument")
	}
}
