package eventstream

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func event(typ, payload string) []byte {
	return AppendMessage(nil, [][2]string{{":event-type", typ}, {":content-type", "application/json"}, {":message-type", "event"}}, []byte(payload))
}

// TestKnownMessage decodes a message built by hand from the format's
// description, so that AppendMessage and Reader cannot agree on a mistake.
func TestKnownMessage(t *testing.T) {
	// One header ":message-type" = "event" (string), payload "{}".
	msg := []byte{
		0, 0, 0, 0x2e, // total 46 = 12 + 28 + 2 + 4
		0, 0, 0, 0x1c, // headers 28 = 1 + 13 + 1 + 2 + 5 + … (see below)
		0, 0, 0, 0, // prelude CRC, filled in below
	}
	msg = append(msg, 13)
	msg = append(msg, ":message-type"...)
	msg = append(msg, 7, 0, 5)
	msg = append(msg, "event"...)
	msg = append(msg, 6) // one more header: "x" as bytes of length 0
	msg = append(msg, "x-flag"...)
	msg = append(msg, 0) // bool true, no value
	// fix the lengths for what was appended: headers 1+13+1+2+5 + 1+6+1 = 30
	msg[7] = 30
	msg = append(msg, "{}"...)
	msg[3] = byte(len(msg) + 4)
	crc := crcOf(msg[:8])
	copy(msg[8:12], crc)
	msg = append(msg, crcOf(msg)...)

	r := NewReader(bytes.NewReader(msg), 0)
	m, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if m.Header(":message-type") != "event" || string(m.Payload) != "{}" {
		t.Errorf("got headers %q payload %q", m.Headers, m.Payload)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last message: %v, want io.EOF", err)
	}
	if !bytes.Equal(AppendMessage(nil, [][2]string{{":message-type", "event"}}, []byte("{}"))[12:12+22], msg[12:12+22]) {
		t.Error("AppendMessage encodes a string header differently")
	}
}

func crcOf(b []byte) []byte {
	var out [4]byte
	c := crc32IEEE(b)
	out[0], out[1], out[2], out[3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	return out[:]
}

func TestIncremental(t *testing.T) {
	var stream []byte
	for _, p := range []string{`{"a":1}`, `{"b":"` + string(bytes.Repeat([]byte("x"), 9000)) + `"}`, `{}`} {
		stream = append(stream, event("contentBlockDelta", p)...)
	}
	// one byte per Read: every boundary falls inside a read
	r := NewReader(iotest.OneByteReader(bytes.NewReader(stream)), 0)
	n := 0
	for {
		m, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Header(":event-type") != "contentBlockDelta" {
			t.Errorf("message %d: event type %q", n, m.Header(":event-type"))
		}
		n++
	}
	if n != 3 {
		t.Errorf("decoded %d messages, want 3", n)
	}
}

func TestCorruption(t *testing.T) {
	good := event("messageStop", `{"stopReason":"end_turn"}`)
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x40; return b }
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"prelude", flip(2), ErrPreludeCRC},
		{"payload", flip(len(good) - 6), ErrMessageCRC},
		{"truncated", good[:len(good)-3], io.ErrUnexpectedEOF},
		{"too large", AppendMessage(nil, nil, make([]byte, 300)), ErrTooLarge},
	}
	for _, c := range cases {
		r := NewReader(bytes.NewReader(c.in), 150)
		if _, err := r.Next(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestBuffered(t *testing.T) {
	stream := append(event("a", "{}"), event("b", "{}")...)
	r := NewReader(bytes.NewReader(stream), 0)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if !r.Buffered() {
		t.Error("the second message was read with the first but Buffered is false")
	}
}
