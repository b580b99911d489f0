// Command harness is the gateway's load benchmark. It builds switchyard,
// starts the mock upstream, a bare httputil.ReverseProxy in front of it and
// switchyard serve (SQLite, and PostgreSQL + Redis when the test URLs are
// set) as separate processes, then loads each target in turn with every
// scenario — closed loop for throughput, open loop at a fixed rate for
// latency — reading each target's CPU time and memory from /proc. The
// mock-direct and bare-proxy runs are the floors the gateway is compared
// with; they share the machine with it, so only ratios mean much.
//
//	go run ./bench/cmd/harness            # full run, about 8 minutes
//	go run ./bench/cmd/harness -quick     # smoke run, about three minutes
//	go run ./bench/cmd/harness -soak 10m  # one gateway under steady load: no growth?
//
// Results go to bench/out/results.md and results.json; each target's log
// to bench/out/<target>.log. See bench/README.md.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/bench/load"
)

// options are the harness's flags.
type options struct {
	repo     string
	out      string
	mdPath   string
	jsonPath string
	quick    bool
	phase    time.Duration
	phaseSet bool // -d given: it overrides the scenarios' own phase lengths
	warmup   time.Duration
	workers  int
	rates    string
	only     string
	soak     soakOptions
	// pin runs every measured target on one core (pinnedCPU, GOMAXPROCS=1)
	// and the harness, the mock and the load on the others.
	pin bool
	// sustainP99 overrides the sustained rate's latency bound (tests).
	sustainP99 time.Duration
}

func main() {
	// A thousand held streams need a descriptor each here, in the mock, in
	// the proxy and twice in the gateway. Every target is started by this
	// process (the helper roles by their own main) and inherits the limit.
	if _, _, err := load.RaiseFDLimit(); err != nil {
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
	}
	// Helper roles: the harness re-runs itself as the mock and the proxy.
	if len(os.Args) > 1 && (os.Args[1] == "mock" || os.Args[1] == "proxy") {
		os.Exit(runRole(os.Args[1], os.Args[2:]))
	}
	var o options
	flag.StringVar(&o.repo, "repo", ".", "`DIR` of the switchyard module to build")
	flag.StringVar(&o.out, "out", "bench/out", "`DIR` for results and target logs")
	flag.StringVar(&o.mdPath, "md", "", "Markdown table `FILE` (default <out>/results.md)")
	flag.StringVar(&o.jsonPath, "json", "", "JSON results `FILE` (default <out>/results.json)")
	flag.BoolVar(&o.quick, "quick", false, "smoke run: short phases (about three minutes in all)")
	flag.DurationVar(&o.phase, "d", 0, "`DURATION` of each measured phase (default 10s, 5s for image and edit10mb; with -quick 2s, 3s for those)")
	flag.DurationVar(&o.warmup, "warmup", 0, "closed-loop warm-up per target and scenario (default 2s, 500ms with -quick)")
	flag.IntVar(&o.workers, "c", 16, "closed loop: concurrent `WORKERS`")
	flag.StringVar(&o.rates, "rates", "", "open-loop rates as `NAME=RPS,…` (default chat=1000,stream-200=100,embed-50k=100,image=5,edit10mb=4; with -soak chat=200,stream-50=20,embed-50k=5,image=1)")
	flag.StringVar(&o.only, "scenarios", "", "comma-separated `NAMES` to run (default all: "+scenarioNames+")")
	flag.DurationVar(&o.soak.d, "soak", 0, "soak one gateway under a steady mixed load for `DURATION` (e.g. 10m) instead of the benchmark; writes <out>/soak.md and soak.json")
	flag.StringVar(&o.soak.db, "soak-db", "sqlite", "soak: the gateway's backend, `sqlite` or pg-redis (needs SWITCHYARD_TEST_{POSTGRES,REDIS}_URL)")
	flag.DurationVar(&o.soak.every, "soak-every", 10*time.Second, "soak: sample `INTERVAL`")
	flag.DurationVar(&o.soak.warmup, "soak-warmup", 0, "soak: load samples left out of the verdict, from the start (default 1m, or a quarter of a shorter -soak)")
	flag.Float64Var(&o.soak.growth, "soak-max-rss-growth", 5, "soak: pass while the fitted RSS growth over the measured window is under `MIB`")
	flag.IntVar(&o.soak.slack, "soak-slack", 10, "soak: pass while idle goroutines and fds after load are within baseline ± `N`")
	flag.BoolVar(&o.pin, "pin", false, "pin each measured target (bare proxy, gateways) to CPU 0 with GOMAXPROCS=1, and the harness, mock and load generator to the other CPUs (taskset); shows the tail a busy core gives")
	flag.Parse()
	if o.pin {
		if err := pinHarness(); err != nil {
			fmt.Fprintf(os.Stderr, "harness: -pin: %v\n", err)
			os.Exit(1)
		}
		pinTargets = true
	}
	if o.soak.d > 0 {
		o.soak.warmup = cmp.Or(o.soak.warmup, min(time.Minute, o.soak.d/4))
		o.soak.prewarm = min(10*time.Second, o.soak.d/6)
		o.soak.settle = soakSettle
		o.mdPath = cmp.Or(o.mdPath, filepath.Join(o.out, "soak.md"))
		o.jsonPath = cmp.Or(o.jsonPath, filepath.Join(o.out, "soak.json"))
	}
	o.phaseSet = o.phase != 0
	if o.phase == 0 {
		o.phase = pick(o.quick, 2*time.Second, 10*time.Second)
	}
	if o.warmup == 0 {
		o.warmup = pick(o.quick, 500*time.Millisecond, 2*time.Second)
	}
	if o.mdPath == "" {
		o.mdPath = filepath.Join(o.out, "results.md")
	}
	if o.jsonPath == "" {
		o.jsonPath = filepath.Join(o.out, "results.json")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	runner := run
	if o.soak.d > 0 {
		runner = runSoak
	}
	if err := runner(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		os.Exit(1)
	}
}

func pick[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}

// prepareRun creates the output directory and a work directory (the
// caller removes it) and finds the harness's own binary, which runs the
// roles.
func prepareRun(out, workPrefix string) (logDir, work, self string, err error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", "", "", fmt.Errorf("create %s: %w", out, err)
	}
	if logDir, err = filepath.Abs(out); err != nil {
		return "", "", "", fmt.Errorf("resolve %s: %w", out, err)
	}
	if self, err = os.Executable(); err != nil {
		return "", "", "", fmt.Errorf("find own binary: %w", err)
	}
	if work, err = os.MkdirTemp("", workPrefix); err != nil {
		return "", "", "", fmt.Errorf("create work dir: %w", err)
	}
	return logDir, work, self, nil
}

