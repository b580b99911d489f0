package openai_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
)

// httpProxy is a forward proxy for plain-HTTP upstreams: it takes
// absolute-URI requests and replays them direct, counting each.
type httpProxy struct {
	srv      *httptest.Server
	requests atomic.Int64
	tr       *http.Transport
}

func startHTTPProxy(t *testing.T) *httpProxy {
	t.Helper()
	p := &httpProxy{tr: &http.Transport{DisableCompression: true}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() { p.srv.Close(); p.tr.CloseIdleConnections() })
	return p
}

func (p *httpProxy) serve(w http.ResponseWriter, r *http.Request) {
	// A request meant for the proxy itself has no absolute URI: a client
	// that ignored its proxy setting would land here too, so reject it.
	if !r.URL.IsAbs() {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	p.requests.Add(1)
	out, err := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	out.Header.Del("Proxy-Connection")
	out.ContentLength = r.ContentLength
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush() // streams must pass through as they come
		}
		if err != nil {
			return
		}
	}
}

// socksServer is a minimal SOCKS5 server (RFC 1928 CONNECT, RFC 1929
// username/password): the protocol peer Go's transport talks to.
type socksServer struct {
	ln          net.Listener
	user, pass  string // "" = no authentication
	conns       atomic.Int64
	mu          sync.Mutex
	seenUsers   []string
	seenPasses  []string
	seenAddrTyp map[byte]int
	wg          sync.WaitGroup
}

func startSOCKS(t *testing.T, user, pass string) *socksServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &socksServer{ln: ln, user: user, pass: pass, seenAddrTyp: map[byte]int{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.handle(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *socksServer) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil || hdr[0] != 5 {
		return
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return
	}
	want := byte(0x00)
	if s.user != "" {
		want = 0x02
	}
	if !strings.ContainsRune(string(methods), rune(want)) {
		c.Write([]byte{5, 0xff})
		return
	}
	c.Write([]byte{5, want})
	if want == 0x02 {
		user, pass, err := readUserPass(br)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.seenUsers = append(s.seenUsers, user)
		s.seenPasses = append(s.seenPasses, pass)
		s.mu.Unlock()
		if user != s.user || pass != s.pass {
			c.Write([]byte{1, 1})
			return
		}
		c.Write([]byte{1, 0})
	}
	req := make([]byte, 4)
	if _, err := io.ReadFull(br, req); err != nil || req[0] != 5 {
		return
	}
	var host string
	switch req[3] {
	case 1:
		ip := make([]byte, 4)
		if _, err := io.ReadFull(br, ip); err != nil {
			return
		}
		host = net.IP(ip).String()
	case 3:
		n, err := br.ReadByte()
		if err != nil {
			return
		}
		name := make([]byte, n)
		if _, err := io.ReadFull(br, name); err != nil {
			return
		}
		host = string(name)
	default:
		c.Write([]byte{5, 8, 0, 1, 0, 0, 0, 0, 0, 0}) // address type not supported
		return
	}
	pb := make([]byte, 2)
	if _, err := io.ReadFull(br, pb); err != nil {
		return
	}
	s.mu.Lock()
	s.seenAddrTyp[req[3]]++
	s.mu.Unlock()
	if req[1] != 1 {
		c.Write([]byte{5, 7, 0, 1, 0, 0, 0, 0, 0, 0}) // command not supported
		return
	}
	up, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(pb)))))
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	defer up.Close()
	c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	done := make(chan struct{})
	go func() {
		io.Copy(up, br)
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.Close()
	<-done
}

func readUserPass(br *bufio.Reader) (string, string, error) {
	ver, err := br.ReadByte()
	if err != nil || ver != 1 {
		return "", "", errors.New("bad auth version")
	}
	field := func() (string, error) {
		n, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		b := make([]byte, n)
		_, err = io.ReadFull(br, b)
		return string(b), err
	}
	u, err := field()
	if err != nil {
		return "", "", err
	}
	p, err := field()
	return u, p, err
}

