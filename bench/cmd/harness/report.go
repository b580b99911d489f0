package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// report is a whole run, written as JSON and as a Markdown table.
type report struct {
	Started time.Time     `json:"started"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Machine machine       `json:"machine"`
	Quick   bool          `json:"quick"`
	Phase   time.Duration `json:"phase_ns"`
	Warmup  time.Duration `json:"warmup_ns"`
	Workers int           `json:"workers"`
	Rows    []*row        `json:"rows"`
	Notes   []string      `json:"notes,omitempty"`
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
	b, err := json.MarshalIndent(r, "", "  ")
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
	if err := os.WriteFile(mdPath, []byte(r.markdown()), 0o644); err != nil {
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
	fmt.Fprintf(&b, "Closed loop: %d workers for %v. Open loop: the scenario's rate for %v. Warm-up %v per target and scenario.\n\n",
		r.Workers, r.Phase, r.Phase, r.Warmup)
	b.WriteString("| scenario | target | closed req/s | × mock | × proxy | closed p99 | open rate | open p50 | open p99 | open p99.9 | added p50 | added p99 | CPU-s / 1k req | peak RSS | RSS after | errors |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, w := range r.Rows {
		errs := w.Closed.Errors + w.Open.Errors
		added50, added99 := "—", "—"
		if w.Target != "mock" {
			added50, added99 = signed(w.AddedP50), signed(w.AddedP99)
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.2f | %.2f | %s | %.0f/s | %s | %s | %s | %s | %s | %.3f | %.1f MiB | %.1f MiB | %s |\n",
			w.Scenario, w.Target, w.Closed.RPS(), w.RPSvsMock, w.RPSvsProxy, dur(w.Closed.Latency.P99), w.Open.Rate,
			dur(w.Open.Latency.P50), dur(w.Open.Latency.P99), dur(w.Open.Latency.P999), added50, added99,
			w.CPUPer1k, mib(w.PeakRSSKiB), mib(w.RSSKiB), errorCell(errs))
	}
	b.WriteString("\nPeak RSS is the process's VmHWM after the scenario (its peak since start); RSS after is VmRSS then. " +
		"CPU-s / 1k req is the target process's own user+system time over both phases. " +
		"Added latency is the open-loop percentile minus the mock-direct one in the same scenario.\n")
	for _, w := range r.Rows {
		if w.Open.Late+w.Open.Missed > 0 {
			fmt.Fprintf(&b, "\n- %s / %s open loop: %d starts late by more than 1 ms (worst %s), %d missed.",
				w.Scenario, w.Target, w.Open.Late, dur(w.Open.MaxBehind), w.Open.Missed)
		}
		for _, s := range append(w.Closed.ErrorSamples, w.Open.ErrorSamples...) {
			fmt.Fprintf(&b, "\n- %s / %s error: %s", w.Scenario, w.Target, s)
		}
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
