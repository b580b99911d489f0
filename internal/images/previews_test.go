package images

import (
	"bytes"
	"testing"
	"time"
)

// Previews keep the latest partial of each image, bounded in bytes and
// age, oldest out first.
func TestPreviewsAreBoundedAndSuperseded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ps := NewPreviews(100, time.Minute, func() time.Time { return now })
	data := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

	ps.Put("a", Preview{Index: 0, Partial: 0, Data: data(30, 1)})
	ps.Put("a", Preview{Index: 0, Partial: 1, Data: data(40, 2)})
	ps.Put("a", Preview{Index: 0, Partial: 0, Data: data(10, 3)}) // late and older: ignored
	if got := ps.Get("a"); len(got) != 1 || got[0].Partial != 1 || got[0].Data[0] != 2 || ps.Bytes() != 40 {
		t.Fatalf("superseded: %+v, %d bytes", got, ps.Bytes())
	}
	now = now.Add(time.Second)
	ps.Put("b", Preview{Index: 1, Partial: 0, Data: data(50, 4)})
	now = now.Add(time.Second)
	ps.Put("c", Preview{Index: 0, Partial: 0, Data: data(30, 5)}) // 120 > 100: a's goes
	if len(ps.Get("a")) != 0 || len(ps.Get("b")) != 1 || len(ps.Get("c")) != 1 || ps.Bytes() != 80 {
		t.Fatalf("after the bound: a %v b %v c %v, %d bytes", ps.Get("a"), ps.Get("b"), ps.Get("c"), ps.Bytes())
	}
	ps.Put("d", Preview{Index: 0, Data: data(101, 6)}) // larger than the bound
	if len(ps.Get("d")) != 0 {
		t.Fatal("an oversized preview was kept")
	}
	now = now.Add(2 * time.Minute)
	if len(ps.Get("b")) != 0 {
		t.Fatal("an expired preview was returned")
	}
	ps.Put("e", Preview{Index: 2, Data: data(5, 7)})
	if ps.Bytes() != 5 {
		t.Fatalf("expired previews still counted: %d bytes", ps.Bytes())
	}
	ps.Drop("e")
	if ps.Bytes() != 0 || len(ps.Get("e")) != 0 {
		t.Fatalf("after drop: %d bytes", ps.Bytes())
	}
}
