package usage

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func compactSample() Row {
	return Row{
		ChargeID: "cABC", RequestID: "req-1", Time: time.Date(2026, 12, 7, 1, 2, 3, 456789012, time.UTC),
		UserID: 7, KeyID: 3, Model: "gpt-4o-mini", ServedModel: "gpt-4o-mini-2024-07-18", Channel: "oa",
		CredentialID: 1 << 40, Attempts: 2, Stream: true, Status: 502, Error: "upstream said \"no\"\nsecond line \\ end",
		PromptTokens: 12, CompletionTokens: 1 << 33, CachedTokens: 4, ReasoningTokens: 9, Images: 3,
		Estimated: true, CostMicros: -5, TTFB: 180*time.Millisecond + 999*time.Microsecond, Duration: 95 * time.Second,
		ClientIP: "2001:db8::1", Route: json.RawMessage(`[{"channel":"a b","status":429}]`),
	}
}

// The compact form reads back as the JSON form does, and holds no newline.
func TestCompactRoundTrip(t *testing.T) {
	for _, r := range []Row{compactSample(), {ChargeID: "c1", Time: time.Unix(0, 0).UTC()}, {Time: time.Unix(-62135596800, 0).UTC(), Model: "bad \xff utf-8"}} {
		b := AppendCompact(nil, &r)
		if strings.IndexByte(string(b), '\n') >= 0 {
			t.Fatalf("compact form %q holds a newline", b)
		}
		got, err := ParseCompact(string(b))
		if err != nil {
			t.Fatalf("ParseCompact(%q): %v", b, err)
		}
		j, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var want Row
		if err := json.Unmarshal(j, &want); err != nil {
			t.Fatal(err)
		}
		if !rowsEqual(got, want) {
			t.Fatalf("compact %q read back as\n%+v\nJSON reads\n%+v", b, got, want)
		}
	}
}

func TestCompactRefuses(t *testing.T) {
	r := compactSample()
	good := string(AppendCompact(nil, &r))
	for _, bad := range []string{"", "2" + good[1:], good[:len(good)-1], good + " ", good + "x",
		strings.Replace(good, " 502 ", " x ", 1), strings.Replace(good, "4:cABC", "400:cABC", 1),
		strings.Replace(good, "4:cABC", "4:cA\\qC", 1), strings.Replace(good, "4:cABC", "4:cA\nC", 1)} {
		if row, err := ParseCompact(bad); err == nil {
			t.Errorf("ParseCompact(%q) = %+v, want an error", bad, row)
		}
	}
}

// Writing a compact row allocates nothing.
func TestCompactAllocs(t *testing.T) {
	r := compactSample()
	r.Error, r.Route = "", nil
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = AppendCompact(buf[:0], &r) }); n != 0 {
		t.Fatalf("AppendCompact: %v allocations", n)
	}
	s := string(buf)
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseCompact(s) }); n != 0 {
		t.Fatalf("ParseCompact: %v allocations", n)
	}
}

// FuzzCompact: ParseCompact never panics, and a row it accepts is written
// back as the same text.
func FuzzCompact(f *testing.F) {
	r := compactSample()
	f.Add(string(AppendCompact(nil, &r)))
	f.Add("1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0: 0: 0: 0: 0: 0: 0: 0:")
	f.Add("1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 2:\\n 0: 0: 0: 0: 0: 0: 0:")
	f.Fuzz(func(t *testing.T, s string) {
		row, err := ParseCompact(s)
		if err != nil || !utf8.ValidString(s) {
			return // the writer replaces invalid UTF-8
		}
		b := AppendCompact(nil, &row)
		back, err := ParseCompact(string(b))
		if err != nil {
			t.Fatalf("%q read as %+v, written as %q, which does not read: %v", s, row, b, err)
		}
		if !rowsEqual(row, back) {
			t.Fatalf("%q read as %+v, written as %q, read back as %+v", s, row, b, back)
		}
	})
}
