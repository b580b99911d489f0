package bodyread

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestRead checks the bounded read whatever the announced size says:
// right, too small, too large, unknown, and an answer past the cap.
func TestRead(t *testing.T) {
	body := strings.Repeat("x", 1000)
	for _, tc := range []struct {
		name      string
		size, max int64
		want      int // bytes read; max+1 means "over the cap"
	}{
		{"exact", 1000, 4096, 1000},
		{"announced smaller", 10, 4096, 1000},
		{"announced larger", 3000, 4096, 1000},
		{"unknown", -1, 4096, 1000},
		{"over the cap", 1000, 999, 1000},
		{"far over the cap", 10, 100, 101},
		{"unknown over the cap", -1, 100, 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One byte per Read, so every turn of the loop is taken.
			got, err := Read(iotest.OneByteReader(strings.NewReader(body)), tc.size, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want || !bytes.Equal(got, []byte(body[:tc.want])) {
				t.Fatalf("read %d bytes, want %d", len(got), tc.want)
			}
		})
	}
	if _, err := Read(iotest.ErrReader(io.ErrUnexpectedEOF), 10, 100); err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v, want the reader's", err)
	}
}
