package billing

import (
	"bytes"
	"testing"
)

// FuzzParseRecord: no journal line makes parseRecord panic, and a line it
// accepts is a record that appendRecord writes back to a line read as the
// same record. A journal that survived a crash may hold any bytes at its
// tail; what the drain replays must be what was written.
func FuzzParseRecord(f *testing.F) {
	for _, seed := range []string{
		"R ch-1 7 3 1500 req-abc -",
		"R ch-2 7 0 0 - c",
		"P ch-2",
		"P ch-2 x",
		"P",
		"S ch-1 7 3 1500 1200",
		"S ch-3 9 0 0 0",
		`U {"charge_id":"ch-1","user_id":7,"model":"gpt-4o-mini","status":200}`,
		"U ",
		"u 1 1796605323 0 7 3 1 1 200 0 12 40 0 0 0 1500 180 950 4:ch-1 5:req-1 1:m 1:m 2:oa 0: 9:127.0.0.1 0:",
		"u 2 x",
		"R ch-1 +7 -3 00 r x",
		"S ch-1 7 3 -1 0",
		"R ch\u00a01 7 3 1 r -",
		"X a b",
		"R",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.IndexByte(line, '\n') >= 0 {
			return // parseRecord is handed one line, its newline cut
		}
		rec, err := parseRecord(line)
		if err != nil {
			return
		}
		out := appendRecord(nil, &rec)
		if len(out) == 0 || out[len(out)-1] != '\n' || bytes.IndexByte(out[:len(out)-1], '\n') >= 0 {
			t.Fatalf("appendRecord(%+v) = %q: want one line ending in a newline", rec, out)
		}
		back, err := parseRecord(out[:len(out)-1])
		if err != nil {
			t.Fatalf("line %q parsed as %+v, written as %q, which does not parse: %v", line, rec, out, err)
		}
		if !sameRecord(rec, back) {
			t.Fatalf("line %q parsed as %+v, written as %q, read back as %+v", line, rec, out, back)
		}
	})
}

func sameRecord(a, b record) bool {
	return a.kind == b.kind && a.charge == b.charge && a.user == b.user && a.key == b.key &&
		a.amount == b.amount && a.released == b.released && a.charged == b.charged &&
		a.request == b.request && a.carried == b.carried && bytes.Equal(a.usage, b.usage) && a.row == b.row
}

// Reserve and settle lines read from a journal file's text cost no
// allocation: their strings are the text's.
func TestParseLineAllocs(t *testing.T) {
	for _, line := range []string{"R c0123456789abcdefghijklmnopq 7 3 1500 req-abc -", "S c0123456789abcdefghijklmnopq 7 3 1500 1200"} {
		if n := testing.AllocsPerRun(100, func() {
			if _, err := parseLine(line); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("parseLine(%q): %v allocations", line, n)
		}
	}
}
