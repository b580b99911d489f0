package images

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/switchyard/switchyard/internal/store"
)

// Exec does the image work of one claimed task and returns its outcome.
// ctx is cancelled when the task is cancelled, taken over by another
// node, or the runner stops; progress records how far it is (0–100).
type Exec func(ctx context.Context, t Task, progress func(pct int)) Finish

// Notifier delivers a finished task's webhook. An error wrapped with
// Permanent is not retried; any other error is, with backoff.
type Notifier interface {
	Notify(ctx context.Context, t Task) error
}

// PermanentError marks a webhook error that retrying cannot fix (the
// receiver answered 4xx, the URL is refused).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError; nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// Cleaner deletes stored objects; every Store is one. Deleting a missing
// object must not be an error, so a sweep can be retried.
type Cleaner interface {
	Delete(ctx context.Context, key string) error
}

var _ Cleaner = Store(nil)

// RunnerOptions configure a Runner; zero fields take the defaults noted.
type RunnerOptions struct {
	// Node names this gateway node in the tasks it runs. Keep it stable
	// across restarts (the hostname, say) so that a restarted node
	// requeues its own interrupted tasks at once; by default it is the
	// hostname and a random suffix, unique but new at each start, so those
	// tasks wait StaleAfter instead. Two live nodes must never share it.
	Node    string
	Workers int  // tasks run at once on this node: 2
	Exec    Exec // required
	// Store deletes inputs and swept outputs; nil disables both.
	Store Cleaner
	// Kept, when set, says which of a swept task's output keys the
	// gallery has taken over: the sweeper leaves those in storage.
	Kept     func(ctx context.Context, keys []string) (map[string]bool, error)
	Notifier Notifier // delivers webhooks; nil leaves them pending
	Logger   *slog.Logger

	PollInterval      time.Duration // how often idle workers look for queued tasks: 2s
	HeartbeatInterval time.Duration // how often running tasks are marked alive: 10s
	// StaleAfter is how old a running task's heartbeat may get before the
	// task is taken as abandoned: 1m, and at least 3 heartbeats.
	StaleAfter  time.Duration
	MaxAttempts int // starts of an async task before it fails as interrupted: 3

	Retention     time.Duration // how long finished tasks keep their outputs: 24h
	SweepInterval time.Duration // how often expired outputs are deleted: 10m

	WebhookAttempts int           // deliveries tried before a webhook fails: 8
	WebhookBase     time.Duration // wait after the first failure, doubling after each: 10s
	WebhookMax      time.Duration // longest wait between deliveries: 1h

	Now func() time.Time // clock: time.Now
}

