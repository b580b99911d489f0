// Package api builds the gateway's root http.Handler: a standard library
// ServeMux behind a short middleware chain, plus the health, readiness and
// metrics endpoints. Later packages mount their /v1 handlers with Handle.
//
// The chain, outermost first:
//
//	request id → access log + metrics → unauthenticated connection cap →
//	panic recovery → body deadlines → body limit → mux
//
// Access log and metrics share one layer because they need the same facts
// (status, bytes, route, duration); recovery sits inside them so that a
// panic is still logged and counted as the 500 it became.
//
// Per-request facts live in one small struct put in the context by the
// outermost layer. The handler wrapper installed by Handle writes the matched
// ServeMux pattern into it, so outer layers learn the route even when a layer
// in between passed a copy of the request (r.WithContext) to the mux.
//
// Every error a client sees from this package is an apierror in OpenAI
// shape, including the mux's own 404 and 405, which would otherwise be plain
// text.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/metrics"
)

// CheckTimeout bounds each readiness check, so one hung dependency cannot
// hold a load balancer's probe open.
const CheckTimeout = 2 * time.Second

// Options configures a Router. Zero limits mean no limit.
type Options struct {
	Logger  *slog.Logger
	Metrics *metrics.Metrics // nil: no /metrics and no HTTP series
	// Checks are run by /readyz, by name ("database", "redis").
	Checks         map[string]func(ctx context.Context) error
	MaxBodyBytes   int64
	MaxUploadBytes int64 // multipart/form-data bodies
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Body bounds how slowly a request body may arrive.
	Body BodyTimeouts
	// KeyValid reports whether a request carries a valid API key, without
	// spending any of its limits. A connection over the per-address cap of
	// unauthenticated connections (ConnLimiter) is served only when it does.
	KeyValid func(r *http.Request) bool
	// MetricsToken, when set, is required as a bearer token on /metrics.
	MetricsToken string
	// MetricsElsewhere leaves /metrics off this router: it is served by
	// MetricsHandler on a listener of its own.
	MetricsElsewhere bool
}

// Router is the root handler under construction.
type Router struct {
	opts     Options
	log      *slog.Logger
	mux      *http.ServeMux
	draining atomic.Bool
	handler  http.Handler
	once     sync.Once
	signed   []string // SignedPaths prefixes
	bodyCut  func()   // counts a body timeout
	fallback http.Handler
}

// New builds a Router with /healthz, /readyz, /metrics (when Metrics is set)
// and the JSON catch-all for unknown paths.
func New(opts Options) *Router {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	rt := &Router{opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	rt.bodyCut = func() { opts.Metrics.ClientCut(metrics.CutBodyTimeout) }
	rt.Handle("GET /healthz", http.HandlerFunc(rt.healthz))
	rt.Handle("GET /readyz", http.HandlerFunc(rt.readyz))
	if opts.Metrics != nil && !opts.MetricsElsewhere {
		rt.Handle("GET /metrics", rt.guardMetrics(opts.Metrics.Handler(), true))
	}
	rt.Handle("/", http.HandlerFunc(rt.notFound))
	return rt
}

// Handle mounts h on a ServeMux pattern ("POST /v1/chat/completions").
// It panics on a conflicting pattern, as ServeMux does: that is a programming
// error found at start.
func (rt *Router) Handle(pattern string, h http.Handler) {
	rt.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := stateFrom(r.Context()); st != nil {
			st.route = r.Pattern
		}
		h.ServeHTTP(w, r)
	}))
}

// Fallback serves GET and HEAD requests that no route matches, outside the
// gateway's own paths (/api, /v1, /p and the signed paths, /healthz, /readyz,
// /metrics): the console's pages, whose client-side router needs every page
// path answered with its index.html. Those paths keep their JSON 404s and 405s.
// Call it before serving.
func (rt *Router) Fallback(h http.Handler) { rt.fallback = h }

// reservedPrefixes are the gateway's path spaces that never fall back to the
// console.
var reservedPrefixes = []string{"/api", "/v1", "/p", "/healthz", "/readyz", "/metrics"}

