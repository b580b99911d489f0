package openai_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
)

// Channels, model_map keys and key allowlists take patterns: a client asking
// for next month's model name is served without a config change, the
// upstream is asked for the mapped name, /v1/models lists only declared
// names, and an allowlist pattern allows exactly what it matches.
func TestModelPatterns(t *testing.T) {
	const patternKey = "sk-test-pattern-0123456789"
	g := startGateway(t, func(cfg *config.Config) {
		cfg.Channels = append(cfg.Channels,
			config.Channel{Name: "pat-an", Type: "anthropic", BaseURL: cfg.Channels[0].BaseURL,
				Models:      []string{"claude-*"},
				ModelMap:    map[string]string{"claude-*-mini": "claude-small", "claude-x-*-mini": "claude-x-small"},
				Credentials: []config.Credential{{Key: "pat-an-1"}}},
			config.Channel{Name: "pat-oa", Type: "openai", BaseURL: cfg.Channels[0].BaseURL,
				Models: []string{"vendor/*"}, TestModel: "vendor/probe",
				Credentials: []config.Credential{{Key: "pat-oa-1"}}},
		)
		cfg.Keys = append(cfg.Keys, config.Key{Name: "pattern", Key: patternKey, Models: []string{"claude-*"}})
	})

	// upstreamModel sends a chat request and returns the model name the
	// upstream credential was asked for.
	upstreamModel := func(t *testing.T, key, cred, model string) string {
		t.Helper()
		before := len(g.mock.Requests(cred))
		resp := g.post(t, key, `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`)
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s: status %d: %s", model, resp.StatusCode, b)
		}
		reqs := g.mock.Requests(cred)
		if len(reqs) != before+1 {
			t.Fatalf("%s: credential %s got %d requests, want 1", model, cred, len(reqs)-before)
		}
		last := reqs[len(reqs)-1]
		var body struct{ Model string }
		_ = json.Unmarshal([]byte(last.Body), &body)
		if body.Model == "" { // Gemini and Azure name the model in the path
			return last.Path
		}
		return body.Model
	}

	for _, tt := range []struct{ key, cred, model, upstream string }{
		{testKey, "pat-an-1", "claude-opus-5-5", "claude-opus-5-5"},             // served as asked
		{testKey, "pat-an-1", "claude-haiku-mini", "claude-small"},              // mapped by pattern
		{testKey, "pat-an-1", "claude-x-9-mini", "claude-x-small"},              // the more specific key wins
		{testKey, "pat-oa-1", "vendor/llama/instruct", "vendor/llama/instruct"}, // * crosses slashes
		{patternKey, "pat-an-1", "claude-next", "claude-next"},                  // the allowlist pattern allows it
	} {
		if got := upstreamModel(t, tt.key, tt.cred, tt.model); got != tt.upstream {
			t.Errorf("%s: upstream asked for %q, want %q", tt.model, got, tt.upstream)
		}
	}

	for _, tt := range []struct {
		key, model string
		status     int
		code       string
	}{
		{patternKey, "gpt-4o-mini", 403, "model_not_allowed"}, // outside the allowlist pattern
		{testKey, "claudeX", 404, "model_not_found"},          // matches no pattern
		{testKey, "claude-*", 200, ""},                        // a pattern is also a name it matches
	} {
		resp := g.post(t, tt.key, `{"model":"`+tt.model+`","messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != tt.status {
			b, _ := io.ReadAll(resp.Body)
			t.Errorf("%s: status %d, want %d: %s", tt.model, resp.StatusCode, tt.status, b)
		} else if tt.code != "" {
			if code := errorCode(t, resp); code != tt.code {
				t.Errorf("%s: code %q, want %q", tt.model, code, tt.code)
			}
		}
		resp.Body.Close()
	}

	list := func(key string) []string {
		req, _ := http.NewRequest(http.MethodGet, g.base+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Data []struct{ ID string } }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range out.Data {
			ids = append(ids, m.ID)
		}
		return ids
	}
	all := list(testKey)
	for _, id := range all {
		if strings.ContainsAny(id, "*?") {
			t.Errorf("/v1/models lists the pattern %q", id)
		}
	}
	if !slices.Contains(all, "claude-test") || !slices.Contains(all, "gpt-4o-mini") {
		t.Errorf("/v1/models: declared names missing: %v", all)
	}
	// The pattern key sees the declared names its pattern matches, only.
	if got := list(patternKey); !slices.Equal(got, []string{"claude-test"}) {
		t.Errorf("/v1/models for the claude-* key: %v, want [claude-test]", got)
	}
	req, _ := http.NewRequest(http.MethodGet, g.base+"/v1/models/claude-opus-5-5", nil)
	req.Header.Set("Authorization", "Bearer "+patternKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /v1/models/claude-opus-5-5 (served by pattern): %d", resp.StatusCode)
	}
}
