// Package netguard keeps the gateway from being used to reach addresses
// it should not: loopback, private networks, link-local (cloud metadata at
// 169.254.169.254) and the other special-purpose ranges. It guards every
// URL a user or an upstream can make the gateway fetch or call, such as
// webhook targets and image URLs returned by a provider.
//
// Checking a URL when it is configured is not enough: a hostname can
// resolve to a public address then and to 127.0.0.1 a second later (DNS
// rebinding), and a redirect can point anywhere. So the check that counts
// runs at connect time, on the address actually dialled (Guard.Dialer),
// and the client from NewClient never follows redirects or uses a proxy.
// CheckURL exists to give an early, clear error for what can be refused
// without a lookup.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// Guard decides which addresses may be connected to. The zero value
// refuses every special-purpose address and allows the rest.
type Guard struct {
	// AllowPrivate turns the guard off: every address is allowed. For
	// deployments whose webhooks or upstreams live on a private network.
	AllowPrivate bool
	// Allow lists prefixes allowed even though they are special-purpose,
	// to open one internal network without opening all of them.
	Allow []netip.Prefix
}

// ErrInvalidURL is wrapped by CheckURL when the URL itself is unusable
// (scheme, missing host, userinfo), as opposed to blocked.
var ErrInvalidURL = errors.New("invalid URL")

// BlockedError says that an address was refused and why. It reaches the
// caller through *url.Error and *net.OpError; use errors.As.
type BlockedError struct {
	Addr   netip.Addr
	Reason string // what kind of address it is: "loopback", "private", …
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("address %s is %s and not allowed", e.Addr, e.Reason)
}

// CheckURL refuses a URL that is not plain http(s) to a host, and one
// whose host is an IP literal the guard blocks. A hostname is not looked
// up here: what it resolves to is checked when it is dialled.
func (g *Guard) CheckURL(u *url.URL) error {
	switch {
	case u == nil:
		return fmt.Errorf("%w: empty", ErrInvalidURL)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: scheme %q, want http or https", ErrInvalidURL, u.Scheme)
	case u.User != nil:
		// Credentials in a URL end up in logs and error messages.
		return fmt.Errorf("%w: user info is not allowed", ErrInvalidURL)
	case u.Hostname() == "":
		return fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		return g.CheckAddr(ip)
	}
	return nil
}

// CheckAddr returns a *BlockedError if ip may not be connected to.
func (g *Guard) CheckAddr(ip netip.Addr) error {
	if g != nil && g.AllowPrivate {
		return nil
	}
	if reason := g.blocked(ip); reason != "" {
		return &BlockedError{Addr: ip, Reason: reason}
	}
	return nil
}

// blocked returns why ip is refused, or "" if it is allowed.
func (g *Guard) blocked(ip netip.Addr) string {
	if !ip.IsValid() {
		return "not a valid address"
	}
	// Prefix.Contains never matches an address with a zone, so without
	// this fe80::1%eth0 would slip past every rule.
	ip = ip.WithZone("")
	// ::ffff:127.0.0.1 reaches 127.0.0.1; judge it as the IPv4 it is.
	ip = ip.Unmap()
	if g.allowed(ip) {
		return ""
	}
	for _, r := range ranges {
		if !r.prefix.Contains(ip) {
			continue
		}
		if r.embeds != nil {
			// Translation prefixes are fine for public IPv4 behind them
			// and refused for anything the IPv4 itself would be.
			v4 := r.embeds(ip)
			if why := g.blocked(v4); why != "" {
				return fmt.Sprintf("%s of %s address %s", r.reason, why, v4)
			}
			return ""
		}
		return r.reason
	}
	return ""
}

