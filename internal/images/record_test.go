package images

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

type fakeRecorder struct {
	mu   sync.Mutex
	made []Made
}

func (f *fakeRecorder) Record(_ context.Context, m Made) {
	f.mu.Lock()
	f.made = append(f.made, m)
	f.mu.Unlock()
}

// TestTasksRecorder: an outcome recorded with stored outputs and a Made
// reaches the gallery once, with the task id and outputs; one dropped
// (the task no longer running) or without stored outputs does not.
func TestTasksRecorder(t *testing.T) {
	ts := NewTasks(openTaskDB(t, "sqlite://"+filepath.Join(t.TempDir(), "sy.db")), nil)
	rec := &fakeRecorder{}
	ts.SetRecorder(rec)
	ctx := t.Context()
	made := &Made{UserID: 4, Model: "gpt-image-1", Prompt: "a fox", Size: "1024x1024"}
	outs := []Output{{Key: "x/0", ContentType: "image/png", Bytes: 3}}

	a := mustCreate(t, ts, &Task{UserID: 4, Kind: KindGeneration, Node: "web"})
	if ok, err := ts.Finish(ctx, a.ID, "web", Finish{Status: StatusSucceeded, Stored: true, Outputs: outs, Made: made}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// Again: no longer running, dropped, not recorded.
	if ok, _ := ts.Finish(ctx, a.ID, "web", Finish{Status: StatusSucceeded, Stored: true, Outputs: outs, Made: made}); ok {
		t.Fatal("finished twice")
	}
	b := mustCreate(t, ts, &Task{UserID: 4, Kind: KindGeneration, Node: "web"})
	if ok, err := ts.Finish(ctx, b.ID, "web", Finish{Status: StatusSucceeded, Made: made}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if len(rec.made) != 1 || rec.made[0].TaskID != a.ID || rec.made[0].Prompt != "a fox" || len(rec.made[0].Outputs) != 1 ||
		rec.made[0].At.IsZero() {
		t.Fatalf("recorded %+v", rec.made)
	}
}
