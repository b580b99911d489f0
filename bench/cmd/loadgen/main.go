// Command loadgen sends one request shape to a loopback HTTP target, closed
// loop (N workers, as fast as they can) or open loop (a fixed arrival rate),
// and prints the throughput and latency percentiles. The harness
// (bench/cmd/harness) drives the same generator; this command is for
// poking at one target by hand:
//
//	go run ./bench/cmd/loadgen -url http://127.0.0.1:8080/v1/chat/completions \
//	  -H 'Authorization: Bearer sk-…' -body '{"model":"gpt-4o-mini","messages":[…]}' \
//	  -mode open -rate 1000 -d 10s
//
// -mode hold starts -c requests at once (slow streams, say) and reports
// when all are open and how they ended, for watching a target's memory
// with that many held.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/switchyard/switchyard/bench/load"
)

// headerFlags collects repeated -H "Name: value" flags.
type headerFlags http.Header

func (h headerFlags) String() string { return "" }

func (h headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want \"Name: value\"", v)
	}
	http.Header(h).Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

func main() {
	os.Exit(run())
}

func run() int {
	header := headerFlags(http.Header{"Content-Type": {"application/json"}})
	target := flag.String("url", "", "target `URL` (http, loopback only)")
	method := flag.String("method", http.MethodPost, "HTTP `METHOD`")
	body := flag.String("body", "", "request `BODY`")
	bodyFile := flag.String("body-file", "", "read the request body from `FILE`")
	tail := flag.String("tail", "", "`TEXT` every answer must end with (e.g. \"[DONE]\" for streams)")
	mode := flag.String("mode", "closed", "closed (N workers, max throughput), open (fixed rate) or hold (N requests at once, each read to its end)")
	workers := flag.Int("c", 16, "closed loop: concurrent `WORKERS`; hold: requests held at once")
	rate := flag.Float64("rate", 1000, "open loop: requests per `SECOND`")
	dur := flag.Duration("d", 10*time.Second, "run `DURATION` (0 = until -n)")
	count := flag.Int64("n", 0, "stop after `N` requests (0 = until -d)")
	maxInFlight := flag.Int("max-inflight", 1024, "open loop: skip (count as missed) starts beyond `N` outstanding")
	jsonOut := flag.Bool("json", false, "print the result as JSON")
	flag.Var(header, "H", "request header `\"Name: value\"` (repeatable)")
	flag.Parse()

	if *target == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -url is required")
		return 2
	}
	req := load.Request{Method: *method, URL: *target, Header: http.Header(header), Body: []byte(*body)}
	if *tail != "" {
		req.Tail = []byte(*tail)
	}
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: read body: %v\n", err)
			return 1
		}
		req.Body = b
	}
	cfg := load.Config{
		Mode: load.Mode(*mode), Workers: *workers, Rate: *rate,
		Duration: *dur, Requests: *count, MaxInFlight: *maxInFlight,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// Each held or concurrent request is a descriptor of its own.
	soft, _, err := load.RaiseFDLimit()
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
	} else if need := uint64(max(*workers, *maxInFlight)) + 64; soft < need {
		fmt.Fprintf(os.Stderr, "loadgen: open-files limit %d is under the %d this run may need\n", soft, need)
	}
	if *mode == "hold" {
		return hold(ctx, req, *workers, *jsonOut)
	}
	conns := *workers
	if cfg.Mode == load.Open {
		conns = *maxInFlight
	}
	res, err := load.Run(ctx, load.Client(conns), req, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		return 1
	}
	if *jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
			return 1
		}
		return 0
	}
	l := res.Latency
	fmt.Printf("%s loop: %d ok, %d errors in %.2fs = %.0f req/s, %.1f MB read\n",
		res.Mode, res.OK, res.Errors, res.Elapsed.Seconds(), res.RPS(), float64(res.Bytes)/1e6)
	if res.Mode == load.Open {
		fmt.Printf("schedule: %d late (>1ms), %d missed, worst %v behind\n", res.Late, res.Missed, res.MaxBehind)
	}
	fmt.Printf("latency: p50 %v  p90 %v  p99 %v  p99.9 %v  max %v  mean %v\n",
		l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	for _, s := range res.ErrorSamples {
		fmt.Printf("error: %s\n", s)
	}
	return 0
}

// hold runs -mode hold: n requests at once, reporting when all are open.
func hold(ctx context.Context, req load.Request, n int, jsonOut bool) int {
	res, err := load.Hold(ctx, load.Client(n), req, load.HoldConfig{Streams: n}, func(context.Context) error {
		fmt.Fprintf(os.Stderr, "loadgen: %d requests started, all answering; reading them to the end\n", n)
		return nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		return 1
	}
	if jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Printf("hold: %d started, %d open at once (all after %v), %d ok, %d errors in %.2fs, %.1f MB read\n",
		res.Streams, res.StillOpen, res.OpenAfter, res.OK, res.Errors, res.Elapsed.Seconds(), float64(res.Bytes)/1e6)
	for _, s := range res.ErrorSamples {
		fmt.Printf("error: %s\n", s)
	}
	return 0
}
