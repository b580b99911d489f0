// Package sse reads and writes server-sent events (the WHATWG "event stream"
// format) as used by the OpenAI, Anthropic and Gemini streaming APIs.
//
// Design choices:
//   - The Reader keeps its own growable line buffer instead of bufio.Scanner:
//     Scanner's default 64 KiB token limit kills streams that carry a large
//     tool-call argument or an inline image in one data line. The limit here
//     is explicit (default 8 MiB) and reported as an error naming the size.
//   - Steady-state reading does not allocate: the line buffer and the data
//     buffer are reused, and event names/ids are interned against the
//     previous event's strings (streams repeat the same few names). The price
//     is that Event.Data is only valid until the next call to Next.
//   - A stream cut off without the final blank line still yields its last
//     event: upstreams that close the connection right after the last data
//     line are common, and losing the usage event would lose billing data.
//   - The Writer formats each event into one reused buffer, issues a single
//     Write and then flushes, so a proxy or the client sees every event as
//     soon as it exists.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxLine is the longest line NewReader accepts when maxLine <= 0.
const DefaultMaxLine = 8 << 20

// A Reader starts with initialBufSize bytes and doubles its buffer up to
// burstBufSize while reads keep filling it (events arriving faster than
// they are read), so that events that came together are read, and a relay
// writes them, together. A slow stream, one event per read, keeps the small
// buffer for its whole life: a thousand held streams hold 1 KiB each, not 4.
const (
	initialBufSize = 1 << 10
	burstBufSize   = 4 << 10
)

var bom = []byte("\xEF\xBB\xBF")

// Event is one dispatched server-sent event.
type Event struct {
	Name string // the "event:" field; "" means the default "message"
	Data []byte // "data:" lines joined with "\n"; valid until the next Next call
	ID   string // the last "id:" seen on the stream (it persists across events)
}

// ErrLineTooLong is wrapped by the error Next returns for an over-long line.
var ErrLineTooLong = errors.New("sse: line too long")

// Reader parses an event stream. It is not safe for concurrent use.
type Reader struct {
	r       io.Reader
	maxLine int

	buf        []byte // unread bytes are buf[start:end]
	start, end int
	scanned    int  // bytes of buf[start:end] already known to hold no line break
	skipLF     bool // the previous line ended in CR; a following LF belongs to it
	readErr    error
	bomChecked bool
	burst      bool // the last read filled all the room there was

	data    []byte
	hasData bool
	name    string
	id      string
	done    bool
}

// NewReader returns a Reader over r that rejects lines longer than maxLine
// bytes (DefaultMaxLine when maxLine <= 0).
func NewReader(r io.Reader, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	size := initialBufSize
	if size > maxLine+1 {
		size = maxLine + 1
	}
	return &Reader{r: r, maxLine: maxLine, buf: make([]byte, size)}
}

// Next returns the next event. At the end of the stream it returns io.EOF; a
// pending event without its terminating blank line is returned first. The
// returned Data aliases an internal buffer that the next call overwrites.
func (r *Reader) Next() (Event, error) {
	if r.done {
		return Event{}, io.EOF
	}
	r.data = r.data[:0]
	r.hasData = false
	eventName := ""
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF {
				r.done = true
				if r.hasData {
					return Event{Name: eventName, Data: r.data, ID: r.id}, nil
				}
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if !r.hasData {
				// A blank line with no data resets the event, per the spec.
				eventName = ""
				continue
			}
			return Event{Name: eventName, Data: r.data, ID: r.id}, nil
		}
		if line[0] == ':' {
			continue // comment, used as keep-alive
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) { // no allocation: the compiler special-cases this
		case "data":
			if r.hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			r.hasData = true
		case "event":
			eventName = r.intern(r.name, value)
			r.name = eventName
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.id = r.intern(r.id, value)
			}
		}
		// "retry" and unknown fields are ignored, as the spec requires.
	}
}

// intern returns prev when it equals b, so repeated names cost nothing.
func (r *Reader) intern(prev string, b []byte) string {
	if string(b) == prev {
		return prev
	}
	return string(b)
}

