package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/bench/load"
)

// The soak: one gateway under a steady mixed open-loop load for a long
// time, sampled every few seconds, to show that neither its memory nor its
// goroutines grow with the requests it has served.

// soakOptions are the harness's -soak* flags.
type soakOptions struct {
	d       time.Duration // length of the load; 0 = no soak
	db      string        // "sqlite" or "pg-redis"
	every   time.Duration
	warmup  time.Duration // load samples before this are left out of the verdict
	growth  float64       // MiB
	slack   int
	prewarm time.Duration
	settle  time.Duration
}

// mockIdleTimeout is how long the soak's mock keeps an idle connection: well
// under soakSettle, so that once load stops the gateway's upstream pool has
// closed by the time the idle sample is read, and the goroutines and
// descriptors it held do not pass for a leak.
const mockIdleTimeout = 2 * time.Second

const soakSettle = 5 * time.Second

// soakStreamChunks is the soak's stream length: shorter than the
// benchmark's, since the point is many streams begun and ended over time.
const soakStreamChunks = 50

// soakScenarios is the soak's mix: the benchmark's chat, embeddings and
// image requests and a shorter stream, at rates a 2-core machine carries
// with room to spare for the whole run.
func soakScenarios() ([]scenario, error) {
	all, err := scenarios(false)
	if err != nil {
		return nil, err
	}
	get := func(name string, rate float64) scenario {
		sc := all[slices.IndexFunc(all, func(s scenario) bool { return s.Name == name })]
		sc.Rate = rate
		return sc
	}
	return []scenario{
		get("chat", 200),
		{
			Name: fmt.Sprintf("stream-%d", soakStreamChunks),
			Path: "/v1/chat/completions",
			Body: []byte(fmt.Sprintf(`{"model":"%s","max_tokens":1024,"stream":true,`+
				`"messages":[{"role":"user","content":"[[mock chunks=%d]] Tell me a story."}]}`, chatModel, soakStreamChunks)),
			Tail: []byte("data: [DONE]"),
			Rate: 20,
		},
		get("embed-50k", 5),
		get("image", 1),
	}, nil
}

// soakReport is a whole soak, written as JSON and Markdown.
type soakReport struct {
	Started    time.Time               `json:"started"`
	Elapsed    time.Duration           `json:"elapsed_ns"`
	Machine    machine                 `json:"machine"`
	Target     string                  `json:"target"`
	Duration   time.Duration           `json:"duration_ns"`
	Every      time.Duration           `json:"every_ns"`
	Prewarm    time.Duration           `json:"prewarm_ns"`
	Settle     time.Duration           `json:"settle_ns"`
	Rates      map[string]float64      `json:"rates"`
	Limits     soakLimits              `json:"limits"`
	Samples    []soakSample            `json:"samples"`
	Verdict    soakVerdict             `json:"verdict"`
	Results    map[string]*load.Result `json:"results"`
	PeakRSSKiB int64                   `json:"peak_rss_kib"`
	Notes      []string                `json:"notes,omitempty"`
}

