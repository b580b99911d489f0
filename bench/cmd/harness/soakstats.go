package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// soakSample is the gateway at one moment of a soak.
type soakSample struct {
	// Phase is "baseline" (idle, after the pre-warm), "load" or "after"
	// (idle again, once load has stopped and connections have closed).
	Phase      string        `json:"phase"`
	At         time.Duration `json:"at_ns"` // since the soak's load started
	RSSKiB     int64         `json:"rss_kib"`
	Goroutines int64         `json:"goroutines"`
	HeapKiB    int64         `json:"go_heap_inuse_kib"`
	FDs        int           `json:"fds"`
	OK         int64         `json:"ok"`     // answers so far, all scenarios
	Errors     int64         `json:"errors"` // failed requests so far
}

// soakLimits are what a soak must stay within to pass.
type soakLimits struct {
	Warmup          time.Duration `json:"warmup_ns"`          // load samples before this are ignored
	MaxRSSGrowthMiB float64       `json:"max_rss_growth_mib"` // fitted RSS growth over the measured window
	Slack           int64         `json:"slack"`              // goroutines and fds: end within baseline ± this
	MaxErrorRate    float64       `json:"max_error_rate"`     // errors / requests
}

// soakCheck is one condition of the verdict.
type soakCheck struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Limit string `json:"limit"`
	Pass  bool   `json:"pass"`
}

// soakVerdict is what the samples say about growth.
type soakVerdict struct {
	Measured int           `json:"measured_samples"`
	From     time.Duration `json:"from_ns"` // the measured window
	To       time.Duration `json:"to_ns"`

	RSSSlopeMiBPerMin float64 `json:"rss_slope_mib_per_min"`
	RSSGrowthMiB      float64 `json:"rss_growth_mib"` // slope × window
	RSSFirstHalfMiB   float64 `json:"rss_first_half_mib"`
	RSSSecondHalfMiB  float64 `json:"rss_second_half_mib"`

	GoroutineSlopePerMin float64 `json:"goroutine_slope_per_min"`
	GoroutinesFirstHalf  float64 `json:"goroutines_first_half"`
	GoroutinesSecondHalf float64 `json:"goroutines_second_half"`
	GoroutinesMin        int64   `json:"goroutines_min"`
	GoroutinesMax        int64   `json:"goroutines_max"`

	Checks []soakCheck `json:"checks"`
	Pass   bool        `json:"pass"`
}

// judgeSoak computes the verdict: load samples after the warm-up are the
// measured window, fitted by least squares and split in halves; the idle
// samples before and after the load say whether goroutines and descriptors
// came back to where they started.
func judgeSoak(samples []soakSample, lim soakLimits) soakVerdict {
	var v soakVerdict
	var win []soakSample
	var base, after *soakSample
	for i, s := range samples {
		switch {
		case s.Phase == "baseline":
			base = &samples[i]
		case s.Phase == "after":
			after = &samples[i]
		case s.Phase == "load" && s.At >= lim.Warmup:
			win = append(win, s)
		}
	}
	v.Measured = len(win)
	if len(win) < 3 {
		v.Checks = append(v.Checks, soakCheck{Name: "samples after warm-up", Value: strconv.Itoa(len(win)), Limit: "≥ 3"})
		return v
	}
	v.From, v.To = win[0].At, win[len(win)-1].At
	xs := make([]float64, len(win))
	rss := make([]float64, len(win))
	gor := make([]float64, len(win))
	v.GoroutinesMin, v.GoroutinesMax = win[0].Goroutines, win[0].Goroutines
	for i, s := range win {
		xs[i] = s.At.Minutes()
		rss[i] = mib(s.RSSKiB)
		gor[i] = float64(s.Goroutines)
		v.GoroutinesMin = min(v.GoroutinesMin, s.Goroutines)
		v.GoroutinesMax = max(v.GoroutinesMax, s.Goroutines)
	}
	v.RSSSlopeMiBPerMin = slope(xs, rss)
	v.RSSGrowthMiB = v.RSSSlopeMiBPerMin * (v.To - v.From).Minutes()
	v.GoroutineSlopePerMin = slope(xs, gor)
	half := len(win) / 2
	v.RSSFirstHalfMiB, v.RSSSecondHalfMiB = mean(rss[:half]), mean(rss[len(win)-half:])
	v.GoroutinesFirstHalf, v.GoroutinesSecondHalf = mean(gor[:half]), mean(gor[len(win)-half:])

	v.Checks = append(v.Checks, soakCheck{
		Name:  "RSS growth over the measured window (least-squares fit)",
		Value: fmt.Sprintf("%+.2f MiB (%+.3f MiB/min)", v.RSSGrowthMiB, v.RSSSlopeMiBPerMin),
		Limit: fmt.Sprintf("< %.0f MiB", lim.MaxRSSGrowthMiB),
		Pass:  v.RSSGrowthMiB < lim.MaxRSSGrowthMiB,
	})
	if base == nil || after == nil {
		v.Checks = append(v.Checks, soakCheck{Name: "idle samples before and after load", Value: "missing", Limit: "both"})
	} else {
		v.Checks = append(v.Checks,
			backTo("goroutines idle after load vs baseline", base.Goroutines, after.Goroutines, lim.Slack),
			backTo("open fds idle after load vs baseline", int64(base.FDs), int64(after.FDs), lim.Slack))
	}
	last := win[len(win)-1]
	if after != nil {
		last = *after
	}
	rate := 0.0
	if n := last.OK + last.Errors; n > 0 {
		rate = float64(last.Errors) / float64(n)
	}
	v.Checks = append(v.Checks, soakCheck{
		Name:  "request errors",
		Value: fmt.Sprintf("%d of %d (%.3f%%)", last.Errors, last.OK+last.Errors, 100*rate),
		Limit: fmt.Sprintf("≤ %.3g%%", 100*lim.MaxErrorRate),
		Pass:  last.OK > 0 && rate <= lim.MaxErrorRate,
	})
	v.Pass = true
	for _, c := range v.Checks {
		v.Pass = v.Pass && c.Pass
	}
	return v
}

