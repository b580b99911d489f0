package ids

import (
	"bytes"
	"encoding/base32"
	"sort"
	"testing"
	"time"
)

func TestTimedSortsByTime(t *testing.T) {
	lower := base32.NewEncoding(Lower).WithPadding(base32.NoPadding)
	upper := base32.NewEncoding(Upper).WithPadding(base32.NoPadding)
	start := time.UnixMilli(1_765_000_000_000)
	var raw [][]byte
	var enc []string
	for i := range 200 {
		b := make([]byte, 16)
		TimedAt(b, start.Add(time.Duration(i)*time.Millisecond))
		raw = append(raw, b)
		enc = append(enc, lower.EncodeToString(b), upper.EncodeToString(b))
	}
	for i := 1; i < len(raw); i++ {
		if bytes.Compare(raw[i-1], raw[i]) >= 0 {
			t.Fatalf("id %d does not sort after id %d: %x, %x", i, i-1, raw[i], raw[i-1])
		}
	}
	for i := 2; i < len(enc); i += 2 {
		if enc[i-2] >= enc[i] || enc[i-1] >= enc[i+1] {
			t.Fatalf("encoded id %d does not sort after the one before: %q %q / %q %q", i/2, enc[i-2], enc[i], enc[i-1], enc[i+1])
		}
	}
	// Within one millisecond the ids are random, not equal.
	a, b := make([]byte, 16), make([]byte, 16)
	TimedAt(a, start)
	TimedAt(b, start)
	if !bytes.Equal(a[:TimeBytes], b[:TimeBytes]) || bytes.Equal(a[TimeBytes:], b[TimeBytes:]) {
		t.Fatalf("same millisecond: want the same time bytes and different random ones: %x %x", a, b)
	}
	if got := int64(a[0])<<40 | int64(a[1])<<32 | int64(a[2])<<24 | int64(a[3])<<16 | int64(a[4])<<8 | int64(a[5]); got != start.UnixMilli() {
		t.Fatalf("time bytes %d, want %d", got, start.UnixMilli())
	}
}

func TestAlphabetsAreInASCIIOrder(t *testing.T) {
	for _, a := range []string{Lower, Upper} {
		b := []byte(a)
		if len(b) != 32 || !sort.SliceIsSorted(b, func(i, j int) bool { return b[i] < b[j] }) {
			t.Errorf("%q is not 32 characters in ASCII order", a)
		}
	}
}
