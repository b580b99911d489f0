package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/bodyread"
	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/sse"
)

// Exchange is one client request in any inbound format (OpenAI chat,
// Anthropic Messages, Responses, embeddings…). It builds each attempt's upstream
// request and turns the answer into the client's format; the relay keeps
// routing, failover before the first byte, usage, metrics and cancellation,
// exactly as for Chat. The relay stays format-blind: the implementations live
// with the inbound handlers, which may import the provider packages.
type Exchange interface {
	// Accepts reports whether a channel of this type can serve the request
	// at all (a passthrough to one upstream type, for example); channels of
	// other types are skipped.
	Accepts(channelType string) bool
	// NewRequest builds the upstream request for t. adapter is the chat
	// adapter of t's channel type, for exchanges that translate through the
	// chat pivot. An error for which provider.IsClientError holds is the
	// client's to fix.
	NewRequest(ctx context.Context, t *Target, adapter ChatAdapter, upstreamModel string) (*http.Request, error)
	// Response turns a 2xx non-stream upstream body into the client's JSON.
	Response(t *Target, body []byte) ([]byte, Usage, error)
	// NewStream returns the translator for one 2xx stream from t.
	NewStream(t *Target) EventStream
}

// EventStream turns upstream stream events into named client events.
type EventStream interface {
	Feed(ev sse.Event, emit func(event string, data []byte) error) error
	// Finish is called at the end of the upstream stream; an error means
	// the stream was truncated.
	Finish(emit func(event string, data []byte) error) error
	Usage() Usage
	// Abort is the event sent when a committed stream cannot finish.
	Abort() (event string, data []byte)
}

// StreamFramer is an optional ChatAdapter capability for an upstream whose
// streams are not server-sent events (Bedrock's AWS event stream): it
// reads a 2xx stream body as events for every exchange's translator.
type StreamFramer interface {
	NewEventReader(body io.Reader) EventReader
}

// EventReader yields an upstream stream's events; *sse.Reader is one.
type EventReader interface {
	// Next returns the next event, valid until the following call; io.EOF
	// at the end of the stream.
	Next() (sse.Event, error)
	// EventReady reports whether another event is already read, so the
	// relay may write on without flushing.
	EventReady() bool
}

// LocalFallback is an optional Exchange capability: an upstream status that
// says the upstream lacks the endpoint (Anthropic-compatible servers often
// leave out count_tokens) is answered by the exchange itself. The answer is
// written with status 200 and the headers the exchange set on h; the
// attempt teaches the scheduler nothing about the credential.
type LocalFallback interface {
	Fallback(t *Target, status int, h http.Header) (body []byte, ok bool)
}

// Warner is an optional Exchange capability: what the attempt just built
// changed about the client's request (a hosted tool dropped for a channel
// that cannot run it). The relay sends each warning as an
// X-Switchyard-Warning header of the answer and logs it.
type Warner interface {
	Warnings() []string
}

// WarningHeader carries a Warner's warnings to the client.
const WarningHeader = "X-Switchyard-Warning"

// ExchangeCall is what the relay itself needs of an Exchange request.
type ExchangeCall struct {
	RequestID string
	Model     string // as the client asked; routing key
	Stream    bool
	Route     Route
	Estimate  Estimate // for the Meter's reservation
	// Unbilled marks a request the upstream does not charge for (Anthropic's
	// count_tokens): it is neither reserved nor settled.
	Unbilled bool
	// Result, when set, receives the request's final Result (cost,
	// images, status) once Exchange returns, for callers that record it.
	Result *Result
	// Prepare, when set, runs once after the reservation and before the
	// first attempt: work worth doing only for a request that may go
	// ahead (decoding uploaded images). An error ends the request as the
	// *apierror.Error in its chain, with nothing charged.
	Prepare func(ctx context.Context) error
	// Admission, when set, is the key's rate-limit admission the handler
	// deferred (limit.Gate.AuthenticateDeferred): the relay resolves it
	// before anything else is answered, in one round trip with the
	// reservation and the lease when it can (pipeline.go).
	Admission Admission
}

// Route says who asks (the group channels must serve) and any route an
// admin key forces.
type Route struct {
	Group string
	// PinChannel and PinCredential force the route; the handlers allow
	// them for admin keys only.
	PinChannel    string
	PinCredential int64
}

// Exchange serves one request through x. Like Chat, it writes the answer and
// returns nil, or returns an error (an *apierror.Error in its chain) when
// nothing was written.
func (r *Relay) Exchange(ctx context.Context, w http.ResponseWriter, call *ExchangeCall, x Exchange) error {
	return r.exchange(ctx, w, call, x, &exchangeState{})
}