// readLine returns the next line without its terminator (LF, CR or CRLF).
// The slice is valid until the next call.
func (r *Reader) readLine() ([]byte, error) {
	for {
		if r.skipLF && r.start < r.end {
			if r.buf[r.start] == '\n' {
				r.start++
			}
			r.skipLF = false
		}
		if !r.bomChecked {
			avail := r.buf[r.start:r.end]
			if len(avail) < len(bom) && r.readErr == nil && bytes.HasPrefix(bom, avail) {
				r.fill() // too few bytes to tell whether the stream starts with a BOM
				continue
			}
			r.bomChecked = true
			if bytes.HasPrefix(avail, bom) {
				r.start += len(bom)
			}
		}
		if !r.skipLF {
			window := r.buf[r.start+r.scanned : r.end]
			if i := indexLineBreak(window); i >= 0 {
				i += r.scanned
				line := r.buf[r.start : r.start+i]
				if i > r.maxLine {
					return nil, r.tooLong()
				}
				if r.buf[r.start+i] == '\r' {
					r.skipLF = true
				}
				r.start += i + 1
				r.scanned = 0
				return line, nil
			}
			r.scanned = r.end - r.start
			if r.scanned > r.maxLine {
				return nil, r.tooLong()
			}
		}
		if r.readErr != nil {
			if r.start < r.end {
				line := r.buf[r.start:r.end]
				r.start, r.scanned = r.end, 0
				return line, nil
			}
			return nil, r.readErr
		}
		r.fill()
	}
}

// EventReady reports whether the bytes already read hold a blank line,
// so that Next will return an event without reading (and so without
// waiting on the peer). A relay flushes its client only when this is
// false: events that arrived together leave together, in one write, and
// nothing written ever waits for the upstream. It may report false when
// an event is in fact ready (a flush too many), never the reverse.
func (r *Reader) EventReady() bool {
	b := r.buf[r.start:r.end]
	if r.skipLF && len(b) > 0 && b[0] == '\n' {
		b = b[1:] // the LF of the CRLF that ended the last line
	}
	if len(b) > 0 && r.scanned == 0 && (b[0] == '\n' || b[0] == '\r') {
		return true // a blank line right where the next line starts
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\n' && c != '\r' {
			continue
		}
		j := i + 1
		if c == '\r' && j < len(b) && b[j] == '\n' {
			j++
		}
		if j < len(b) && (b[j] == '\n' || b[j] == '\r') {
			return true
		}
	}
	return false
}

func (r *Reader) tooLong() error {
	r.readErr = fmt.Errorf("sse: line exceeds %d bytes: %w", r.maxLine, ErrLineTooLong)
	r.start, r.end, r.scanned = 0, 0, 0
	r.done = true
	return r.readErr
}

// fill reads more input, first making room by compacting or growing buf.
func (r *Reader) fill() {
	if r.start > 0 && (r.end == len(r.buf) || r.start == r.end) {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.start, r.end = 0, n
	}
	grow := r.end == len(r.buf) ||
		r.burst && len(r.buf) < burstBufSize && len(r.buf) < r.maxLine+2
	r.burst = false
	if grow {
		size := 2 * len(r.buf)
		if limit := r.maxLine + 2; size > limit {
			size = limit // a CRLF-terminated line of maxLine bytes must still fit
		}
		if size <= len(r.buf) {
			size = len(r.buf) + 1
		}
		nb := make([]byte, size)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	// Retry a few times on (0, nil), as io.Reader permits it.
	for range 100 {
		room := len(r.buf) - r.end
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		if err != nil {
			r.readErr = err
			return
		}
		if n > 0 {
			r.burst = n == room
			return
		}
	}
	r.readErr = io.ErrNoProgress
}

func indexLineBreak(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	search := b
	if lf >= 0 {
		search = b[:lf]
	}
	if cr := bytes.IndexByte(search, '\r'); cr >= 0 {
		return cr
	}
	return lf
}
