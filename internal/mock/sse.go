package mock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/internal/eventstream"
	"github.com/switchyard/switchyard/internal/jsonw"
)

type streamMode uint8

const (
	modeSSE         streamMode = iota // "event: x\ndata: {…}\n\n"
	modeJSONArray                     // Gemini without alt=sse: "[{…},\r\n{…}]"
	modeEventStream                   // AWS event stream (Bedrock): one binary message per event
)

// stream writes events one at a time, flushing each, and applies the
// stream-side faults. It never holds more than one event, so a stream of any
// length runs in constant memory.
type stream struct {
	c    *call
	mode streamMode
	n    int // events written
	buf  []byte
	err  error
	crlf bool // end SSE lines with CRLF, as Google's servers do
}

func (c *call) startStream(mode streamMode) *stream {
	h := c.w.Header()
	switch mode {
	case modeSSE:
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
	case modeEventStream:
		h.Set("Content-Type", "application/vnd.amazon.eventstream")
	default:
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	h.Set("X-Accel-Buffering", "no")
	c.w.WriteHeader(http.StatusOK)
	c.w.Flush()
	return &stream{c: c, mode: mode, buf: make([]byte, 0, 512)}
}

// ok reports whether the client is still reading.
func (st *stream) ok() bool { return st.err == nil }

// send writes one event; name is the SSE event type ("" for none). After a
// write error (client gone) every later send is a no-op.
func (st *stream) send(name string, data []byte) {
	if st.err != nil {
		return
	}
	f := &st.c.fault
	if st.n > 0 && f.ChunkDelay > 0 && !sleepCtx(st.c.ctx(), f.ChunkDelay) {
		st.err = errClientGone
		return
	}
	st.write(name, data)
	if st.err != nil {
		return
	}
	st.n++
	if f.Malformed && st.n == 1 {
		// A second copy of the first event, cut in half: one corrupt line
		// inside an otherwise valid stream.
		st.write(name, data[:len(data)/2])
	}
	if f.DropAfter > 0 && st.n >= f.DropAfter {
		panic(http.ErrAbortHandler) // the connection closes without the stream's end
	}
	if f.ErrorAfter > 0 && st.n == f.ErrorAfter {
		st.write(st.errorEvent())
		panic(http.ErrAbortHandler)
	}
}

// errorEvent is the provider's mid-stream error event for the fault.
func (st *stream) errorEvent() (string, []byte) {
	msg := st.c.faultMessage("mock stream error")
	var name string
	var v any
	switch {
	case st.c.prov == provBedrock:
		// an exception message: name "exception:<type>" (see write)
		typ := "internalServerException"
		if st.c.fault.Code != "" {
			typ = st.c.fault.Code
		}
		name, v = bedrockException+typ, map[string]string{"message": msg}
	case st.c.prov == provAnthropic:
		name, v = "error", map[string]any{"type": "error", "error": map[string]any{"type": "api_error", "message": msg}}
	case strings.Contains(st.c.r.URL.Path, "/responses"):
		name, v = "error", map[string]any{"type": "error", "code": "server_error", "message": msg, "param": nil}
	default:
		v = map[string]any{"error": map[string]any{"type": "server_error", "code": "server_error", "message": msg}}
	}
	b, _ := json.Marshal(v)
	return name, b
}

func (st *stream) write(name string, data []byte) {
	b := st.buf[:0]
	if st.mode == modeEventStream {
		if typ, ok := strings.CutPrefix(name, bedrockException); ok {
			b = eventstream.AppendMessage(b, [][2]string{{":exception-type", typ}, {":content-type", "application/json"},
				{":message-type", "exception"}}, data)
		} else {
			b = eventstream.AppendMessage(b, [][2]string{{":event-type", name}, {":content-type", "application/json"},
				{":message-type", "event"}}, data)
		}
	} else if st.mode == modeSSE {
		eol := "\n"
		if st.crlf {
			eol = "\r\n"
		}
		if name != "" {
			b = append(b, "event: "...)
			b = append(b, name...)
			b = append(b, eol...)
		}
		b = append(b, "data: "...)
		b = append(b, data...)
		b = append(b, eol...)
		b = append(b, eol...)
	} else {
		if st.n == 0 {
			b = append(b, '[')
		} else {
			b = append(b, ",\r\n"...)
		}
		b = append(b, data...)
	}
	st.buf = b
	if len(b) > 1<<20 {
		st.buf = nil // do not keep a line_bytes-sized buffer for the rest of the stream
	}
	if _, err := st.c.w.Write(b); err != nil {
		st.err = err
		return
	}
	st.c.w.Flush()
}

// sendJSON marshals v as one event; for the rare, irregular events.
func (st *stream) sendJSON(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		st.c.s.log.Error("mock encode event", "event", name, "err", err)
		st.err = err
		return
	}
	st.send(name, b)
}

// end closes a JSON-array stream; SSE streams need nothing.
func (st *stream) end() {
	if st.err != nil || st.mode != modeJSONArray {
		return
	}
	if st.n == 0 {
		_, st.err = st.c.w.Write([]byte("[]"))
		return
	}
	_, st.err = st.c.w.Write([]byte("]"))
	st.c.w.Flush()
}

// bedrockException starts the name of an exception event in an event
// stream (the rest is its :exception-type).
const bedrockException = "exception:"

// tmpl is an event pre-marshalled once per stream with holes for the parts
// that change per chunk: "@@S@@" becomes a JSON string, "@@N@@" and "@@M@@"
// numbers. The per-chunk events of long streams are then a few appends
// instead of a reflection walk.
type tmpl struct {
	parts [][]byte
	holes []byte // 'S', 'N' or 'M', one between each pair of parts
}

var holeMarks = []struct {
	kind byte
	mark []byte
}{{'S', []byte(`"@@S@@"`)}, {'N', []byte(`"@@N@@"`)}, {'M', []byte(`"@@M@@"`)}}

const (
	holeS = "@@S@@"
	holeN = "@@N@@"
	holeM = "@@M@@"
)

func newTmpl(v any) tmpl {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("mock: marshal template: %v", err)) // templates are package-internal values
	}
	var t tmpl
	for {
		at, kind := -1, byte(0)
		for _, h := range holeMarks {
			if i := bytes.Index(b, h.mark); i >= 0 && (at < 0 || i < at) {
				at, kind = i, h.kind
			}
		}
		if at < 0 {
			t.parts = append(t.parts, b)
			return t
		}
		t.parts = append(t.parts, b[:at])
		t.holes = append(t.holes, kind)
		b = b[at+len(holeS)+2:]
	}
}

// fill appends the event with every S hole set to s, N holes to n and M
// holes to m.
func (t *tmpl) fill(dst []byte, n int, s string) []byte { return t.fill2(dst, n, 0, s) }

func (t *tmpl) fill2(dst []byte, n, m int, s string) []byte {
	for i, p := range t.parts {
		dst = append(dst, p...)
		if i < len(t.holes) {
			switch t.holes[i] {
			case 'S':
				dst = jsonw.String(dst, s)
			case 'N':
				dst = strconv.AppendInt(dst, int64(n), 10)
			default:
				dst = strconv.AppendInt(dst, int64(m), 10)
			}
		}
	}
	return dst
}
