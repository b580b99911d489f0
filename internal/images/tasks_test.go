package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

func openTaskDB(t *testing.T, url string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// testClock is time.Now shifted by an offset a test can change, so tasks
// can be made to finish in the past.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) Set(off time.Duration) {
	c.mu.Lock()
	c.off = off
	c.mu.Unlock()
}

func asyncTask(user int64) *Task {
	return &Task{UserID: user, KeyID: 7, Kind: KindGeneration, Model: "gpt-image-1", Async: true, N: 1,
		ResponseFormat: "url", Params: json.RawMessage(`{"prompt":"a fox"}`)}
}

func mustCreate(t *testing.T, ts *Tasks, task *Task) *Task {
	t.Helper()
	if err := ts.Create(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	return task
}

func mustGet(t *testing.T, ts *Tasks, id string) Task {
	t.Helper()
	got, err := ts.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestNewTaskID(t *testing.T) {
	re := regexp.MustCompile(`^imgt_[0-9A-Za-z]{22}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewTaskID()
		if !re.MatchString(id) || ValidTask(id) != nil {
			t.Fatalf("NewTaskID() = %q", id)
		}
		if seen[id] {
			t.Fatalf("NewTaskID repeated %q", id)
		}
		seen[id] = true
	}
}

func TestTasks(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		db := openTaskDB(t, url)
		clock := &testClock{}
		ts := NewTasks(db, clock.Now)
		ctx := t.Context()

		t.Run("round trip", func(t *testing.T) {
			big := make([]byte, 0, 120_000) // an edit's params may pass MySQL's TEXT
			big = append(big, `{"image":"`...)
			for len(big) < 119_990 {
				big = append(big, 'A')
			}
			big = append(big, `"}`...)
			in := &Task{ID: "imgt_roundtrip", UserID: 1, KeyID: 2, RequestID: "req-1", Kind: KindEdit, Model: "m",
				Async: true, N: 3, ResponseFormat: "b64_json", Params: big, Inputs: []string{"in/a", "in/b"},
				WebhookURL: "https://example.com/hook", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))}
			mustCreate(t, ts, in)
			got := mustGet(t, ts, in.ID)
			want := Task{ID: in.ID, UserID: 1, KeyID: 2, RequestID: "req-1", Kind: KindEdit, Model: "m", Async: true,
				Status: StatusQueued, N: 3, ResponseFormat: "b64_json", Params: big, Outputs: []Output{},
				Inputs: []string{"in/a", "in/b"}, WebhookURL: "https://example.com/hook",
				CreatedAt: time.Date(2026, 1, 2, 2, 4, 5, 123456000, time.UTC)}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Get =\n%+v\nwant\n%+v", got, want)
			}
			if !in.CreatedAt.Equal(want.CreatedAt) {
				t.Errorf("Create left CreatedAt %v, want the stored %v", in.CreatedAt, want.CreatedAt)
			}
			if _, err := ts.GetOwned(ctx, in.ID, 2); !errors.Is(err, ErrTaskNotFound) {
				t.Errorf("GetOwned by another user: %v, want ErrTaskNotFound", err)
			}
			if _, err := ts.GetOwned(ctx, in.ID, 1); err != nil {
				t.Errorf("GetOwned by the owner: %v", err)
			}
			if _, err := ts.Get(ctx, "imgt_missing"); !errors.Is(err, ErrTaskNotFound) {
				t.Errorf("Get missing: %v, want ErrTaskNotFound", err)
			}
		})

		t.Run("sync task runs on its node", func(t *testing.T) {
			task := &Task{UserID: 1, KeyID: 2, Kind: KindGeneration, Node: "n1"}
			mustCreate(t, ts, task)
			got := mustGet(t, ts, task.ID)
			if got.Status != StatusRunning || got.Node != "n1" || got.Attempts != 1 || got.StartedAt.IsZero() || got.HeartbeatAt.IsZero() {
				t.Errorf("sync task = %+v, want running on n1 with a start and a heartbeat", got)
			}
			if err := ts.Create(ctx, &Task{UserID: 1, Kind: KindGeneration}); err == nil {
				t.Error("Create accepted a sync task without a node")
			}
			if err := ts.Create(ctx, &Task{UserID: 1, Kind: "variation", Async: true}); err == nil {
				t.Error("Create accepted an unknown kind")
			}
			if err := ts.Create(ctx, &Task{ID: "imgt_roundtrip", UserID: 1, Kind: KindGeneration, Async: true}); err == nil {
				t.Error("Create accepted a duplicate id")
			}
		})

		t.Run("finish", func(t *testing.T) {
			task := mustCreate(t, ts, &Task{UserID: 1, Kind: KindGeneration, Node: "n1",
				WebhookURL: "https://example.com/h"})
			if err := ts.Progress(ctx, task.ID, 150); err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, ts, task.ID); got.Progress != 100 {
				t.Errorf("progress %d after 150, want clamped to 100", got.Progress)
			}
			r := Finish{Status: StatusSucceeded, Delivered: 2, CostMicros: 40_000, Stored: true,
				Outputs: []Output{{Key: task.ID + "/0", ContentType: "image/png", Bytes: 10}, {Key: task.ID + "/1", ContentType: "image/png", Bytes: 11}}}
			if ok, err := ts.Finish(ctx, task.ID, "n2", r); err != nil || ok {
				t.Errorf("Finish by another node = %v, %v; want false", ok, err)
			}
			if ok, err := ts.Finish(ctx, task.ID, "n1", r); err != nil || !ok {
				t.Fatalf("Finish = %v, %v; want true", ok, err)
			}
			got := mustGet(t, ts, task.ID)
			if got.Status != StatusSucceeded || got.Delivered != 2 || got.CostMicros != 40_000 || !got.Stored ||
				!reflect.DeepEqual(got.Outputs, r.Outputs) || got.FinishedAt.IsZero() {
				t.Errorf("finished task = %+v", got)
			}
			if got.WebhookState != WebhookPending || got.WebhookNextAt.IsZero() {
				t.Errorf("webhook %q at %v, want pending now", got.WebhookState, got.WebhookNextAt)
			}
			if ok, err := ts.Finish(ctx, task.ID, "n1", Finish{Status: StatusFailed}); err != nil || ok {
				t.Errorf("second Finish = %v, %v; want false", ok, err)
			}
			if _, err := ts.Finish(ctx, task.ID, "n1", Finish{Status: StatusCancelled}); err == nil {
				t.Error("Finish accepted status cancelled")
			}
			noHook := mustCreate(t, ts, &Task{UserID: 1, Kind: KindGeneration, Node: "n1"})
			if ok, err := ts.Finish(ctx, noHook.ID, "n1", Finish{Status: StatusFailed, ErrorCode: "upstream_error",
				ErrorMessage: string(make([]byte, 3000))}); err != nil || !ok {
				t.Fatalf("Finish = %v, %v", ok, err)
			}
			if got := mustGet(t, ts, noHook.ID); got.WebhookState != "" || !got.WebhookNextAt.IsZero() || got.Status != StatusFailed {
				t.Errorf("task without webhook finished as %+v", got)
			}
		})

		t.Run("cancel", func(t *testing.T) {
			queued := mustCreate(t, ts, asyncTask(5))
			if _, err := ts.Cancel(ctx, queued.ID, 6); !errors.Is(err, ErrTaskNotFound) {
				t.Errorf("Cancel by another user: %v, want ErrTaskNotFound", err)
			}
			if got := mustGet(t, ts, queued.ID); got.Status != StatusQueued {
				t.Errorf("another user's Cancel changed the task to %s", got.Status)
			}
			got, err := ts.Cancel(ctx, queued.ID, 5)
			if err != nil || got.Status != StatusCancelled || got.FinishedAt.IsZero() {
				t.Errorf("Cancel = %+v, %v; want cancelled", got, err)
			}
			got, err = ts.Cancel(ctx, queued.ID, 5)
			if !errors.Is(err, ErrTaskFinished) || got.Status != StatusCancelled {
				t.Errorf("second Cancel = %s, %v; want the task with ErrTaskFinished", got.Status, err)
			}
			if _, err := ts.Cancel(ctx, "imgt_nope", 5); !errors.Is(err, ErrTaskNotFound) {
				t.Errorf("Cancel missing: %v", err)
			}
		})

		t.Run("list", func(t *testing.T) {
			var ids []string
			base := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
			for i := range 5 {
				task := asyncTask(9)
				// Two share a creation time: paging must still see each once.
				task.CreatedAt = base.Add(time.Duration(min(i, 3)) * time.Second)
				ids = append(ids, mustCreate(t, ts, task).ID)
			}
			mustCreate(t, ts, asyncTask(10))
			var got []string
			before := ""
			for {
				page, err := ts.List(ctx, 9, 2, before)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				for _, p := range page {
					if p.UserID != 9 || p.Params != nil {
						t.Errorf("List returned %+v", p)
					}
					got = append(got, p.ID)
				}
				before = page[len(page)-1].ID
			}
			if len(got) != 5 || got[4] != ids[0] || got[3] != ids[1] || got[2] != ids[2] {
				t.Errorf("paged List = %v, want the 5 of %v newest first", got, ids)
			}
			seen := map[string]bool{}
			for _, id := range got {
				seen[id] = true
			}
			if len(seen) != 5 {
				t.Errorf("paged List repeated tasks: %v", got)
			}
			if _, err := ts.List(ctx, 10, 2, ids[0]); !errors.Is(err, ErrTaskNotFound) {
				t.Errorf("List before another user's task: %v, want ErrTaskNotFound", err)
			}
		})
	})
}

