package openai

import (
	"encoding/json"
	"testing"

	"github.com/switchyard/switchyard/internal/relay"
)

var usageSeeds = []string{
	`{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32,"prompt_tokens_details":{"cached_tokens":3}}`,
	`{"prompt_tokens":1,"completion_tokens_details":{"reasoning_tokens":7,"audio_tokens":2},"web_search_requests":1}`,
	`{"Prompt_Tokens":5,"prompt_tokens":6}`,
	`{"prompt_tokens":6,"PROMPT_TOKENS":5}`,
	`{"prompt_tokens":12.0}`,
	`{"prompt_tokens":1e3}`,
	`{"prompt_tokens":"12"}`,
	`{"prompt_tokens":null,"completion_tokens":-3}`,
	`{"prompt_tokens":99999999999999999999}`,
	`{"prompt_tokens_details":null}`,
	`{"prompt_tokens_details":{"cached_tokens":1},"prompt_tokens_details":null}`,
	`{"prompt_tokens_details":{"Cached_Tokens":4}}`,
	`{"prompt_tok\u0065ns":4}`,
	`{"other":{"prompt_tokens":9},"prompt_tokens":2}`,
	`{"prompt_tokens":01}`,
	`null`,
	`[]`,
	`{}`,
	` { "prompt_tokens" : 4 , "total_tokens" : 4 } `,
}

// TestDecodeUsageMatchesUnmarshal holds the fast path to json.Unmarshal's
// result and to whether it fails.
func TestDecodeUsageMatchesUnmarshal(t *testing.T) {
	for _, s := range usageSeeds {
		checkDecodeUsage(t, []byte(s))
	}
}

func FuzzDecodeUsage(f *testing.F) {
	for _, s := range usageSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return // ChatResponse checks the whole body first
		}
		checkDecodeUsage(t, b)
	})
}

func checkDecodeUsage(t *testing.T, b []byte) {
	t.Helper()
	var want Usage
	werr := json.Unmarshal(b, &want)
	got, err := decodeUsage(b)
	if (err != nil) != (werr != nil) || (werr == nil && got != want) {
		t.Fatalf("%s: decodeUsage = %+v, %v; Unmarshal = %+v, %v", b, got, err, want, werr)
	}
}

// TestChatResponseAllocs keeps the non-stream answer's edit cheap: the
// model renamed (one new body), the usage read without reflection.
func TestChatResponseAllocs(t *testing.T) {
	body := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024","choices":[{"index":0,` +
		`"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32,"prompt_tokens_details":{"cached_tokens":2}}}`)
	u := &Upstream{}
	call := &relay.ChatCall{Model: "gpt-4o-mini"}
	out, ru, err := u.ChatResponse(body, call)
	if err != nil || ru.PromptTokens != 12 || ru.CompletionTokens != 20 || ru.CachedTokens != 2 {
		t.Fatalf("ChatResponse: %s %+v %v", out, ru, err)
	}
	// 4 (5 under -race); decoding the whole answer took 10.
	if n := testing.AllocsPerRun(200, func() { _, _, _ = u.ChatResponse(body, call) }); n > 5 {
		t.Fatalf("ChatResponse: %v allocations, want at most 5", n)
	}
}