func (s *socksServer) seen() (users, passes []string, addrTypes map[byte]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := map[byte]int{}
	for k, v := range s.seenAddrTyp {
		at[k] = v
	}
	return append([]string(nil), s.seenUsers...), append([]string(nil), s.seenPasses...), at
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestUpstreamProxies(t *testing.T) {
	hp := startHTTPProxy(t)
	authSocks := startSOCKS(t, "sockuser", "s3cret-pass")
	openSocks := startSOCKS(t, "", "")
	dead := deadAddr(t)

	g := startGateway(t, func(cfg *config.Config) {
		up := cfg.Channels[0].BaseURL
		port := up[strings.LastIndex(up, ":")+1:]
		cfg.Channels = append(cfg.Channels,
			// Channel proxy for cred px-http; px-socks overrides it.
			config.Channel{Name: "px", Type: "openai", BaseURL: up, Models: []string{"proxied-model"},
				Proxy: hp.srv.URL,
				Credentials: []config.Credential{
					{Key: "px-http"},
					{Key: "px-socks", Proxy: "socks5://sockuser:s3cret-pass@" + authSocks.ln.Addr().String()},
				}},
			// A host name upstream: the SOCKS client sends a domain address.
			config.Channel{Name: "pd", Type: "anthropic", BaseURL: "http://localhost:" + port, Models: []string{"socks-domain"},
				Proxy:       "socks5h://" + openSocks.ln.Addr().String(),
				Credentials: []config.Credential{{Key: "pd-1"}}},
			// The first credential's proxy is dead: its attempt fails over.
			config.Channel{Name: "dp", Type: "openai", BaseURL: up, Models: []string{"dead-proxy-model"},
				Credentials: []config.Credential{
					{Key: "dp-dead", Proxy: "http://" + dead},
					{Key: "dp-ok"},
				}},
			config.Channel{Name: "ds", Type: "openai", BaseURL: up, Models: []string{"dead-socks-model"},
				Credentials: []config.Credential{
					{Key: "ds-dead", Proxy: "socks5://u:p@" + dead},
					{Key: "ds-ok"},
				}},
		)
	})

	chat := func(model string, stream bool) chatResult {
		t.Helper()
		resp := g.post(t, testKey, mustJSON(t, map[string]any{
			"model": model, "stream": stream,
			"messages": []map[string]any{{"role": "user", "content": "hello"}},
		}))
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s stream=%v: status %d: %s", model, stream, resp.StatusCode, b)
		}
		if stream {
			r := readStreamResult(t, resp)
			if !r.Done || r.Content == "" {
				t.Fatalf("%s stream: incomplete %+v", model, r)
			}
			return r
		}
		r := readJSONResult(t, resp)
		if r.Content == "" {
			t.Fatalf("%s: empty content", model)
		}
		return r
	}

	// Direct channel first: no proxy may see it.
	chat("gpt-4o-mini", false)
	chat("gpt-4o-mini", true)
	if n := hp.requests.Load() + authSocks.conns.Load() + openSocks.conns.Load(); n != 0 {
		t.Fatalf("direct channel went through a proxy: %d proxy hits", n)
	}

	// Round robin over px: four requests hit each credential twice.
	for i := range 4 {
		chat("proxied-model", i%2 == 1)
	}
	if got := len(g.mock.Requests("px-http")); got != 2 {
		t.Errorf("mock saw %d px-http requests, want 2", got)
	}
	if got := len(g.mock.Requests("px-socks")); got != 2 {
		t.Errorf("mock saw %d px-socks requests, want 2", got)
	}
	if got := hp.requests.Load(); got != 2 {
		t.Errorf("HTTP proxy forwarded %d requests, want 2 (the px-http ones only)", got)
	}
	if authSocks.conns.Load() == 0 {
		t.Error("credential SOCKS proxy saw no connection")
	}
	users, passes, _ := authSocks.seen()
	if len(users) == 0 || users[0] != "sockuser" || passes[0] != "s3cret-pass" {
		t.Errorf("SOCKS server saw users %q", users)
	}
	if openSocks.conns.Load() != 0 {
		t.Errorf("unrelated SOCKS proxy saw %d connections", openSocks.conns.Load())
	}

	// socks5h + host name upstream, translated (anthropic) channel, both modes.
	chat("socks-domain", false)
	chat("socks-domain", true)
	if openSocks.conns.Load() == 0 {
		t.Fatal("channel SOCKS proxy saw no connection")
	}
	if _, _, at := openSocks.seen(); at[3] == 0 {
		t.Errorf("no domain-name CONNECT for a host-name upstream; address types %v", at)
	}
	if _, _, at := authSocks.seen(); at[1] == 0 {
		t.Errorf("no IPv4 CONNECT for a 127.0.0.1 upstream; address types %v", at)
	}
	if got := len(g.mock.Requests("pd-1")); got != 2 {
		t.Errorf("mock saw %d pd-1 requests, want 2", got)
	}

	// Dead proxies: every request still answers 200 from the other credential.
	for _, tc := range []struct{ model, prefix string }{
		{"dead-proxy-model", "dp"}, {"dead-socks-model", "ds"},
	} {
		m, prefix := tc.model, tc.prefix
		for i := range 4 {
			chat(m, i%2 == 1)
		}
		if got := len(g.mock.Requests(prefix + "-dead")); got != 0 {
			t.Errorf("%s: dead-proxy credential reached the upstream %d times", m, got)
		}
		if got := len(g.mock.Requests(prefix + "-ok")); got != 4 {
			t.Errorf("%s: mock saw %d requests on the working credential, want 4", m, got)
		}
	}
}

// TestSOCKSBadCredentials: a SOCKS proxy refusing the credential's login
// is a transport failure like any other, so the request fails over.
func TestSOCKSBadCredentials(t *testing.T) {
	s := startSOCKS(t, "right", "right-pass")
	g := startGateway(t, func(cfg *config.Config) {
		up := cfg.Channels[0].BaseURL
		cfg.Channels = append(cfg.Channels, config.Channel{Name: "sb", Type: "openai", BaseURL: up,
			Models: []string{"socks-bad"},
			Credentials: []config.Credential{
				{Key: "sb-wrong", Proxy: "socks5://right:wrong-pass@" + s.ln.Addr().String()},
				{Key: "sb-right", Proxy: "socks5://right:right-pass@" + s.ln.Addr().String()},
			}})
	})
	for range 2 {
		resp := g.post(t, testKey, `{"model":"socks-bad","messages":[{"role":"user","content":"hi"}]}`)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	}
	if got := len(g.mock.Requests("sb-wrong")); got != 0 {
		t.Errorf("refused login still reached upstream %d times", got)
	}
	if got := len(g.mock.Requests("sb-right")); got != 2 {
		t.Errorf("mock saw %d sb-right requests, want 2", got)
	}
	if _, passes, _ := s.seen(); !slices.Contains(passes, "wrong-pass") {
		t.Errorf("SOCKS server never saw the wrong password attempt: %q", passes)
	}
}
