package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// schedMetric is the gateway's histogram of how long its goroutines waited
// runnable before they ran (runtime/metrics /sched/latencies:seconds,
// re-bucketed finely around the millisecond by internal/metrics). Read
// before and after an open-loop phase, its difference is that phase's
// waits: with one core, a tail there is background work holding the P
// while requests wait.
const schedMetric = "switchyard_go_sched_latency_seconds"

// schedHist is the cumulative bucket counts of schedMetric by upper bound
// (+Inf included).
type schedHist map[float64]uint64

// schedWait is the waits of one phase.
type schedWait struct {
	Count uint64        `json:"count"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	// Over1ms is the share of waits longer than 1 ms.
	Over1ms float64 `json:"over_1ms"`
}

// readSched scrapes t's /metrics for schedMetric; nil, nil when the target
// does not export it (the mock, the bare proxy, an older gateway).
func readSched(ctx context.Context, t *target) (schedHist, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.Base+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("build metrics request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s metrics: %w", t.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil
	}
	h, err := parseSched(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s metrics: %w", t.Name, err)
	}
	return h, nil
}

// parseSched reads schedMetric's buckets from a Prometheus text exposition.
func parseSched(r io.Reader) (schedHist, error) {
	var h schedHist
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prefix := schedMetric + `_bucket{le="`
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		le, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			return nil, fmt.Errorf("parse %q", sc.Text())
		}
		bound, err := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		if err != nil {
			return nil, fmt.Errorf("parse bound %q: %w", le, err)
		}
		n, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
		if err != nil {
			return nil, fmt.Errorf("parse count %q: %w", val, err)
		}
		if h == nil {
			h = schedHist{}
		}
		h[bound] = uint64(n)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return h, nil
}

// waits is the phase between before and after: percentiles interpolated
// linearly within their bucket (the first bucket from zero); nil when
// either scrape had no histogram or nothing waited.
func waits(before, after schedHist) *schedWait {
	if before == nil || after == nil {
		return nil
	}
	bounds := slices.Sorted(func(yield func(float64) bool) {
		for b := range after {
			if !yield(b) {
				return
			}
		}
	})
	cum := make([]uint64, len(bounds))
	for i, b := range bounds {
		cum[i] = after[b] - min(before[b], after[b])
	}
	total := cum[len(cum)-1] // +Inf
	if total == 0 {
		return nil
	}
	w := &schedWait{Count: total, P99: quantile(bounds, cum, 0.99), P999: quantile(bounds, cum, 0.999)}
	for i, b := range bounds {
		if b == 1e-3 {
			w.Over1ms = float64(total-cum[i]) / float64(total)
		}
	}
	return w
}

func quantile(bounds []float64, cum []uint64, q float64) time.Duration {
	total := cum[len(cum)-1]
	rank := q * float64(total)
	lo, below := 0.0, uint64(0)
	for i, b := range bounds {
		if float64(cum[i]) >= rank {
			if math.IsInf(b, 1) {
				b = lo // past the last finite bound: report that bound
			}
			in := cum[i] - below
			frac := 1.0
			if in > 0 {
				frac = (rank - float64(below)) / float64(in)
			}
			return time.Duration((lo + (b-lo)*frac) * float64(time.Second))
		}
		lo, below = b, cum[i]
	}
	return time.Duration(lo * float64(time.Second))
}
