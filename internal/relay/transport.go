package relay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/internal/config"
)

// Transports hands out one *http.Client per proxy URL ("" = direct), built
// on demand and shared, so every channel behind the same proxy shares one
// connection pool.
type Transports struct {
	cfg     config.Upstream
	mu      sync.Mutex
	clients map[string]*http.Client
}

// NewTransports returns an empty set tuned by cfg.
func NewTransports(cfg config.Upstream) *Transports {
	return &Transports{cfg: cfg, clients: map[string]*http.Client{}}
}

// Client returns the client for proxy, building it on first use. It runs at
// start (the router resolves every target once), not per request.
func (ts *Transports) Client(proxy string) (*http.Client, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if c, ok := ts.clients[proxy]; ok {
		return c, nil
	}
	tr, err := newTransport(ts.cfg, proxy)
	if err != nil {
		return nil, err
	}
	// No Client.Timeout: it would bound a whole stream. The transport's
	// ResponseHeaderTimeout and the relay's idle timer bound the waits.
	c := &http.Client{Transport: ownTransport{tr}, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // an API answering a redirect is misconfigured; never resend a body
	}}
	ts.clients[proxy] = c
	return c, nil
}

// ownTransport marks the transport of a client Transports built: send may
// skip that client's Do.
type ownTransport struct{ *http.Transport }

// send is c.Do(req). For a client built by Transports, which follows no
// redirect, keeps no cookies and has no timeout, Do adds nothing to its
// transport's RoundTrip but per-request bookkeeping (a copy of the headers
// and URL for redirects, a body rewinder: six allocations), so the request
// goes to RoundTrip, its error wrapped in a *url.Error as Do wraps it. A URL
// with user info (Do turns it into basic auth) still goes through Do.
func send(c *http.Client, req *http.Request) (*http.Response, error) {
	tr, ok := c.Transport.(ownTransport)
	if !ok || c.Jar != nil || c.Timeout != 0 || req.URL.User != nil || req.Method == "" {
		return c.Do(req)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, &url.Error{Op: req.Method[:1] + strings.ToLower(req.Method[1:]), URL: req.URL.String(), Err: err}
	}
	return resp, nil
}

func newTransport(cfg config.Upstream, proxy string) (*http.Transport, error) {
	connect := cfg.ConnectTimeout
	if connect <= 0 {
		connect = 10 * time.Second
	}
	idle := cfg.MaxIdleConns
	if idle <= 0 {
		idle = 256
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0, // bounded per host below
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: cfg.FirstByteTimeout,
		ExpectContinueTimeout: time.Second,
		// Streams must reach the client as they arrive; a gzip layer would
		// buffer, and the upstream bodies are small JSON anyway.
		DisableCompression: true,
		// The write buffer holds a request's headers and the start of its
		// body, once per request, yet lives as long as the connection: 4 KiB
		// (the default) per held stream. A request over 1 KiB costs one
		// write(2) more; a large body goes past the buffer either way.
		WriteBufferSize: upstreamWriteBuffer,
	}
	if proxy != "" {
		u, err := url.Parse(proxy)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("invalid proxy URL (scheme %q)", safeScheme(u))
		}
		switch u.Scheme {
		case "http", "https", "socks5", "socks5h":
		default:
			return nil, fmt.Errorf("proxy scheme %q not supported; use http, https or socks5", u.Scheme)
		}
		tr.Proxy = http.ProxyURL(u)
	}
	return tr, nil
}

func safeScheme(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme
}

// upstreamWriteBuffer is each upstream connection's write buffer size.
const upstreamWriteBuffer = 1 << 10

var errStreamIdle = errors.New("upstream stream idle timeout")

// idleReader cancels the upstream request when no bytes arrive for d. The
// timer is reset on every Read, which costs one atomic store per read.
type idleReader struct {
	r     io.Reader
	d     time.Duration
	t     *time.Timer
	fired atomic.Bool
}

func newIdleReader(r io.Reader, d time.Duration, cancel func(error)) *idleReader {
	ir := &idleReader{r: r, d: d}
	if d > 0 {
		ir.t = time.AfterFunc(d, func() {
			ir.fired.Store(true)
			cancel(errStreamIdle)
		})
	}
	return ir
}

func (ir *idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if ir.t != nil && n > 0 {
		ir.t.Reset(ir.d)
	}
	return n, err
}

func (ir *idleReader) stop() {
	if ir.t != nil {
		ir.t.Stop()
	}
}

func (ir *idleReader) timedOut() bool { return ir.fired.Load() }

// parseRetryAfter reads retry-after-ms, then Retry-After (seconds or an HTTP
// date).
func parseRetryAfter(h http.Header) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
