package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
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
	// Accepts reports whether t can serve the request at all (a passthrough
	// to one upstream type, for example); other targets are skipped.
	Accepts(t *Target) bool
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

// ExchangeCall is what the relay itself needs of an Exchange request.
type ExchangeCall struct {
	RequestID string
	Model     string // as the client asked; routing key
	Stream    bool
}

// ChannelTypes lists the channel type of each target serving model, in ring
// order, duplicates kept; handlers use it to pick a local answer when no
// channel of the needed type serves the model.
func (r *Relay) ChannelTypes(model string) []string {
	mt := r.router.byModel[model]
	if mt == nil {
		return nil
	}
	out := make([]string, len(mt.targets))
	for i, t := range mt.targets {
		out[i] = t.Channel.Type
	}
	return out
}

// Exchange serves one request through x. Like Chat, it writes the answer and
// returns nil, or returns an error (an *apierror.Error in its chain) when
// nothing was written.
func (r *Relay) Exchange(ctx context.Context, w http.ResponseWriter, call *ExchangeCall, x Exchange) error {
	// Pick the whole ring, then filter, so that an exchange accepting only
	// some channel types still gets maxAttempts of them.
	var targets []*Target
	for _, t := range r.router.Pick(call.Model, len(r.router.byModel[call.Model].all())) {
		if x.Accepts(t) && len(targets) < r.maxAttempts {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return apierror.ModelNotFound(call.Model)
	}
	start := time.Now()
	res := Result{RequestID: call.RequestID, Model: call.Model, Stream: call.Stream}
	var last *attemptError
	saw429 := false
	var minRetry time.Duration
	for _, t := range targets {
		res.Attempts++
		res.Channel, res.CredIndex = t.Channel.Name, t.CredIndex
		res.Upstream = upstreamModel(t.Channel, call.Model)
		committed, aerr, err := r.exchangeAttempt(ctx, w, t, call, x, &res, start)
		if err != nil {
			res.Status, res.Err = apierror.As(err).Status, err
			r.done(ctx, &res, start)
			return err
		}
		if aerr == nil || committed {
			r.done(ctx, &res, start)
			return nil
		}
		last = aerr
		r.metrics.attemptFailed(call.Model, t.Channel.Name, aerr.status)
		r.log.LogAttrs(ctx, slog.LevelWarn, "upstream attempt failed",
			slog.String("request_id", call.RequestID), slog.String("channel", t.Channel.Name),
			slog.Int("credential", t.CredIndex), slog.String("model", call.Model),
			slog.Int("status", aerr.status), slog.String("error", aerr.Error()))
		if aerr.status == http.StatusTooManyRequests {
			saw429 = true
			if aerr.retryAfter > 0 && (minRetry == 0 || aerr.retryAfter < minRetry) {
				minRetry = aerr.retryAfter
			}
		}
		if !aerr.retryable() || ctx.Err() != nil {
			break
		}
	}
	ae := last.clientError(saw429, minRetry)
	if ctx.Err() != nil {
		res.Status, res.Err = 499, ctx.Err()
		r.done(ctx, &res, start)
		return fmt.Errorf("%w: client gone: %w", ae, ctx.Err())
	}
	res.Status, res.Err = ae.Status, last
	r.done(ctx, &res, start)
	return ae
}

// all is the target list, nil-safe.
func (mt *modelTargets) all() []*Target {
	if mt == nil {
		return nil
	}
	return mt.targets
}

func (r *Relay) exchangeAttempt(ctx context.Context, w http.ResponseWriter, t *Target, call *ExchangeCall, x Exchange, res *Result, start time.Time) (bool, *attemptError, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := x.NewRequest(actx, t, r.adapters[t.Channel.Type], res.Upstream)
	if err != nil {
		if provider.IsClientError(err) {
			return false, nil, fmt.Errorf("%w: %w", apierror.InvalidRequest(err.Error(), ""), err)
		}
		return false, &attemptError{err: fmt.Errorf("build request for channel %s: %w", t.Channel.Name, err)}, nil
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return false, &attemptError{err: fmt.Errorf("send to channel %s: %w", t.Channel.Name, err)}, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return false, upstreamFailure(resp), nil
	}
	res.TTFB = time.Since(start)
	r.metrics.ttfb(call.Model, t.Channel.Name, res.TTFB)
	if !call.Stream {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return false, &attemptError{err: fmt.Errorf("read upstream body: %w", err)}, nil
		}
		out, u, err := x.Response(t, b)
		if err != nil {
			return false, &attemptError{status: http.StatusBadGateway, err: fmt.Errorf("translate upstream body: %w", err)}, nil
		}
		res.Usage, res.Status = u, http.StatusOK
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		return true, nil, nil
	}
	body := newIdleReader(resp.Body, r.streamIdle, cancel)
	defer body.stop()
	return r.exchangeStream(ctx, w, body, x.NewStream(t), call, res)
}

func (r *Relay) exchangeStream(ctx context.Context, w http.ResponseWriter, body *idleReader, st EventStream, call *ExchangeCall, res *Result) (bool, *attemptError, error) {
	rc := http.NewResponseController(w)
	sw := sse.NewWriter(w)
	sw.SetFlush(rc.Flush)
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
	emit := func(event string, data []byte) error {
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
	rd := sse.NewReader(body, r.maxLine)
	var streamErr error
	for {
		ev, err := rd.Next()
		if err == io.EOF {
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
	}
	res.Usage = st.Usage()
	switch {
	case writeErr != nil || ctx.Err() != nil:
		res.Status, res.Err = 499, errors.Join(writeErr, ctx.Err())
		return true, nil, nil
	case streamErr != nil && !committed:
		return false, &attemptError{status: http.StatusBadGateway, err: fmt.Errorf("upstream stream: %w", streamErr)}, nil
	case streamErr != nil:
		if body.timedOut() {
			streamErr = fmt.Errorf("%w: %w", errStreamIdle, streamErr)
		}
		r.log.LogAttrs(ctx, slog.LevelWarn, "upstream stream broke",
			slog.String("request_id", call.RequestID), slog.String("model", call.Model),
			slog.String("error", streamErr.Error()))
		name, data := st.Abort()
		_ = sw.WriteEvent(name, data)
		res.Status, res.Err = http.StatusBadGateway, streamErr
		return true, nil, nil
	}
	commit()
	res.Status = http.StatusOK
	return true, nil, nil
}