func TestClaim(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		db := openTaskDB(t, url)
		ts := NewTasks(db, nil)
		ctx := t.Context()

		var want []string
		base := time.Now().Add(-time.Hour)
		for i := range 40 {
			task := asyncTask(1)
			task.CreatedAt = base.Add(time.Duration(i) * time.Millisecond)
			want = append(want, mustCreate(t, ts, task).ID)
		}
		first, ok, err := ts.Claim(ctx, "solo")
		if err != nil || !ok || first.ID != want[0] {
			t.Fatalf("Claim = %s, %v, %v; want the oldest %s", first.ID, ok, err, want[0])
		}
		if first.Status != StatusRunning || first.Node != "solo" || first.Attempts != 1 || first.HeartbeatAt.IsZero() {
			t.Errorf("claimed task = %+v", first)
		}

		var (
			mu     sync.Mutex
			counts = map[string]int{first.ID: 1}
			wg     sync.WaitGroup
		)
		for g := range 8 {
			wg.Go(func() {
				for {
					task, ok, err := ts.Claim(ctx, fmt.Sprintf("node-%d", g))
					if err != nil {
						t.Error(err)
						return
					}
					if !ok {
						return
					}
					mu.Lock()
					counts[task.ID]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, id := range want {
			if counts[id] != 1 {
				t.Errorf("task %s claimed %d times", id, counts[id])
			}
		}
		if _, ok, err := ts.Claim(ctx, "late"); ok || err != nil {
			t.Errorf("Claim on an empty queue = %v, %v", ok, err)
		}
	})
}

func TestHeartbeatAndRecovery(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		db := openTaskDB(t, url)
		clock := &testClock{}
		ts := NewTasks(db, clock.Now)
		ctx := t.Context()

		claim := func(node string) Task {
			t.Helper()
			task, ok, err := ts.Claim(ctx, node)
			if err != nil || !ok {
				t.Fatalf("Claim = %v, %v", ok, err)
			}
			return task
		}
		a := mustCreate(t, ts, asyncTask(1))
		b := mustCreate(t, ts, asyncTask(1))
		claim("n1")
		claim("n1")
		if _, err := ts.Cancel(ctx, b.ID, 1); err != nil {
			t.Fatal(err)
		}
		clock.Set(time.Minute)
		gone, err := ts.Heartbeat(ctx, "n1", []string{a.ID, b.ID, "imgt_unknown"})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gone, []string{b.ID, "imgt_unknown"}) {
			t.Errorf("Heartbeat gone = %v, want the cancelled and the unknown task", gone)
		}
		if got := mustGet(t, ts, a.ID); got.HeartbeatAt.Before(time.Now().Add(50 * time.Second)) {
			t.Errorf("heartbeat_at %v was not bumped to the clock", got.HeartbeatAt)
		}
		if gone, err := ts.Heartbeat(ctx, "n2", []string{a.ID}); err != nil || len(gone) != 1 {
			t.Errorf("Heartbeat from the wrong node = %v, %v; want the task gone", gone, err)
		}

		// Requeue: a's heartbeat is a minute ahead of real time; a cutoff
		// before it leaves it alone, one after it requeues it.
		if n, f, err := ts.Requeue(ctx, time.Now(), 2); err != nil || n+f != 0 {
			t.Errorf("Requeue of a fresh task = %d, %d, %v", n, f, err)
		}
		syncTask := mustCreate(t, ts, &Task{UserID: 1, Kind: KindGeneration, Node: "n1"}) // heartbeat at clock
		n, f, err := ts.Requeue(ctx, time.Now().Add(2*time.Minute), 2)
		if err != nil || n != 1 || f != 1 {
			t.Fatalf("Requeue = %d, %d, %v; want a requeued and the sync task failed", n, f, err)
		}
		if got := mustGet(t, ts, a.ID); got.Status != StatusQueued || got.Attempts != 1 {
			t.Errorf("requeued task = %s after %d attempts", got.Status, got.Attempts)
		}
		if got := mustGet(t, ts, syncTask.ID); got.Status != StatusFailed || got.ErrorCode != ErrorInterrupted {
			t.Errorf("stale sync task = %s %q, want failed interrupted", got.Status, got.ErrorCode)
		}

		// The second start reaches maxAttempts: the next recovery fails it.
		if got := claim("n2"); got.ID != a.ID || got.Attempts != 2 {
			t.Fatalf("reclaimed %s with %d attempts", got.ID, got.Attempts)
		}
		other := mustCreate(t, ts, asyncTask(1))
		claim("n3")
		n, f, err = ts.RecoverNode(ctx, "n2", 2)
		if err != nil || n != 0 || f != 1 {
			t.Fatalf("RecoverNode = %d, %d, %v; want one failed", n, f, err)
		}
		got := mustGet(t, ts, a.ID)
		if got.Status != StatusFailed || got.ErrorCode != ErrorInterrupted || got.ErrorMessage == "" || got.FinishedAt.IsZero() {
			t.Errorf("exhausted task = %+v, want failed interrupted", got)
		}
		if got := mustGet(t, ts, other.ID); got.Status != StatusRunning || got.Node != "n3" {
			t.Errorf("RecoverNode(n2) touched n3's task: %s on %s", got.Status, got.Node)
		}
		if n, _, err := ts.RecoverNode(ctx, "n3", 2); err != nil || n != 1 {
			t.Errorf("RecoverNode(n3) = %d, %v; want it requeued", n, err)
		}
	})
}

