package openai_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

func TestModels(t *testing.T) {
	g := startGateway(t, nil)
	get := func(t *testing.T, key, path string) (int, []byte) {
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
	ids := func(t *testing.T, key string) []string {
		t.Helper()
		code, body := get(t, key, "/v1/models")
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