// runSoak builds switchyard, starts the mock and one gateway, and soaks it.
func runSoak(ctx context.Context, o options) error {
	so := o.soak
	started := time.Now()
	logDir, work, self, err := prepareRun(o.out, "switchyard-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	scs, err := soakScenarios()
	if err != nil {
		return err
	}
	if err := setRates(scs, o.rates); err != nil {
		return err
	}
	env := gatewayEnv{name: "switchyard-sqlite"}
	switch so.db {
	case "sqlite":
	case "pg-redis":
		pgURL, redisURL := os.Getenv("SWITCHYARD_TEST_POSTGRES_URL"), os.Getenv("SWITCHYARD_TEST_REDIS_URL")
		if pgURL == "" || redisURL == "" {
			return fmt.Errorf("-soak-db pg-redis needs SWITCHYARD_TEST_POSTGRES_URL and SWITCHYARD_TEST_REDIS_URL")
		}
		if env, err = postgresRedisEnv(ctx, pgURL, redisURL); err != nil {
			return err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := env.cleanup(cctx); err != nil {
				logf("cleanup: %v", err)
			}
		}()
	default:
		return fmt.Errorf("-soak-db %q: want sqlite or pg-redis", so.db)
	}

	logf("building switchyard (CGO_ENABLED=0)")
	bin, err := buildGateway(ctx, o.repo, work)
	if err != nil {
		return err
	}
	mock, err := startHelper(ctx, self, logDir, "mock", "mock", "/_mock/counters", "-idle-timeout", mockIdleTimeout.String())
	if err != nil {
		return err
	}
	defer mock.proc.stop(15 * time.Second)
	gw, err := startGateway(ctx, bin, work, logDir, mock.Base, env)
	if err != nil {
		return err
	}
	// Stopped before the deferred cleanup drops its database.
	defer gw.proc.stop(15 * time.Second)
	logf("started %s at %s (pid %d)", gw.Name, gw.Base, gw.proc.cmd.Process.Pid)

	rep := &soakReport{
		Started: started.UTC(), Target: gw.Name, Duration: so.d, Every: so.every,
		Prewarm: so.prewarm, Settle: so.settle, Rates: map[string]float64{},
		Limits: soakLimits{Warmup: so.warmup, MaxRSSGrowthMiB: so.growth, Slack: int64(so.slack), MaxErrorRate: 0.001},
	}
	for _, sc := range scs {
		rep.Rates[sc.Name] = sc.Rate
	}
	client := load.Client(1024)
	defer client.CloseIdleConnections()
	s := &sampler{t: gw, metrics: &http.Client{Timeout: 5 * time.Second}}

	// The pre-warm fills the gateway's pools (database, upstream, buffers)
	// so that the idle baseline is the one the end is compared with.
	logf("pre-warm %v", so.prewarm)
	if _, err := runMix(ctx, client, gw, scs, so.prewarm, nil); err != nil {
		return err
	}
	if err := s.idle(ctx, client, so.settle, "baseline", time.Time{}, rep); err != nil {
		return err
	}

	logf("soak %v: %s; sampling every %v", so.d, rateList(scs), so.every)
	var live load.Live
	s.live = &live
	start := time.Now()
	type done struct {
		res map[string]*load.Result
		err error
	}
	finished := make(chan done, 1)
	go func() {
		res, err := runMix(ctx, client, gw, scs, so.d, &live)
		finished <- done{res, err}
	}()
	tick := time.NewTicker(so.every)
	defer tick.Stop()
	var out done
wait:
	for {
		select {
		case out = <-finished:
			break wait
		case <-tick.C:
			at := time.Since(start)
			if at > so.d+so.every/2 {
				continue // load is draining; the idle sample follows
			}
			smp, err := s.sample(ctx, "load", at)
			if err != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("sampling stopped at %s: %v", clock(at), err))
				logf("sample: %v", err)
				continue
			}
			rep.Samples = append(rep.Samples, smp)
			logf("%s  RSS %.1f MiB  Go heap %.1f MiB  goroutines %d  fds %d  ok %d  errors %d",
				clock(at), mib(smp.RSSKiB), mib(smp.HeapKiB), smp.Goroutines, smp.FDs, smp.OK, smp.Errors)
		}
	}
	if out.err != nil {
		return out.err
	}
	rep.Results = out.res
	if err := s.idle(ctx, client, so.settle, "after", start, rep); err != nil {
		rep.Notes = append(rep.Notes, err.Error())
	}
	if st, err := gw.proc.stats(); err == nil {
		rep.PeakRSSKiB = st.HWMKiB
	}
	if !gw.proc.alive() {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s exited during the soak (%v); see %s.log", gw.Name, gw.proc.err, gw.Name))
	}
	for _, name := range slices.Sorted(maps.Keys(out.res)) {
		for _, e := range out.res[name].ErrorSamples {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s error: %s", name, e))
		}
	}
	rep.Verdict = judgeSoak(rep.Samples, rep.Limits)
	rep.Elapsed = time.Since(started)
	if err := rep.write(o.mdPath, o.jsonPath); err != nil {
		return err
	}
	logf("soak %s in %v: %s, %s", pick(rep.Verdict.Pass, "PASS", "FAIL"), rep.Elapsed.Round(time.Second), o.mdPath, o.jsonPath)
	return nil
}

