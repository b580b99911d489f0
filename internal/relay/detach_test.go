package relay

import (
	"context"
	"testing"
	"time"
)

// TestDetach: the settle's context outlives the client's and still carries
// the request's values.
func TestDetach(t *testing.T) {
	type k struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), k{}, "v"))
	d := detach(parent)
	cancel()
	if d.Err() != nil || d.Done() != nil || d.Value(k{}) != "v" {
		t.Fatalf("detached: err %v, value %v", d.Err(), d.Value(k{}))
	}
	if _, ok := d.Deadline(); ok {
		t.Fatal("detached context has a deadline")
	}
	child, stop := context.WithTimeout(d, time.Hour)
	defer stop()
	if child.Err() != nil || context.Cause(child) != nil {
		t.Fatalf("child of a detached context: %v %v", child.Err(), context.Cause(child))
	}
	if n := testing.AllocsPerRun(100, func() { _ = d.Value(k{}) }); n != 0 {
		t.Fatalf("Value allocates %v times", n)
	}
}
