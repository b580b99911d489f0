package metrics

import (
	"math"
	"runtime/metrics"

	"github.com/prometheus/client_golang/prometheus"
)

// schedLatencyName is the runtime's histogram of how long goroutines
// waited runnable (ready, but no P free) before they ran.
const schedLatencyName = "/sched/latencies:seconds"

// schedBounds are the exported buckets' upper bounds, in seconds: fine
// around the millisecond, where a request waiting behind background work on
// a busy core shows. The Go collector exports the same histogram re-bucketed
// by powers of ten, too coarse for a p99.
var schedBounds = []float64{
	10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
	1e-3, 2e-3, 3e-3, 4e-3, 5e-3, 7.5e-3, 10e-3, 15e-3, 20e-3, 30e-3, 50e-3,
	100e-3, 250e-3, 1,
}

// schedLatency exports /sched/latencies:seconds as
// switchyard_go_sched_latency_seconds, read from the runtime at each scrape.
type schedLatency struct{ desc *prometheus.Desc }

func newSchedLatency() *schedLatency {
	return &schedLatency{desc: prometheus.NewDesc("switchyard_go_sched_latency_seconds",
		"Time goroutines spent runnable before running (runtime/metrics "+schedLatencyName+"), "+
			"since the process started: a tail here is work holding the CPU while requests wait.", nil, nil)}
}

func (c *schedLatency) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *schedLatency) Collect(ch chan<- prometheus.Metric) {
	s := []metrics.Sample{{Name: schedLatencyName}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return
	}
	count, sum, buckets := rebucket(s[0].Value.Float64Histogram(), schedBounds)
	ch <- prometheus.MustNewConstHistogram(c.desc, count, sum, buckets)
}

// rebucket folds a runtime histogram into cumulative counts at bounds. A
// runtime bucket counts under the first bound at or above its upper edge,
// so a bound's count never includes a wait longer than it (the runtime's
// buckets are a few percent wide, so little is moved). The sum is taken at
// bucket midpoints: the runtime keeps no exact sum.
func rebucket(h *metrics.Float64Histogram, bounds []float64) (count uint64, sum float64, cum map[float64]uint64) {
	per := make([]uint64, len(bounds))
	for i, n := range h.Counts {
		if n == 0 {
			continue
		}
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		count += n
		switch {
		case math.IsInf(lo, -1):
			sum += float64(n) * hi
		case math.IsInf(hi, 1):
			sum += float64(n) * lo
		default:
			sum += float64(n) * (lo + hi) / 2
		}
		for j, b := range bounds {
			if hi <= b {
				per[j] += n
				break
			}
		}
	}
	cum = make(map[float64]uint64, len(bounds))
	var run uint64
	for j, b := range bounds {
		run += per[j]
		cum[b] = run
	}
	return count, sum, cum
}
