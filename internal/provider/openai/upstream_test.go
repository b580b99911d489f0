package openai

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/relay"
)

func TestEditChatBody(t *testing.T) {
	cases := []struct {
		name, body, asked, upstream string
		stream                      bool
		want                        string
	}{
		{"untouched", `{"model":"a","messages":[]}`, "a", "a", false, `{"model":"a","messages":[]}`},
		{"mapped", `{"model":"a","x":{"model":"a"}}`, "a", "b", false, `{"model":"b","x":{"model":"a"}}`},
		{"stream adds options", `{"model":"a","stream":true}`, "a", "a", true, `{"model":"a","stream":true,"stream_options":{"include_usage":true}}`},
		{"stream keeps options", `{"stream_options":{"foo":1},"model":"a"}`, "a", "a", true, `{"stream_options":{"foo":1,"include_usage":true},"model":"a"}`},
		{"stream flips false", `{"stream_options": {"include_usage" : false} , "model":"a"}`, "a", "a", true, `{"stream_options": {"include_usage" : true} , "model":"a"}`},
		{"null options", `{"stream_options":null}`, "a", "a", true, `{"stream_options":{"include_usage":true}}`},
		{"escaped strings", `{"messages":[{"content":"a \"}\" ]"}],"model":"a"}`, "a", "b\"c", false, `{"messages":[{"content":"a \"}\" ]"}],"model":"b\"c"}`},
		{"empty object", ` { } `, "", "", true, ` { "stream_options":{"include_usage":true}} `},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := EditChatBody([]byte(c.body), c.asked, c.upstream, c.stream)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON %s", got)
			}
		})
	}
	if _, err := EditChatBody([]byte(`[1]`), "a", "b", false); err == nil {
		t.Fatal("array body accepted")
	}
}

func TestChatURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://x":     "https://x/v1/chat/completions",
		"https://x/":    "https://x/v1/chat/completions",
		"https://x/v1":  "https://x/v1/chat/completions",
		"https://x/v1/": "https://x/v1/chat/completions",
		"https://x/api": "https://x/api/v1/chat/completions",
	} {
		if got := ChatURL(in); got != want {
			t.Errorf("ChatURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzEditChatBody(f *testing.F) {
	f.Add([]byte(`{"model":"a","stream_options":{"x":[1,"]"]}}`), "b")
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		if !json.Valid(body) {
			return
		}
		out, err := EditChatBody(body, "a", model, true)
		if err != nil {
			return
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("edited body invalid: %v: %s", err, out)
		}
	})
}

func TestNewChatRequestQuirks(t *testing.T) {
	cases := []struct {
		name   string
		ch     config.Channel
		secret string
		body   string
		stream bool
		want   string
		auth   string
	}{
		{"plain", config.Channel{}, "sk-1", `{"model":"a","max_completion_tokens":5,"stream":true}`, true,
			`{"model":"a","max_completion_tokens":5,"stream":true,"stream_options":{"include_usage":true}}`, "Bearer sk-1"},
		{"max_tokens", config.Channel{Quirks: []string{config.QuirkMaxTokens}}, "sk-1", `{"model":"a","max_completion_tokens":5}`, false,
			`{"max_tokens":5,"model":"a"}`, "Bearer sk-1"},
		{"max_tokens kept when both", config.Channel{Flavor: "deepseek"}, "sk-1", `{"max_tokens":9,"max_completion_tokens":5,"model":"a"}`, false,
			`{"max_tokens":9,"model":"a"}`, "Bearer sk-1"},
		{"no stream_options", config.Channel{Flavor: "legacy"}, "sk-1", `{"model":"a","stream":true,"stream_options":{"include_usage":true}}`, true,
			`{"model":"a","stream":true}`, "Bearer sk-1"},
		{"no stream_options, none sent", config.Channel{Quirks: []string{config.QuirkNoStreamOptions}}, "sk-1", `{"model":"a","stream":true}`, true,
			`{"model":"a","stream":true}`, "Bearer sk-1"},
		{"keyless", config.Channel{Flavor: "vllm"}, "", `{"model":"a"}`, false, `{"model":"a"}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.ch.BaseURL = "http://127.0.0.1:1"
			target := relay.NewTarget(&c.ch, 1, c.secret, http.DefaultClient)
			req, err := NewUpstream().NewChatRequest(context.Background(), target,
				&relay.ChatCall{Body: []byte(c.body), Model: "a", UpstreamModel: "a", Stream: c.stream})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(req.Body)
			if string(got) != c.want {
				t.Errorf("body %s, want %s", got, c.want)
			}
			if a := req.Header.Get("Authorization"); a != c.auth {
				t.Errorf("Authorization %q, want %q", a, c.auth)
			}
		})
	}
}