func TestSweepCandidatesAndWebhooks(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		db := openTaskDB(t, url)
		clock := &testClock{}
		ts := NewTasks(db, clock.Now)
		ctx := t.Context()

		clock.Set(-3 * time.Hour)
		oldDone := mustCreate(t, ts, &Task{UserID: 1, Kind: KindGeneration, Node: "n", WebhookURL: "https://h/1"})
		if ok, err := ts.Finish(ctx, oldDone.ID, "n", Finish{Status: StatusSucceeded, Stored: true,
			Outputs: []Output{{Key: oldDone.ID + "/0"}}}); err != nil || !ok {
			t.Fatal(ok, err)
		}
		oldRunning := mustCreate(t, ts, &Task{UserID: 1, Kind: KindGeneration, Node: "n", Stored: true})
		oldQueued := mustCreate(t, ts, asyncTask(1))
		oldQueued2 := mustCreate(t, ts, &Task{UserID: 1, Kind: KindEdit, Async: true, Inputs: []string{"in/x"}})
		if _, err := ts.Cancel(ctx, oldQueued2.ID, 1); err != nil {
			t.Fatal(err)
		}
		clock.Set(0)
		recent := mustCreate(t, ts, &Task{UserID: 1, Kind: KindGeneration, Node: "n"})
		if ok, err := ts.Finish(ctx, recent.ID, "n", Finish{Status: StatusSucceeded, Stored: true}); err != nil || !ok {
			t.Fatal(ok, err)
		}

		cands, err := ts.SweepCandidates(ctx, time.Now().Add(-time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range cands {
			ids = append(ids, c.ID)
		}
		if !reflect.DeepEqual(ids, []string{oldDone.ID, oldQueued2.ID}) {
			t.Errorf("SweepCandidates = %v, want old finished %s and cancelled-with-inputs %s (not running %s, queued %s, recent %s)",
				ids, oldDone.ID, oldQueued2.ID, oldRunning.ID, oldQueued.ID, recent.ID)
		}
		for _, id := range []string{oldDone.ID, oldQueued2.ID, oldRunning.ID} {
			if err := ts.MarkSwept(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		if got := mustGet(t, ts, oldDone.ID); got.Stored || len(got.Outputs) != 1 {
			t.Errorf("swept task: stored %v, outputs %v; want unstored with outputs kept", got.Stored, got.Outputs)
		}
		if got := mustGet(t, ts, oldRunning.ID); !got.Stored {
			t.Error("MarkSwept changed a running task")
		}
		if cands, err := ts.SweepCandidates(ctx, time.Now().Add(-time.Hour), 10); err != nil || len(cands) != 0 {
			t.Errorf("SweepCandidates after sweeping = %d, %v", len(cands), err)
		}

		// oldDone's webhook has been due for three hours; the lease hides it
		// from a second caller.
		now := time.Now()
		due, err := ts.DueWebhooks(ctx, now, 10)
		if err != nil || len(due) != 1 || due[0].ID != oldDone.ID {
			t.Fatalf("DueWebhooks = %v, %v", due, err)
		}
		if again, err := ts.DueWebhooks(ctx, now, 10); err != nil || len(again) != 0 {
			t.Errorf("leased webhook due again: %v, %v", again, err)
		}
		if again, err := ts.DueWebhooks(ctx, now.Add(WebhookLease+time.Second), 10); err != nil || len(again) != 1 {
			t.Errorf("webhook not due after its lease ran out: %v, %v", again, err)
		}
		if err := ts.WebhookDone(ctx, oldDone.ID, WebhookFailed, 3, time.Time{}, "boom"); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, ts, oldDone.ID)
		if got.WebhookState != WebhookFailed || got.WebhookAttempts != 3 || got.WebhookError != "boom" || !got.WebhookNextAt.IsZero() {
			t.Errorf("webhook after WebhookDone = %q %d %q %v", got.WebhookState, got.WebhookAttempts, got.WebhookError, got.WebhookNextAt)
		}
		if err := ts.WebhookDone(ctx, oldDone.ID, WebhookPending, 1, time.Time{}, ""); err == nil {
			t.Error("WebhookDone accepted pending without a next time")
		}
	})
}
