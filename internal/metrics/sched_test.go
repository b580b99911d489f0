package metrics

import (
	"math"
	"runtime/metrics"
	"strings"
	"testing"
)

func TestRebucket(t *testing.T) {
	h := &metrics.Float64Histogram{
		// [-Inf,1e-6) [1e-6,0.9e-3) [0.9e-3,1.1e-3) [1.1e-3,5e-3) [5e-3,+Inf)
		Buckets: []float64{math.Inf(-1), 1e-6, 0.9e-3, 1.1e-3, 5e-3, math.Inf(1)},
		Counts:  []uint64{3, 10, 4, 2, 1},
	}
	count, sum, cum := rebucket(h, []float64{1e-3, 2e-3, 5e-3})
	if count != 20 {
		t.Errorf("count %d, want 20", count)
	}
	// The bucket straddling 1 ms counts under 2 ms: a bound never holds a
	// longer wait. The one past 5 ms is only in the count (+Inf).
	want := map[float64]uint64{1e-3: 13, 2e-3: 17, 5e-3: 19}
	for b, n := range want {
		if cum[b] != n {
			t.Errorf("le %g: %d, want %d", b, cum[b], n)
		}
	}
	if sum <= 0 {
		t.Errorf("sum %g, want > 0", sum)
	}
}

func TestSchedLatencyExported(t *testing.T) {
	out := scrape(t, New())
	for _, want := range []string{
		`switchyard_go_sched_latency_seconds_bucket{le="0.001"}`,
		`switchyard_go_sched_latency_seconds_bucket{le="+Inf"}`,
		"switchyard_go_sched_latency_seconds_count",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
}
