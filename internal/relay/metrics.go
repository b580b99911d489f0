package relay

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the relay's Prometheus series. Labels are config names
// (model asked for only when some channel serves it, channel names), so the
// label sets stay bounded. A nil *Metrics records nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	attempts *prometheus.CounterVec
	ttfbH    *prometheus.HistogramVec
	duration *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
	streams  prometheus.Gauge
	open     atomic.Int64 // mirrors streams, readable without a scrape
}

var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// NewMetrics registers the relay series on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_relay_requests_total",
			Help: "Relayed requests by model asked, last channel tried and status sent to the client.",
		}, []string{"model", "channel", "status"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_relay_failed_attempts_total",
			Help: "Upstream attempts that failed before the first byte, by upstream status (0 = transport error).",
		}, []string{"model", "channel", "status"}),
		ttfbH: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchyard_relay_ttfb_seconds",
			Help:    "Time from request start to the upstream's response headers.",
			Buckets: latencyBuckets,
		}, []string{"model", "channel"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchyard_relay_duration_seconds",
			Help:    "Time from request start to the end of the relayed answer.",
			Buckets: latencyBuckets,
		}, []string{"model", "channel"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_relay_tokens_total",
			Help: "Tokens reported by upstreams, by model asked and direction (input, output).",
		}, []string{"model", "direction"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_relay_streams_open",
			Help: "Streams being relayed to clients now.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.attempts, m.ttfbH, m.duration, m.tokens, m.streams} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// StreamsOpen reads the gauge, for tests and health reports.
func (m *Metrics) StreamsOpen() float64 {
	if m == nil {
		return 0
	}
	return float64(m.open.Load())
}

func (m *Metrics) streamOpened() {
	if m != nil {
		m.open.Add(1)
		m.streams.Inc()
	}
}

func (m *Metrics) streamClosed() {
	if m != nil {
		m.open.Add(-1)
		m.streams.Dec()
	}
}

func (m *Metrics) ttfb(model, channel string, d time.Duration) {
	if m != nil {
		m.ttfbH.WithLabelValues(model, channel).Observe(d.Seconds())
	}
}

func (m *Metrics) attemptFailed(model, channel string, status int) {
	if m != nil {
		m.attempts.WithLabelValues(model, channel, statusLabel(status)).Inc()
	}
}

func (m *Metrics) done(r *Result) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(r.Model, r.Channel, statusLabel(r.Status)).Inc()
	m.duration.WithLabelValues(r.Model, r.Channel).Observe(r.Duration.Seconds())
	if r.Usage.PromptTokens > 0 {
		m.tokens.WithLabelValues(r.Model, "input").Add(float64(r.Usage.PromptTokens))
	}
	if r.Usage.CompletionTokens > 0 {
		m.tokens.WithLabelValues(r.Model, "output").Add(float64(r.Usage.CompletionTokens))
	}
}

// statusLabels holds the label of every status an answer can carry, made
// once: strconv.Itoa allocates a string for a number of three digits.
var statusLabels = func() (l [600]string) {
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

// statusLabel is strconv.Itoa(status), without an allocation for a status
// from 0 to 599.
func statusLabel(status int) string {
	if status >= 0 && status < len(statusLabels) {
		return statusLabels[status]
	}
	return strconv.Itoa(status)
}
