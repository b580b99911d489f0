package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/switchyard/switchyard/internal/apierror"
)

// The series on /metrics name channels, models and routes: an operator's
// business, not the public's. So /metrics wants a bearer token when one is
// configured, and without one it is served only to loopback clients on the
// main listener, or to whoever reaches the separate metrics listener.

// forwardingHeaders mark a request that came through a proxy. A proxy on
// the same host connects from loopback, and without trusted_proxies its
// clients would all look local.
var forwardingHeaders = []string{"X-Forwarded-For", "X-Real-Ip", "Forwarded"}

// guardMetrics wraps the metrics handler. loopbackOnly applies when no
// token is set: true on the main listener, false on the metrics listener.
func (rt *Router) guardMetrics(h http.Handler, loopbackOnly bool) http.Handler {
	token := rt.opts.MetricsToken
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			// Hashing first makes the comparison constant time whatever
			// the lengths.
			sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
				apierror.WriteOpenAI(w, r, &apierror.Error{Status: http.StatusUnauthorized,
					Type: apierror.TypeAuthentication, Code: "invalid_metrics_token",
					Message: "/metrics needs Authorization: Bearer <metrics.token>."})
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		if loopbackOnly && !localClient(r) {
			apierror.WriteOpenAI(w, r, &apierror.Error{Status: http.StatusForbidden,
				Type: apierror.TypePermission, Code: "metrics_forbidden",
				Message: "/metrics is served to loopback clients only; set metrics.token or metrics.listen to scrape it from elsewhere."})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// localClient reports a request from this host that no proxy forwarded.
func localClient(r *http.Request) bool {
	ip := ClientIP(r.Context())
	if !ip.IsValid() {
		ip = peerAddr(r.RemoteAddr)
	}
	if !ip.IsLoopback() {
		return false
	}
	for _, h := range forwardingHeaders {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	return true
}

// MetricsHandler serves /metrics alone, for a listener of its own
// (metrics.listen): every other path is a 404. It is nil when the router
// has no Metrics.
func (rt *Router) MetricsHandler() http.Handler {
	if rt.opts.Metrics == nil {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", rt.guardMetrics(rt.opts.Metrics.Handler(), false))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			apierror.WriteOpenAI(w, r, apierror.MethodNotAllowed(r.Method, "GET, HEAD"))
			return
		}
		apierror.WriteOpenAI(w, r, apierror.NotFound(r.URL.Path))
	})
	return mux
}
