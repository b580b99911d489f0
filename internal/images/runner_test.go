package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// fastOptions are runner options with intervals short enough for tests.
func fastOptions(node string, exec Exec) RunnerOptions {
	return RunnerOptions{
		Node: node, Workers: 3, Exec: exec,
		// StaleAfter leaves room for heartbeats delayed by a loaded test
		// machine (-race, three databases at once).
		PollInterval: 20 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond,
		StaleAfter: 2 * time.Second, MaxAttempts: 3,
		Retention: time.Hour, SweepInterval: 50 * time.Millisecond,
		WebhookAttempts: 3, WebhookBase: 10 * time.Millisecond, WebhookMax: 40 * time.Millisecond,
	}
}

// startRunner starts a runner that is stopped (waiting up to a second)
// when the test ends.
func startRunner(t *testing.T, ts *Tasks, o RunnerOptions) *Runner {
	t.Helper()
	r := NewRunner(ts, o)
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	return r
}

// stopHard stops r giving its running tasks no time to finish.
func stopHard(t *testing.T, r *Runner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with a task running = %v, want the deadline error", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func statusIs(t *testing.T, ts *Tasks, id, status string) func() bool {
	return func() bool { return mustGet(t, ts, id).Status == status }
}

func putObject(t *testing.T, s *FileStore, key string) {
	t.Helper()
	if err := s.Put(t.Context(), key, strings.NewReader("img"), 3, "image/png"); err != nil {
		t.Fatal(err)
	}
}

func exists(t *testing.T, s *FileStore, key string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(s.Dir(), filepath.FromSlash(key)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// blockingExec runs until its context ends, reporting each start on
// started and the cause of each end on ended, and then claims success so
// that a test sees whether the runner wrongly records it.
func blockingExec(started chan<- string, ended chan<- error) Exec {
	return func(ctx context.Context, t Task, progress func(int)) Finish {
		progress(10)
		started <- t.ID
		<-ctx.Done()
		ended <- context.Cause(ctx)
		return Finish{Status: StatusSucceeded, Delivered: 1, Stored: true, Outputs: []Output{{Key: t.ID + "/0"}}}
	}
}

func succeed(ctx context.Context, t Task, progress func(int)) Finish {
	progress(50)
	return Finish{Status: StatusSucceeded, Delivered: 1, CostMicros: 5}
}

func TestRunnerRunsEachTaskOnce(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ts := NewTasks(openTaskDB(t, url), nil)
		files := newFileStore(t)
		var (
			mu    sync.Mutex
			runs  = map[string]int{}
			nodes = map[string]bool{}
		)
		exec := func(node string) Exec {
			return func(ctx context.Context, task Task, progress func(int)) Finish {
				mu.Lock()
				runs[task.ID]++
				nodes[node] = true
				mu.Unlock()
				progress(50)
				time.Sleep(5 * time.Millisecond)
				return Finish{Status: StatusSucceeded, Delivered: 1, CostMicros: 5}
			}
		}
		// A poll interval of an hour: only Kick can get the work started.
		var runners []*Runner
		for _, node := range []string{"a", "b"} {
			o := fastOptions(node, exec(node))
			o.PollInterval = time.Hour
			o.Store = files
			// Only claiming is under test: no heartbeat delayed by a loaded
			// machine may get a task requeued and run again.
			o.StaleAfter = time.Minute
			runners = append(runners, startRunner(t, ts, o))
		}
		var ids []string
		for i := range 30 {
			task := asyncTask(1)
			if i%3 == 0 {
				task.Kind = KindEdit
				task.ID = NewTaskID()
				task.Inputs = []string{"in/" + task.ID}
				putObject(t, files, task.Inputs[0])
			}
			ids = append(ids, mustCreate(t, ts, task).ID)
		}
		for _, r := range runners {
			r.Kick()
		}
		for _, id := range ids {
			waitFor(t, "task "+id+" to succeed", statusIs(t, ts, id, StatusSucceeded))
			// The runner drops an edit's inputs just after it records the
			// outcome: wait for that too, rather than race it.
			waitFor(t, "task "+id+"'s inputs to be dropped", func() bool {
				return len(mustGet(t, ts, id).Inputs) == 0
			})
		}
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if runs[id] != 1 {
				t.Errorf("task %s ran %d times", id, runs[id])
			}
			got := mustGet(t, ts, id)
			if got.Progress != 100 || got.CostMicros != 5 || got.Attempts != 1 || (got.Node != "a" && got.Node != "b") {
				t.Errorf("finished task = %+v", got)
			}
			if got.Kind == KindEdit {
				if len(got.Inputs) != 0 || exists(t, files, "in/"+id) {
					t.Errorf("task %s: inputs %v left after it finished", id, got.Inputs)
				}
			}
		}
		t.Logf("nodes that ran tasks: %v", nodes)
	})
}

