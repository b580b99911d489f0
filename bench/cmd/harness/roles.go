package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/internal/mock"
)

// The harness re-runs its own binary as the mock upstream and as the bare
// reverse proxy, so that each target is a process of its own whose CPU and
// memory can be read from /proc, as the gateway's are.

// runRole serves one helper role until SIGTERM or SIGINT.
func runRole(role string, args []string) int {
	fs := flag.NewFlagSet(role, flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "`ADDR` to listen on")
	upstream := fs.String("upstream", "", "proxy: upstream base `URL`")
	// The soak sets it short, so that the gateway's idle upstream
	// connections (and their goroutines) are gone soon after load stops.
	idle := fs.Duration("idle-timeout", 120*time.Second, "keep-alive `DURATION` of an idle connection")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var h http.Handler
	switch role {
	case "mock":
		// Recording off: the mock is the floor and must cost as little as
		// it can (mock.Options documents this switch for benchmarks).
		h = mock.New(mock.Options{DisableRecording: true})
	case "proxy":
		u, err := url.Parse(*upstream)
		if err != nil || u.Host == "" {
			fmt.Fprintf(os.Stderr, "proxy: bad -upstream %q\n", *upstream)
			return 2
		}
		h = bareProxy(u)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addr, h, *idle); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
		return 1
	}
	return 0
}

// bareProxy is the smallest honest reverse proxy: the standard library's,
// with a keep-alive pool as large as the gateway's default
// (upstream.max_idle_conns_per_host) and nothing else. It flushes
// text/event-stream answers per write on its own.
//
// Full duplex is on because without it the proxy cuts a few percent of
// answers short: once the answer's headers go out, the HTTP/1 server closes
// the inbound body, and the Transport, still checking that body's end after
// writing it upstream, reads the closed body and tears the upstream
// connection down mid-answer (golang/go#40747; seen here as "unexpected
// EOF" at the client and "use of closed network connection" in the log).
func bareProxy(upstream *url.URL) http.Handler {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(upstream) },
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
		ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	})
}

func serve(ctx context.Context, addr string, h http.Handler, idle time.Duration) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: idle}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
