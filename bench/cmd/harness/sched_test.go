package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSchedWaits(t *testing.T) {
	scrape := func(counts ...int) schedHist {
		t.Helper()
		bounds := []string{"0.0001", "0.001", "0.01", "+Inf"}
		var b strings.Builder
		b.WriteString("# HELP switchyard_go_sched_latency_seconds x\n# TYPE switchyard_go_sched_latency_seconds histogram\n")
		for i, le := range bounds {
			b.WriteString(`switchyard_go_sched_latency_seconds_bucket{le="` + le + `"} ` + itoa(counts[i]) + "\n")
		}
		b.WriteString("switchyard_go_sched_latency_seconds_sum 0.5\nswitchyard_go_sched_latency_seconds_count " + itoa(counts[3]) + "\ngo_goroutines 7\n")
		h, err := parseSched(strings.NewReader(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	before := scrape(100, 100, 100, 100)
	// 1000 waits in the phase: 980 under 100 µs, 15 up to 1 ms, 5 up to 10 ms.
	after := scrape(1080, 1095, 1100, 1100)
	w := waits(before, after)
	if w == nil || w.Count != 1000 {
		t.Fatalf("waits = %+v, want 1000 counted", w)
	}
	// Rank 990 is the 10th of 15 in (100 µs, 1 ms]: 100 µs + 900 µs × 10/15.
	if want := 700 * time.Microsecond; w.P99 < want-time.Microsecond || w.P99 > want+time.Microsecond {
		t.Errorf("p99 %v, want %v", w.P99, want)
	}
	// Rank 999 is the 4th of 5 in (1 ms, 10 ms].
	if want := 8200 * time.Microsecond; w.P999 < want-time.Microsecond || w.P999 > want+time.Microsecond {
		t.Errorf("p99.9 %v, want %v", w.P999, want)
	}
	if w.Over1ms != 0.005 {
		t.Errorf("over 1 ms %v, want 0.005", w.Over1ms)
	}
	if waits(nil, after) != nil || waits(before, before) != nil {
		t.Error("want nil without a histogram or without waits")
	}
	if h, err := parseSched(strings.NewReader("go_goroutines 7\n")); err != nil || h != nil {
		t.Errorf("no histogram: %v, %v", h, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
