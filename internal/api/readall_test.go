package api

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadAll checks that the announced size only sizes the buffer: a
// body shorter or longer than announced is read whole, and a read error
// comes back.
func TestReadAll(t *testing.T) {
	body := strings.Repeat("x", 3000)
	for _, size := range []int64{-1, 0, 1, 100, 2999, 3000, 3001, 10000, sizeHintCap + 1} {
		got, err := readAll(iotest.OneByteReader(strings.NewReader(body)), size)
		if err != nil || string(got) != body {
			t.Fatalf("size %d: read %d bytes, %v; want %d", size, len(got), err, len(body))
		}
	}
	if _, err := readAll(iotest.ErrReader(io.ErrUnexpectedEOF), 10); err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v, want the reader's", err)
	}
}
