package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/switchyard/switchyard/bench/load"
)

// row is one scenario on one target.
type row struct {
	Scenario string       `json:"scenario"`
	Target   string       `json:"target"`
	Closed   *load.Result `json:"closed,omitempty"`
	// Sustained is the closed loop at the most workers (of those tried,
	// -c and fewer) whose p99 stayed under sustainP99, nil when none did
	// or the scenario has no such measure (see scenario.Sustain).
	Sustained        *load.Result `json:"sustained,omitempty"`
	SustainedWorkers int          `json:"sustained_workers,omitempty"`
	SustainTried     bool         `json:"sustain_tried,omitempty"`
	Open             *load.Result `json:"open,omitempty"`
	// OpenSchedWait is how long the target's goroutines waited runnable
	// over the open loop (and its settle pause): the gateways only.
	OpenSchedWait *schedWait `json:"open_sched_wait,omitempty"`
	Held          *held      `json:"held,omitempty"` // held-streams scenarios only, instead of Closed and Open
	// CPU time of the target process over each measured phase (including
	// the settle pause after it, so work a request leaves behind, such as
	// the billing journal's drain, is charged to it).
	ClosedCPU time.Duration `json:"closed_cpu_ns"`
	OpenCPU   time.Duration `json:"open_cpu_ns"`
	// CPUPer1k is CPU-seconds per 1000 requests over both phases.
	CPUPer1k float64 `json:"cpu_s_per_1k"`
	// ServicesCPU is PostgreSQL's and Redis's CPU time over both phases,
	// for a target that uses them (servicesCPU), and ServicesPer1k the
	// same per 1000 requests.
	ServicesCPU   time.Duration `json:"services_cpu_ns,omitempty"`
	ServicesPer1k float64       `json:"services_cpu_s_per_1k,omitempty"`
	// ServicesByName splits ServicesCPU by process name (postgres,
	// redis-server).
	ServicesByName map[string]time.Duration `json:"services_cpu_ns_by_name,omitempty"`
	PeakRSSKiB     int64                    `json:"peak_rss_kib"` // VmHWM after the scenario: the process's peak so far
	RSSKiB         int64                    `json:"rss_kib"`      // VmRSS after the scenario
	AnonKiB        int64                    `json:"rss_anon_kib"` // of which anonymous
	FileKiB        int64                    `json:"rss_file_kib"` // of which file-backed (the binary's pages)
	Threads        int64                    `json:"threads"`
	// Against the floors of the same scenario in the same run.
	RPSvsMock  float64       `json:"rps_vs_mock"`
	RPSvsProxy float64       `json:"rps_vs_proxy"`
	AddedP50   time.Duration `json:"added_p50_ns"` // open-loop p50 minus the mock's
	AddedP99   time.Duration `json:"added_p99_ns"`
	// MeanBytes is the closed loop's mean answer size, to show that a
	// large answer (the image scenario's) really was relayed whole.
	MeanBytes int64 `json:"mean_answer_bytes,omitempty"`
}

// settle is how long the harness waits after a phase before reading the
// target's CPU time.
func settle(o options) time.Duration { return pick(o.quick, 300*time.Millisecond, time.Second) }

// measureScenario runs sc against every target: a warm-up and the closed
// loop on each in turn, then the open loop on each in turn, so that each
// phase of the targets runs close together in time on the same machine.
func measureScenario(ctx context.Context, o options, sc scenario, targets []*target, rep *report) error {
	rows := make([]*row, len(targets))
	for i, t := range targets {
		rows[i] = &row{Scenario: sc.Name, Target: t.Name}
	}
	client := load.Client(max(o.workers, 1024))
	defer client.CloseIdleConnections()
	d := o.phase
	if own := pick(o.quick, sc.QuickPhase, sc.Phase); own > 0 && !o.phaseSet {
		d = own
	}
	if d != o.phase {
		if rep.OwnPhases == nil {
			rep.OwnPhases = map[string]time.Duration{}
		}
		rep.OwnPhases[sc.Name] = d
	}
	closed := load.Config{Mode: load.Closed, Workers: o.workers, Duration: d}
	open := load.Config{Mode: load.Open, Rate: sc.Rate, Duration: d}

	for i, t := range targets {
		warm := closed
		warm.Duration = o.warmup
		if _, err := load.Run(ctx, client, sc.request(t), warm); err != nil {
			return fmt.Errorf("%s warm-up on %s: %w", sc.Name, t.Name, err)
		}
		res, cpu, err := phase(ctx, o, client, sc, t, closed)
		if err != nil {
			return err
		}
		rows[i].Closed, rows[i].ClosedCPU = res, cpu.own
		rows[i].addServices(cpu.services)
		logf("%-10s %-20s closed: %6.0f req/s  p50 %-9v p99 %-9v errors %d",
			sc.Name, t.Name, res.RPS(), ms(res.Latency.P50), ms(res.Latency.P99), res.Errors)
		if sc.Sustain {
			rows[i].SustainTried = true
			if rows[i].Sustained, rows[i].SustainedWorkers, err = sustain(ctx, o, client, sc, t, res); err != nil {
				return err
			}
		}
	}
	for i, t := range targets {
		before, err := readSched(ctx, t)
		if err != nil {
			return err
		}
		res, cpu, err := phase(ctx, o, client, sc, t, open)
		if err != nil {
			return err
		}
		rows[i].Open, rows[i].OpenCPU = res, cpu.own
		rows[i].addServices(cpu.services)
		if before != nil {
			after, err := readSched(ctx, t)
			if err != nil {
				return err
			}
			rows[i].OpenSchedWait = waits(before, after)
		}
		logf("%-10s %-20s open %v/s: p50 %-9v p99 %-9v p99.9 %-9v late %d missed %d errors %d",
			sc.Name, t.Name, sc.Rate, ms(res.Latency.P50), ms(res.Latency.P99), ms(res.Latency.P999),
			res.Late, res.Missed, res.Errors)
	}
	for i, t := range targets {
		s, err := t.proc.stats()
		if err != nil {
			return err
		}
		r := rows[i]
		r.PeakRSSKiB, r.RSSKiB, r.Threads = s.HWMKiB, s.RSSKiB, s.Threads
		r.AnonKiB, r.FileKiB = s.AnonKiB, s.FileKiB
		r.CPUPer1k = r.per1k(r.ClosedCPU + r.OpenCPU)
		r.ServicesPer1k = r.per1k(r.ServicesCPU)
		if r.Closed.OK > 0 {
			r.MeanBytes = r.Closed.Bytes / r.Closed.OK
		}
		mock, proxy := rows[0], rows[1]
		if v := mock.Closed.RPS(); v > 0 {
			r.RPSvsMock = r.Closed.RPS() / v
		}
		if v := proxy.Closed.RPS(); v > 0 {
			r.RPSvsProxy = r.Closed.RPS() / v
		}
		r.AddedP50 = r.Open.Latency.P50 - mock.Open.Latency.P50
		r.AddedP99 = r.Open.Latency.P99 - mock.Open.Latency.P99
		rep.Rows = append(rep.Rows, r)
	}
	return nil
}