// runMix runs every scenario's open loop against t at once for d.
func runMix(ctx context.Context, client *http.Client, t *target, scs []scenario, d time.Duration, live *load.Live) (map[string]*load.Result, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	res := map[string]*load.Result{}
	var firstErr error
	for _, sc := range scs {
		wg.Go(func() {
			r, err := load.Run(ctx, client, sc.request(t), load.Config{Mode: load.Open, Rate: sc.Rate, Duration: d, Live: live})
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("soak %s: %w", sc.Name, err)
			}
			res[sc.Name] = r
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return res, firstErr
}

func rateList(scs []scenario) string {
	var parts []string
	for _, sc := range scs {
		parts = append(parts, fmt.Sprintf("%s %g/s", sc.Name, sc.Rate))
	}
	return strings.Join(parts, ", ")
}

// sampler reads the gateway's memory, goroutines and descriptors.
type sampler struct {
	t       *target
	metrics *http.Client
	live    *load.Live
}

func (s *sampler) sample(ctx context.Context, phase string, at time.Duration) (soakSample, error) {
	smp := soakSample{Phase: phase, At: at}
	st, err := s.t.proc.stats()
	if err != nil {
		return smp, err
	}
	smp.RSSKiB = st.RSSKiB
	if smp.FDs, err = s.t.proc.openFDs(); err != nil {
		return smp, err
	}
	gm, err := s.goMetrics(ctx)
	if err != nil {
		return smp, err
	}
	smp.Goroutines, smp.HeapKiB = gm.Goroutines, gm.HeapInuseBytes>>10
	if s.live != nil {
		smp.OK, smp.Errors = s.live.OK.Load(), s.live.Errors.Load()
	}
	return smp, nil
}

// idle closes the load's keep-alive connections, waits for the gateway to
// let go of what they held, and records one sample.
// Its time is measured from start; a zero start puts it at 0:00.
func (s *sampler) idle(ctx context.Context, client *http.Client, settle time.Duration, phase string, start time.Time, rep *soakReport) error {
	client.CloseIdleConnections()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(settle):
	}
	var at time.Duration
	if !start.IsZero() {
		at = time.Since(start)
	}
	smp, err := s.sample(ctx, phase, at)
	if err != nil {
		return fmt.Errorf("%s sample: %w", phase, err)
	}
	rep.Samples = append(rep.Samples, smp)
	logf("%s: RSS %.1f MiB  goroutines %d  fds %d", phase, mib(smp.RSSKiB), smp.Goroutines, smp.FDs)
	return nil
}

func (s *sampler) goMetrics(ctx context.Context) (goMetrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.t.Base+"/metrics", nil)
	if err != nil {
		return goMetrics{}, fmt.Errorf("build metrics request: %w", err)
	}
	resp, err := s.metrics.Do(req)
	if err != nil {
		return goMetrics{}, fmt.Errorf("get %s metrics: %w", s.t.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return goMetrics{}, fmt.Errorf("get %s metrics: status %d", s.t.Name, resp.StatusCode)
	}
	m, err := parseGoMetrics(resp.Body)
	if err != nil {
		return goMetrics{}, fmt.Errorf("%s metrics: %w", s.t.Name, err)
	}
	return m, nil
}

func (r *soakReport) write(mdPath, jsonPath string) error {
	r.Machine = readMachine()
	return writeResults(r, r.markdown(), mdPath, jsonPath)
}

// markdown renders the samples and the verdict.
func (r *soakReport) markdown() string {
	var b strings.Builder
	m := r.Machine
	v := r.Verdict
	fmt.Fprintf(&b, "Soak %s, %s for %v; %s, %d CPUs, %.1f GiB RAM, Linux %s, %s.\n",
		r.Started.Format(time.RFC3339), r.Target, r.Duration, m.CPU, m.CPUs,
		float64(m.MemoryKiB)/(1<<20), m.Kernel, m.Go)
	var rates []string
	for _, name := range slices.Sorted(maps.Keys(r.Rates)) {
		rates = append(rates, fmt.Sprintf("%s %g/s", name, r.Rates[name]))
	}
	fmt.Fprintf(&b, "Open-loop load: %s. Sampled every %v; baseline after a %v pre-warm and %v idle; "+
		"after: %v idle once load stopped and the client's connections closed.\n\n",
		strings.Join(rates, ", "), r.Every, r.Prewarm, r.Settle, r.Settle)
	fmt.Fprintf(&b, "**Verdict: %s**\n\n", pick(v.Pass, "PASS", "FAIL"))
	b.WriteString("| check | value | limit | result |\n|---|--:|--:|---|\n")
	for _, c := range v.Checks {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Name, c.Value, c.Limit, pick(c.Pass, "pass", "**FAIL**"))
	}
	if v.Measured >= 3 {
		fmt.Fprintf(&b, "\nMeasured window %s–%s (%d samples; the first %v is warm-up). "+
			"RSS mean %.1f MiB in the first half, %.1f MiB in the second. "+
			"Goroutines: mean %.1f → %.1f, slope %+.2f/min, min %d, max %d (max − min %d). Peak RSS (VmHWM) %.1f MiB.\n",
			clock(v.From), clock(v.To), v.Measured, r.Limits.Warmup, v.RSSFirstHalfMiB, v.RSSSecondHalfMiB,
			v.GoroutinesFirstHalf, v.GoroutinesSecondHalf, v.GoroutineSlopePerMin, v.GoroutinesMin, v.GoroutinesMax,
			v.GoroutinesMax-v.GoroutinesMin, mib(r.PeakRSSKiB))
	}
	b.WriteString("\n| time | phase | RSS | Go heap in use | goroutines | fds | requests | errors |\n|--:|---|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range r.Samples {
		fmt.Fprintf(&b, "| %s | %s | %.1f MiB | %.1f MiB | %d | %d | %d | %s |\n",
			clock(s.At), s.Phase, mib(s.RSSKiB), mib(s.HeapKiB), s.Goroutines, s.FDs, s.OK+s.Errors, errorCell(s.Errors))
	}
	b.WriteString("\nGo heap in use is go_memstats_heap_inuse_bytes: RSS that grows while it stays flat is held outside the Go heap " +
		"(SQLite's page cache in the pure-Go driver, runtime spans not yet returned).\n")
	if len(r.Results) > 0 {
		b.WriteString("\n| scenario | rate | ok | errors | p50 | p99 | late | missed |\n|---|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, name := range slices.Sorted(maps.Keys(r.Results)) {
			res := r.Results[name]
			fmt.Fprintf(&b, "| %s | %g/s | %d | %s | %s | %s | %d | %d |\n", name, res.Rate, res.OK,
				errorCell(res.Errors), dur(res.Latency.P50), dur(res.Latency.P99), res.Late, res.Missed)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	b.WriteString("\n")
	return b.String()
}
