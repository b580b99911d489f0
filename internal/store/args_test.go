package store

import (
	"testing"
	"time"
)

// A repeated value reuses the previous row's box; any other value is its own.
func TestArgBoxes(t *testing.T) {
	b := NewArgBoxes(3)
	now := time.Unix(1_800_000_000, 5)
	buf := make([]any, 0, 3)
	row := func(s string, n int64, tm time.Time) []any {
		return append(buf[:0:0], b.String(0, s), b.Int64(1, n), b.Time(2, tm))
	}
	first := row("gpt", 123456, now)
	if n := testing.AllocsPerRun(100, func() { buf = append(buf[:0], b.String(0, "gpt"), b.Int64(1, 123456), b.Time(2, now)) }); n != 0 {
		t.Fatalf("repeated row: %v allocations", n)
	}
	next := row("gpt-4o", 654321, now.Add(1))
	want := []any{"gpt-4o", int64(654321), now.Add(1)}
	for i := range next {
		if next[i] != want[i] {
			t.Fatalf("column %d: %v, want %v", i, next[i], want[i])
		}
	}
	if first[0] != "gpt" || first[1] != int64(123456) || first[2] != now {
		t.Fatalf("first row changed: %v", first)
	}
	if v := b.Int64(0, 7); v != int64(7) { // another type in a column
		t.Fatalf("int64 after string: %v", v)
	}
}