func TestRunnerCancelWhileRunning(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ts := NewTasks(openTaskDB(t, url), nil)
		files := newFileStore(t)
		started, ended := make(chan string, 1), make(chan error, 1)
		o := fastOptions("a", blockingExec(started, ended))
		o.Store = files
		startRunner(t, ts, o)

		task := asyncTask(3)
		task.ID = NewTaskID()
		task.Kind = KindEdit
		task.Inputs = []string{"in/" + task.ID}
		putObject(t, files, task.Inputs[0])
		mustCreate(t, ts, task)
		if id := <-started; id != task.ID {
			t.Fatalf("started %s, want %s", id, task.ID)
		}
		if _, err := ts.Cancel(t.Context(), task.ID, 3); err != nil {
			t.Fatal(err)
		}
		select {
		case cause := <-ended:
			if !errors.Is(cause, errGone) {
				t.Errorf("Exec's context ended with %v, want errGone", cause)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Exec's context was not cancelled after the task was")
		}
		waitFor(t, "the cancelled task's inputs to be deleted", func() bool { return !exists(t, files, task.Inputs[0]) })
		got := mustGet(t, ts, task.ID)
		if got.Status != StatusCancelled || got.Delivered != 0 || got.Stored || len(got.Outputs) != 0 {
			t.Errorf("cancelled task was overwritten by the late outcome: %+v", got)
		}
	})
}

// TestRunnerCancelledKeepsWhatWasCharged: an outcome that arrives after
// the task was cancelled, but was charged (the images came before the
// cancellation reached the run), stays on the cancelled task with its
// images, so the owner has what they paid for.
func TestRunnerCancelledKeepsWhatWasCharged(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ts := NewTasks(openTaskDB(t, url), nil)
		started, ended := make(chan string, 1), make(chan error, 1)
		charged := func(ctx context.Context, t Task, progress func(int)) Finish {
			f := blockingExec(started, ended)(ctx, t, progress)
			f.CostMicros = 40_000
			return f
		}
		startRunner(t, ts, fastOptions("a", charged))
		task := mustCreate(t, ts, asyncTask(3))
		<-started
		if _, err := ts.Cancel(t.Context(), task.ID, 3); err != nil {
			t.Fatal(err)
		}
		<-ended
		waitFor(t, "the charged outcome to be kept", func() bool { return mustGet(t, ts, task.ID).Stored })
		got := mustGet(t, ts, task.ID)
		if got.Status != StatusCancelled || got.Delivered != 1 || got.CostMicros != 40_000 || len(got.Outputs) != 1 {
			t.Errorf("cancelled task = %+v, want it cancelled with the charged image", got)
		}
	})
}

func TestRunnerStopAndTakeOver(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ts := NewTasks(openTaskDB(t, url), nil)
		started, ended := make(chan string, 1), make(chan error, 1)
		a := startRunner(t, ts, fastOptions("a", blockingExec(started, ended)))
		task := mustCreate(t, ts, asyncTask(1))
		<-started
		stopHard(t, a)
		if cause := <-ended; !errors.Is(cause, errStopped) {
			t.Errorf("Exec's context ended with %v, want errStopped", cause)
		}
		if got := mustGet(t, ts, task.ID); got.Status != StatusRunning || got.Node != "a" {
			t.Fatalf("after a hard stop the task is %s on %q, want left running on a", got.Status, got.Node)
		}

		startRunner(t, ts, fastOptions("b", succeed))
		waitFor(t, "node b to take over the task", statusIs(t, ts, task.ID, StatusSucceeded))
		if got := mustGet(t, ts, task.ID); got.Node != "b" || got.Attempts != 2 || got.CostMicros != 5 {
			t.Errorf("taken-over task = %+v, want run by b on its second attempt", got)
		}
	})
}

func TestRunnerRecoversOwnTasksAtStart(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ts := NewTasks(openTaskDB(t, url), nil)
		started, ended := make(chan string, 1), make(chan error, 1)
		// StaleAfter of an hour: only RecoverNode can bring the task back.
		o := fastOptions("same", blockingExec(started, ended))
		o.StaleAfter = time.Hour
		first := startRunner(t, ts, o)
		task := mustCreate(t, ts, asyncTask(1))
		<-started
		stopHard(t, first)
		<-ended

		o.Exec = succeed
		startRunner(t, ts, o)
		waitFor(t, "the restarted node to rerun its task", statusIs(t, ts, task.ID, StatusSucceeded))
		if got := mustGet(t, ts, task.ID); got.Attempts != 2 {
			t.Errorf("attempts = %d, want 2", got.Attempts)
		}
	})
}

