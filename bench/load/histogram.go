package load

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations in log-linear buckets, the layout HDR
// histograms use: values below 2^subBits nanoseconds get a bucket each, and
// every power of two above that is split into 2^subBits equal sub-buckets.
// A recorded value is therefore known to within 1/2^subBits (under 1%) of
// itself at any magnitude, in a fixed 60 KB of counters, so a run of any
// length costs the same memory and a record is a few shifts and one atomic
// add (safe from any number of goroutines, no lock).
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	total  atomic.Uint64
	max    atomic.Int64
	sum    atomic.Int64 // nanoseconds, for the mean
}

const (
	subBits  = 7
	subCount = 1 << subBits
	// Buckets up to 2^63 ns: (63-subBits) doublings of subCount sub-buckets
	// above the linear first subCount.
	numBuckets = subCount + (63-subBits)*subCount
)

// bucketOf maps a non-negative value to its bucket index.
func bucketOf(v int64) int {
	if v < subCount {
		return int(max(v, 0))
	}
	msb := bits.Len64(uint64(v)) - 1 // ≥ subBits
	shift := msb - subBits
	mant := int(uint64(v)>>shift) & (subCount - 1)
	return subCount + shift*subCount + mant
}

// bucketBounds returns the lowest and highest value bucket i holds.
func bucketBounds(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	shift := (i - subCount) / subCount
	mant := int64((i - subCount) % subCount)
	lo = (subCount + mant) << shift
	return lo, lo + (1 << shift) - 1
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Merge adds other's observations to h.
func (h *Histogram) Merge(other *Histogram) {
	for i := range other.counts {
		if n := other.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
	h.total.Add(other.total.Load())
	h.sum.Add(other.sum.Load())
	for {
		m, o := h.max.Load(), other.max.Load()
		if o <= m || h.max.CompareAndSwap(m, o) {
			return
		}
	}
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max is the largest observation, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the arithmetic mean of the observations.
func (h *Histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the value at or below which a fraction q (0–1) of the
// observations lie. Like HDR's "highest equivalent value" it answers the
// top of the bucket, never below the truth, and never above Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	// The rank of the observation sought, 1-based, rounded up so that
	// p99.9 of 1000 samples is the 999th, not the 998th.
	rank := uint64(q*float64(n) + 0.999999)
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketBounds(i)
			return min(time.Duration(hi), h.Max())
		}
	}
	return h.Max()
}

// Summary is a histogram's usual percentiles, for reports.
type Summary struct {
	Count uint64        `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p99_9_ns"`
	Max   time.Duration `json:"max_ns"`
}

// Summary reads p50/p90/p99/p99.9/max at once.
func (h *Histogram) Summary() Summary {
	return Summary{
		Count: h.Count(), Mean: h.Mean(),
		P50: h.Quantile(0.50), P90: h.Quantile(0.90), P99: h.Quantile(0.99),
		P999: h.Quantile(0.999), Max: h.Max(),
	}
}
