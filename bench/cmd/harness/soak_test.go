package main

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestSlope(t *testing.T) {
	for _, tc := range []struct {
		name   string
		xs, ys []float64
		want   float64
	}{
		{"exact line", []float64{0, 1, 2, 3}, []float64{5, 7, 9, 11}, 2},
		{"flat", []float64{1, 2, 3}, []float64{4, 4, 4}, 0},
		{"falling with noise", []float64{0, 1, 2, 3, 4}, []float64{10, 9.5, 8, 7.5, 6}, -1.0},
		{"no spread in x", []float64{2, 2, 2}, []float64{1, 5, 9}, 0},
	} {
		if got := slope(tc.xs, tc.ys); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: slope %v, want %v", tc.name, got, tc.want)
		}
	}
}

// soakRun builds samples: a baseline, load samples every 10 s for d whose
// RSS follows rss(minutes) and goroutines gor(minutes), and an after sample.
func soakRun(d time.Duration, rss func(float64) float64, gor func(float64) int64, baseG, afterG int64, errs int64) []soakSample {
	s := []soakSample{{Phase: "baseline", RSSKiB: 50 << 10, Goroutines: baseG, FDs: 20}}
	var ok int64
	for at := 10 * time.Second; at <= d; at += 10 * time.Second {
		ok += 2000
		s = append(s, soakSample{Phase: "load", At: at, RSSKiB: int64(rss(at.Minutes()) * 1024),
			Goroutines: gor(at.Minutes()), FDs: 200, OK: ok})
	}
	return append(s, soakSample{Phase: "after", At: d + 5*time.Second, RSSKiB: 60 << 10,
		Goroutines: afterG, FDs: 20 + int(afterG-baseG), OK: ok, Errors: errs})
}

func TestJudgeSoak(t *testing.T) {
	lim := soakLimits{Warmup: time.Minute, MaxRSSGrowthMiB: 5, Slack: 10, MaxErrorRate: 0.001}
	flat := func(float64) float64 { return 80 }
	steadyG := func(float64) int64 { return 250 }
	for _, tc := range []struct {
		name   string
		s      []soakSample
		pass   bool
		failed string // the check that must fail, if any
	}{
		{"steady", soakRun(10*time.Minute, flat, steadyG, 28, 30, 0), true, ""},
		// A climb during the warm-up is left out.
		{"warm-up climb ignored", soakRun(10*time.Minute, func(m float64) float64 {
			return 60 + 40*min(m, 1)
		}, steadyG, 28, 28, 0), true, ""},
		// 0.7 MiB/min over 9 minutes is 6.3 MiB: a leak.
		{"slow RSS leak", soakRun(10*time.Minute, func(m float64) float64 { return 80 + 0.7*m }, steadyG, 28, 28, 0), false, "RSS growth"},
		{"goroutines not back", soakRun(10*time.Minute, flat, steadyG, 28, 60, 0), false, "goroutines idle"},
		{"goroutines fewer is fine within slack", soakRun(10*time.Minute, flat, steadyG, 28, 20, 0), true, ""},
		{"errors", soakRun(10*time.Minute, flat, steadyG, 28, 28, 500), false, "request errors"},
		{"too short", soakRun(70*time.Second, flat, steadyG, 28, 28, 0), false, "samples after warm-up"},
	} {
		v := judgeSoak(tc.s, lim)
		if v.Pass != tc.pass {
			t.Errorf("%s: pass %v, want %v; checks %+v", tc.name, v.Pass, tc.pass, v.Checks)
		}
		if tc.failed != "" {
			found := false
			for _, c := range v.Checks {
				if strings.HasPrefix(c.Name, tc.failed) && !c.Pass {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no failed check %q in %+v", tc.name, tc.failed, v.Checks)
			}
		}
	}
}

func TestJudgeSoakNumbers(t *testing.T) {
	// RSS 80 MiB + 0.3 MiB/min; goroutines alternate 250/254.
	s := soakRun(10*time.Minute, func(m float64) float64 { return 80 + 0.3*m }, func(m float64) int64 {
		return 250 + 4*(int64(math.Round(m*6))%2)
	}, 28, 29, 0)
	v := judgeSoak(s, soakLimits{Warmup: time.Minute, MaxRSSGrowthMiB: 5, Slack: 10, MaxErrorRate: 0.001})
	if v.From != time.Minute || v.To != 10*time.Minute || v.Measured != 55 {
		t.Fatalf("window %v–%v, %d samples; want 1m–10m, 55", v.From, v.To, v.Measured)
	}
	// RSS is stored in whole KiB, so allow a little rounding.
	if math.Abs(v.RSSSlopeMiBPerMin-0.3) > 0.001 || math.Abs(v.RSSGrowthMiB-2.7) > 0.01 {
		t.Errorf("RSS slope %v/min, growth %v; want 0.3 and 2.7", v.RSSSlopeMiBPerMin, v.RSSGrowthMiB)
	}
	if v.RSSSecondHalfMiB-v.RSSFirstHalfMiB < 1 {
		t.Errorf("halves %v → %v: the second should be higher", v.RSSFirstHalfMiB, v.RSSSecondHalfMiB)
	}
	if v.GoroutinesMin != 250 || v.GoroutinesMax != 254 || math.Abs(v.GoroutineSlopePerMin) > 0.2 {
		t.Errorf("goroutines min %d max %d slope %v", v.GoroutinesMin, v.GoroutinesMax, v.GoroutineSlopePerMin)
	}
	if !v.Pass {
		t.Errorf("verdict fail: %+v", v.Checks)
	}
}

func TestParseStatus(t *testing.T) {
	const status = `Name:	switchyard
Umask:	0022
State:	S (sleeping)
VmPeak:	 1300000 kB
VmHWM:	  120344 kB
VmRSS:	   98765 kB
RssAnon:	   80000 kB
RssFile:	   18765 kB
Threads:	12
SigQ:	0/31574
`
	f, err := parseStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if f != (statusFields{HWMKiB: 120344, RSSKiB: 98765, Threads: 12, AnonKiB: 80000, FileKiB: 18765}) {
		t.Errorf("got %+v", f)
	}
	if _, err := parseStatus(strings.NewReader("VmRSS:\tlots kB\n")); err == nil {
		t.Error("a garbled VmRSS parsed")
	}
}

func TestParseGoMetrics(t *testing.T) {
	for _, tc := range []struct {
		text string
		want goMetrics
		ok   bool
	}{
		{"# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines 42\n" +
			"go_memstats_heap_inuse_bytes 1.8735104e+07\n", goMetrics{42, 18735104}, true},
		{"go_goroutines_total 7\ngo_gc_duration_seconds{quantile=\"0\"} 1e-05\ngo_goroutines{instance=\"a} b\"} 1.3e+02 1700000000\n",
			goMetrics{Goroutines: 130}, true},
		{"go_threads 9\ngo_memstats_heap_inuse_bytes 5\n", goMetrics{HeapInuseBytes: 5}, false},
		{"go_goroutines abc\n", goMetrics{}, false},
	} {
		got, err := parseGoMetrics(strings.NewReader(tc.text))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v, ok %v", tc.text, got, err, tc.want, tc.ok)
		}
	}
}