func backTo(name string, base, end, slack int64) soakCheck {
	return soakCheck{
		Name:  name,
		Value: fmt.Sprintf("%d → %d (%+d)", base, end, end-base),
		Limit: fmt.Sprintf("± %d", slack),
		Pass:  end-base <= slack && base-end <= slack,
	}
}

// slope is the least-squares slope of ys over xs; 0 when xs do not vary.
func slope(xs, ys []float64) float64 {
	mx, my := mean(xs), mean(ys)
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// statusFields are the /proc/<pid>/status lines the harness reads, in KiB.
type statusFields struct {
	HWMKiB, RSSKiB, Threads int64
	// RSS split: anonymous (heap, stacks, the runtime's and SQLite's
	// memory) and file-backed (mostly the binary's own pages).
	AnonKiB, FileKiB int64
}

// parseStatus reads VmHWM, VmRSS, RssAnon, RssFile and Threads from /proc/<pid>/status text.
// A missing line leaves its field 0 (a zombie has no Vm lines).
func parseStatus(r io.Reader) (statusFields, error) {
	var f statusFields
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch key {
		case "VmHWM":
			dst = &f.HWMKiB
		case "VmRSS":
			dst = &f.RSSKiB
		case "Threads":
			dst = &f.Threads
		case "RssAnon":
			dst = &f.AnonKiB
		case "RssFile":
			dst = &f.FileKiB
		default:
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return f, fmt.Errorf("parse status %s: %w", key, err)
		}
		*dst = n
	}
	if err := sc.Err(); err != nil {
		return f, fmt.Errorf("read status: %w", err)
	}
	return f, nil
}

// goMetrics are the Go runtime's gauges the soak reads from /metrics.
type goMetrics struct {
	Goroutines     int64
	HeapInuseBytes int64 // Go heap only: RSS growing while it stays flat is memory outside Go (SQLite's)
}

// parseGoMetrics finds go_goroutines and go_memstats_heap_inuse_bytes in a
// Prometheus text exposition; go_goroutines must be there.
func parseGoMetrics(r io.Reader) (goMetrics, error) {
	var m goMetrics
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := sampleLine(sc.Text())
		if !ok || (name != "go_goroutines" && name != "go_memstats_heap_inuse_bytes") {
			continue
		}
		n, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return m, fmt.Errorf("parse %s %q: %w", name, val, err)
		}
		if name == "go_goroutines" {
			m.Goroutines, found = int64(n), true
		} else {
			m.HeapInuseBytes = int64(n)
		}
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("read metrics: %w", err)
	}
	if !found {
		return m, fmt.Errorf("no go_goroutines in metrics")
	}
	return m, nil
}

// sampleLine splits "name{labels} value [timestamp]" into name and value;
// comments and blank lines are not samples.
func sampleLine(line string) (name, value string, ok bool) {
	if line == "" || line[0] == '#' {
		return "", "", false
	}
	end := strings.IndexAny(line, "{ ")
	if end < 0 {
		return "", "", false
	}
	name, rest := line[:end], line[end:]
	if rest[0] == '{' {
		i := strings.LastIndexByte(rest, '}')
		if i < 0 {
			return "", "", false
		}
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", "", false
	}
	return name, f[0], true
}

// clock formats an offset as m:ss.
func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
