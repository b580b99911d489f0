package relay

import (
	"context"

	"github.com/switchyard/switchyard/internal/luabatch"
)

// Before the first attempt a request is admitted by its key's rate limits,
// reserved by the Meter and leased a credential by the Scheduler. With
// several nodes each is a Lua script on Redis; sent one after the other
// they were three round trips every request waited for, and pipelined
// still three script calls. When all three can be queued on a script
// batch (luabatch) the relay runs them as one script call, one round trip,
// and reads them in today's order: a refused admission gives the
// reservation and the lease back, a refused reservation the lease, so the
// client gets the same answer, only sooner. Without Redis (or with a
// Prepare step, which must run between the reservation and the lease) the
// steps run one after the other as before. After the answer the settle,
// the token charge and the lease's release are one script call likewise
// (settleAll).

// Admission is a request's rate-limit admission that the handler left to
// the relay (limit.Admission). Each method returns nil when the request is
// admitted, else the error to answer (an *apierror.Error in its chain).
type Admission interface {
	// Take admits the request now, on its own.
	Take(ctx context.Context) error
	// Queue puts the admission on b; Result reads it once b ran.
	Queue(b *luabatch.Batch)
	Result(ctx context.Context) error
}

// PipelineMeter is a Meter that can queue its reservation on a batch.
type PipelineMeter interface {
	Meter
	// Pipelines reports whether QueueReserve can be used at all.
	Pipelines() bool
	// QueueReserve queues call's reservation on b. A nil PendingHold with
	// a nil error means nothing to reserve; an error is Reserve's,
	// known without Redis.
	QueueReserve(ctx context.Context, b *luabatch.Batch, call *ExchangeCall) (PendingHold, error)
}

// PendingHold is a reservation queued on a batch.
type PendingHold interface {
	// Hold reads it once the batch ran: what Reserve would return.
	Hold(ctx context.Context) (Hold, error)
}

// PipelineScheduler is a Scheduler that can queue a request's first lease
// on a batch.
type PipelineScheduler interface {
	Pipelines() bool
	// QueuePick queues the first Pick of q on b; an error is Pick's, known
	// without Redis. q must stay unchanged until the lease is read.
	QueuePick(b *luabatch.Batch, q *PickQuery) (PendingLease, error)
}

// PendingLease is a lease queued on a batch. Exactly one of Lease and
// Cancel must be called, once the batch ran.
type PendingLease interface {
	// Lease reads it: what Pick would return (trying further targets on
	// its own when the queued one had nothing).
	Lease(ctx context.Context) (Lease, error)
	// Cancel gives back whatever was leased, teaching nothing.
	Cancel(ctx context.Context)
}

// pipelines reports whether call's admission, reservation and first lease
// may go in one batch.
func (r *Relay) pipelines(call *ExchangeCall) bool {
	return r.rdb != nil && r.psched != nil && call.Prepare == nil &&
		(r.meter == nil || call.Unbilled || r.pmeter != nil)
}

// batch is an empty script batch, run on r.rdb. They are recycled
// (r.pipes): two per request, and their buffers grow to fit; one that ran
// is empty.
func (r *Relay) batch() *luabatch.Batch {
	if b, ok := r.pipes.Get().(*luabatch.Batch); ok {
		return b
	}
	return new(luabatch.Batch)
}

// admit runs call's deferred admission on its own, if it has one.
func admit(ctx context.Context, call *ExchangeCall) error {
	if call.Admission == nil {
		return nil
	}
	return call.Admission.Take(ctx)
}

// start admits, reserves and leases in one script call. admitErr or
// reserveErr is the refusal, with nothing left held; else the hold is set
// on res and lease/pickErr is the first Pick's answer.
func (r *Relay) start(ctx context.Context, call *ExchangeCall, q *PickQuery, res *Result) (lease Lease, pickErr, admitErr, reserveErr error) {
	b := r.batch()
	defer r.pipes.Put(b)
	if call.Admission != nil {
		call.Admission.Queue(b)
	}
	var ph PendingHold
	if r.meter != nil && !call.Unbilled {
		ph, reserveErr = r.pmeter.QueueReserve(ctx, b, call)
	}
	pl, pickErr := r.psched.QueuePick(b, q)
	// Each call's own answer, or Exec's error, is read below.
	_ = b.Exec(ctx, r.rdb)
	if call.Admission != nil {
		admitErr = call.Admission.Result(ctx)
	}
	var hold Hold
	if ph != nil {
		hold, reserveErr = ph.Hold(ctx)
	}
	if admitErr != nil || reserveErr != nil {
		if hold != nil {
			// Reserved, then refused: give it back, charging nothing
			// (the admission refused before any attempt).
			hold.Settle(detach(ctx), &Result{RequestID: call.RequestID, Model: call.Model})
		}
		if pl != nil {
			pl.Cancel(ctx)
		}
		if admitErr != nil {
			return nil, nil, admitErr, nil
		}
		return nil, nil, nil, reserveErr
	}
	res.hold = hold
	if pickErr != nil {
		return nil, pickErr, nil, nil
	}
	lease, pickErr = pl.Lease(ctx)
	return lease, pickErr, nil, nil
}
