package openai_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
)

// getJSON sends GET path with key and returns the status and JSON body.
func (g *gateway) getJSON(t *testing.T, key, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.base+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v", path, err)
	}
	return resp.StatusCode, raw
}

// modelIDs lists the ids GET /v1/models answers key.
func (g *gateway) modelIDs(t *testing.T, key string) []string {
	t.Helper()
	code, body := g.getJSON(t, key, "/v1/models")
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	if code != 200 || json.Unmarshal(body, &list) != nil || list.Object != "list" {
		t.Fatalf("list: %d %s", code, body)
	}
	var out []string
	for _, m := range list.Data {
		if m.Object != "model" {
			t.Fatalf("entry object %q", m.Object)
		}
		out = append(out, m.ID)
	}
	return out
}

func TestModels(t *testing.T) {
	g := startGateway(t, nil)
	get, ids := g.getJSON, g.modelIDs

	all := ids(t, testKey)
	for _, want := range []string{"gpt-4o-mini", "az-deploy", "claude-test", "gemini-test"} {
		if !slices.Contains(all, want) {
			t.Errorf("full key: %q missing from %v", want, all)
		}
	}
	if got := ids(t, limitedKey); !slices.Equal(got, []string{"gpt-4o-mini"}) {
		t.Errorf("limited key sees %v, want only its allowlist", got)
	}

	tests := []struct {
		name, key, path string
		status          int
		code            string
	}{
		{"served model", testKey, "/v1/models/claude-test", 200, ""},
		{"not on the key's allowlist", limitedKey, "/v1/models/claude-test", 404, "model_not_found"},
		{"unknown model", testKey, "/v1/models/no-such-model", 404, "model_not_found"},
		{"no key", "", "/v1/models/claude-test", 401, "invalid_api_key"},
		{"no key on the list", "", "/v1/models", 401, "invalid_api_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, tt.key, tt.path)
			if code != tt.status {
				t.Fatalf("status %d, want %d: %s", code, tt.status, body)
			}
			var v struct {
				ID    string `json:"id"`
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			_ = json.Unmarshal(body, &v)
			if tt.code != "" && v.Error.Code != tt.code {
				t.Fatalf("code %q, want %q: %s", v.Error.Code, tt.code, body)
			}
			if tt.status == 200 && v.ID != "claude-test" {
				t.Fatalf("id %q: %s", v.ID, body)
			}
		})
	}
}

// TestModelsFollowGroupRouting: a key lists and finds exactly the models it
// may call. A model served only to another group is neither listed nor
// found (it used to be both, and chat then answered 403).
func TestModelsFollowGroupRouting(t *testing.T) {
	const teamKey = "sk-test-team-0123456789"
	g := startGateway(t, func(cfg *config.Config) {
		cfg.Groups = append(cfg.Groups, config.Group{Name: "team", Ratio: 1})
		cfg.Users = append(cfg.Users, config.User{Email: "team@example.com", Group: "team"})
		cfg.Keys = append(cfg.Keys, config.Key{Name: "team", User: "team@example.com", Key: teamKey})
		up := cfg.Channels[0].BaseURL
		cfg.Channels = append(cfg.Channels,
			config.Channel{Name: "team-only", Type: "openai", BaseURL: up, Models: []string{"team-model"},
				Groups: []string{"team"}, Credentials: []config.Credential{{Key: "tm-1"}}},
			config.Channel{Name: "both", Type: "openai", BaseURL: up, Models: []string{"shared-model"},
				Groups: []string{"default", "team"}, Credentials: []config.Credential{{Key: "sh-1"}}})
	})
	def := g.modelIDs(t, testKey)
	if slices.Contains(def, "team-model") || !slices.Contains(def, "shared-model") || !slices.Contains(def, "gpt-4o-mini") {
		t.Errorf("default-group key lists %v", def)
	}
	if got := g.modelIDs(t, teamKey); !slices.Equal(got, []string{"shared-model", "team-model"}) {
		t.Errorf("team key lists %v, want [shared-model team-model]", got)
	}
	tests := []struct {
		key, model string
		status     int
	}{
		{testKey, "team-model", 404},
		{testKey, "shared-model", 200},
		{teamKey, "team-model", 200},
		{teamKey, "gpt-4o-mini", 404},
	}
	for _, tt := range tests {
		code, body := g.getJSON(t, tt.key, "/v1/models/"+tt.model)
		if code != tt.status {
			t.Errorf("GET /v1/models/%s with %s: %d, want %d: %s", tt.model, tt.key, code, tt.status, body)
		}
		// What is found can be called, and what is not found cannot.
		resp := g.post(t, tt.key, `{"model":"`+tt.model+`","messages":[{"role":"user","content":"hi"}]}`)
		resp.Body.Close()
		if (resp.StatusCode == 200) != (tt.status == 200) {
			t.Errorf("chat %s with %s: %d, but GET answered %d", tt.model, tt.key, resp.StatusCode, code)
		}
	}
}
