package api

import (
	"context"
	"encoding/base32"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/ids"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = apierror.RequestIDHeader

type ctxKey struct{}

// reqState is what the middleware layers learn about one request. It is
// created by the outermost layer; only attrs may change after that, under
// mu, since a handler may fan a request out over goroutines.
//
// It is also the request's context: the context the server gave the
// request with the state as the value of ctxKey, one allocation where
// context.WithValue and the state were two.
type reqState struct {
	context.Context
	id       string
	clientIP netip.Addr
	route    string
	mu       sync.Mutex
	attrs    []slog.Attr // added by handlers for the access log line
	logged   bool        // the access log line is written at the request's start level (Annotating)
	body     bodyClock   // the request body, when there is one (clockBody)
	// Held here to save an allocation each: the X-Request-Id header's
	// value slice and observe's statusWriter.
	idValue [1]string
	sw      statusWriter
}

// Annotating reports whether the request's access log line will be
// written, as the log's level stood when the request began: callers skip
// building attributes nobody reads.
func Annotating(ctx context.Context) bool {
	st := stateFrom(ctx)
	return st != nil && st.logged
}

// Annotate adds attributes to the request's access log line (the relay's
// channel, credential, attempts and failover reasons), so one line tells
// the whole story of a request. It is safe from any goroutine working on
// the request.
func Annotate(ctx context.Context, attrs ...slog.Attr) {
	if st := stateFrom(ctx); st != nil {
		st.mu.Lock()
		st.attrs = append(st.attrs, attrs...)
		st.mu.Unlock()
	}
}

// Value implements context.Context.
func (st *reqState) Value(key any) any {
	if key == any(ctxKey{}) {
		return st
	}
	return st.Context.Value(key)
}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(ctxKey{}).(*reqState)
	return st
}

// RequestID returns the request's id, or "" outside a request.
func RequestID(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.id
	}
	return ""
}

// ClientIP returns the client's address as seen through the trusted proxies,
// or the zero Addr outside a request.
func ClientIP(ctx context.Context) netip.Addr {
	if st := stateFrom(ctx); st != nil {
		return st.clientIP
	}
	return netip.Addr{}
}

// validRequestID accepts what a client or an upstream proxy may reasonably
// send; anything else (too long, spaces, quotes) could forge log lines.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID is 24 base32 characters: the time in milliseconds (48 bits)
// and 72 random bits (ids.Timed). Ids sort by their time, so the usage
// log's index on request_id grows at its right edge instead of taking a
// write on a random page per row (issue 22).
func newRequestID() string {
	var b [15]byte
	ids.Timed(b[:])
	return requestIDEncoding.EncodeToString(b[:])
}

// requestIDEncoding is base32's characters in byte order.
var requestIDEncoding = base32.NewEncoding(ids.Upper).WithPadding(base32.NoPadding)

func (rt *Router) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		st := &reqState{Context: r.Context(), id: id, clientIP: clientIP(r, rt.opts.TrustedProxies)}
		st.idValue[0] = id
		w.Header()[RequestIDHeader] = st.idValue[:] // as Set would, the name being canonical
		next.ServeHTTP(w, r.WithContext(st))
	})
}