func TestRunnerAttemptsExhausted(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ts := NewTasks(openTaskDB(t, url), nil)
		started, ended := make(chan string, 1), make(chan error, 1)
		o := fastOptions("a", blockingExec(started, ended))
		o.MaxAttempts = 1
		a := startRunner(t, ts, o)
		task := mustCreate(t, ts, asyncTask(1))
		<-started
		stopHard(t, a)
		<-ended

		var reran sync.Mutex
		ran := false
		o = fastOptions("b", func(ctx context.Context, t Task, progress func(int)) Finish {
			reran.Lock()
			ran = true
			reran.Unlock()
			return Finish{Status: StatusSucceeded}
		})
		o.MaxAttempts = 1
		startRunner(t, ts, o)
		waitFor(t, "the task to fail", statusIs(t, ts, task.ID, StatusFailed))
		got := mustGet(t, ts, task.ID)
		if got.ErrorCode != ErrorInterrupted || !strings.Contains(got.ErrorMessage, "stopped") || got.Attempts != 1 {
			t.Errorf("exhausted task = %q %q after %d attempts", got.ErrorCode, got.ErrorMessage, got.Attempts)
		}
		reran.Lock()
		defer reran.Unlock()
		if ran {
			t.Error("a task out of attempts was run again")
		}
	})
}

func TestRunnerSweeper(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		clock := &testClock{}
		ts := NewTasks(openTaskDB(t, url), clock.Now)
		files := newFileStore(t)
		ctx := t.Context()

		finish := func(task *Task, keys ...string) {
			t.Helper()
			var outs []Output
			for _, k := range keys {
				putObject(t, files, k)
				outs = append(outs, Output{Key: k, ContentType: "image/png", Bytes: 3})
			}
			if ok, err := ts.Finish(ctx, task.ID, "web", Finish{Status: StatusSucceeded, Stored: true, Outputs: outs}); err != nil || !ok {
				t.Fatal(ok, err)
			}
		}
		clock.Set(-3 * time.Hour)
		oldDone := mustCreate(t, ts, &Task{UserID: 1, Kind: KindGeneration, Node: "web"})
		finish(oldDone, oldDone.ID+"/0", oldDone.ID+"/1")
		// Running for three hours (still heartbeating, as far as StaleAfter
		// is concerned) with an object already stored.
		oldRunning := mustCreate(t, ts, &Task{UserID: 1, Kind: KindGeneration, Node: "web", Stored: true,
			Outputs: []Output{{Key: "running/0"}}})
		putObject(t, files, "running/0")
		oldCancelled := mustCreate(t, ts, &Task{ID: NewTaskID(), UserID: 1, Kind: KindEdit, Async: true, Inputs: []string{"in/cancelled"}})
		putObject(t, files, "in/cancelled")
		if _, err := ts.Cancel(ctx, oldCancelled.ID, 1); err != nil {
			t.Fatal(err)
		}
		clock.Set(0)
		recent := mustCreate(t, ts, &Task{UserID: 1, Kind: KindGeneration, Node: "web"})
		finish(recent, recent.ID+"/0")

		// An async task queued three hours ago is claimed and held running
		// by the runner: its input must survive the sweeps too.
		clock.Set(-3 * time.Hour)
		queued := mustCreate(t, ts, &Task{ID: NewTaskID(), UserID: 1, Kind: KindEdit, Async: true, Inputs: []string{"in/queued"}})
		putObject(t, files, "in/queued")
		clock.Set(0)

		started, ended := make(chan string, 1), make(chan error, 1)
		o := fastOptions("sweeper", blockingExec(started, ended))
		o.StaleAfter = 24 * time.Hour
		o.Store = files
		// The gallery keeps one of the old task's images.
		o.Kept = func(_ context.Context, keys []string) (map[string]bool, error) {
			return map[string]bool{oldDone.ID + "/1": slices.Contains(keys, oldDone.ID+"/1")}, nil
		}
		startRunner(t, ts, o)
		<-started

		waitFor(t, "old outputs to be swept", func() bool {
			return !mustGet(t, ts, oldDone.ID).Stored && len(mustGet(t, ts, oldCancelled.ID).Inputs) == 0
		})
		for _, k := range []string{oldDone.ID + "/0", "in/cancelled"} {
			if exists(t, files, k) {
				t.Errorf("%s survived the sweep", k)
			}
		}
		if !exists(t, files, oldDone.ID+"/1") {
			t.Error("the sweeper deleted an image the gallery keeps")
		}
		time.Sleep(3 * o.SweepInterval) // a few more sweeps must change nothing else
		for _, k := range []string{recent.ID + "/0", "running/0", "in/queued"} {
			if !exists(t, files, k) {
				t.Errorf("%s was swept, but its task is recent or live", k)
			}
		}
		if got := mustGet(t, ts, oldDone.ID); len(got.Outputs) != 2 {
			t.Errorf("swept task's outputs = %v, want kept as history", got.Outputs)
		}
		if !mustGet(t, ts, recent.ID).Stored || !mustGet(t, ts, oldRunning.ID).Stored {
			t.Error("a recent or running task was marked swept")
		}
		if got := mustGet(t, ts, queued.ID); got.Status != StatusRunning || len(got.Inputs) != 1 {
			t.Errorf("live task = %s with inputs %v", got.Status, got.Inputs)
		}
	})
}

