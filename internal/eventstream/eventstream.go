// Package eventstream reads and writes the AWS event-stream framing
// (application/vnd.amazon.eventstream) that Bedrock's streaming APIs answer
// with. A message is
//
//	total length (4) | headers length (4) | prelude CRC (4) | headers | payload | message CRC (4)
//
// big-endian, both CRCs CRC-32 (IEEE): the prelude CRC over the first 8
// bytes, the message CRC over everything before it.
//
// The Reader decodes one message at a time from a bounded buffer, so a
// stream is never held whole, and checks both CRCs before handing a message
// out: a corrupt length must not make it wait for, or allocate, bytes that
// will never come.
package eventstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// MaxMessage bounds one message (AWS documents 16 MiB as the largest).
const MaxMessage = 16 << 20

const (
	preludeLen = 12
	crcLen     = 4
	minMessage = preludeLen + crcLen
)

// Header value types of the framing.
const (
	typeTrue      = 0
	typeFalse     = 1
	typeByte      = 2
	typeShort     = 3
	typeInt       = 4
	typeLong      = 5
	typeBytes     = 6
	typeString    = 7
	typeTimestamp = 8
	typeUUID      = 9
)

// Errors of a malformed stream.
var (
	ErrPreludeCRC = errors.New("eventstream: prelude checksum mismatch")
	ErrMessageCRC = errors.New("eventstream: message checksum mismatch")
	ErrTooLarge   = errors.New("eventstream: message too large")
	ErrMalformed  = errors.New("eventstream: malformed message")
)

// Header is one message header. Only string and bytes values keep their
// value (the only kinds Bedrock sends); the others are checked and skipped.
type Header struct {
	Name  string
	Value []byte
}

// Message is one decoded message. Payload and header values alias the
// Reader's buffer and are valid until the next call to Next.
type Message struct {
	Headers []Header
	Payload []byte
}

// Header returns the value of the named header, "" when absent.
func (m *Message) Header(name string) string {
	for _, h := range m.Headers {
		if h.Name == name {
			return string(h.Value)
		}
	}
	return ""
}

// Reader decodes messages from a stream. It is not safe for concurrent use.
type Reader struct {
	r          io.Reader
	max        int
	buf        []byte // unread bytes are buf[start:end]
	start, end int
	err        error
	msg        Message
}

// NewReader returns a Reader over r that refuses messages larger than max
// bytes (MaxMessage when max <= 0).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 || max > MaxMessage {
		max = MaxMessage
	}
	return &Reader{r: r, max: max, buf: make([]byte, 4<<10)}
}

// Next returns the next message. At a clean end of the stream (between
// messages) it returns io.EOF; a stream that ends inside a message returns
// io.ErrUnexpectedEOF.
func (r *Reader) Next() (*Message, error) {
	if err := r.fill(preludeLen); err != nil {
		return nil, err
	}
	p := r.buf[r.start : r.start+preludeLen]
	total := int(binary.BigEndian.Uint32(p[0:4]))
	hlen := int(binary.BigEndian.Uint32(p[4:8]))
	if crc32.ChecksumIEEE(p[:8]) != binary.BigEndian.Uint32(p[8:12]) {
		return nil, ErrPreludeCRC
	}
	if total > r.max || total < 0 {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, total)
	}
	if total < minMessage || hlen < 0 || hlen > total-minMessage {
		return nil, fmt.Errorf("%w: lengths %d/%d", ErrMalformed, total, hlen)
	}
	if err := r.fill(total); err != nil {
		return nil, err
	}
	m := r.buf[r.start : r.start+total]
	if crc32.ChecksumIEEE(m[:total-crcLen]) != binary.BigEndian.Uint32(m[total-crcLen:]) {
		return nil, ErrMessageCRC
	}
	r.start += total
	r.msg.Headers = r.msg.Headers[:0]
	if err := r.parseHeaders(m[preludeLen : preludeLen+hlen]); err != nil {
		return nil, err
	}
	r.msg.Payload = m[preludeLen+hlen : total-crcLen]
	return &r.msg, nil
}

// Buffered reports whether a whole message is already read and waiting, so
// a caller can write out what it has before blocking on the network.
func (r *Reader) Buffered() bool {
	n := r.end - r.start
	if n < preludeLen {
		return false
	}
	total := int(binary.BigEndian.Uint32(r.buf[r.start : r.start+4]))
	return total >= minMessage && n >= total
}

// fill makes at least n unread bytes available, growing the buffer up to
// n (which the caller has bounded by r.max).
func (r *Reader) fill(n int) error {
	if r.end-r.start >= n {
		return nil
	}
	if r.start > 0 {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	if n > len(r.buf) {
		nb := make([]byte, max(n, 2*len(r.buf)))
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for r.end < n {
		if r.err != nil {
			if r.err == io.EOF {
				if r.end == 0 {
					return io.EOF
				}
				return io.ErrUnexpectedEOF
			}
			return r.err
		}
		var k int
		k, r.err = r.r.Read(r.buf[r.end:])
		r.end += k
	}
	return nil
}

func (r *Reader) parseHeaders(b []byte) error {
	for len(b) > 0 {
		nl := int(b[0])
		if nl == 0 || len(b) < 1+nl+1 {
			return fmt.Errorf("%w: header name", ErrMalformed)
		}
		name := string(b[1 : 1+nl])
		typ := b[1+nl]
		b = b[2+nl:]
		var fixed int
		switch typ {
		case typeTrue, typeFalse:
		case typeByte:
			fixed = 1
		case typeShort:
			fixed = 2
		case typeInt:
			fixed = 4
		case typeLong, typeTimestamp:
			fixed = 8
		case typeUUID:
			fixed = 16
		case typeBytes, typeString:
			if len(b) < 2 {
				return fmt.Errorf("%w: header %s", ErrMalformed, name)
			}
			vl := int(binary.BigEndian.Uint16(b))
			if len(b) < 2+vl {
				return fmt.Errorf("%w: header %s", ErrMalformed, name)
			}
			r.msg.Headers = append(r.msg.Headers, Header{Name: name, Value: b[2 : 2+vl]})
			b = b[2+vl:]
			continue
		default:
			return fmt.Errorf("%w: header %s of type %d", ErrMalformed, name, typ)
		}
		if len(b) < fixed {
			return fmt.Errorf("%w: header %s", ErrMalformed, name)
		}
		b = b[fixed:]
	}
	return nil
}

// AppendMessage appends one encoded message with string-valued headers
// (name, value pairs, in order) and payload to dst.
func AppendMessage(dst []byte, headers [][2]string, payload []byte) []byte {
	hlen := 0
	for _, h := range headers {
		hlen += 1 + len(h[0]) + 1 + 2 + len(h[1])
	}
	total := minMessage + hlen + len(payload)
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = binary.BigEndian.AppendUint32(dst, uint32(hlen))
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:start+8]))
	for _, h := range headers {
		dst = append(dst, byte(len(h[0])))
		dst = append(dst, h[0]...)
		dst = append(dst, typeString)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(h[1])))
		dst = append(dst, h[1]...)
	}
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}