// statusWriter records what the handler sent. It implements Flush and Unwrap
// so streaming handlers (and http.ResponseController) reach the real writer.
type statusWriter struct {
	http.ResponseWriter
	st     *reqState
	status int
	bytes  int64
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 && code >= 200 {
		sw.status = code
		// An error answered before the body was read (a 401 from the
		// header check, a 404): net/http would otherwise read and discard
		// up to 256 KiB of the rest before the next request, waiting on a
		// client that may never send it. Closing is cheaper and safe.
		if code >= 400 && sw.st != nil && sw.st.bodyUnread() {
			sw.Header().Set("Connection", "close")
		}
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(p []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	n, err := sw.ResponseWriter.Write(p)
	sw.bytes += int64(n)
	return n, err
}

func (sw *statusWriter) Flush() {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	// The server's own writer flushes itself; the controller (one
	// allocation per flush) is for writers wrapped further.
	if f, ok := sw.ResponseWriter.(interface{ FlushError() error }); ok {
		_ = f.FlushError()
		return
	}
	_ = http.NewResponseController(sw.ResponseWriter).Flush()
}

func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// quietPaths are probed every few seconds by orchestrators and scrapers;
// logging them at info would drown the real traffic.
var quietPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// observe writes the access log line and the HTTP metrics. It uses defer so
// that a request aborted by a panic is still logged and counted.
func (rt *Router) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := stateFrom(r.Context())
		sw := &st.sw // requestID made st, outside this layer
		*sw = statusWriter{ResponseWriter: w, st: st}
		level := slog.LevelInfo
		if quietPaths[r.URL.Path] {
			level = slog.LevelDebug
		}
		st.logged = rt.log.Enabled(r.Context(), level)
		if rt.opts.Metrics != nil {
			rt.opts.Metrics.RequestStarted()
		}
		aborted := true
		defer func() {
			elapsed := time.Since(start)
			status := sw.status
			if status == 0 {
				// Nothing written: net/http sends 200 for a normal return; an
				// aborted handler's connection is cut, which we call 499 as
				// nginx does for a response the client never got.
				status = http.StatusOK
				if aborted {
					status = 499
				}
			}
			if rt.opts.Metrics != nil {
				rt.opts.Metrics.RequestDone(r.Method, st.route, status, elapsed)
			}
			if !rt.log.Enabled(r.Context(), level) {
				return
			}
			st.mu.Lock()
			attrs := append([]slog.Attr{
				slog.String("request_id", st.id),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", st.route),
				slog.Int("status", status),
				slog.Int64("bytes", sw.bytes),
				slog.Duration("duration", elapsed),
				slog.String("remote_ip", st.clientIP.String()),
			}, st.attrs...)
			st.mu.Unlock()
			rt.log.LogAttrs(r.Context(), level, "http request", attrs...)
		}()
		next.ServeHTTP(sw, r)
		aborted = false
	})
}

// recoverPanic turns a handler panic into a logged error and, when nothing
// was sent yet, an OpenAI-shaped 500. When the response had started (a
// stream), the only honest signal left is to cut the connection, which
// http.ErrAbortHandler does without net/http logging a second stack.
func (rt *Router) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			rt.log.LogAttrs(r.Context(), slog.LevelError, "handler panic",
				slog.String("request_id", RequestID(r.Context())),
				slog.String("route", r.Pattern),
				slog.String("panic", fmt.Sprint(p)),
				slog.String("stack", string(debug.Stack())),
			)
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				panic(http.ErrAbortHandler)
			}
			apierror.WriteOpenAI(w, r, apierror.Internal())
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps the request body: max_upload_bytes for multipart uploads,
// max_body_bytes for everything else. A declared Content-Length over the
// limit is refused before the handler runs; a body that turns out longer
// fails its Read with *http.MaxBytesError, which DecodeJSON maps to 413.
func (rt *Router) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := rt.opts.MaxBodyBytes
		if isMultipart(r.Header.Get("Content-Type")) {
			limit = rt.opts.MaxUploadBytes
		}
		if limit > 0 && r.Body != nil && r.Body != http.NoBody {
			if r.ContentLength > limit {
				// Closing lets net/http skip reading the rest of a huge body.
				w.Header().Set("Connection", "close")
				// The handler never runs, so answer in its shape here.
				if strings.HasPrefix(r.URL.Path, "/v1/messages") {
					apierror.WriteAnthropic(w, r, apierror.RequestTooLarge(limit))
				} else {
					apierror.WriteOpenAI(w, r, apierror.RequestTooLarge(limit))
				}
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

func isMultipart(contentType string) bool {
	if contentType == "" || contentType == jsonType {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return strings.HasPrefix(strings.ToLower(contentType), "multipart/")
	}
	return mt == "multipart/form-data"
}
