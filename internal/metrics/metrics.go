// Package metrics owns the gateway's Prometheus registry.
//
// Each App gets its own registry instead of the process-global default, so
// that tests (and a demo running two gateways in one process) never collide
// on duplicate registration and every series belongs to one gateway.
//
// HTTP series are labelled by the ServeMux pattern ("POST /v1/chat/completions"),
// never by the raw path: a path carries ids and arbitrary client input, which
// would grow the label set without bound. Methods outside the standard set
// are folded into "OTHER" for the same reason.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one gateway's registry and its HTTP instruments.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	slow     *prometheus.CounterVec
}

// New builds a registry with the Go runtime and process collectors and the
// HTTP server instruments.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchyard_http_request_duration_seconds",
			Help: "Time from request start to handler return (whole stream for streaming responses).",
			// Streams of an LLM answer last minutes, so the buckets reach far
			// beyond the usual web defaults.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
		slow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_http_clients_cut_total",
			Help: "Clients let go for being slow or unauthenticated, by reason: body_timeout (a request body fell " +
				"behind), over_cap (a connection beyond its address's cap of unauthenticated connections).",
		}, []string{"reason"}),
	}
	m.slow.WithLabelValues(CutBodyTimeout)
	m.slow.WithLabelValues(CutOverCap)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newSchedLatency(),
		m.requests, m.duration, m.inFlight, m.slow,
	)
	return m
}

// Reasons for ClientCut.
const (
	CutBodyTimeout = "body_timeout"
	CutOverCap     = "over_cap"
)

// ClientCut counts a client let go for reason (CutBodyTimeout, CutOverCap),
// so an operator sees a slow-client attack, or limits set too tight.
func (m *Metrics) ClientCut(reason string) {
	if m != nil {
		m.slow.WithLabelValues(reason).Inc()
	}
}

// Registry is where other packages (relay, pool, billing) register their own
// collectors, so that everything is served by the one Handler.
func (m *Metrics) Registry() prometheus.Registerer { return m.reg }

// Gatherer exposes the registry for reading, mostly for tests.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry: m.reg,
		// A scrape must not fail because one collector did; show what works.
		ErrorHandling: promhttp.ContinueOnError,
	}))
}

// RequestStarted counts a request in flight; pair it with RequestDone.
func (m *Metrics) RequestStarted() { m.inFlight.Inc() }

// RequestDone records a finished request. route is the ServeMux pattern that
// served it ("" when none matched).
func (m *Metrics) RequestDone(method, route string, status int, elapsed time.Duration) {
	m.inFlight.Dec()
	method = normalizeMethod(method)
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

func normalizeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