func TestSoakMarkdown(t *testing.T) {
	r := &soakReport{Target: "switchyard-sqlite", Duration: 10 * time.Minute, Every: 10 * time.Second,
		Rates:  map[string]float64{"chat": 200, "image": 1},
		Limits: soakLimits{Warmup: time.Minute, MaxRSSGrowthMiB: 5, Slack: 10, MaxErrorRate: 0.001}}
	r.Samples = soakRun(10*time.Minute, func(float64) float64 { return 80 }, func(float64) int64 { return 250 }, 28, 28, 0)
	r.Verdict = judgeSoak(r.Samples, r.Limits)
	md := r.markdown()
	for _, want := range []string{"**Verdict: PASS**", "| 0:00 | baseline | 50.0 MiB | 0.0 MiB | 28 | 20 |", "| 10:00 | load | 80.0 MiB | 0.0 MiB | 250 | 200 | 120000 | 0 |",
		"| 10:05 | after |", "chat 200/s, image 1/s", "Measured window 1:00–10:00 (55 samples"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestParseStat(t *testing.T) {
	// Fields after the name: state ppid pgrp session tty tpgid flags
	// minflt cminflt majflt cmajflt utime stime ...
	line := []byte("4242 (postgres: a (b) c) S 1 4242 4242 0 -1 4194560 10 0 0 0 250 50 0 0 20 0 1 0\n")
	cpu, name, ok := parseStat(line)
	if !ok || name != "postgres: a (b) c" || cpu != 3*time.Second {
		t.Errorf("got %v %q %v, want 3s \"postgres: a (b) c\" true", cpu, name, ok)
	}
	if _, _, ok := parseStat([]byte("4242 (short) S 1 2")); ok {
		t.Error("a short stat line parsed")
	}
	own, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	if _, name, ok := parseStat(own); !ok || name == "" {
		t.Errorf("own stat: %q %v", name, ok)
	}
}

func TestServicesDelta(t *testing.T) {
	pg, rd := "postgres", "redis-server"
	before := map[int]svcProc{1: {pg, time.Second}, 2: {pg, 2 * time.Second}, 3: {rd, 5 * time.Second}, 5: {pg, 9 * time.Second}}
	// 1 grew by 500 ms, 2 exited (lost, never negative), 3 grew by 100 ms,
	// 4 started and ran 250 ms, 5 is a new process that took an old pid.
	after := map[int]svcProc{1: {pg, 1500 * time.Millisecond}, 3: {rd, 5100 * time.Millisecond}, 4: {pg, 250 * time.Millisecond}, 5: {rd, 40 * time.Millisecond}}
	got := servicesDelta(before, after)
	if got[pg] != 750*time.Millisecond || got[rd] != 140*time.Millisecond || len(got) != 2 {
		t.Errorf("servicesDelta = %v, want postgres 750ms, redis-server 140ms", got)
	}
}
