package openai

import (
	"encoding/json"
	"testing"
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
