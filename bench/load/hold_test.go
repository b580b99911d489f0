package load

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// slowStreams answers a first event at once and the rest after release is
// closed, so a test decides when the held streams end.
func slowStreams(t *testing.T, release <-chan struct{}) (*httptest.Server, *atomic.Int64) {
	var active atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv, &active
}

func TestHoldMeasuresWhileEveryStreamIsOpen(t *testing.T) {
	release := make(chan struct{})
	srv, active := slowStreams(t, release)
	const n = 50
	var seen int64
	req := Request{URL: srv.URL, Body: []byte("{}"), Tail: []byte("[DONE]")}
	res, err := Hold(t.Context(), Client(n), req, HoldConfig{Streams: n, OpenTimeout: 10 * time.Second},
		func(context.Context) error {
			seen = active.Load()
			// The streams end a moment after the measurement, not during
			// it: Hold counts those still open once this returns.
			time.AfterFunc(200*time.Millisecond, func() { close(release) })
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Fatalf("server had %d streams open during the measurement, want %d", seen, n)
	}
	if res.Opened != n || res.StillOpen != n || res.OK != n || res.Errors != 0 || res.OpenAfter <= 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestHoldCountsEarlyEndsAndStopsOnMeasureError(t *testing.T) {
	// Streams that end at once: opened, but not held, and the tail check
	// fails because they never say [DONE].
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "data: cut\n\n")
	}))
	t.Cleanup(srv.Close)
	req := Request{URL: srv.URL, Tail: []byte("[DONE]")}
	res, err := Hold(t.Context(), Client(8), req, HoldConfig{Streams: 8}, func(context.Context) error {
		time.Sleep(50 * time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Opened != 8 || res.StillOpen == 8 || res.Errors != 8 || res.OK != 0 {
		t.Fatalf("result %+v", res)
	}

	release := make(chan struct{}) // never closed: the measure error must end the streams
	slow, _ := slowStreams(t, release)
	boom := errors.New("boom")
	_, err = Hold(t.Context(), Client(4), Request{URL: slow.URL}, HoldConfig{Streams: 4}, func(context.Context) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
}

// A large upload is sent whole on every request from the one shared slice.
func TestRunSendsLargeBodyIntact(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16)
	want := sha256.Sum256(body)
	var good, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		_, _ = io.Copy(h, r.Body)
		if bytes.Equal(h.Sum(nil), want[:]) {
			good.Add(1)
		} else {
			bad.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	res, err := Run(t.Context(), Client(2), Request{URL: srv.URL, Body: body}, Config{Mode: Closed, Workers: 2, Requests: 6})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 6 || good.Load() != 6 || bad.Load() != 0 {
		t.Fatalf("ok %d, server saw %d intact and %d damaged bodies", res.OK, good.Load(), bad.Load())
	}
}

func TestRaiseFDLimit(t *testing.T) {
	soft, hard, err := RaiseFDLimit()
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if soft != hard || lim.Cur != lim.Max || lim.Cur != soft {
		t.Fatalf("returned %d/%d, now %d/%d", soft, hard, lim.Cur, lim.Max)
	}
}
