// Package load is the benchmark's load generator: an HTTP/1.1 keep-alive
// client that sends one request shape to a loopback target either as fast as
// N workers can (closed loop) or at a fixed arrival rate (open loop), and
// records every latency in a log-linear histogram. It uses only the standard
// library so that what it measures is the target, not a client framework.
package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Request is the one request a run repeats.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// Tail, when set, must appear in the last 64 bytes of every answer
	// ("data: [DONE]" for a stream): a 200 that ends early is an error.
	Tail []byte
}

// Mode selects how requests are paced.
type Mode string

const (
	// Closed: Workers goroutines each send the next request as soon as the
	// previous answer is read. Measures maximum throughput.
	Closed Mode = "closed"
	// Open: requests start at a fixed Rate whether or not earlier ones
	// finished, as real independent clients do. Measures latency at a load.
	Open Mode = "open"
)

// Config bounds and paces a run. A run stops at Duration or after Requests
// requests, whichever comes first; at least one of them must be set.
type Config struct {
	Mode     Mode
	Workers  int           // closed loop: concurrent workers
	Rate     float64       // open loop: requests per second
	Duration time.Duration // 0 = bounded by Requests only
	Requests int64         // 0 = bounded by Duration only
	// MaxInFlight caps open-loop requests outstanding at once; a start
	// that would exceed it is skipped and counted as missed rather than
	// letting an overloaded target grow an unbounded goroutine pile.
	// 0 means 1024.
	MaxInFlight int
	// LateAfter is how far behind its scheduled time an open-loop start
	// may be before it counts as late. 0 means 1 ms.
	LateAfter time.Duration
	// Live, when set, also counts every answer as it ends, so that a long
	// run can be watched while it goes (the soak samples it).
	Live *Live
}

// Live counts a run's answers while it goes; one Live may serve several
// runs at once.
type Live struct {
	OK     atomic.Int64
	Errors atomic.Int64
}