func (g *Guard) allowed(ip netip.Addr) bool {
	if g == nil {
		return false
	}
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

type addrRange struct {
	prefix netip.Prefix
	reason string
	// embeds, when set, extracts the IPv4 address a translation prefix
	// carries; the range is then judged by that address.
	embeds func(netip.Addr) netip.Addr
}

// ranges are the special-purpose blocks of the IANA IPv4 and IPv6
// registries that are not globally reachable, plus the translation
// prefixes that lead back into them. More specific entries come first so
// the reason names the narrowest block.
var ranges = []addrRange{
	// IPv4
	{prefix: pfx("255.255.255.255/32"), reason: "broadcast"},
	{prefix: pfx("0.0.0.0/32"), reason: "unspecified"},
	{prefix: pfx("0.0.0.0/8"), reason: `"this network" (0.0.0.0/8)`},
	{prefix: pfx("10.0.0.0/8"), reason: "private"},
	{prefix: pfx("100.64.0.0/10"), reason: "shared carrier-grade NAT (100.64.0.0/10)"},
	{prefix: pfx("127.0.0.0/8"), reason: "loopback"},
	{prefix: pfx("169.254.169.254/32"), reason: "link-local (cloud metadata)"},
	{prefix: pfx("169.254.0.0/16"), reason: "link-local"},
	{prefix: pfx("172.16.0.0/12"), reason: "private"},
	{prefix: pfx("192.0.0.0/24"), reason: "IETF protocol assignment (192.0.0.0/24)"},
	{prefix: pfx("192.0.2.0/24"), reason: "documentation"},
	{prefix: pfx("192.88.99.0/24"), reason: "6to4 relay anycast"},
	{prefix: pfx("192.168.0.0/16"), reason: "private"},
	{prefix: pfx("198.18.0.0/15"), reason: "benchmarking (198.18.0.0/15)"},
	{prefix: pfx("198.51.100.0/24"), reason: "documentation"},
	{prefix: pfx("203.0.113.0/24"), reason: "documentation"},
	{prefix: pfx("224.0.0.0/4"), reason: "multicast"},
	{prefix: pfx("240.0.0.0/4"), reason: "reserved (240.0.0.0/4)"},

	// IPv6
	{prefix: pfx("::/128"), reason: "unspecified"},
	{prefix: pfx("::1/128"), reason: "loopback"},
	// Deprecated IPv4-compatible addresses (::a.b.c.d); nothing public
	// uses them, and some stacks route them to the IPv4 address.
	{prefix: pfx("::/96"), reason: "IPv4-compatible (::/96)"},
	{prefix: pfx("64:ff9b::/96"), reason: "NAT64", embeds: lowV4},
	{prefix: pfx("64:ff9b:1::/48"), reason: "local-use NAT64 (64:ff9b:1::/48)"},
	{prefix: pfx("100::/64"), reason: "discard-only (100::/64)"},
	// Teredo tunnels to an obfuscated IPv4 client address; no webhook or
	// image host has a reason to use one.
	{prefix: pfx("2001::/32"), reason: "Teredo (2001::/32)"},
	{prefix: pfx("2001:2::/48"), reason: "benchmarking (2001:2::/48)"},
	{prefix: pfx("2001:10::/28"), reason: "ORCHID (2001:10::/28)"},
	{prefix: pfx("2001:db8::/32"), reason: "documentation"},
	{prefix: pfx("2002::/16"), reason: "6to4", embeds: sixToFourV4},
	{prefix: pfx("3fff::/20"), reason: "documentation"},
	{prefix: pfx("fc00::/7"), reason: "private (unique local)"},
	{prefix: pfx("fe80::/10"), reason: "link-local"},
	{prefix: pfx("fec0::/10"), reason: "private (site-local)"},
	{prefix: pfx("ff00::/8"), reason: "multicast"},
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// lowV4 is the IPv4 address in the last 32 bits (RFC 6052 /96).
func lowV4(ip netip.Addr) netip.Addr {
	b := ip.As16()
	return netip.AddrFrom4([4]byte(b[12:16]))
}

// sixToFourV4 is the IPv4 address in bits 16–47 of a 2002::/16 address.
func sixToFourV4(ip netip.Addr) netip.Addr {
	b := ip.As16()
	return netip.AddrFrom4([4]byte(b[2:6]))
}

// Dialer returns a copy of base (nil: a zero Dialer) whose connections are
// checked after the name is resolved and before connecting, on the exact
// address being dialled. Every address a name resolves to is checked as
// it is tried, so a name with one public and one private address cannot
// be used to reach the private one. base's own Control or ControlContext
// still runs, after the check.
func (g *Guard) Dialer(base *net.Dialer) *net.Dialer {
	var d net.Dialer
	if base != nil {
		d = *base
	}
	prevCtx, prev := d.ControlContext, d.Control
	d.Control = nil
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := g.checkDialAddress(address); err != nil {
			return err
		}
		switch {
		case prevCtx != nil:
			return prevCtx(ctx, network, address, c)
		case prev != nil:
			return prev(network, address, c)
		}
		return nil
	}
	return &d
}

func (g *Guard) checkDialAddress(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("netguard: unexpected dial address %q: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		// Control always sees a resolved IP for tcp and udp; anything
		// else (a unix socket) is not what this guard is for.
		return fmt.Errorf("netguard: dial address %q is not an IP address", address)
	}
	return g.CheckAddr(ip)
}

// NewClient returns an HTTP client for URLs the gateway does not control.
// It dials through g (nil: a zero Guard, the strictest), never follows a
// redirect (the 3xx response is returned as is, for the caller to refuse,
// since its target would escape the checks the caller made on the URL),
// and ignores HTTP_PROXY and friends, because through a proxy the guard
// would only ever see the proxy's address. timeout bounds each request as
// a whole, body included; ≤ 0 means 30 seconds.
func NewClient(g *Guard, timeout time.Duration) *http.Client {
	if g == nil {
		g = &Guard{}
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	dialer := g.Dialer(&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second})
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true, // a custom DialContext turns it off otherwise
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
