package bedrock

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/eventstream"
	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/internal/golden"
	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/sse"
)

func TestMain(m *testing.M) {
	now = func() time.Time { return time.Unix(1700000000, 0) }
	newID = func() string { return "chatcmpl-test" }
	m.Run()
}

func TestFromChatGolden(t *testing.T) {
	golden.Run(t, "testdata/fromchat", ".json", ".json", func(t *testing.T, in []byte) []byte {
		req := golden.Decode[openai.ChatRequest](t, in)
		out, err := FromChat(req, req.Model)
		if err != nil {
			t.Fatal(err)
		}
		return golden.JSON(t, out)
	})
}

func TestToChatResponseGolden(t *testing.T) {
	golden.Run(t, "testdata/tochat_response", ".json", ".json", func(t *testing.T, in []byte) []byte {
		signed := isSigned(t)
		out := golden.JSON(t, ToChatResponse(golden.Decode[ConverseResponse](t, in), "claude-client-name", signed))
		if !signed { // the pivot's reasoning_blocks are not OpenAI's
			golden.ValidateOpenAI(t, "CreateChatCompletionResponse", out)
		}
		return out
	})
}

// isSigned: a fixture named signed_* runs as for a surface that carries
// signed reasoning back (relay.ChatCall.SignedReasoning).
func isSigned(t *testing.T) bool { return strings.Contains(t.Name(), "/signed_") }

// frame encodes an .sse transcript (event name = :event-type) as the AWS
// event stream Bedrock sends, so the golden streams pass the framing too.
func frame(t testing.TB, in []byte) []byte {
	t.Helper()
	var out []byte
	r := sse.NewReader(bytes.NewReader(in), 0)
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = eventstream.AppendMessage(out, [][2]string{
			{":event-type", ev.Name}, {":content-type", "application/json"}, {":message-type", "event"},
		}, ev.Data)
	}
}

func TestStreamToChatGolden(t *testing.T) {
	golden.Run(t, "testdata/stream_to_chat", ".sse", ".sse", func(t *testing.T, in []byte) []byte {
		var out bytes.Buffer
		w := sse.NewWriter(&out)
		emit := func(c *openai.ChatChunk) error {
			b, err := json.Marshal(c)
			if err != nil {
				return err
			}
			if !isSigned(t) {
				golden.ValidateOpenAI(t, "CreateChatCompletionStreamResponse", b)
			}
			return w.WriteData(b)
		}
		s := NewStreamToChat("claude-client-name", true)
		if isSigned(t) {
			s.WithSignedReasoning()
		}
		r := NewEventReader(bytes.NewReader(frame(t, in)))
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Feed(ev, emit); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Finish(emit); err != nil {
			t.Fatal(err)
		}
		_ = w.WriteDone()
		return out.Bytes()
	})
}

func TestFromChatRefuses(t *testing.T) {
	cases := []struct{ body, feature string }{
		{`{"messages":[{"role":"user","content":"x"}],"n":2}`, "n"},
		{`{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}`, "response_format"},
		{`{"messages":[{"role":"user","content":"x"}],"presence_penalty":0.5}`, "presence_penalty"},
		{`{"messages":[{"role":"user","content":"x"}],"logprobs":true}`, "logprobs"},
		{`{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"high"}`, "reasoning_effort"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url"},
		{`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}`, "tool_choice"},
		{`{"messages":[{"role":"assistant","content":"x","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[0].tool_calls[0].function.arguments"},
	}
	for _, c := range cases {
		req, err := openai.DecodeChat([]byte(c.body))
		if err != nil {
			t.Fatal(err)
		}
		_, err = FromChat(req, "meta.llama3-70b-instruct-v1:0")
		if !provider.IsClientError(err) || provider.ClientErrorField(err) != c.feature {
			t.Errorf("%s: err = %v, want a client error naming %s", c.body, err, c.feature)
		}
	}
}

func TestStreamException(t *testing.T) {
	stream := eventstream.AppendMessage(nil, [][2]string{{":event-type", "messageStart"}, {":message-type", "event"}}, []byte(`{"role":"assistant"}`))
	stream = eventstream.AppendMessage(stream, [][2]string{{":exception-type", "throttlingException"}, {":message-type", "exception"}},
		[]byte(`{"message":"Too many requests, please wait before trying again."}`))
	r := NewEventReader(bytes.NewReader(stream))
	s := NewStreamToChat("m", false)
	emit := func(*openai.ChatChunk) error { return nil }
	var err error
	for err == nil {
		var ev sse.Event
		if ev, err = r.Next(); err == nil {
			err = s.Feed(ev, emit)
		}
	}
	se, ok := errors.AsType[*provider.StreamError](err)
	if !ok || se.Status != http.StatusTooManyRequests || se.Type != "throttlingException" || !strings.Contains(se.Message, "Too many") {
		t.Fatalf("err = %#v, want a throttling StreamError with status 429", err)
	}
	if err := NewStreamToChat("m", false).Finish(emit); !errors.Is(err, ErrStreamTruncated) {
		t.Errorf("Finish without messageStop = %v", err)
	}
}

func TestReadError(t *testing.T) {
	cases := []struct {
		status     int
		header     string
		body       string
		wantStatus int
		wantType   string
	}{
		{429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", `{"message":"Too many tokens"}`, 429, "ThrottlingException"},
		{400, "ServiceQuotaExceededException", `{"message":"quota"}`, 429, "ServiceQuotaExceededException"},
		{400, "", `{"__type":"com.amazon.coral#ValidationException","Message":"bad"}`, 400, "ValidationException"},
		{403, "AccessDeniedException", `{"message":"no access"}`, 403, "AccessDeniedException"},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.header != "" {
			h.Set("X-Amzn-ErrorType", c.header)
		}
		st, e := Upstream{}.ReadError(c.status, h, []byte(c.body))
		if st != c.wantStatus || e.Type != c.wantType || e.Message == "" {
			t.Errorf("%s: got %d %+v, want %d %s", c.body, st, e, c.wantStatus, c.wantType)
		}
	}
}

func TestConverseURL(t *testing.T) {
	u, err := ConverseURL("https://bedrock-runtime.us-east-1.amazonaws.com/", "anthropic.claude-3-haiku-20240307-v1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.String(); got != "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream" {
		t.Errorf("URL = %s", got)
	}
	u, _ = ConverseURL("http://127.0.0.1:9/bedrock", "arn:aws:bedrock:us-east-1:123:inference-profile/us.x", false)
	if got := u.String(); got != "http://127.0.0.1:9/bedrock/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.x/converse" {
		t.Errorf("URL = %s", got)
	}
}

func TestEmbeddingsRefuses(t *testing.T) {
	cases := []struct{ model, body, feature string }{
		{"amazon.titan-embed-text-v2:0", `{"input":["a","b"]}`, "input"},
		{"cohere.embed-english-v3", `{"input":"a","dimensions":8}`, "dimensions"},
		{"meta.llama3-70b-instruct-v1:0", `{"input":"a"}`, "model"},
		{"amazon.titan-embed-text-v2:0", `{"input":[1,2]}`, "input"},
	}
	for _, c := range cases {
		_, err := EmbeddingsUpstream{}.NewChatRequest(t.Context(), nil, &relay.ChatCall{Body: []byte(c.body), UpstreamModel: c.model})
		if provider.ClientErrorField(err) != c.feature {
			t.Errorf("%s %s: err = %v, want a client error naming %s", c.model, c.body, err, c.feature)
		}
	}
}