// exchange is Exchange with the state the request keeps for its whole life
// allocated by the caller (Chat's comes with its call).
func (r *Relay) exchange(ctx context.Context, w http.ResponseWriter, call *ExchangeCall, x Exchange, st *exchangeState) error {
	start := time.Now()
	if r.inFlight != nil {
		r.inFlight(ctx, 1)
		defer r.inFlight(ctx, -1)
	}
	// The result, the pick query and its exclusions all outlive calls
	// through interfaces: one allocation for the three instead of three.
	res := &st.res
	*res = Result{RequestID: call.RequestID, Model: call.Model, Group: call.Route.Group, Stream: call.Stream,
		adm: call.Admission}
	if call.Result != nil {
		defer func() { *call.Result = *res }()
	}
	if call.Route.PinChannel == "" && call.Route.PinCredential == 0 && len(r.sched.ChannelTypes(call.Model)) == 0 {
		// A deferred admission still answers first, as the gate did.
		if err := admit(ctx, call); err != nil {
			return err
		}
		// Checked before the reservation, so an unknown model is answered
		// as such rather than as an unpriced one.
		ae := apierror.ModelNotFound(call.Model)
		res.Status, res.Err = ae.Status, ErrNoRoute
		r.done(ctx, res, start)
		return fmt.Errorf("%w: %w", ae, ErrNoRoute)
	}
	q := &st.q
	*q = PickQuery{Model: call.Model, Group: call.Route.Group, Exclude: st.excluded[:0],
		PinChannel: call.Route.PinChannel, PinCredential: call.Route.PinCredential}
	if _, all := x.(*chatExchange); !all {
		// The chat exchange serves every channel type; a nil filter says
		// so without a method value to allocate.
		q.Accept = x.Accepts
	}
	// first is the first Pick's answer when start made it (pipelined).
	var first Lease
	var firstErr error
	picked := false
	if r.pipelines(call) {
		lease, pickErr, admitErr, reserveErr := r.start(ctx, call, q, res)
		if admitErr != nil {
			// Refused by the rate limits: answered as the gate answers,
			// without a usage row, as if the relay had not been reached.
			return admitErr
		}
		if reserveErr != nil {
			res.Status, res.Err = apierror.As(reserveErr).Status, reserveErr
			r.done(ctx, res, start)
			return reserveErr
		}
		first, firstErr, picked = lease, pickErr, true
	} else {
		if err := admit(ctx, call); err != nil {
			return err
		}
		if r.meter != nil && !call.Unbilled {
			h, err := r.meter.Reserve(ctx, call)
			if err != nil {
				res.Status, res.Err = apierror.As(err).Status, err
				r.done(ctx, res, start)
				return err
			}
			res.hold = h
		}
		if call.Prepare != nil {
			if err := call.Prepare(ctx); err != nil {
				res.Status, res.Err = apierror.As(err).Status, err
				if ctx.Err() != nil {
					res.Status = 499
				}
				r.done(ctx, res, start)
				return err
			}
		}
	}
	var last *attemptError
	saw429 := false
	var minRetry time.Duration
	// rested says when the first credential refused with a 429 is back
	// (its Retry-After, else the scheduler's cooldown); all429 whether every
	// attempt was such a refusal.
	var rested time.Duration
	all429 := true
	for res.Attempts < r.maxAttempts {
		var lease Lease
		var err error
		if picked {
			lease, err, picked = first, firstErr, false
		} else {
			lease, err = r.sched.Pick(ctx, q)
		}
		if err != nil {
			if last != nil {
				// Tried some; answer with the last failure, knowing when
				// the untried ones are back.
				if nt, ok := errors.AsType[*NoTargetError](err); ok && !nt.RetryAt.IsZero() {
					rested = earliest(rested, max(time.Until(nt.RetryAt), time.Millisecond))
				}
				break
			}
			ae := r.pickError(ctx, call, err)
			res.Status, res.Err = ae.Status, err
			r.done(ctx, res, start)
			return fmt.Errorf("%w: %w", ae, err)
		}
		t := lease.Target()
		res.lease = lease
		res.Attempts++
		res.Channel, res.Credential = t.Channel.Name, t.CredentialID
		res.Upstream = upstreamModel(t.Channel, call.Model)
		res.LastStart = time.Since(start)
		committed, aerr, err := r.exchangeAttempt(ctx, w, t, call, x, res, start)
		if err != nil {
			lease.Done(ctx, Outcome{Model: call.Model, ClientGone: true})
			res.Status, res.Err = apierror.As(err).Status, err
			r.done(ctx, res, start)
			return err
		}
		if aerr != nil && aerr.answered {
			// A 4xx the request met, not a fault of the credential.
			lease.Done(ctx, Outcome{Status: aerr.status, Model: call.Model, ClientGone: ctx.Err() != nil})
			r.done(ctx, res, start)
			return nil
		}
		if aerr == nil || committed {
			if !res.released { // else ended with the settle
				// With the request's context detached, as the settle
				// and OnDone have it: the lease ends whether or not the
				// client is still there.
				lease.Done(res.detachOnce(ctx), committedOutcome(call, res))
			}
			r.done(ctx, res, start)
			return nil
		}
		last = aerr
		again := lease.Done(ctx, Outcome{Status: aerr.status, RetryAfter: aerr.retryAfter, Model: call.Model,
			Err: aerr.Error(), Upstream: aerr.upstream, ClientGone: ctx.Err() != nil})
		if !again {
			q.Exclude = append(q.Exclude, t.CredentialID)
		}
		res.Failovers = append(res.Failovers, Attempt{Channel: t.Channel.Name, Credential: t.CredentialID,
			Status: aerr.status, Start: res.LastStart, Latency: time.Since(start) - res.LastStart, Reason: aerr.Error()})
		r.metrics.attemptFailed(call.Model, t.Channel.Name, aerr.status)
		// upstream_message is the upstream's own text, unscrubbed but for
		// the credential's value: what the client got is cleaned of it.
		r.log.LogAttrs(ctx, slog.LevelWarn, "upstream attempt failed",
			slog.String("request_id", call.RequestID), slog.String("channel", t.Channel.Name),
			slog.Int64("credential", t.CredentialID), slog.String("model", call.Model),
			slog.Int("status", aerr.status), slog.String("error", aerr.Error()),
			slog.String("upstream_type", aerr.upstream.Type), slog.String("upstream_code", aerr.upstream.Code),
			slog.String("upstream_message", aerr.upstream.Message))
		if aerr.status == http.StatusTooManyRequests {
			saw429 = true
			if aerr.retryAfter > 0 && (minRetry == 0 || aerr.retryAfter < minRetry) {
				minRetry = aerr.retryAfter
			}
			rested = earliest(rested, cmp.Or(aerr.retryAfter, r.cooldown429))
		} else {
			all429 = false
		}
		if !aerr.retryable() || ctx.Err() != nil {
			break
		}
	}
	ae := last.clientError(saw429, minRetry)
	if all429 && last.status == http.StatusTooManyRequests {
		// Every credential tried is rate limited: the client should wait
		// until the first is back, not report an outage.
		ae = apierror.ChannelsRateLimited(rested)
	}
	if ctx.Err() != nil {
		res.Status, res.Err = 499, ctx.Err()
		r.done(ctx, res, start)
		return fmt.Errorf("%w: client gone: %w", ae, ctx.Err())
	}
	res.Status, res.Err = ae.Status, last
	r.done(ctx, res, start)
	return ae
}

