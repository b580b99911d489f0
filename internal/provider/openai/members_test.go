package openai

import (
	"encoding/json"
	"testing"

	"github.com/switchyard/switchyard/internal/jsonscan"
)

// FuzzMembers holds jsonscan.Members, which Feed uses to validate a chunk
// and find its members in one pass, to what FindMember answers for valid
// objects.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","choices":[],"usage":{"prompt_tokens":1}}`,
		`{"choices":[{"delta":{"model":"x","content":"a\"b"}}],"model" : "m" }`,
		`{"model":1,"model":2}`, `{"mo\"del":1}`, `[{"model":1}]`, `{}`, `{"usage":null}`,
	} {
		f.Add([]byte(s))
	}
	keys := []string{"choices", "usage", "model"}
	f.Fuzz(func(t *testing.T, b []byte) {
		var spans [3][2]int
		ok := jsonscan.Members(b, keys, spans[:])
		if ok != json.Valid(b) {
			t.Fatalf("Members(%q) valid = %v, encoding/json says %v", b, ok, !ok)
		}
		if !ok {
			return
		}
		for k, key := range keys {
			s, e, found, err := FindMember(b, key)
			if err != nil { // not an object
				found = false
			}
			if got := spans[k][1] != 0; got != found || found && (spans[k][0] != s || spans[k][1] != e) {
				t.Fatalf("Members(%q)[%s] = %v, FindMember says %d,%d,%v", b, key, spans[k], s, e, found)
			}
		}
	})
}