// sustainP99 is the latency bound of the sustained rate: the requests per
// second a target serves closed loop while its p99 stays under it.
const sustainP99 = 10 * time.Millisecond

// sustain finds the sustained rate from the closed loop's result at -c
// workers: that result itself when its p99 is under sustainP99, else short
// closed loops at fewer workers, the first guess from the p99 seen
// (latency grows about in proportion to workers once the target is
// saturated), then halving, until one stays under the bound. It returns
// nil when even one worker does not.
func sustain(ctx context.Context, o options, client *http.Client, sc scenario, t *target, first *load.Result) (*load.Result, int, error) {
	bound := o.sustainBound()
	if first.Latency.P99 < bound && first.Errors == 0 {
		return first, o.workers, nil
	}
	c := o.workers * int(bound) / max(int(first.Latency.P99), 1)
	c = min(max(c, 1), o.workers-1)
	for c >= 1 {
		res, err := load.Run(ctx, client, sc.request(t), load.Config{Mode: load.Closed, Workers: c, Duration: pick(o.quick, time.Second, 2*time.Second)})
		if err != nil {
			return nil, 0, fmt.Errorf("%s sustained rate on %s: %w", sc.Name, t.Name, err)
		}
		logf("%-10s %-20s %2d workers: %6.0f req/s  p99 %-9v errors %d", sc.Name, t.Name, c, res.RPS(), ms(res.Latency.P99), res.Errors)
		if res.Latency.P99 < bound && res.Errors == 0 {
			return res, c, nil
		}
		c /= 2
	}
	return nil, 0, nil
}

// sustainBound is the latency bound of the sustained rate: sustainP99,
// unless a test sets its own (one that a loaded machine's scheduling noise
// cannot cross).
func (o options) sustainBound() time.Duration {
	if o.sustainP99 > 0 {
		return o.sustainP99
	}
	return sustainP99
}

// per1k is CPU time d in seconds per 1000 of the row's requests (both
// phases); 0 with none.
func (r *row) per1k(d time.Duration) float64 {
	n := r.Closed.OK + r.Closed.Errors + r.Open.OK + r.Open.Errors
	if n == 0 {
		return 0
	}
	return d.Seconds() * 1000 / float64(n)
}

// addServices adds a phase's service CPU to the row's.
func (r *row) addServices(by map[string]time.Duration) {
	for name, d := range by {
		if r.ServicesByName == nil {
			r.ServicesByName = map[string]time.Duration{}
		}
		r.ServicesByName[name] += d
		r.ServicesCPU += d
	}
}

// phaseCPU is the CPU time a phase cost: the target's own, and that of
// the services it uses (zero for a target that uses none).
type phaseCPU struct {
	own      time.Duration
	services map[string]time.Duration // by process name
}

// phase runs one measured load phase on t and returns the CPU time it
// cost.
func phase(ctx context.Context, o options, client *http.Client, sc scenario, t *target, cfg load.Config) (*load.Result, phaseCPU, error) {
	var cpu phaseCPU
	before, err := t.proc.stats()
	if err != nil {
		return nil, cpu, err
	}
	var svcBefore map[int]svcProc
	if t.services {
		if svcBefore, err = servicesCPU(); err != nil {
			return nil, cpu, fmt.Errorf("read the services' CPU: %w", err)
		}
	}
	res, err := load.Run(ctx, client, sc.request(t), cfg)
	if err != nil {
		return nil, cpu, fmt.Errorf("%s %s loop on %s: %w", sc.Name, cfg.Mode, t.Name, err)
	}
	select {
	case <-ctx.Done():
		return nil, cpu, ctx.Err()
	case <-time.After(settle(o)):
	}
	after, err := t.proc.stats()
	if err != nil {
		return nil, cpu, err
	}
	cpu.own = after.CPU - before.CPU
	if t.services {
		svcAfter, err := servicesCPU()
		if err != nil {
			return nil, cpu, fmt.Errorf("read the services' CPU: %w", err)
		}
		cpu.services = servicesDelta(svcBefore, svcAfter)
	}
	return res, cpu, nil
}

// ms rounds a duration for the progress log.
func ms(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