func (o *RunnerOptions) defaults() {
	if o.Node == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		o.Node = store.Clip(host, maxNode-7) + "-" + hex.EncodeToString(b[:])
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	def(&o.PollInterval, 2*time.Second)
	def(&o.HeartbeatInterval, 10*time.Second)
	def(&o.StaleAfter, time.Minute)
	o.StaleAfter = max(o.StaleAfter, 3*o.HeartbeatInterval)
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	def(&o.Retention, 24*time.Hour)
	def(&o.SweepInterval, 10*time.Minute)
	if o.WebhookAttempts <= 0 {
		o.WebhookAttempts = 8
	}
	def(&o.WebhookBase, 10*time.Second)
	def(&o.WebhookMax, time.Hour)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Runner runs async image tasks on this node and keeps the task table
// healthy: it claims queued tasks, heartbeats running ones, requeues those
// of stopped nodes, deletes expired outputs and delivers webhooks.
type Runner struct {
	tasks *Tasks
	o     RunnerOptions
	log   *slog.Logger
	kick  chan struct{}

	mu      sync.Mutex
	running map[string]*job // tasks heartbeated by this node
	started bool

	stopping  chan struct{} // closed by Stop: claim nothing more
	stopOnce  sync.Once
	work      context.Context // parent of every Exec's context
	stopWork  context.CancelCauseFunc
	stopLoops context.CancelFunc
	workers   sync.WaitGroup
	loops     sync.WaitGroup
}

// job is a task this node heartbeats; it is compared by pointer, so a
// run superseded by a new claim of the same task cannot untrack the new
// one.
type job struct{ cancel context.CancelCauseFunc }

var (
	errStopped = errors.New("image runner stopped")
	errGone    = errors.New("image task cancelled or taken over by another node")
)

// Result writes that must happen even as the work's own context ends.
const writeTimeout = 30 * time.Second

// NewRunner returns a runner of tasks; Start starts it.
func NewRunner(tasks *Tasks, o RunnerOptions) *Runner {
	o.defaults()
	return &Runner{
		tasks:    tasks,
		o:        o,
		log:      o.Logger.With("component", "image-runner", "node", o.Node),
		kick:     make(chan struct{}, 1),
		running:  map[string]*job{},
		stopping: make(chan struct{}),
	}
}

// Node returns the node name the runner claims tasks as.
func (r *Runner) Node() string { return r.o.Node }

// Start requeues the tasks this node was running when it last stopped
// (RecoverNode) and starts the workers and background loops, which run
// until Stop or until ctx ends. ctx ending is a hard stop, like Stop's
// own ctx ending.
func (r *Runner) Start(ctx context.Context) error {
	if r.o.Exec == nil {
		return errors.New("start image runner: no Exec")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("start image runner: already started")
	}
	requeued, failed, err := r.tasks.RecoverNode(ctx, r.o.Node, r.o.MaxAttempts)
	if err != nil {
		return fmt.Errorf("start image runner: %w", err)
	}
	if requeued+failed > 0 {
		r.log.Info("recovered image tasks of this node's last run", "requeued", requeued, "failed", failed)
	}
	r.started = true
	r.work, r.stopWork = context.WithCancelCause(ctx)
	var loops context.Context
	loops, r.stopLoops = context.WithCancel(ctx)
	for range r.o.Workers {
		r.workers.Go(r.worker)
	}
	r.loops.Go(func() { r.every(loops, r.o.HeartbeatInterval, false, r.heartbeat) })
	r.loops.Go(func() { r.every(loops, max(r.o.StaleAfter/3, r.o.HeartbeatInterval), true, r.requeue) })
	if r.o.Store != nil {
		r.loops.Go(func() { r.every(loops, r.o.SweepInterval, true, r.sweep) })
	}
	if r.o.Notifier != nil {
		r.loops.Go(func() { r.every(loops, r.o.PollInterval, true, r.webhooks) })
	}
	return nil
}

// Kick wakes an idle worker at once, after a task was queued, instead of
// waiting for its next poll.
func (r *Runner) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Track makes the heartbeat loop keep task id (a synchronous task run by
// a handler on this node) alive and call cancel if the task is cancelled
// from elsewhere. The returned function ends the tracking.
func (r *Runner) Track(id string, cancel context.CancelFunc) (untrack func()) {
	j := &job{cancel: func(error) { cancel() }}
	r.track(id, j)
	return func() { r.untrack(id, j) }
}

// track registers j as the run of task id. A run of the same task still
// registered was superseded: the task was requeued while this node was
// too slow to heartbeat it, and claimed again.
func (r *Runner) track(id string, j *job) {
	r.mu.Lock()
	if old, ok := r.running[id]; ok {
		old.cancel(errGone)
	}
	r.running[id] = j
	r.mu.Unlock()
}

func (r *Runner) untrack(id string, j *job) {
	r.mu.Lock()
	if r.running[id] == j {
		delete(r.running, id)
	}
	r.mu.Unlock()
}

// Stop stops claiming and waits for the running tasks to finish, up to
// ctx. Tasks still running when ctx ends have their context cancelled and
// their outcome dropped: they stay 'running' in the database, and another
// node requeues them once their heartbeat is StaleAfter old (or this node,
// at its next Start). Stop returns ctx's error in that case.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if !started {
		return nil
	}
	r.stopOnce.Do(func() { close(r.stopping) })
	done := make(chan struct{})
	go func() {
		r.workers.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("stop image runner: tasks left running: %w", ctx.Err())
		r.stopWork(errStopped)
	}
	r.stopLoops()
	r.loops.Wait()
	return err
}

// every runs fn every interval until ctx ends, first at once when now.
func (r *Runner) every(ctx context.Context, interval time.Duration, now bool, fn func(context.Context)) {
	if now {
		fn(ctx)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

func (r *Runner) worker() {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-r.stopping:
			return
		case <-r.work.Done():
			return
		default:
		}
		t, ok, err := r.tasks.Claim(r.work, r.o.Node)
		if err != nil && r.work.Err() == nil {
			r.log.Error("claim image task", "err", err)
		}
		if ok {
			// Another idle worker may find more queued work.
			r.Kick()
			r.run(t)
			continue
		}
		timer.Reset(r.o.PollInterval)
		select {
		case <-r.stopping:
			return
		case <-r.work.Done():
			return
		case <-r.kick:
		case <-timer.C:
		}
	}
}

