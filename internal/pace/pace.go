// Package pace lets long background work (the billing drainer's posts, the
// usage log's batch inserts) give the CPU back to request goroutines in
// short slices.
//
// Go preempts a goroutine only after it has run 10 ms, and with one P
// (GOMAXPROCS=1, a one-core container) a network event is noticed only when
// the scheduler looks for work or sysmon polls, up to 10 ms later. CPU-bound
// background work of a few milliseconds therefore delays every request that
// became ready meanwhile by as much. runtime.Gosched alone does not help:
// with nothing in the run queue the scheduler hands the P straight back,
// without polling the network. Parking the goroutine does: the scheduler
// then finds the requests the network has made ready and runs them.
//
// Work opts in through its context (Background); code it reaches calls
// Yield at safe points (between statements, between chunks of a loop), and
// on the request path, whose contexts carry no pacer, Yield does nothing.
package pace

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
)

// Slice is how long paced work runs between yields.
const Slice = time.Millisecond

// pause is how long a yielding goroutine parks with one P. A request is
// several short runs around network waits (read it, send upstream, read the
// answer, write it) that take about a millisecond in all; a pause that
// short lets a request through its first step only, and the paced work,
// woken by its timer ahead of the run queue, then delays each next step by
// a slice. Three slices' worth lets the requests that were ready finish:
// measured pinned at 1000 chat/s, 50 µs and 1 ms pauses left the gateway's
// p99 where it was unpaced (or worse), 3 ms halved it and 5 ms did no
// better. Paced work thus gets at most a quarter of the core, idle or not:
// callers that fall behind should drop the pacer (Unpaced) to catch up.
const pause = 3 * time.Millisecond

type pacerKey struct{}

type pacer struct {
	last atomic.Int64 // when it last yielded, in ns of the monotonic clock
}

// epoch anchors the monotonic clock readings of pacers.
var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

// Background returns ctx carrying a pacer: Yield with it (or a context
// derived from it) gives the CPU away once the work has run a Slice.
func Background(ctx context.Context) context.Context {
	if Active(ctx) {
		return ctx
	}
	p := &pacer{}
	p.last.Store(now())
	return context.WithValue(ctx, pacerKey{}, p)
}

// Unpaced returns ctx without its pacer: work that has fallen behind (a
// backlog) runs at full speed again.
func Unpaced(ctx context.Context) context.Context {
	if !Active(ctx) {
		return ctx
	}
	return context.WithValue(ctx, pacerKey{}, (*pacer)(nil))
}

// Active reports whether ctx carries a pacer: batch writers then cut their
// work into smaller statements, so that each runs well within a Slice.
func Active(ctx context.Context) bool {
	p, _ := ctx.Value(pacerKey{}).(*pacer)
	return p != nil
}

// Yield gives the CPU to other goroutines when ctx carries a pacer whose
// work has run a Slice since it last yielded; otherwise it returns at once.
func Yield(ctx context.Context) {
	p, _ := ctx.Value(pacerKey{}).(*pacer)
	if p == nil {
		return
	}
	if now()-p.last.Load() < int64(Slice) {
		return
	}
	yield()
	p.last.Store(now())
}

// yield parks briefly with one P (see the package doc); with several, the
// other Ps run what the network readies, and a Gosched is enough to let the
// run queue go first.
func yield() {
	if runtime.GOMAXPROCS(0) == 1 {
		time.Sleep(pause)
		return
	}
	runtime.Gosched()
}