// recordingNotifier fails each task's first fails[id] deliveries (all of
// them when -1), permanently when perm[id], and records every call.
type recordingNotifier struct {
	mu    sync.Mutex
	fails map[string]int
	perm  map[string]bool
	calls map[string][]time.Time
	seen  map[string]Task
}

func (n *recordingNotifier) Notify(ctx context.Context, t Task) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls[t.ID] = append(n.calls[t.ID], time.Now())
	n.seen[t.ID] = t
	if n.perm[t.ID] {
		return Permanent(errors.New("410 gone"))
	}
	if f := n.fails[t.ID]; f < 0 || len(n.calls[t.ID]) <= f {
		return fmt.Errorf("503 from receiver (call %d)", len(n.calls[t.ID]))
	}
	return nil
}

func (n *recordingNotifier) callTimes(id string) []time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]time.Time(nil), n.calls[id]...)
}

func TestRunnerWebhooks(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ts := NewTasks(openTaskDB(t, url), nil)
		ctx := t.Context()
		done := func(hook string) string {
			task := mustCreate(t, ts, &Task{UserID: 1, Kind: KindGeneration, Node: "web", WebhookURL: hook})
			if ok, err := ts.Finish(ctx, task.ID, "web", Finish{Status: StatusSucceeded, Delivered: 1}); err != nil || !ok {
				t.Fatal(ok, err)
			}
			return task.ID
		}
		okLate, always, perm, none := done("https://h/ok"), done("https://h/down"), done("https://h/gone"), done("")
		n := &recordingNotifier{
			fails: map[string]int{okLate: 2, always: -1},
			perm:  map[string]bool{perm: true},
			calls: map[string][]time.Time{},
			seen:  map[string]Task{},
		}
		o := fastOptions("hooks", succeed)
		o.Notifier = n
		startRunner(t, ts, o)

		for _, id := range []string{okLate, always, perm} {
			waitFor(t, "webhook of "+id+" to settle", func() bool { return mustGet(t, ts, id).WebhookState != WebhookPending })
		}
		for _, c := range []struct {
			id, state string
			calls     int
			errSub    string
		}{
			{okLate, WebhookDelivered, 3, ""},
			{always, WebhookFailed, 3, "503 from receiver (call 3)"},
			{perm, WebhookFailed, 1, "410 gone"},
		} {
			got := mustGet(t, ts, c.id)
			calls := n.callTimes(c.id)
			if got.WebhookState != c.state || got.WebhookAttempts != c.calls || len(calls) != c.calls ||
				!strings.Contains(got.WebhookError, c.errSub) || (c.errSub == "" && got.WebhookError != "") {
				t.Errorf("webhook %s: %q after %d attempts (%d calls), error %q; want %q after %d, error %q",
					c.id, got.WebhookState, got.WebhookAttempts, len(calls), got.WebhookError, c.state, c.calls, c.errSub)
			}
			// Waits of at least WebhookBase, then doubled.
			for i := 1; i < len(calls); i++ {
				if gap, min := calls[i].Sub(calls[i-1]), o.WebhookBase<<(i-1); gap < min {
					t.Errorf("webhook %s: retry %d came %v after the last, want at least %v", c.id, i, gap, min)
				}
			}
		}
		time.Sleep(3 * o.PollInterval)
		if calls := n.callTimes(always); len(calls) != 3 {
			t.Errorf("a failed webhook was retried: %d calls", len(calls))
		}
		if calls := n.callTimes(none); len(calls) != 0 {
			t.Errorf("a task without a webhook was notified %d times", len(calls))
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if s := n.seen[okLate]; s.Status != StatusSucceeded || s.WebhookURL != "https://h/ok" {
			t.Errorf("notified with %+v, want the finished task", s)
		}
	})
}

func TestBackoff(t *testing.T) {
	r := NewRunner(nil, RunnerOptions{WebhookBase: time.Second, WebhookMax: 5 * time.Second})
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := r.backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := r.backoff(200); got != 5*time.Second {
		t.Errorf("backoff(200) = %v, want the cap", got)
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("403")
	err := fmt.Errorf("deliver: %w", Permanent(base))
	var p *PermanentError
	if !errors.As(err, &p) || !errors.Is(err, base) {
		t.Errorf("Permanent(%v) wrapped is not found by errors.As / errors.Is", base)
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
}