// run executes one claimed task and records its outcome.
func (r *Runner) run(t Task) {
	ctx, cancel := context.WithCancelCause(r.work)
	defer cancel(nil)
	j := &job{cancel: cancel}
	r.track(t.ID, j)
	defer r.untrack(t.ID, j)
	log := r.log.With("task", t.ID, "request_id", t.RequestID)

	last := -1
	progress := func(pct int) {
		pct = clamp(pct)
		if pct == last || ctx.Err() != nil {
			return
		}
		last = pct
		if err := r.tasks.Progress(ctx, t.ID, pct); err != nil && ctx.Err() == nil {
			log.Warn("record image task progress", "err", err)
		}
	}
	res := r.exec(ctx, t, progress, log)
	res.Attempt = t.Attempts
	if errors.Is(context.Cause(ctx), errStopped) || r.work.Err() != nil {
		// The runner is going away mid-task: the outcome may be an
		// artefact of the cancellation, so the task stays running for a
		// later requeue instead of failing for a reason not its own.
		log.Warn("image task left running as the runner stopped")
		return
	}

	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer wcancel()
	ok, err := r.tasks.Finish(wctx, t.ID, r.o.Node, res)
	// Not ours to heartbeat any more, whatever happened.
	r.untrack(t.ID, j)
	if err != nil {
		// Left running: its heartbeat stops with this function, and the
		// requeue of stale tasks runs it again.
		log.Error("record image task outcome", "err", err)
		return
	}
	if !ok {
		cur, err := r.tasks.Get(wctx, t.ID)
		if err != nil {
			log.Error("read image task after losing it", "err", err)
			return
		}
		log.Info("image task outcome dropped: the task was cancelled or taken over", "status", cur.Status, "owner", cur.Node)
		if !cur.Finished() {
			return // requeued: its inputs are needed again
		}
		if cur.Status == StatusCancelled && res.CostMicros > 0 {
			// Images arrived, and were charged, before the cancellation
			// reached the run: the task keeps them for its owner. An
			// outcome that cost nothing is dropped with its images.
			if _, err := r.tasks.KeepCancelled(wctx, t.ID, r.o.Node, res); err != nil {
				log.Error("record what a cancelled image task delivered", "err", err)
			}
		}
	}
	r.dropInputs(wctx, t, log)
}

// exec calls Exec, turning a panic or a malformed outcome into a failure.
func (r *Runner) exec(ctx context.Context, t Task, progress func(int), log *slog.Logger) (res Finish) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("image task panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res = Finish{Status: StatusFailed, ErrorCode: "internal_error", ErrorMessage: "internal error"}
		}
	}()
	res = r.o.Exec(ctx, t, progress)
	if res.Status != StatusSucceeded && res.Status != StatusFailed {
		log.Error("image task ended with an invalid status", "status", res.Status)
		res = Finish{Status: StatusFailed, ErrorCode: "internal_error", ErrorMessage: "internal error"}
	}
	return res
}

// dropInputs deletes an ended task's uploaded inputs; what it cannot
// delete stays listed for the sweeper.
func (r *Runner) dropInputs(ctx context.Context, t Task, log *slog.Logger) {
	if len(t.Inputs) == 0 || r.o.Store == nil {
		return
	}
	for _, key := range t.Inputs {
		if err := r.o.Store.Delete(ctx, key); err != nil {
			log.Warn("delete image task input", "key", key, "err", err)
			return
		}
	}
	if err := r.tasks.ClearInputs(ctx, t.ID); err != nil {
		log.Warn("clear image task inputs", "err", err)
	}
}

// heartbeat keeps this node's tasks alive and cancels those the database
// says are no longer ours (cancelled by a user, or requeued after this
// node was presumed dead).
func (r *Runner) heartbeat(ctx context.Context) {
	r.mu.Lock()
	ids := make([]string, 0, len(r.running))
	for id := range r.running {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	gone, err := r.tasks.Heartbeat(ctx, r.o.Node, ids)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("heartbeat image tasks", "err", err)
		}
		return
	}
	r.mu.Lock()
	for _, id := range gone {
		if j, ok := r.running[id]; ok {
			j.cancel(errGone)
			r.log.Info("image task stopped: cancelled or taken over", "task", id)
		}
	}
	r.mu.Unlock()
}