// exchangeState is what Exchange keeps for the request's whole life.
type exchangeState struct {
	res      Result
	q        PickQuery
	excluded [8]int64 // q.Exclude's first backing array
}

// committedOutcome is what an attempt that reached the client teaches.
func committedOutcome(call *ExchangeCall, res *Result) Outcome {
	o := Outcome{Status: res.Status, Committed: true, TTFB: res.attemptTTFB, Model: call.Model, Usage: res.Usage,
		ClientGone: res.Status == 499}
	if res.Err != nil {
		o.Err = res.Err.Error()
	}
	return o
}

// pickError maps a failure to find any first target to the client's error.
func (r *Relay) pickError(ctx context.Context, call *ExchangeCall, err error) *apierror.Error {
	var nt *NoTargetError
	switch {
	case errors.Is(err, ErrNoRoute):
		return apierror.ModelNotFound(call.Model)
	case errors.Is(err, ErrGroupDenied):
		return apierror.ModelNotAllowed(call.Model)
	case errors.As(err, &nt):
		var wait time.Duration
		if !nt.RetryAt.IsZero() {
			wait = max(time.Until(nt.RetryAt), time.Millisecond)
		}
		if nt.RateLimited {
			return apierror.ChannelsRateLimited(wait)
		}
		return apierror.NoAvailableChannel(wait)
	}
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return ae // a pinning error from the scheduler
	}
	r.log.LogAttrs(ctx, slog.LevelError, "scheduler failed",
		slog.String("request_id", call.RequestID), slog.String("model", call.Model), slog.String("error", err.Error()))
	return apierror.NoAvailableChannel(0)
}

