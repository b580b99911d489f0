package relay

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/sse"
	"github.com/switchyard/switchyard/internal/tokens"
)

// echoStream passes chunks through and never reports usage, like an
// OpenAI-compatible server that ignores include_usage.
type echoStream struct{}

func (echoStream) Feed(ev sse.Event, emit func([]byte) error) error { return emit(ev.Data) }
func (echoStream) Finish(func([]byte) error) error                  { return nil }
func (echoStream) Usage() Usage                                     { return Usage{} }

func chunks(words int) ([]sse.Event, string) {
	var evs []sse.Event
	var text strings.Builder
	for i := range words {
		w := fmt.Sprintf(" word%d\\\"q\\u00e9", i%50)
		evs = append(evs, sse.Event{Data: []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":17,"model":"m","choices":[{"index":0,"delta":{"content":"` + w + `"},"finish_reason":null}]}`)})
		text.WriteString(fmt.Sprintf(" word%d\"qé", i%50))
	}
	return evs, text.String()
}

func TestCountingChatMatchesTokenizer(t *testing.T) {
	for _, n := range []int{1, 7, 300} {
		evs, text := chunks(n)
		c := newCountingChat(echoStream{}, &ChatCall{Model: "gpt-4o-mini", IncludeUsage: true,
			Body: []byte(`{"messages":[{"role":"user","content":"hello"}]}`)})
		var last []byte
		emit := func(_ string, d []byte) error { last = append(last[:0], d...); return nil }
		for _, ev := range evs {
			if err := c.Feed(ev, emit); err != nil {
				t.Fatal(err)
			}
		}
		var usageChunk []byte
		if err := c.Finish(func(e string, d []byte) error {
			if string(d) != "[DONE]" {
				usageChunk = append([]byte(nil), d...)
			}
			return emit(e, d)
		}); err != nil {
			t.Fatal(err)
		}
		u := c.Usage()
		want := tokens.ForModel("gpt-4o-mini").Count(text)
		if u.CompletionTokens != want || u.PromptTokens <= 0 || !u.Estimated {
			t.Fatalf("%d chunks: usage %+v, want completion %d", n, u, want)
		}
		wantChunk := fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":17,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			u.PromptTokens, want, u.PromptTokens+want)
		if string(usageChunk) != wantChunk {
			t.Fatalf("usage chunk\n got %s\nwant %s", usageChunk, wantChunk)
		}
	}
}

// BenchmarkCountingChat measures what counting costs a stream whose
// upstream does not report usage early (OpenAI-shaped upstreams), against
// the plain translator.
func BenchmarkCountingChat(b *testing.B) {
	evs, text := chunks(200)
	b.Logf("%d chunks, %d bytes of text", len(evs), len(text))
	emit := func(string, []byte) error { return nil }
	for _, mode := range []string{"plain", "exact", "learned"} {
		b.Run("mode="+mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var st EventStream = chatEvents{echoStream{}}
				if mode != "plain" {
					c := newCountingChat(echoStream{}, &ChatCall{Model: "gpt-4o-mini"})
					c.cheap = mode == "learned"
					st = c
				}
				for _, ev := range evs {
					_ = st.Feed(ev, emit)
				}
				_ = st.Finish(emit)
				if mode != "plain" {
					_ = st.Usage()
				}
			}
		})
	}
}

// TestCountingChatFindsEveryDeltaKey counts the text of every delta key
// wherever it stands, and nothing that only looks like a key from inside
// a string value, in both the exact and the learned (byte-summing) modes.
func TestCountingChatFindsEveryDeltaKey(t *testing.T) {
	evs := []sse.Event{
		{Data: []byte(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"think \"content\":\"not a key\""},"finish_reason":null}]}`)},
		{Data: []byte(`{"id":"c1","choices":[{"index":0,"delta":{"content":"a\\\":\"b","refusal":"no"},"finish_reason":null}]}`)},
		{Data: []byte(`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{\"x_content\":\"1\"}"}}]}}]}`)},
		{Data: []byte(`{"id":"c1","choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}],"x_content":"skip","content_filter":"skip"}`)},
	}
	texts := []string{`think "content":"not a key"`, `a\":"b`, `no`, `{"x_content":"1"}`}
	raw := []string{`think \"content\":\"not a key\"`, `a\\\":\"b`, `no`, `{\"x_content\":\"1\"}`}
	wantBytes := 0
	for _, r := range raw {
		wantBytes += len(r)
	}
	emit := func(string, []byte) error { return nil }
	for _, cheap := range []bool{false, true} {
		c := newCountingChat(echoStream{}, &ChatCall{Model: "gpt-4o-mini"})
		c.cheap = cheap
		for _, ev := range evs {
			if err := c.Feed(ev, emit); err != nil {
				t.Fatal(err)
			}
		}
		if cheap {
			if c.bytes != wantBytes {
				t.Errorf("learned mode summed %d text bytes, want %d", c.bytes, wantBytes)
			}
			continue
		}
		// The counter reads the texts as one, in order.
		want := tokens.ForModel("gpt-4o-mini").Count(strings.Join(texts, ""))
		if got := c.ctr.Tokens(); got != want {
			t.Errorf("exact mode counted %d tokens, want %d", got, want)
		}
	}
}