// Result is what a run measured.
type Result struct {
	Mode      Mode          `json:"mode"`
	Workers   int           `json:"workers,omitempty"`
	Rate      float64       `json:"rate,omitempty"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	OK        int64         `json:"ok"`     // 2xx answers read to the end
	Errors    int64         `json:"errors"` // transport errors and non-2xx
	Late      int64         `json:"late,omitempty"`
	Missed    int64         `json:"missed,omitempty"`
	MaxBehind time.Duration `json:"max_behind_ns,omitempty"` // worst open-loop start delay
	Bytes     int64         `json:"bytes"`                   // response body bytes read
	// ErrorSamples holds the first few distinct error descriptions, so a
	// report can show what went wrong without a log.
	ErrorSamples []string   `json:"error_samples,omitempty"`
	Latency      Summary    `json:"latency"`
	Hist         *Histogram `json:"-"`
}

// RPS is successful requests per second of the run.
func (r *Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Client is an HTTP/1.1 client tuned for load: keep-alive connections
// enough for every worker, no compression (the body bytes are the point),
// no proxy from the environment, no HTTP/2.
func Client(conns int) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		MaxIdleConns:        0, // no global cap; per host below
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}}
}

// CheckLoopback refuses a target that is not on this machine: the
// generator is meant to measure a local gateway, never to load a service.
func CheckLoopback(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("parse target %q: %w", rawURL, err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("target %q: only http:// on loopback is supported", rawURL)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("target %q is not a loopback address", rawURL)
		}
		return nil
	}
	if host != "localhost" {
		return fmt.Errorf("target %q: host must be a loopback IP or localhost", rawURL)
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return fmt.Errorf("target %q: %s resolves to non-loopback %s", rawURL, host, ip.IP)
		}
	}
	return nil
}

// Run sends req as cfg says and returns what it measured. It returns an
// error only for a bad configuration or target; failed requests are counted
// in the Result.
func Run(ctx context.Context, client *http.Client, req Request, cfg Config) (*Result, error) {
	if err := CheckLoopback(ctx, req.URL); err != nil {
		return nil, err
	}
	if cfg.Duration <= 0 && cfg.Requests <= 0 {
		return nil, errors.New("load: set a duration or a request count")
	}
	if req.Method == "" {
		req.Method = http.MethodPost
	}
	r := &runner{client: client, req: req, cfg: cfg, hist: new(Histogram)}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	start := time.Now()
	var err error
	switch cfg.Mode {
	case Closed:
		err = r.closed(ctx)
	case Open:
		err = r.open(ctx)
	default:
		err = fmt.Errorf("load: unknown mode %q", cfg.Mode)
	}
	if err != nil {
		return nil, err
	}
	res := &Result{
		Mode: cfg.Mode, Elapsed: time.Since(start),
		OK: r.ok.Load(), Errors: r.errs.Load(), Late: r.late, Missed: r.missed,
		MaxBehind: r.maxBehind, Bytes: r.bytes.Load(), ErrorSamples: r.samples,
		Latency: r.hist.Summary(), Hist: r.hist,
	}
	if cfg.Mode == Closed {
		res.Workers = cfg.Workers
	} else {
		res.Rate = cfg.Rate
	}
	return res, nil
}

type runner struct {
	client *http.Client
	req    Request
	cfg    Config
	hist   *Histogram

	sent  atomic.Int64 // requests started, against cfg.Requests
	ok    atomic.Int64
	errs  atomic.Int64
	bytes atomic.Int64

	mu      sync.Mutex
	samples []string

	// Open loop only, written by its single scheduler goroutine.
	late, missed int64
	maxBehind    time.Duration
}

// take reserves the right to send one more request under cfg.Requests.
func (r *runner) take() bool {
	return r.cfg.Requests <= 0 || r.sent.Add(1) <= r.cfg.Requests
}

func (r *runner) closed(ctx context.Context) error {
	if r.cfg.Workers <= 0 {
		return errors.New("load: closed loop needs workers > 0")
	}
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Go(func() {
			for ctx.Err() == nil && r.take() {
				r.do(ctx)
			}
		})
	}
	wg.Wait()
	return nil
}

// open starts requests on a fixed schedule: the i-th at start + i/Rate. The
// scheduler sleeps until the next start is due and then starts every one
// that is due, so a slow wake-up is caught up (and counted late) instead of
// silently lowering the rate. Latency is measured from each request's
// actual start; the schedule's own slip is reported as Late and MaxBehind.
func (r *runner) open(ctx context.Context) error {
	if r.cfg.Rate <= 0 {
		return errors.New("load: open loop needs rate > 0")
	}
	maxInFlight := int64(r.cfg.MaxInFlight)
	if maxInFlight <= 0 {
		maxInFlight = 1024
	}
	lateAfter := r.cfg.LateAfter
	if lateAfter <= 0 {
		lateAfter = time.Millisecond
	}
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	var inFlight atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := int64(0); ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				wg.Wait()
				return nil
			case <-t.C:
			}
		}
		if ctx.Err() != nil || !r.take() {
			break
		}
		if behind := time.Since(due); behind > lateAfter {
			r.late++
			r.maxBehind = max(r.maxBehind, behind)
		}
		if inFlight.Load() >= maxInFlight {
			r.missed++
			continue
		}
		inFlight.Add(1)
		wg.Go(func() {
			defer inFlight.Add(-1)
			// The run's deadline must not cut requests already started:
			// they are measured to the end.
			r.do(context.WithoutCancel(ctx))
		})
	}
	wg.Wait()
	return nil
}

// do sends one request, reads the whole answer and records its latency
// (from the start of the send to the last body byte) if it succeeded.
func (r *runner) do(ctx context.Context) {
	hreq, err := http.NewRequestWithContext(ctx, r.req.Method, r.req.URL, bytes.NewReader(r.req.Body))
	if err != nil {
		r.fail(err.Error())
		return
	}
	for k, v := range r.req.Header {
		hreq.Header[k] = v
	}
	t0 := time.Now()
	resp, err := r.client.Do(hreq)
	if err != nil {
		if ctx.Err() == nil {
			r.fail(err.Error())
		}
		return
	}
	var tail tailWriter
	n, err := io.Copy(&tail, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	r.bytes.Add(n)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			r.fail("read body: " + err.Error())
		}
	case resp.StatusCode/100 != 2:
		r.fail(fmt.Sprintf("status %d: %q", resp.StatusCode, tail.bytes()))
	case len(r.req.Tail) > 0 && !bytes.Contains(tail.bytes(), r.req.Tail):
		r.fail(fmt.Sprintf("answer does not end with %q: %q", r.req.Tail, tail.bytes()))
	default:
		r.ok.Add(1)
		if r.cfg.Live != nil {
			r.cfg.Live.OK.Add(1)
		}
		r.hist.Record(d)
	}
}

// tailWriter discards what it is given but keeps the last tailSize bytes,
// to check how an answer ended (and quote an error) without buffering it.
type tailWriter struct {
	buf [tailSize]byte
	n   int64
}

const tailSize = 64

func (w *tailWriter) Write(p []byte) (int, error) {
	for _, c := range p[max(0, len(p)-tailSize):] {
		w.buf[w.n%tailSize] = c
		w.n++
	}
	return len(p), nil
}

// bytes returns the kept tail in order.
func (w *tailWriter) bytes() []byte {
	if w.n <= tailSize {
		return append([]byte(nil), w.buf[:w.n]...)
	}
	i := w.n % tailSize
	return append(append([]byte(nil), w.buf[i:]...), w.buf[:i]...)
}

// maxSamples bounds the distinct error descriptions kept.
const maxSamples = 5

func (r *runner) fail(desc string) {
	r.errs.Add(1)
	if r.cfg.Live != nil {
		r.cfg.Live.Errors.Add(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) >= maxSamples {
		return
	}
	for _, s := range r.samples {
		if s == desc {
			return
		}
	}
	r.samples = append(r.samples, desc)
}