func run(ctx context.Context, o options) error {
	started := time.Now()
	logDir, work, self, err := prepareRun(o.out, "switchyard-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	scs, err := scenarios(o.quick)
	if err != nil {
		return err
	}
	if err := setRates(scs, o.rates); err != nil {
		return err
	}
	if o.only != "" {
		want := strings.Split(o.only, ",")
		scs = slices.DeleteFunc(scs, func(s scenario) bool { return !slices.Contains(want, s.Name) })
		if len(scs) == 0 {
			return fmt.Errorf("-scenarios %q names none of %s", o.only, scenarioNames)
		}
	}

	logf("building switchyard (CGO_ENABLED=0)")
	bin, err := buildGateway(ctx, o.repo, work)
	if err != nil {
		return err
	}

	// Targets stop before their databases and Redis keys are removed, so
	// that nothing writes to them after the cleanup.
	var targets []*target
	var cleanups []func(context.Context) error
	defer func() {
		for _, t := range slices.Backward(targets) {
			t.proc.stop(15 * time.Second)
		}
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, c := range cleanups {
			if err := c(cctx); err != nil {
				logf("cleanup: %v", err)
			}
		}
	}()
	add := func(t *target, err error) error {
		if err != nil {
			return err
		}
		logf("started %s at %s (pid %d)", t.Name, t.Base, t.proc.cmd.Process.Pid)
		targets = append(targets, t)
		return nil
	}
	if err := add(startHelper(ctx, self, logDir, "mock", "mock", "/_mock/counters")); err != nil {
		return err
	}
	mockURL := targets[0].Base
	if err := add(startHelper(ctx, self, logDir, "bare-proxy", "proxy", "/_mock/counters", "-upstream", mockURL)); err != nil {
		return err
	}
	if err := add(startGateway(ctx, bin, work, logDir, mockURL, gatewayEnv{name: "switchyard-sqlite"})); err != nil {
		return err
	}
	notes := []string{}
	pgURL, redisURL := os.Getenv("SWITCHYARD_TEST_POSTGRES_URL"), os.Getenv("SWITCHYARD_TEST_REDIS_URL")
	if pgURL != "" && redisURL != "" {
		env, err := postgresRedisEnv(ctx, pgURL, redisURL)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, env.cleanup)
		if err := add(startGateway(ctx, bin, work, logDir, mockURL, env)); err != nil {
			return err
		}
	} else {
		notes = append(notes, "switchyard-pg-redis skipped: SWITCHYARD_TEST_POSTGRES_URL and SWITCHYARD_TEST_REDIS_URL not both set")
	}

	rep := &report{
		Started: started.UTC(), Quick: o.quick, Pinned: o.pin, Phase: o.phase, Warmup: o.warmup,
		Workers: o.workers, Notes: notes,
	}
	for _, t := range targets {
		if n, err := t.proc.fdLimit(); err != nil {
			return err
		} else if need := int64(2*heldStreams + 256); n < need {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s may open only %d files, under the %d that %d held streams need", t.Name, n, need, heldStreams))
		}
	}
	for _, sc := range scs {
		measure := measureScenario
		if sc.Held > 0 {
			measure = measureHeld
		}
		if err := measure(ctx, o, sc, targets, rep); err != nil {
			return err
		}
	}
	for _, t := range targets {
		if !t.proc.alive() {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s exited during the run (%v); see %s.log", t.Name, t.proc.err, t.Name))
		}
	}
	rep.Elapsed = time.Since(started)
	if err := rep.write(o.mdPath, o.jsonPath); err != nil {
		return err
	}
	logf("done in %v: %s, %s", rep.Elapsed.Round(time.Second), o.mdPath, o.jsonPath)
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
