package api

import (
	"testing"
	"time"
)

// Generated request ids are valid ones, distinct, and sort by the time they
// were made (the usage log's request_id index relies on it).
func TestNewRequestIDSortsByTime(t *testing.T) {
	prev := newRequestID()
	seen := map[string]bool{prev: true}
	for i := range 2000 {
		if i%100 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
		id := newRequestID()
		if len(id) != 24 || !validRequestID(id) {
			t.Fatalf("request id %q: want 24 characters a client could send", id)
		}
		if seen[id] {
			t.Fatalf("request id %q made twice", id)
		}
		seen[id] = true
		if i%100 == 0 && id <= prev {
			t.Fatalf("request id %q made after %q sorts before it", id, prev)
		}
		prev = id
	}
}
