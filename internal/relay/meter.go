package relay

import (
	"context"
	"time"

	"github.com/switchyard/switchyard/internal/luabatch"
)

// Billing hooks; the package doc says when the relay reserves and settles.

// Estimate is what the handler can tell about a request's cost before
// sending it.
type Estimate struct {
	PromptTokens int // estimated input tokens (EstimatePromptTokens of the body)
	// MaxOutputTokens is the request's own cap (max_tokens,
	// max_completion_tokens, max_output_tokens) on each answer; 0 = none
	// given.
	MaxOutputTokens int
	// Choices is how many answers the upstream generates, each up to
	// MaxOutputTokens (chat n; completions max(n, best_of)); 0 = one.
	Choices      int
	Images       int // images asked for (image endpoints)
	ImageSize    string
	ImageQuality string
}

// EstimatePromptTokens is a cheap, generous estimate of a body's input
// tokens: a third of its bytes. Tokenizing would be closer but costs time in
// proportion to the body on every request, on the hot path, while a
// reservation only needs an upper-ish bound: the settle uses the upstream's
// real count. English
// averages about four bytes a token and the body's JSON syntax adds more
// bytes, so a third overestimates it; CJK text (three UTF-8 bytes for about
// one token) comes out about right.
func EstimatePromptTokens(body []byte) int { return (len(body) + 2) / 3 }

// OutputTokens is the most output the request may produce: its cap (or
// defaultMax when it gave none) times its choices.
func (e Estimate) OutputTokens(defaultMax int64) int64 {
	per := int64(e.MaxOutputTokens)
	if per <= 0 {
		per = defaultMax
	}
	return per * int64(max(e.Choices, 1))
}

// Meter holds an estimate of a request's cost before its first attempt and
// settles it after. The billing package implements it (through the app);
// a nil Options.Meter means no billing.
type Meter interface {
	// Reserve returns an error carrying an *apierror.Error (429
	// insufficient_quota, 403 model_not_allowed for an unpriced model, 503
	// when the billing state is unreachable) when the request must not
	// proceed; the relay then answers it and calls no upstream. A nil Hold
	// with a nil error means there is nothing to settle.
	Reserve(ctx context.Context, call *ExchangeCall) (Hold, error)
}

// Hold is one reservation.
type Hold interface {
	// Settle charges res (res.Usage, res.Images, res.Relayed, res.Status)
	// and may set res.Cost. The relay calls it exactly once per request,
	// with a context that is not cancelled when the client goes away.
	Settle(ctx context.Context, res *Result)
}

// settle settles res's hold, if any, at most once.
func (r *Relay) settle(ctx context.Context, res *Result) { r.settleAll(ctx, res, nil) }

// settleAll settles res's hold and counts its tokens (OnCounted, or the
// Admission's TokenCharger) and, when o is given, ends res's lease with o:
// with Redis, in one script call (a luabatch), so that the client's answer
// waits for one round trip rather than one per step.
func (r *Relay) settleAll(ctx context.Context, res *Result, o *Outcome) {
	res.Images = max(res.Images, res.Usage.Images)
	h := res.hold
	counted := r.onCounted != nil && !res.counted
	var pl PipelineLease
	if o != nil && r.rdb != nil {
		pl, _ = res.lease.(PipelineLease)
	}
	if h == nil && !counted && pl == nil {
		return
	}
	dctx := res.detachOnce(ctx)
	var b *luabatch.Batch
	var ph PipelineHold
	var tc TokenCharger
	if r.rdb != nil {
		ph, _ = h.(PipelineHold)
		if counted {
			tc, _ = res.adm.(TokenCharger)
		}
		if ph != nil || tc != nil || pl != nil {
			b = r.batch()
			defer r.pipes.Put(b)
		}
	}
	if h != nil {
		res.hold = nil
		if ph != nil {
			ph.QueueSettle(dctx, b, res)
		} else {
			h.Settle(dctx, res)
		}
	}
	if counted && tc != nil {
		res.counted = true
		tc.QueueCharge(b, int64(res.Usage.PromptTokens+res.Usage.CompletionTokens))
	}
	if pl != nil {
		res.lease = nil
		res.released = true
		pl.QueueDone(dctx, b, *o)
	}
	if b != nil {
		_ = b.Exec(dctx, r.rdb) // each call's answer, or this error, is read below
		if ph != nil {
			ph.Settled(dctx, res)
		}
		if tc != nil {
			tc.Charged(dctx)
		}
		if pl != nil {
			pl.Released(dctx)
		}
	}
	if counted && !res.counted {
		res.counted = true
		r.onCounted(dctx, *res)
	}
}

// PipelineHold is a Hold that can queue its settle on a batch.
type PipelineHold interface {
	Hold
	QueueSettle(ctx context.Context, b *luabatch.Batch, res *Result)
	// Settled reads it once the batch ran, as Settle would end.
	Settled(ctx context.Context, res *Result)
}

// PipelineLease is a Lease that can queue its Done on a batch, for a
// committed answer (it tells nothing back: such an attempt is not tried
// again). Done after QueueDone does nothing.
type PipelineLease interface {
	Lease
	QueueDone(ctx context.Context, b *luabatch.Batch, o Outcome)
	// Released reads it once the batch ran.
	Released(ctx context.Context)
}

// TokenCharger is an Admission that also charges the request's tokens to
// its key's token limits once its usage is final, on the settle's batch.
// The relay does that instead of calling OnCounted for the request.
type TokenCharger interface {
	QueueCharge(b *luabatch.Batch, tokens int64)
	Charged(ctx context.Context)
}

// detach is context.WithoutCancel for the settle and the request's end:
// the standard library's is a struct that its Value method boxes on every
// lookup, and the callbacks look up the key and the request's state
// several times per request (one allocation each). Unlike it, context.Cause
// of the detached context itself reports the parent's cause; nothing here
// asks, and contexts derived from it answer for themselves.
func detach(ctx context.Context) context.Context { return &detached{parent: ctx} }

type detached struct{ parent context.Context }

func (*detached) Deadline() (time.Time, bool) { return time.Time{}, false }
func (*detached) Done() <-chan struct{}       { return nil }
func (*detached) Err() error                  { return nil }
func (d *detached) Value(key any) any         { return d.parent.Value(key) }
func (d *detached) String() string            { return "relay.detached" }
