package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
)

// OverCapGrace is how long a connection that arrived with its address's cap
// of unauthenticated connections full has to send its request headers. A
// client with a key sends them at once; a slow one is cut early.
const OverCapGrace = 2 * time.Second

// ConnLimiter caps, per peer address, the open connections that have not
// yet carried a request with a valid API key. Slow or idle unauthenticated
// connections are the cheap way to hold a server's sockets and goroutines;
// clients with a key are accountable and do not count once they showed it.
//
// A connection beyond the cap is not refused at accept, because it may be a
// client with a key behind the same address (a NAT, an office): it gets
// OverCapGrace to send its headers, and Router.guardConn serves its request
// only if it carries a valid key; anything else is answered 429 and the
// connection closed.
//
// The peer is the TCP address. A trusted proxy's connections carry many
// clients and are not counted; the proxy is the place to bound slow clients.
type ConnLimiter struct {
	max     int
	trusted []netip.Prefix
	// OverCap, when set, is called for each connection accepted over the
	// cap (a metric).
	OverCap func()
	mu      sync.Mutex
	open    map[netip.Addr]int
}

// NewConnLimiter allows max unauthenticated connections per address; max
// ≤ 0 means no cap.
func NewConnLimiter(max int, trusted []netip.Prefix) *ConnLimiter {
	return &ConnLimiter{max: max, trusted: trusted, open: map[netip.Addr]int{}}
}

// Listener counts the connections ln accepts. Serve it with an
// http.Server whose ConnContext is ConnContext.
func (l *ConnLimiter) Listener(ln net.Listener) net.Listener {
	if l.max <= 0 {
		return ln
	}
	return &limitedListener{Listener: ln, l: l}
}

// Unauthenticated is the number of unauthenticated connections open from ip.
func (l *ConnLimiter) Unauthenticated(ip netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[ip.Unmap()]
}

// admit counts a new connection from ip, or reports that the cap is full.
func (l *ConnLimiter) admit(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip] >= l.max {
		return false
	}
	l.open[ip]++
	return true
}

func (l *ConnLimiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.open[ip] - 1; n > 0 {
		l.open[ip] = n
	} else {
		delete(l.open, ip)
	}
}

type limitedListener struct {
	net.Listener
	l *ConnLimiter
}

func (ln *limitedListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return c, err
	}
	ip := peerAddr(c.RemoteAddr().String())
	if !ip.IsValid() || isTrusted(ip, ln.l.trusted) {
		return c, nil
	}
	lc := &limitedConn{Conn: c, l: ln.l, ip: ip}
	if !ln.l.admit(ip) {
		if ln.l.OverCap != nil {
			ln.l.OverCap()
		}
		lc.overCap = true
		lc.graceEnd = time.Now().Add(OverCapGrace)
		_ = c.SetReadDeadline(lc.graceEnd)
	}
	return lc, nil
}

// limitedConn is one counted (or over-cap) connection.
type limitedConn struct {
	net.Conn
	l        *ConnLimiter
	ip       netip.Addr
	overCap  bool      // arrived with the cap full; not counted
	graceEnd time.Time // over cap: no read may wait past this until authenticated
	authed   atomic.Bool
	released atomic.Bool
}

// SetReadDeadline keeps an over-cap connection's reads within its grace
// until it authenticates; net/http would otherwise give its headers the
// full read_header_timeout.
func (c *limitedConn) SetReadDeadline(t time.Time) error {
	if c.overCap && !c.authed.Load() && (t.IsZero() || t.After(c.graceEnd)) {
		t = c.graceEnd
	}
	return c.Conn.SetReadDeadline(t)
}

// ReadFrom keeps sendfile for file answers (net/http looks for it on the
// connection).
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

func (c *limitedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

func (c *limitedConn) release() {
	if !c.overCap && c.released.CompareAndSwap(false, true) {
		c.l.release(c.ip)
	}
}

func (c *limitedConn) authenticate() {
	if !c.authed.CompareAndSwap(false, true) {
		return
	}
	c.release()
	if c.overCap {
		// Lift the grace; the body deadlines take over from here.
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
}

type connKey struct{}

// ConnContext is the http.Server ConnContext that lets MarkAuthenticated
// find a request's connection.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if lc, ok := c.(*limitedConn); ok {
		return context.WithValue(ctx, connKey{}, lc)
	}
	return ctx
}

func connFrom(ctx context.Context) *limitedConn {
	lc, _ := ctx.Value(connKey{}).(*limitedConn)
	return lc
}

// MarkAuthenticated records that the request in ctx presented a valid API
// key, so its connection no longer counts against its address's cap. The
// key directory's wrapper calls it.
func MarkAuthenticated(ctx context.Context) {
	if lc := connFrom(ctx); lc != nil {
		lc.authenticate()
	}
}

// TooManyConnections refuses a request on a connection over its address's
// cap of unauthenticated connections.
func TooManyConnections() *apierror.Error {
	return &apierror.Error{Status: http.StatusTooManyRequests, Type: apierror.TypeRateLimit, Code: "too_many_connections",
		Message:    "Too many connections from your address without a valid API key; send the key, or reuse an open connection.",
		RetryAfter: time.Second}
}

// SignedPaths marks the paths under prefix as carrying their own
// credential (the signed image links): a request there answered below 400
// authenticates its connection as a key would, and an over-cap connection
// may try one. Browsers fetch those links with no key, over keep-alive
// connections that would otherwise count for as long as they stay open.
// Call it before serving.
func (rt *Router) SignedPaths(prefix string) {
	rt.signed = append(rt.signed, prefix)
}

func (rt *Router) isSigned(path string) bool {
	for _, p := range rt.signed {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// guardConn serves a request on an over-cap connection only when it
// carries a valid key (or goes to a signed route), and counts a signed
// route's success as authentication.
func (rt *Router) guardConn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lc := connFrom(r.Context())
		if lc == nil || lc.authed.Load() {
			next.ServeHTTP(w, r)
			return
		}
		if lc.overCap {
			if rt.opts.KeyValid != nil && rt.opts.KeyValid(r) {
				lc.authenticate()
			} else if !rt.isSigned(r.URL.Path) {
				w.Header().Set("Connection", "close")
				writeError(w, r, TooManyConnections())
				return
			}
		}
		next.ServeHTTP(w, r)
		if !lc.authed.Load() && rt.isSigned(r.URL.Path) {
			if sw, ok := w.(*statusWriter); ok && sw.status < http.StatusBadRequest {
				lc.authenticate()
			}
		}
	})
}
