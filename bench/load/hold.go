package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// HoldConfig shapes a held-streams run: Streams requests started at once,
// each read slowly to its end by the target's own pace.
type HoldConfig struct {
	Streams int
	// OpenTimeout bounds the wait for every stream's first body byte; a
	// stream not open by then counts against Opened, not as an error.
	OpenTimeout time.Duration
}

// HoldResult is what a held-streams run measured.
type HoldResult struct {
	Streams int `json:"streams"`
	// Opened is how many streams had their first body byte when WhileOpen
	// ran; StillOpen how many of those had not yet ended then. Only when
	// both equal Streams was everything held at once.
	Opened    int64         `json:"opened"`
	StillOpen int64         `json:"still_open"`
	OpenAfter time.Duration `json:"open_after_ns"` // from the first start until all were open
	Elapsed   time.Duration `json:"elapsed_ns"`    // from the first start until the last end
	OK        int64         `json:"ok"`
	Errors    int64         `json:"errors"`
	Bytes     int64         `json:"bytes"`
	// ErrorSamples holds the first few distinct error descriptions.
	ErrorSamples []string `json:"error_samples,omitempty"`
}

// Hold starts cfg.Streams copies of req at once and, once every one has
// answered its first body byte (or OpenTimeout passed), calls whileOpen —
// where the caller measures the target with all of them held — then reads
// every stream to its end, checking req.Tail as Run does. whileOpen's error
// ends the run early and is returned.
func Hold(ctx context.Context, client *http.Client, req Request, cfg HoldConfig, whileOpen func(context.Context) error) (*HoldResult, error) {
	if err := CheckLoopback(ctx, req.URL); err != nil {
		return nil, err
	}
	if cfg.Streams <= 0 {
		return nil, errors.New("load: hold needs streams > 0")
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = 30 * time.Second
	}
	if req.Method == "" {
		req.Method = http.MethodPost
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The runner is reused for its error accounting only.
	r := &runner{client: client, req: req}
	var opened, settled, open atomic.Int64 // settled = opened or failed before opening
	allSettled := make(chan struct{})
	settle := func() {
		if settled.Add(1) == int64(cfg.Streams) {
			close(allSettled)
		}
	}
	var bytesRead atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	var openAfter atomic.Int64
	for range cfg.Streams {
		wg.Go(func() {
			first := false
			defer func() {
				if !first {
					settle()
				} else {
					open.Add(-1)
				}
			}()
			hreq, err := http.NewRequestWithContext(ctx, req.Method, req.URL, bytes.NewReader(req.Body))
			if err != nil {
				r.fail(err.Error())
				return
			}
			for k, v := range req.Header {
				hreq.Header[k] = v
			}
			resp, err := client.Do(hreq)
			if err != nil {
				if ctx.Err() == nil {
					r.fail(err.Error())
				}
				return
			}
			defer resp.Body.Close()
			var tail tailWriter
			var buf [4096]byte
			for {
				n, err := resp.Body.Read(buf[:])
				if n > 0 {
					_, _ = tail.Write(buf[:n])
					bytesRead.Add(int64(n))
					if !first {
						first = true
						open.Add(1)
						if opened.Add(1) == int64(cfg.Streams) {
							openAfter.Store(int64(time.Since(start)))
						}
						settle()
					}
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					if ctx.Err() == nil {
						r.fail("read body: " + err.Error())
					}
					return
				}
			}
			switch {
			case resp.StatusCode/100 != 2:
				r.fail(fmt.Sprintf("status %d: %q", resp.StatusCode, tail.bytes()))
			case len(req.Tail) > 0 && !bytes.Contains(tail.bytes(), req.Tail):
				r.fail(fmt.Sprintf("answer does not end with %q: %q", req.Tail, tail.bytes()))
			default:
				r.ok.Add(1)
			}
		})
	}
	t := time.NewTimer(cfg.OpenTimeout)
	defer t.Stop()
	var werr error
	select {
	case <-allSettled:
	case <-t.C:
	case <-ctx.Done():
	}
	res := &HoldResult{Streams: cfg.Streams, Opened: opened.Load(), StillOpen: open.Load()}
	if ctx.Err() == nil {
		werr = whileOpen(ctx)
		res.StillOpen = min(res.StillOpen, open.Load())
	}
	if werr != nil {
		cancel()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.OpenAfter = time.Duration(openAfter.Load())
	res.OK, res.Errors, res.Bytes, res.ErrorSamples = r.ok.Load(), r.errs.Load(), bytesRead.Load(), r.samples
	if werr != nil {
		return res, werr
	}
	return res, ctx.Err()
}

// RaiseFDLimit lifts this process's soft open-files limit to its hard
// limit and returns the limits now in force. Holding a thousand
// connections needs more descriptors than the common soft default of 1024,
// and processes started after this call inherit the raised limit (Go raises
// its own soft limit at start-up but hands children the original one unless
// the program sets the limit itself).
func RaiseFDLimit() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("read open-files limit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
	}
	// Set even when already equal: it also tells the runtime that children
	// should inherit this limit rather than the one the process started with.
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("raise open-files limit to %d: %w", lim.Max, err)
	}
	return lim.Cur, lim.Max, nil
}
