package sse

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

type ev struct {
	Name, Data, ID string
}

func readAll(t testing.TB, r io.Reader, maxLine int) ([]ev, error) {
	t.Helper()
	rd := NewReader(r, maxLine)
	var out []ev
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev{e.Name, string(e.Data), e.ID})
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []ev
	}{
		{"single", "data: hi\n\n", []ev{{"", "hi", ""}}},
		{"named", "event: ping\ndata: {}\n\n", []ev{{"ping", "{}", ""}}},
		{"multi-line data", "data: a\ndata: b\ndata:c\n\n", []ev{{"", "a\nb\nc", ""}}},
		{"only one leading space stripped", "data:  two\n\n", []ev{{"", " two", ""}}},
		{"empty data line", "data\n\n", []ev{{"", "", ""}}},
		{"crlf", "event: x\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n", []ev{{"x", "1", ""}, {"", "2", ""}}},
		{"cr only", "data: 1\r\rdata: 2\r\r", []ev{{"", "1", ""}, {"", "2", ""}}},
		{"mixed endings", "data: 1\r\n\ndata: 2\r\r\n", []ev{{"", "1", ""}, {"", "2", ""}}},
		{"comments skipped", ": keep-alive\n\n:x\ndata: y\n\n", []ev{{"", "y", ""}}},
		{"retry ignored", "retry: 1000\ndata: z\n\n", []ev{{"", "z", ""}}},
		{"unknown field ignored", "foo: bar\ndata: z\n\n", []ev{{"", "z", ""}}},
		{"id persists", "id: 7\ndata: a\n\ndata: b\n\n", []ev{{"", "a", "7"}, {"", "b", "7"}}},
		{"id with NUL ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", []ev{{"", "a", "1"}, {"", "b", "1"}}},
		{"name resets between events", "event: a\ndata: 1\n\ndata: 2\n\n", []ev{{"a", "1", ""}, {"", "2", ""}}},
		{"name without data is dropped", "event: a\n\ndata: 2\n\n", []ev{{"", "2", ""}}},
		{"eof without blank line", "data: last", []ev{{"", "last", ""}}},
		{"eof after data line", "event: e\ndata: last\n", []ev{{"e", "last", ""}}},
		{"eof after cr", "data: last\r", []ev{{"", "last", ""}}},
		{"bom stripped", "\xEF\xBB\xBFdata: b\n\n", []ev{{"", "b", ""}}},
		{"colon in value", "data: {\"a\":\"b:c\"}\n\n", []ev{{"", `{"a":"b:c"}`, ""}}},
		{"openai done", "data: {\"x\":1}\n\ndata: [DONE]\n\n", []ev{{"", `{"x":1}`, ""}, {"", "[DONE]", ""}}},
		{"empty stream", "", nil},
		{"blank lines only", "\n\n\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, split := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tt.in)
				if split {
					r = iotest.OneByteReader(r)
				}
				got, err := readAll(t, r, 0)
				if err != nil {
					t.Fatalf("split=%v: %v", split, err)
				}
				if !equal(got, tt.want) {
					t.Fatalf("split=%v:\n got %q\nwant %q", split, got, tt.want)
				}
			}
		})
	}
}