func (r *Relay) exchangeAttempt(ctx context.Context, w http.ResponseWriter, t *Target, call *ExchangeCall, x Exchange, res *Result, start time.Time) (bool, *attemptError, error) {
	// A stream's attempt is cancelled on its own (the idle timer, the
	// attempt's end). A non-stream attempt has read and closed the answer
	// before it returns, and what else its request started ends with the
	// request's context: it saves the cancel context (five allocations).
	actx, cancel := ctx, context.CancelCauseFunc(func(error) {})
	if call.Stream {
		actx, cancel = context.WithCancelCause(ctx)
	}
	defer cancel(nil)
	attemptStart := time.Now()
	req, err := x.NewRequest(actx, t, r.adapters[t.Channel.Type], res.Upstream)
	if err != nil {
		if provider.IsClientError(err) {
			return false, nil, fmt.Errorf("%w: %w", apierror.InvalidRequest(err.Error(), provider.ClientErrorField(err)), err)
		}
		return false, &attemptError{err: fmt.Errorf("build request for channel %s: %w", t.Channel.Name, err)}, nil
	}
	if wx, ok := x.(Warner); ok {
		r.warn(ctx, w.Header(), wx.Warnings(), call, t)
	}
	resp, err := send(t.client, req)
	if err != nil {
		return false, &attemptError{err: fmt.Errorf("send to channel %s: %w", t.Channel.Name, err)}, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if lf, ok := x.(LocalFallback); ok {
			if out, ok := lf.Fallback(t, resp.StatusCode, w.Header()); ok {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection
				res.Status, res.Relayed = http.StatusOK, true
				h := w.Header()
				h.Set("Content-Type", "application/json")
				h.Set("Content-Length", strconv.Itoa(len(out)))
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(out)
				return false, &attemptError{status: resp.StatusCode, answered: true,
					err: fmt.Errorf("%s, answered locally", http.StatusText(resp.StatusCode))}, nil
			}
		}
		return false, upstreamFailure(resp, t, r.adapters[t.Channel.Type]), nil
	}
	res.TTFB = time.Since(start)
	res.attemptTTFB = time.Since(attemptStart)
	r.metrics.ttfb(call.Model, t.Channel.Name, res.TTFB)
	if !call.Stream {
		b, err := bodyread.Read(resp.Body, resp.ContentLength, r.maxResponse)
		if err != nil {
			return false, &attemptError{err: fmt.Errorf("read upstream body: %w", err)}, nil
		}
		if int64(len(b)) > r.maxResponse {
			return false, &attemptError{status: http.StatusBadGateway,
				err: fmt.Errorf("upstream answer larger than %d bytes", r.maxResponse)}, nil
		}
		out, u, err := x.Response(t, b)
		if err != nil {
			return false, &attemptError{status: http.StatusBadGateway, err: fmt.Errorf("translate upstream body: %w", err)}, nil
		}
		// Charged before the client has the answer (see the package doc),
		// and the lease ended in the same round trip: the outcome is known.
		res.Usage, res.Status, res.Relayed = u, http.StatusOK, true
		res.Duration = time.Since(start)
		o := committedOutcome(call, res)
		r.settleAll(ctx, res, &o)
		h := w.Header()
		h["Content-Type"] = contentTypeJSON
		res.contentLength[0] = strconv.Itoa(len(out))
		h["Content-Length"] = res.contentLength[:] // as Set would, without the slice's allocation
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		// Out now, not when the handler returns: what follows (the lease's
		// outcome, OnDone's usage row and token charge, each a Redis call
		// with several nodes) is no reason for the client to wait.
		_ = flush(w)
		return true, nil, nil
	}
	body := newIdleReader(resp.Body, r.streamIdle, cancel)
	defer body.stop()
	return r.exchangeStream(ctx, w, body, t, x.NewStream(t), call, res, start)
}

// contentTypeJSON is the Content-Type value of a JSON answer, shared by
// every answer rather than made per request by Header.Set; net/http copies
// the values when it writes the header, and nothing here edits them.
var contentTypeJSON = []string{"application/json"}

// flush is http.NewResponseController(w).Flush() without the controller's
// allocation for the writers the relay meets, which flush themselves.
func flush(w http.ResponseWriter) error {
	switch f := w.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
		return nil
	}
	return http.NewResponseController(w).Flush()
}

// warn puts this attempt's warnings on the answer's headers (replacing an
// earlier attempt's) and logs them.
func (r *Relay) warn(ctx context.Context, h http.Header, warnings []string, call *ExchangeCall, t *Target) {
	h.Del(WarningHeader)
	for _, msg := range warnings {
		h.Add(WarningHeader, msg)
		r.log.LogAttrs(ctx, slog.LevelWarn, "request changed for the upstream",
			slog.String("request_id", call.RequestID), slog.String("channel", t.Channel.Name),
			slog.String("model", call.Model), slog.String("warning", msg))
	}
}

