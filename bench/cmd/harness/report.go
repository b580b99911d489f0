package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report is a whole run, written as JSON and as a Markdown table.
type report struct {
	Started time.Time     `json:"started"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Machine machine       `json:"machine"`
	Quick   bool          `json:"quick"`
	// Pinned: each measured target ran on one core with GOMAXPROCS=1.
	Pinned bool          `json:"pinned,omitempty"`
	Phase  time.Duration `json:"phase_ns"`
	Warmup time.Duration `json:"warmup_ns"`
	// OwnPhases lists the scenarios whose phases ran other than Phase.
	OwnPhases map[string]time.Duration `json:"own_phases_ns,omitempty"`
	Workers   int                      `json:"workers"`
	Rows      []*row                   `json:"rows"`
	Notes     []string                 `json:"notes,omitempty"`
}

// machine is what the numbers were measured on.
type machine struct {
	CPU       string `json:"cpu"`
	CPUs      int    `json:"cpus"`
	MemoryKiB int64  `json:"memory_kib"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
}

func readMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		fmt.Sscanf(v, "%d", &m.MemoryKiB)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (r *report) write(mdPath, jsonPath string) error {
	r.Machine = readMachine()
	return writeResults(r, r.markdown(), mdPath, jsonPath)
}

// writeResults writes v as indented JSON to jsonPath and md to mdPath,
// creating their directories.
func writeResults(v any, md, mdPath, jsonPath string) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	for _, p := range []string{mdPath, jsonPath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(p), err)
		}
	}
	if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", jsonPath, err)
	}
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", mdPath, err)
	}
	return nil
}

// markdown renders the table BENCHMARKS.md records.
func (r *report) markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Run %s, %s; %s, %d CPUs, %.1f GiB RAM, Linux %s, %s.\n",
		r.Started.Format(time.RFC3339), pick(r.Quick, "quick", "full"), m.CPU, m.CPUs,
		float64(m.MemoryKiB)/(1<<20), m.Kernel, m.Go)
	if r.Pinned {
		fmt.Fprintf(&b, "Pinned: each measured target (bare proxy, gateways) on CPU %d alone with GOMAXPROCS=1; harness, mock and load on the other CPUs.\n", pinnedCPU)
	}
	var own []string
	for _, name := range slices.Sorted(maps.Keys(r.OwnPhases)) {
		own = append(own, fmt.Sprintf("%s: %v", name, r.OwnPhases[name]))
	}
	short := ""
	if len(own) > 0 {
		short = " (" + strings.Join(own, ", ") + ")"
	}
	fmt.Fprintf(&b, "Closed loop: %d workers for %v%s. Open loop: the scenario's rate for as long. Warm-up %v per target and scenario.\n\n",
		r.Workers, r.Phase, short, r.Warmup)
	var loads, holds []*row
	for _, w := range r.Rows {
		if w.Held != nil {
			holds = append(holds, w)
		} else {
			loads = append(loads, w)
		}
	}
	if len(loads) > 0 {
		r.loadTable(&b, loads)
	}
	if len(holds) > 0 {
		r.heldTable(&b, holds)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	b.WriteString("\n")
	return b.String()
}

func errorCell(errs int64) string {
	if errs == 0 {
		return "0"
	}
	return fmt.Sprintf("**%d**", errs)
}