func equal(a, b []ev) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReaderLongLines(t *testing.T) {
	big := strings.Repeat("x", 1<<20) // 1 MiB, far past bufio.Scanner's 64 KiB
	in := "data: " + big + "\n\nevent: after\ndata: ok\n\n"
	for _, r := range []io.Reader{strings.NewReader(in), iotest.HalfReader(strings.NewReader(in))} {
		got, err := readAll(t, r, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Data != big || got[1] != (ev{"after", "ok", ""}) {
			t.Fatalf("got %d events, first len %d", len(got), len(got[0].Data))
		}
	}
}

func TestReaderLineLimit(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		wantErr bool
	}{
		{"exactly max", "data: " + strings.Repeat("a", 94) + "\n\n", 100, false},
		{"exactly max crlf", "data: " + strings.Repeat("a", 94) + "\r\n\r\n", 100, false},
		{"one over", "data: " + strings.Repeat("a", 95) + "\n\n", 100, true},
		{"unterminated over", "data: " + strings.Repeat("a", 500), 100, true},
		{"many short lines past max total", strings.Repeat("data: 0123456789\n", 100) + "\n", 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(t, iotest.OneByteReader(strings.NewReader(tt.in)), tt.max)
			if tt.wantErr {
				if !errors.Is(err, ErrLineTooLong) || !strings.Contains(err.Error(), "sse: line exceeds 100 bytes") {
					t.Fatalf("err = %v, want line-too-long naming the limit", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: 1\n\ndata: partial"), iotest.ErrReader(boom))
	rd := NewReader(r, 0)
	if e, err := rd.Next(); err != nil || string(e.Data) != "1" {
		t.Fatalf("first: %q %v", e.Data, err)
	}
	// A broken connection is not a clean end: the partial event is not delivered.
	if _, err := rd.Next(); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}

func TestWriter(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *Writer) error
		want  string
	}{
		{"data", func(w *Writer) error { return w.WriteData([]byte(`{"a":1}`)) }, "data: {\"a\":1}\n\n"},
		{"named", func(w *Writer) error { return w.WriteEvent("message_start", []byte("{}")) }, "event: message_start\ndata: {}\n\n"},
		{"multiline", func(w *Writer) error { return w.WriteData([]byte("a\nb\r\nc\rd")) }, "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"empty", func(w *Writer) error { return w.WriteData(nil) }, "data: \n\n"},
		{"done", func(w *Writer) error { return w.WriteDone() }, "data: [DONE]\n\n"},
		{"comment", func(w *Writer) error { return w.WriteComment("ping") }, ":ping\n\n"},
		{"comment multiline", func(w *Writer) error { return w.WriteComment("a\r\nb") }, ":a\n:b\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.write(NewWriter(&buf)); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Fatalf("got %q want %q", buf.String(), tt.want)
			}
		})
	}
	if err := NewWriter(io.Discard).WriteEvent("a\nb", nil); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("err = %v", err)
	}
}

type flushCounter struct {
	bytes.Buffer
	flushes int
}

func (f *flushCounter) Flush() error { f.flushes++; return nil }

func TestWriterFlushes(t *testing.T) {
	fc := &flushCounter{}
	w := NewWriter(fc)
	for range 3 {
		if err := w.WriteData([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if fc.flushes != 3 {
		t.Fatalf("flushes = %d, want 3", fc.flushes)
	}

	rec := httptest.NewRecorder() // an http.Flusher
	if err := NewWriter(rec).WriteDone(); err != nil {
		t.Fatal(err)
	}
	if !rec.Flushed {
		t.Fatal("http.Flusher not flushed")
	}

	var buf bytes.Buffer
	calls := 0
	w = NewWriter(&buf)
	w.SetFlush(func() error { calls++; return errors.New("gone") })
	if err := w.WriteData([]byte("x")); err == nil || calls != 1 {
		t.Fatalf("err=%v calls=%d: flush error must surface", err, calls)
	}
}

// Anything the Writer produces must read back identically.
func TestWriterReaderRoundTrip(t *testing.T) {
	payloads := []string{"", "x", "a\nb", "line\r\nbreaks\rhere", strings.Repeat("y", 100000), ": not a comment", "data: nested"}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for i, p := range payloads {
		name := ""
		if i%2 == 1 {
			name = "n"
		}
		if err := w.WriteEvent(name, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readAll(t, iotest.HalfReader(&buf), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(payloads) {
		t.Fatalf("got %d events", len(got))
	}
	for i, p := range payloads {
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(p)
		if got[i].Data != want {
			t.Errorf("event %d: got %q want %q", i, got[i].Data, want)
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("event: a\ndata: b\n\n"), 64)
	f.Add([]byte("data: 1\r\n\r\ndata: 2\r\r"), 8)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		max = max%4096 + 1
		if max <= 0 {
			max += 4096
		}
		evs, err := readAll(t, bytes.NewReader(in), max)
		if err != nil && !errors.Is(err, ErrLineTooLong) {
			t.Fatalf("unexpected error %v", err)
		}
		// Reading one byte at a time must give the same result.
		evs2, err2 := readAll(t, iotest.OneByteReader(bytes.NewReader(in)), max)
		if (err == nil) != (err2 == nil) || !equal(evs, evs2) {
			t.Fatalf("split reads differ: %q/%v vs %q/%v", evs, err, evs2, err2)
		}
		if err != nil {
			return
		}
		// Re-encoding the events and reading them again is stable.
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, e := range evs {
			if strings.ContainsAny(e.Name, "\r\n") {
				t.Fatalf("reader produced a name with a line break: %q", e.Name)
			}
			if err := w.WriteEvent(e.Name, []byte(e.Data)); err != nil {
				t.Fatal(err)
			}
		}
		again, err := readAll(t, &buf, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != len(evs) {
			t.Fatalf("re-read %d events, want %d", len(again), len(evs))
		}
		for i := range evs {
			if again[i].Name != evs[i].Name || again[i].Data != evs[i].Data {
				t.Fatalf("event %d changed: %q -> %q", i, evs[i], again[i])
			}
		}
	})
}

var benchStream = func() []byte {
	var b bytes.Buffer
	w := NewWriter(&b)
	chunk := []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hello there"},"finish_reason":null}]}`)
	for range 1000 {
		_ = w.WriteEvent("content_block_delta", chunk)
	}
	return b.Bytes()
}()

func BenchmarkReader(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchStream)))
	r := bytes.NewReader(benchStream)
	for b.Loop() {
		r.Reset(benchStream)
		rd := NewReader(r, 0)
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
	}
}

func BenchmarkWriter(b *testing.B) {
	b.ReportAllocs()
	payload := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello there"}}`)
	w := NewWriter(io.Discard)
	for b.Loop() {
		if err := w.WriteEvent("content_block_delta", payload); err != nil {
			b.Fatal(err)
		}
	}
}

// EventReady is true exactly when the bytes already read hold the end of
// an event, in any line-break style; never when Next would have to read.
func TestEventReady(t *testing.T) {
	for _, tc := range []struct {
		in    string
		ready []bool // after each Next
	}{
		{"data: a\n\ndata: b\n\n", []bool{true, false}},
		{"data: a\r\n\r\ndata: b\r\n\r\n", []bool{true, false}},
		{"data: a\r\rdata: b\r\r", []bool{true, false}},
		{"data: a\n\ndata: b\n", []bool{false}},
		{"data: a\n\ndata: b\n\ndata: c", []bool{true, false}},
		{"data: a\n\n\n\ndata: b\n\n", []bool{true, false}},
	} {
		r := NewReader(strings.NewReader(tc.in), 0)
		for i, want := range tc.ready {
			if _, err := r.Next(); err != nil {
				t.Fatalf("%q: event %d: %v", tc.in, i, err)
			}
			if got := r.EventReady(); got != want {
				t.Errorf("%q: after event %d EventReady = %v, want %v", tc.in, i, got, want)
			}
		}
	}
}

// eventPerRead returns one event per Read, as a slow upstream delivers them.
type eventPerRead struct{ events []string }

func (e *eventPerRead) Read(p []byte) (int, error) {
	if len(e.events) == 0 {
		return 0, io.EOF
	}
	n := copy(p, e.events[0])
	e.events[0] = e.events[0][n:]
	if e.events[0] == "" {
		e.events = e.events[1:]
	}
	return n, nil
}

// A held stream keeps its reader for its whole life; one that delivers an
// event per read must not make it hold more than the initial buffer (a
// thousand held streams held 4 KiB each before). A burst still grows it, so
// events that arrive together are read together.
func TestReaderBufferStaysSmallForSlowStreams(t *testing.T) {
	event := "data: " + `{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"` +
		strings.Repeat("word ", 40) + `"}}]}` + "\n\n"
	var slow eventPerRead
	for range 200 {
		slow.events = append(slow.events, event)
	}
	r := NewReader(&slow, 0)
	for n := 0; ; n++ {
		if _, err := r.Next(); err == io.EOF {
			if n != 200 {
				t.Fatalf("read %d events, want 200", n)
			}
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if got := cap(r.buf); got > initialBufSize {
		t.Errorf("slow stream: buffer %d bytes, want at most %d", got, initialBufSize)
	}

	burst := NewReader(strings.NewReader(strings.Repeat(event, 200)), 0)
	for {
		if _, err := burst.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(burst.buf); got != burstBufSize {
		t.Errorf("burst: buffer %d bytes, want %d", got, burstBufSize)
	}
}