func (rt *Router) reserved(p string) bool {
	for _, pre := range reservedPrefixes {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return true
		}
	}
	return rt.isSigned(p)
}

// Handler returns the root handler with the middleware chain. Routes added
// with Handle after this call are still served: the mux is shared.
func (rt *Router) Handler() http.Handler {
	rt.once.Do(func() {
		var h http.Handler = rt.mux
		h = asteriskForm(h)
		h = rt.limitBody(h)
		h = rt.clockBody(h)
		h = rt.recoverPanic(h)
		h = rt.guardConn(h)
		h = rt.observe(h)
		h = rt.requestID(h)
		rt.handler = h
	})
	return rt.handler
}

// asteriskForm answers a request for "*" (RFC 9112 asterisk-form; only
// OPTIONS may use it) with an OpenAI-shaped 400: ServeMux would answer a
// bare text one.
func asteriskForm(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.RequestURI == "*" {
			apierror.WriteOpenAI(w, r, apierror.InvalidRequest("The request target \"*\" is only valid for OPTIONS.", ""))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Drain makes /readyz answer 503 "draining", so load balancers stop sending
// new requests while in-flight ones finish.
func (rt *Router) Drain() { rt.draining.Store(true) }

// Draining reports whether Drain was called.
func (rt *Router) Draining() bool { return rt.draining.Load() }

func (rt *Router) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func (rt *Router) readyz(w http.ResponseWriter, r *http.Request) {
	if rt.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, readiness{Status: "draining"})
		return
	}
	results := rt.runChecks(r.Context())
	status, code := "ready", http.StatusOK
	for _, res := range results {
		if res != "ok" {
			status, code = "not_ready", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, readiness{Status: status, Checks: results})
}

// runChecks runs every check concurrently, each under CheckTimeout, and
// returns "ok" or a short reason per name. The full error goes to the log
// only: it may name hosts or users the public should not see.
func (rt *Router) runChecks(ctx context.Context) map[string]string {
	results := make(map[string]string, len(rt.opts.Checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range rt.opts.Checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
			defer cancel()
			err := runCheck(cctx, check)
			reason := "ok"
			if err != nil {
				reason = checkReason(cctx, err)
				rt.log.LogAttrs(ctx, slog.LevelWarn, "readiness check failed",
					slog.String("check", name), slog.String("request_id", RequestID(ctx)),
					slog.String("error", err.Error()))
			}
			mu.Lock()
			results[name] = reason
			mu.Unlock()
		})
	}
	wg.Wait()
	return results
}

// runCheck returns when check does or when ctx ends, whichever is first, so a
// check that ignores its context still cannot exceed the timeout.
func runCheck(ctx context.Context, check func(context.Context) error) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- errors.New("check panicked")
			}
		}()
		done <- check(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func checkReason(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, net.ErrClosed), strings.Contains(err.Error(), "closed"):
		return "closed"
	}
	// A file system error has a Timeout method too, so it would pass for a
	// net.Error below.
	var perr *fs.PathError
	if errors.As(err, &perr) {
		if errors.Is(err, fs.ErrNotExist) {
			return "not found"
		}
		return "failed"
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		return "network error"
	}
	return "failed"
}

// probeMethods are tried on a miss to tell a wrong method (405) from an
// unknown path (404).
var probeMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// notFound is the "/" catch-all. ServeMux routes a known path asked with the
// wrong method here too (the catch-all accepts every method), so probe the
// mux with the other methods before deciding between 404 and 405.
func (rt *Router) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range probeMethods {
		if m == r.Method {
			continue
		}
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := rt.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		if slices.Contains(allow, http.MethodGet) && !slices.Contains(allow, http.MethodHead) {
			allow = append(allow, http.MethodHead)
		}
		apierror.WriteOpenAI(w, r, apierror.MethodNotAllowed(r.Method, strings.Join(allow, ", ")))
		return
	}
	if rt.fallback != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !rt.reserved(r.URL.Path) {
		rt.fallback.ServeHTTP(w, r)
		return
	}
	apierror.WriteOpenAI(w, r, apierror.NotFound(r.URL.Path))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