// requeue recovers the tasks of nodes that stopped heartbeating.
func (r *Runner) requeue(ctx context.Context) {
	requeued, failed, err := r.tasks.Requeue(ctx, r.o.Now().Add(-r.o.StaleAfter), r.o.MaxAttempts)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("requeue stale image tasks", "err", err)
		}
		return
	}
	if requeued+failed > 0 {
		r.log.Warn("recovered image tasks of a stopped node", "requeued", requeued, "failed", failed)
	}
	if requeued > 0 {
		r.Kick()
	}
}

const sweepBatch = 100

// sweep deletes the stored objects of tasks that finished more than
// Retention ago. A task whose objects cannot all be deleted keeps them
// listed and is tried again at the next sweep.
func (r *Runner) sweep(ctx context.Context) {
	for {
		batch, err := r.tasks.SweepCandidates(ctx, r.o.Now().Add(-r.o.Retention), sweepBatch)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Error("sweep image tasks", "err", err)
			}
			return
		}
		swept := 0
		for _, t := range batch {
			if r.sweepTask(ctx, t) {
				swept++
			}
		}
		if swept > 0 {
			r.log.Info("swept stored images", "tasks", swept)
		}
		// A batch with failures would come back the same: wait for the
		// next sweep rather than loop on it.
		if len(batch) < sweepBatch || swept < len(batch) {
			return
		}
	}
}

func (r *Runner) sweepTask(ctx context.Context, t Task) bool {
	keys := t.Inputs
	if t.Stored {
		outs := make([]string, 0, len(t.Outputs))
		for _, o := range t.Outputs {
			outs = append(outs, o.Key)
		}
		var kept map[string]bool
		if r.o.Kept != nil && len(outs) > 0 {
			var err error
			if kept, err = r.o.Kept(ctx, outs); err != nil {
				if ctx.Err() == nil {
					r.log.Warn("ask the gallery which images it keeps", "task", t.ID, "err", err)
				}
				return false
			}
		}
		for _, k := range outs {
			if !kept[k] {
				keys = append(keys, k)
			}
		}
	}
	for _, key := range keys {
		if err := r.o.Store.Delete(ctx, key); err != nil {
			if ctx.Err() == nil {
				r.log.Warn("delete swept image", "task", t.ID, "key", key, "err", err)
			}
			return false
		}
	}
	if err := r.tasks.MarkSwept(ctx, t.ID); err != nil {
		if ctx.Err() == nil {
			r.log.Error("sweep image task", "task", t.ID, "err", err)
		}
		return false
	}
	return true
}

const (
	webhookBatch       = 20
	webhookConcurrency = 4
)

// webhooks delivers due webhooks, a few at a time.
func (r *Runner) webhooks(ctx context.Context) {
	due, err := r.tasks.DueWebhooks(ctx, r.o.Now(), webhookBatch)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("find due image webhooks", "err", err)
		}
		return
	}
	sem := make(chan struct{}, webhookConcurrency)
	var wg sync.WaitGroup
	for _, t := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r.deliver(ctx, t)
		})
	}
	wg.Wait()
}

func (r *Runner) deliver(ctx context.Context, t Task) {
	nctx, cancel := context.WithTimeout(ctx, WebhookLease/2)
	err := r.o.Notifier.Notify(nctx, t)
	cancel()
	if err != nil && ctx.Err() != nil {
		return // stopping: the lease runs out and the webhook is due again
	}
	attempts := t.WebhookAttempts + 1
	state, next, msg := WebhookDelivered, time.Time{}, ""
	if err != nil {
		msg = err.Error()
		var perm *PermanentError
		if errors.As(err, &perm) || attempts >= r.o.WebhookAttempts {
			state = WebhookFailed
			r.log.Warn("image webhook failed", "task", t.ID, "attempts", attempts, "err", err)
		} else {
			state, next = WebhookPending, r.o.Now().Add(r.backoff(attempts))
			r.log.Info("image webhook will be retried", "task", t.ID, "attempts", attempts, "next", next, "err", err)
		}
	}
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer wcancel()
	if err := r.tasks.WebhookDone(wctx, t.ID, state, attempts, next, msg); err != nil {
		r.log.Error("record image webhook delivery", "task", t.ID, "err", err)
	}
}

// backoff is the wait after the attempts-th failed delivery:
// WebhookBase doubled for each failure before it, at most WebhookMax.
func (r *Runner) backoff(attempts int) time.Duration {
	d := r.o.WebhookBase
	for i := 1; i < attempts && d < r.o.WebhookMax; i++ {
		d *= 2
	}
	return min(d, r.o.WebhookMax)
}