// earliest returns the shorter of two waits, 0 being unknown.
func earliest(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// closingEvent names the events that end a complete stream in the formats
// relayed as they are (Anthropic Messages, OpenAI Responses).
var closingEvent = map[string]bool{"message_stop": true, "response.completed": true, "response.incomplete": true}

func (r *Relay) exchangeStream(ctx context.Context, w http.ResponseWriter, body *idleReader, t *Target, st EventStream, call *ExchangeCall, res *Result, start time.Time) (bool, *attemptError, error) {
	sw := sse.NewWriter(w)
	// Flushed below rather than after every event: events that arrived
	// together from the upstream leave together, in one write(2).
	sw.SetFlush(nil)
	committed := false
	var writeErr error
	commit := func() {
		if committed {
			return
		}
		committed = true
		r.metrics.streamOpened()
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
	}
	final := false // the upstream stream ended: Finish is writing the closing events
	emit := func(event string, data []byte) error {
		if (final || event != "" && closingEvent[event]) && res.hold != nil { // chat events are unnamed: no lookup
			// Charge before the closing events, the client's sign of a
			// complete answer, leave; a Finish that fails before writing
			// anything leaves the hold for the retry or the failure.
			// Passthrough streams relay the upstream's own closing event
			// from Feed, with the usage already read from the events
			// before it (or from itself, for Responses).
			res.Usage, res.Status, res.Relayed = st.Usage(), http.StatusOK, true
			res.Duration = time.Since(start)
			r.settle(ctx, res)
		}
		if isErrorEvent(event, data) {
			// A passthrough stream relays the upstream's own error
			// event: cleaned like a 4xx answer (upstream_error.go).
			var original string
			data, original = scrubErrorEvent(data, t)
			r.log.LogAttrs(ctx, slog.LevelWarn, "upstream error event",
				slog.String("request_id", call.RequestID), slog.String("channel", t.Channel.Name),
				slog.Int64("credential", t.CredentialID), slog.String("upstream_message", original))
		}
		commit()
		if err := sw.WriteEvent(event, data); err != nil {
			writeErr = err
			return err
		}
		return nil
	}
	defer func() {
		if committed {
			r.metrics.streamClosed()
		}
	}()
	var rd EventReader
	if f, ok := r.adapters[t.Channel.Type].(StreamFramer); ok {
		rd = f.NewEventReader(body)
	} else {
		rd = sse.NewReader(body, r.maxLine)
	}
	var streamErr error
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			final = true
			streamErr = st.Finish(emit)
			break
		}
		if err != nil {
			streamErr = err
			break
		}
		if err := st.Feed(ev, emit); err != nil {
			streamErr = err
			break
		}
		// Flush unless another event is already read and waiting: then
		// the next round writes it too without waiting on the upstream.
		if committed && writeErr == nil && !rd.EventReady() {
			if err := flush(w); err != nil {
				writeErr = err
				break
			}
		}
	}
	res.Relayed = committed
	if !committed {
		// Nothing reached the client; the attempt's own count (a
		// prompt estimate, perhaps) is no usage of this request.
		res.Usage = Usage{}
	} else {
		res.Usage = st.Usage()
	}
	switch {
	case writeErr != nil || ctx.Err() != nil:
		res.Status, res.Err = 499, errors.Join(writeErr, ctx.Err())
		return true, nil, nil
	case streamErr != nil && !committed:
		// A stream error that stands for a status (a throttling exception
		// in Bedrock's stream) teaches the scheduler what that status would.
		status := http.StatusBadGateway
		if se, ok := errors.AsType[*provider.StreamError](streamErr); ok && se.Status != 0 {
			status = se.Status
		}
		return false, &attemptError{status: status, err: fmt.Errorf("upstream stream: %w", streamErr)}, nil
	case streamErr != nil:
		if body.timedOut() {
			streamErr = fmt.Errorf("%w: %w", errStreamIdle, streamErr)
		}
		r.log.LogAttrs(ctx, slog.LevelWarn, "upstream stream broke",
			slog.String("request_id", call.RequestID), slog.String("model", call.Model),
			slog.String("error", streamErr.Error()))
		name, data := st.Abort()
		if sw.WriteEvent(name, data) == nil {
			_ = flush(w)
		}
		res.Status, res.Err = http.StatusBadGateway, streamErr
		return true, nil, nil
	}
	commit()
	res.Status = http.StatusOK
	return true, nil, nil
}
