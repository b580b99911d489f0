package bedrock

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard/internal/eventstream"
	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/sse"
)

// FuzzConverseStream: any byte stream, framed or not, ends the translation
// with an error or a clean finish, never a panic; seeded with the golden
// streams in their wire framing.
func FuzzConverseStream(f *testing.F) {
	files, _ := filepath.Glob("testdata/stream_to_chat/*.sse")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil && !bytes.Contains([]byte(name), []byte(".golden.")) {
			f.Add(frame(f, b))
		}
	}
	f.Add(eventstream.AppendMessage(nil, [][2]string{{":message-type", "error"}, {":error-code", "x"}}, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewEventReader(bytes.NewReader(in))
		s := NewStreamToChat("m", true)
		emit := func(*openai.ChatChunk) error { return nil }
		for range 10000 {
			var ev sse.Event
			ev, err := r.Next()
			if err != nil {
				_ = s.Finish(emit)
				return
			}
			if s.Feed(ev, emit) != nil {
				return
			}
		}
	})
}
