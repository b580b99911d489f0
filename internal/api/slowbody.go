package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
)

// BodyTimeouts bound how slowly a request body may arrive. The server has
// no ReadTimeout (it would cut large uploads after a fixed time), so
// without these a client that declares a body and sends one byte holds its
// connection for as long as it likes.
type BodyTimeouts struct {
	// Idle is the longest wait for the next bytes; 0 turns all of this off.
	Idle time.Duration
	// MinRate (bytes/s) is the slowest average accepted once a grace of
	// Idle has passed: a body of n bytes may take Idle + n/MinRate. 0: none.
	MinRate int64
	// Total bounds the whole body however steadily it comes. 0: none.
	Total time.Duration
}

// errBodyTooSlow is what a body read returns once the client fell behind.
var errBodyTooSlow = fmt.Errorf("request body arrived too slowly: %w", os.ErrDeadlineExceeded)

// drainGrace bounds the wait for the rest of a body nobody will read.
const drainGrace = 500 * time.Millisecond

// aLongTimeAgo is a read deadline that fails every read at once.
var aLongTimeAgo = time.Unix(1, 0)

// bodyClock wraps a request body and moves the connection's read deadline
// as the bytes arrive, so a slow but steady upload keeps going and a
// stalled one is cut. It also remembers whether the body was read to its
// end, so that an early answer can close the connection instead of letting
// net/http wait for the rest (see statusWriter.WriteHeader).
type bodyClock struct {
	src      io.ReadCloser
	rc       readDeadliner
	t        BodyTimeouts
	start    time.Time
	read     int64
	done     atomic.Bool // saw EOF
	timedOut atomic.Bool
	onCut    func() // counts a cut client once
}

// readDeadliner is http.ResponseController's SetReadDeadline, as a value:
// NewResponseController is not always inlined, and then its controller is
// one allocation per request.
type readDeadliner struct{ w http.ResponseWriter }

func (d readDeadliner) SetReadDeadline(deadline time.Time) error {
	rw := d.w
	for {
		switch t := rw.(type) {
		case interface{ SetReadDeadline(time.Time) error }:
			return t.SetReadDeadline(deadline)
		case interface{ Unwrap() http.ResponseWriter }:
			rw = t.Unwrap()
		default:
			return http.ErrNotSupported
		}
	}
}

// deadline is when the next read must have returned.
func (c *bodyClock) deadline(now time.Time) time.Time {
	dl := now.Add(c.t.Idle)
	if c.t.MinRate > 0 {
		owed := time.Duration(float64(c.read) / float64(c.t.MinRate) * float64(time.Second))
		if r := c.start.Add(c.t.Idle + owed); r.Before(dl) {
			dl = r
		}
	}
	if c.t.Total > 0 {
		if e := c.start.Add(c.t.Total); e.Before(dl) {
			dl = e
		}
	}
	return dl
}

func (c *bodyClock) Read(p []byte) (int, error) {
	if c.t.Idle <= 0 || c.done.Load() {
		n, err := c.src.Read(p)
		if err == io.EOF {
			c.done.Store(true)
		}
		return n, err
	}
	now := time.Now()
	dl := c.deadline(now)
	if !dl.After(now) {
		return 0, c.expire()
	}
	_ = c.rc.SetReadDeadline(dl) // unsupported only under test recorders
	n, err := c.src.Read(p)
	c.read += int64(n)
	switch {
	case err == io.EOF:
		c.done.Store(true)
		// net/http starts a background read of the connection when the
		// body ends (to notice a client going away) and cancels the
		// request's context if that read fails, so the deadline must go
		// now. A body that ends within microseconds of its deadline may
		// still lose that race; it was about to be cut anyway.
		_ = c.rc.SetReadDeadline(time.Time{})
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		return n, c.expire()
	}
	return n, err
}

// expire gives up on the body: every later read of the connection fails at
// once, so net/http does not wait for the rest either.
func (c *bodyClock) expire() error {
	if !c.timedOut.Swap(true) && c.onCut != nil {
		c.onCut()
	}
	_ = c.rc.SetReadDeadline(aLongTimeAgo)
	return errBodyTooSlow
}

func (c *bodyClock) Close() error { return c.src.Close() }

// bodyUnread reports whether the request had a body that was not read to its
// end.
func (st *reqState) bodyUnread() bool {
	return st.body.src != nil && !st.body.done.Load()
}

// BodyTooSlow is the answer to a client whose body fell behind.
func BodyTooSlow() *apierror.Error {
	return &apierror.Error{Status: http.StatusRequestTimeout, Type: apierror.TypeInvalidRequest, Code: "request_timeout",
		Message: "The request body arrived too slowly; send it at a steady pace."}
}

// clockBody installs the bodyClock and, when the client fell behind and the
// handler answered nothing (net/http cancels the request's context when a
// read times out, and handlers then stay silent), answers 408 itself.
func (rt *Router) clockBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateFrom(r.Context())
		if st == nil || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		c := &st.body
		c.src, c.t, c.start, c.onCut = r.Body, rt.opts.Body, time.Now(), rt.bodyCut
		c.rc = readDeadliner{w}
		if c.t.Idle > 0 {
			// Also bounds a body nobody reads: the handler may answer
			// without reading it, and net/http then discards the rest.
			_ = c.rc.SetReadDeadline(c.deadline(c.start))
		}
		r.Body = c
		next.ServeHTTP(w, r)
		sw, _ := w.(*statusWriter)
		if c.timedOut.Load() && sw != nil && sw.status == 0 {
			w.Header().Set("Connection", "close")
			writeError(w, r, BodyTooSlow())
		}
		// An answer that closes the connection before the body was read
		// (statusWriter.WriteHeader, a body over its limit): net/http
		// still drains up to 256 KiB of the body before it closes, which
		// lets a fast client finish sending and read the answer instead of
		// meeting a reset. Give that drain drainGrace, not a full idle
		// timeout, so a client that stalls is let go promptly.
		if !c.done.Load() && !c.timedOut.Load() && w.Header().Get("Connection") == "close" {
			now := time.Now()
			dl := now.Add(drainGrace)
			if c.t.Idle > 0 {
				if d := c.deadline(now); d.Before(dl) {
					dl = d
				}
			}
			_ = c.rc.SetReadDeadline(dl)
		}
	})
}

// writeError answers in the shape of the endpoint: Anthropic's on
// /v1/messages, OpenAI's elsewhere.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	if strings.HasPrefix(r.URL.Path, "/v1/messages") {
		apierror.WriteAnthropic(w, r, err)
		return
	}
	apierror.WriteOpenAI(w, r, err)
}