// dur formats a latency in milliseconds with three significant decimals.
func dur(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

func signed(d time.Duration) string {
	return fmt.Sprintf("%+.3f ms", float64(d)/float64(time.Millisecond))
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// loadTable renders the closed- and open-loop scenarios.
func (r *report) loadTable(b *strings.Builder, rows []*row) {
	b.WriteString("| scenario | target | closed req/s | × mock | × proxy | closed p99 | req/s at p99 < 10 ms | open rate | open p50 | open p99 | open p99.9 | added p50 | added p99 | CPU-s / 1k req | peak RSS | RSS after | errors |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, w := range rows {
		errs := w.Closed.Errors + w.Open.Errors
		added50, added99 := "—", "—"
		if w.Target != "mock" {
			added50, added99 = signed(w.AddedP50), signed(w.AddedP99)
		}
		sustained := "—"
		if w.Sustained != nil {
			sustained = fmt.Sprintf("%.0f (%d worker%s)", w.Sustained.RPS(), w.SustainedWorkers, pick(w.SustainedWorkers == 1, "", "s"))
		} else if w.SustainTried {
			sustained = "none"
		}
		fmt.Fprintf(b, "| %s | %s | %.0f | %.2f | %.2f | %s | %s | %.0f/s | %s | %s | %s | %s | %s | %.3f | %.1f MiB | %.1f MiB (%.1f) | %s |\n",
			w.Scenario, w.Target, w.Closed.RPS(), w.RPSvsMock, w.RPSvsProxy, dur(w.Closed.Latency.P99), sustained, w.Open.Rate,
			dur(w.Open.Latency.P50), dur(w.Open.Latency.P99), dur(w.Open.Latency.P999), added50, added99,
			w.CPUPer1k, mib(w.PeakRSSKiB), mib(w.RSSKiB), mib(w.FileKiB), errorCell(errs))
	}
	b.WriteString("\nPeak RSS is the process's VmHWM after the scenario (its peak since start); RSS after is VmRSS then, " +
		"with the file-backed part (RssFile: mostly the binary's own pages) in parentheses. " +
		"CPU-s / 1k req is the target process's own user+system time over both phases. " +
		"Added latency is the open-loop percentile minus the mock-direct one in the same scenario. " +
		fmt.Sprintf("Req/s at p99 < %v is the closed loop at the most workers tried (the table's count, then fewer) whose p99 stayed under %v; "+
			"none when even one worker's did not, — where not measured (an image answer alone takes longer).\n", sustainP99, sustainP99))
	for _, w := range rows {
		if w.MeanBytes >= 1<<20 {
			fmt.Fprintf(b, "\n- %s / %s: answers averaged %.2f MB.", w.Scenario, w.Target, float64(w.MeanBytes)/1e6)
		}
	}
	for _, w := range rows {
		if w.ServicesCPU > 0 {
			fmt.Fprintf(b, "\n- %s / %s: PostgreSQL and Redis used %.3f CPU-s / 1k req (postgres %.3f, redis-server %.3f) besides the gateway's %.3f (both phases, all their processes).",
				w.Scenario, w.Target, w.ServicesPer1k, w.per1k(w.ServicesByName["postgres"]), w.per1k(w.ServicesByName["redis-server"]), w.CPUPer1k)
		}
	}
	for _, w := range rows {
		if s := w.OpenSchedWait; s != nil {
			fmt.Fprintf(b, "\n- %s / %s open loop: goroutines waited runnable p99 %s, p99.9 %s, %.2f%% over 1 ms (%d waits; the runtime's /sched/latencies).",
				w.Scenario, w.Target, dur(s.P99), dur(s.P999), 100*s.Over1ms, s.Count)
		}
	}
	for _, w := range rows {
		if w.Open.Late+w.Open.Missed > 0 {
			fmt.Fprintf(b, "\n- %s / %s open loop: %d starts late by more than 1 ms (worst %s), %d missed.",
				w.Scenario, w.Target, w.Open.Late, dur(w.Open.MaxBehind), w.Open.Missed)
		}
		for _, s := range append(w.Closed.ErrorSamples, w.Open.ErrorSamples...) {
			fmt.Fprintf(b, "\n- %s / %s error: %s", w.Scenario, w.Target, s)
		}
	}
	b.WriteString("\n")
}

// heldTable renders the held-streams scenarios.
func (r *report) heldTable(b *strings.Builder, rows []*row) {
	b.WriteString("\n| scenario | target | streams | held at once | all open after | RSS idle | RSS held | RSS per held stream | fds idle → held | threads held | peak RSS | errors |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, w := range rows {
		h := w.Held
		open := "—"
		if h.Result.Opened == int64(h.Result.Streams) {
			open = dur(h.Result.OpenAfter)
		}
		fmt.Fprintf(b, "| %s | %s | %d | %d | %s | %.1f MiB | %.1f MiB | %.1f KiB | %d → %d | %d | %.1f MiB | %s |\n",
			w.Scenario, w.Target, h.Result.Streams, h.Result.StillOpen, open, mib(h.IdleRSSKiB), mib(h.HeldRSSKiB),
			h.PerStreamKiB, h.IdleFDs, h.HeldFDs, h.HeldThreads, mib(w.PeakRSSKiB), errorCell(h.Result.Errors))
	}
	b.WriteString("\nAll streams start at once; once every one has its first event, the target's VmRSS is sampled " +
		fmt.Sprintf("%d times %v apart and the highest kept (RSS held). ", heldSampleTimes, heldSampleEvery) +
		"RSS idle is VmRSS after a warm-up with short streams and a settle pause. " +
		"RSS per held stream = (RSS held − RSS idle) / streams. " +
		"Held at once counts streams open through all the samples.\n")
	for _, w := range rows {
		for _, s := range w.Held.Result.ErrorSamples {
			fmt.Fprintf(b, "\n- %s / %s error: %s", w.Scenario, w.Target, s)
		}
	}
}
