package vertex

import (
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/relay"
)

// TestEmbeddingsResponse: Vertex's token counts are the usage (summed over
// the inputs), a missing count is made up locally, and an answer that does
// not hold one vector per input is an error, not a short list.
func TestEmbeddingsResponse(t *testing.T) {
	call := &relay.ChatCall{Model: "embed", Body: []byte(`{"model":"embed","input":["a b c d","e"]}`)}
	cases := []struct {
		name, body string
		prompt     int // 0: expect an error
		want       string
	}{
		{"counted by vertex", `{"predictions":[{"embeddings":{"values":[0.5,-1],"statistics":{"token_count":7}}},` +
			`{"embeddings":{"values":[1,0],"statistics":{"token_count":2.0}}}]}`, 9,
			`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-1]},{"object":"embedding","index":1,"embedding":[1,0]}],"model":"embed","usage":{"prompt_tokens":9,"total_tokens":9}}`},
		{"no counts", `{"predictions":[{"embeddings":{"values":[1]}},{"embeddings":{"values":[2]}}]}`, -1, `"index":1,"embedding":[2]`},
		{"one short", `{"predictions":[{"embeddings":{"values":[1]}}]}`, 0, ""},
		{"not JSON", `<html>`, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, u, err := EmbeddingsUpstream{}.ChatResponse([]byte(c.body), call)
			if c.prompt == 0 {
				if err == nil {
					t.Fatalf("no error for %s: %s", c.body, out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.prompt > 0 && u.PromptTokens != c.prompt || c.prompt < 0 && u.PromptTokens <= 0 {
				t.Errorf("prompt tokens %d, want %d", u.PromptTokens, c.prompt)
			}
			if !strings.Contains(string(out), c.want) {
				t.Errorf("answer %s lacks %s", out, c.want)
			}
		})
	}
}
