package images

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// The console lists every user's tasks with filters, page by page, and an
// admin cancels anyone's.
func TestFindAndAdminCancel(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		ts := NewTasks(openTaskDB(t, url), nil)
		base := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
		for i := range 23 {
			task := asyncTask(int64(1 + i%2))
			// Pairs share a created_at: the id breaks the tie.
			task.CreatedAt = base.Add(time.Duration(i/2) * time.Second)
			if i%3 == 0 {
				task.Model = "dall-e-3"
			}
			mustCreate(t, ts, task)
		}
		var all []Task
		f := TaskFilter{Limit: 4}
		for {
			page, err := ts.Find(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if len(page) < f.Limit {
				break
			}
			f.Before = page[len(page)-1].ID
		}
		seen := map[string]bool{}
		for i, task := range all {
			if seen[task.ID] || task.Params != nil {
				t.Fatalf("task %s listed twice or with params", task.ID)
			}
			seen[task.ID] = true
			if i > 0 && (task.CreatedAt.After(all[i-1].CreatedAt) || task.CreatedAt.Equal(all[i-1].CreatedAt) && task.ID > all[i-1].ID) {
				t.Fatalf("not newest first at %d", i)
			}
		}
		if len(all) != 23 {
			t.Fatalf("paged %d tasks, want 23", len(all))
		}
		count := func(f TaskFilter) int {
			f.Limit = 1000
			got, err := ts.Find(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			return len(got)
		}
		if n := count(TaskFilter{UserID: 2}); n != 11 {
			t.Errorf("user 2: %d tasks", n)
		}
		if n := count(TaskFilter{Model: "dall-e-3", UserID: 1}); n != 4 {
			t.Errorf("dall-e-3 of user 1: %d tasks", n)
		}
		got, err := ts.Cancel(ctx, all[0].ID, 0)
		if err != nil || got.Status != StatusCancelled {
			t.Fatalf("admin cancel: %+v %v", got, err)
		}
		if n := count(TaskFilter{Status: StatusCancelled}); n != 1 {
			t.Errorf("cancelled: %d tasks", n)
		}
		if n := count(TaskFilter{Status: StatusQueued}); n != 22 {
			t.Errorf("queued: %d tasks", n)
		}
		if _, err := ts.Find(ctx, TaskFilter{Before: "imgt_nope"}); !errors.Is(err, ErrTaskNotFound) {
			t.Errorf("unknown cursor: %v", err)
		}
		if _, err := ts.Cancel(ctx, fmt.Sprint("imgt_", "missing"), 0); !errors.Is(err, ErrTaskNotFound) {
			t.Errorf("admin cancel of a missing task: %v", err)
		}
	})
}
