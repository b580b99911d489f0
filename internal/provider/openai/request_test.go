package openai

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestNewPostIsNewRequest checks that newPost builds what
// http.NewRequestWithContext builds, cached URL or not, and that the
// body reads again through GetBody (the transport's retry).
func TestNewPostIsNewRequest(t *testing.T) {
	ctx := context.Background()
	var c urlCache
	for _, raw := range []string{
		"http://127.0.0.1:8080/v1/chat/completions",
		"https://example.com:/openai/deployments/gpt%2F4/chat/completions?api-version=2024-10-21",
		"https://user:pw@[::1]:/v1/chat/completions",
	} {
		for range 2 { // parsed, then from the cache
			body := []byte(`{"model":"m"}`)
			want, err := http.NewRequestWithContext(ctx, http.MethodPost, raw, strings.NewReader(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			u, err := c.parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := newPost(ctx, u, body)
			if !reflect.DeepEqual(*got.URL, *want.URL) || got.URL == u {
				t.Errorf("%s: URL %+v, want %+v, a copy", raw, got.URL, want.URL)
			}
			if got.Method != want.Method || got.Proto != want.Proto || got.ProtoMajor != want.ProtoMajor ||
				got.ProtoMinor != want.ProtoMinor || got.Host != want.Host || got.ContentLength != want.ContentLength ||
				got.Context() != ctx || !reflect.DeepEqual(got.Header, want.Header) {
				t.Errorf("%s: request %+v, want %+v", raw, got, want)
			}
			for _, rc := range []func() (io.ReadCloser, error){
				func() (io.ReadCloser, error) { return got.Body, nil }, got.GetBody, got.GetBody,
			} {
				r, err := rc()
				if err != nil {
					t.Fatal(err)
				}
				if b, _ := io.ReadAll(r); string(b) != string(body) {
					t.Errorf("%s: body %q, want %q", raw, b, body)
				}
			}
		}
	}
}
