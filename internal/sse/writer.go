package sse

import (
	"errors"
	"io"
	"net/http"
	"strings"
)

// Writer writes events to w, one Write and one flush per event. It is not
// safe for concurrent use.
type Writer struct {
	w     io.Writer
	flush func() error
	buf   []byte
}

// ErrInvalidName is returned for an event name containing a line break.
var ErrInvalidName = errors.New("sse: event name contains a line break")

// NewWriter returns a Writer over w. When w has a Flush() error method or
// implements http.Flusher it is flushed after every event; a handler whose
// ResponseWriter is wrapped by middleware should call SetFlush with
// http.NewResponseController(w).Flush instead.
func NewWriter(w io.Writer) *Writer {
	sw := &Writer{w: w, buf: make([]byte, 0, 512)}
	switch f := w.(type) {
	case interface{ Flush() error }:
		sw.flush = f.Flush
	case http.Flusher:
		sw.flush = func() error { f.Flush(); return nil }
	}
	return sw
}

// SetFlush sets the function called after each event; nil disables flushing.
func (w *Writer) SetFlush(flush func() error) { w.flush = flush }

// WriteEvent writes an event with the given name (omitted when "") and data.
// Line breaks in data (LF, CR or CRLF) become separate "data:" lines, so any
// payload survives the round trip through a Reader.
func (w *Writer) WriteEvent(name string, data []byte) error {
	if name != "" && strings.ContainsAny(name, "\r\n") {
		return ErrInvalidName
	}
	b := w.buf[:0]
	if name != "" {
		b = append(b, "event: "...)
		b = append(b, name...)
		b = append(b, '\n')
	}
	b = appendData(b, data)
	b = append(b, '\n')
	return w.send(b)
}

// WriteData writes an unnamed event.
func (w *Writer) WriteData(data []byte) error { return w.WriteEvent("", data) }

// WriteDone writes the OpenAI end-of-stream marker "data: [DONE]".
func (w *Writer) WriteDone() error { return w.send(append(w.buf[:0], "data: [DONE]\n\n"...)) }

// WriteComment writes a comment line, which clients ignore; used as a
// keep-alive. Line breaks in text start new comment lines.
func (w *Writer) WriteComment(text string) error {
	b := w.buf[:0]
	for {
		i := strings.IndexAny(text, "\r\n")
		b = append(b, ':')
		if i < 0 {
			b = append(b, text...)
			b = append(b, '\n')
			break
		}
		b = append(b, text[:i]...)
		b = append(b, '\n')
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
	b = append(b, '\n')
	return w.send(b)
}

func appendData(b, data []byte) []byte {
	for {
		i := indexLineBreak(data)
		b = append(b, "data: "...)
		if i < 0 {
			b = append(b, data...)
			return append(b, '\n')
		}
		b = append(b, data[:i]...)
		b = append(b, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
}

func (w *Writer) send(b []byte) error {
	w.buf = b // keep the grown buffer for the next event
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	if w.flush != nil {
		return w.flush()
	}
	return nil
}
