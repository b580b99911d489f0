// Package bodyread reads a body whose length was announced (an HTTP
// Content-Length) into one buffer of that size.
package bodyread

import "io"

// Read reads r to its end, or to max+1 bytes when it is longer than max
// (the caller tells "over the cap" by the length). size is the announced
// length, -1 when unknown; it only sizes the first buffer, so a body
// shorter or longer than announced is still read right. With the size
// known this is one allocation where io.ReadAll's doubling from 512 bytes
// makes several (and copies a 2.7 MB image answer about twice over); one
// byte more than announced, so that the read that meets EOF needs no
// growth.
//
// The loop is bytes.Buffer.ReadFrom's over a LimitReader, written out so
// that neither is allocated.
func Read(r io.Reader, size, max int64) ([]byte, error) {
	if size < 0 || size > max {
		return io.ReadAll(io.LimitReader(r, max+1))
	}
	buf := make([]byte, 0, size+1)
	for int64(len(buf)) <= max {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // the size was wrong: grow
		}
		room := buf[len(buf):cap(buf)]
		if left := max + 1 - int64(len(buf)); int64(len(room)) > left {
			room = room[:left]
		}
		n, err := r.Read(room)
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}
