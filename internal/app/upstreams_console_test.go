package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/testenv"
)

const upstreamsKey = "sk-sy-upstreams-0123456789abcdefghijklmnop"

// Bedrock, vertex and flavored openai channels made in the console work
// as the file's do: created and validated through the console API,
// credentials imported in their own shapes, tested, then serving
// /v1/chat/completions from the mock (which checks SigV4 signatures and
// exchanges service-account assertions for tokens), on SQLite and
// PostgreSQL.
func TestConsoleUpstreamChannels(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return testenv.FreshPostgresURL(t) }},
	} {
		t.Run(db.name, func(t *testing.T) { testConsoleUpstreams(t, db.url(t)) })
	}
}

func testConsoleUpstreams(t *testing.T, dbURL string) {
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	if dbURL != "" {
		cfg.Database.URL = config.Secret(dbURL)
		cfg.SecretKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	}
	cfg.Admin = config.Admin{Email: "root@example.com", Password: filePassword}
	cfg.Keys = []config.Key{{Name: "k", Key: upstreamsKey}}
	a := apptest.Start(t, cfg)
	base := nodeBase(a)
	res, _ := call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": "root@example.com", "password": filePassword})
	admin := sessionCookie(res)
	if admin == "" {
		t.Fatalf("sign-in: %d", res.StatusCode)
	}
	create := func(body map[string]any) int64 {
		t.Helper()
		res, out := call(t, base, "POST", "/api/v1/admin/channels", admin, body)
		if res.StatusCode != 201 {
			t.Fatalf("create %v: %d %v", body["name"], res.StatusCode, out)
		}
		return int64(out["id"].(float64))
	}
	chPath := func(id int64, rest string) string {
		return "/api/v1/admin/channels/" + strconv.FormatInt(id, 10) + rest
	}
	importInto := func(id int64, lines string, added int) {
		t.Helper()
		res, out := call(t, base, "POST", chPath(id, "/credentials/import"), admin, map[string]any{"lines": lines})
		if res.StatusCode != 200 || out["added"] != float64(added) {
			t.Fatalf("import into %d: %d %v", id, res.StatusCode, out)
		}
	}
	testNow := func(id int64) {
		t.Helper()
		res, out := call(t, base, "POST", chPath(id, "/test"), admin, map[string]any{})
		if res.StatusCode != 200 || out["ok"] != true {
			t.Fatalf("test channel %d: %d %v", id, res.StatusCode, out)
		}
	}

	// Field errors name the file's fields.
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "b", "type": "bedrock", "region": "moon-1", "models": []string{"x"}}, "region"},
		{map[string]any{"name": "v", "type": "vertex", "location": "us-east5", "models": []string{"x"}}, "project"},
		{map[string]any{"name": "v", "type": "vertex", "project": "p", "location": "Bad Place", "models": []string{"x"}}, "location"},
		{map[string]any{"name": "o", "type": "openai", "base_url": up.URL, "flavor": "gpt", "models": []string{"x"}}, "flavor"},
		{map[string]any{"name": "g", "type": "gemini", "base_url": up.URL, "flavor": "qwen", "models": []string{"x"}}, "flavor"},
	} {
		res, out := call(t, base, "POST", "/api/v1/admin/channels", admin, tc.body)
		if e, _ := out["error"].(map[string]any); res.StatusCode != 422 || e["field"] != tc.field {
			t.Errorf("%v: %d %v, want field %s", tc.body, res.StatusCode, out, tc.field)
		}
	}

	// Bedrock: the region's endpoint by default; the mock's here.
	br := create(map[string]any{"name": "br", "type": "bedrock", "region": "us-west-2", "models": []string{"claude-br"},
		"model_map": map[string]string{"claude-br": "anthropic.claude-3-5-haiku-20241022-v1:0"}})
	if res, out := call(t, base, "GET", chPath(br, ""), admin, nil); res.StatusCode != 200 ||
		out["base_url"] != "https://bedrock-runtime.us-west-2.amazonaws.com" || out["region"] != "us-west-2" {
		t.Fatalf("bedrock channel: %v", out)
	}
	if res, out := call(t, base, "PATCH", chPath(br, ""), admin, map[string]any{"base_url": up.URL, "region": "us-east-1"}); res.StatusCode != 200 {
		t.Fatalf("patch bedrock: %d %v", res.StatusCode, out)
	}
	// An access key as a line, a second as JSON with its fields.
	importInto(br, mock.AWSKey("AKIDCONSOLE1")+"\n", 1)
	importInto(br, `[{"access_key_id":"AKIDCONSOLE2","secret_access_key":"`+mock.AWSSecret("AKIDCONSOLE2")+`"}]`, 1)
	testNow(br)

	// Vertex: the key file pasted as downloaded, multi-line.
	vx := create(map[string]any{"name": "vx", "type": "vertex", "project": "proj", "location": "us-east5",
		"base_url": up.URL, "token_url": up.URL + mock.VertexTokenPath, "models": []string{"gemini-2.5-flash"}})
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, mock.VertexServiceAccount("console@proj.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token"), "", "  "); err != nil {
		t.Fatal(err)
	}
	importInto(vx, pretty.String(), 1)
	testNow(vx)

	// openai with a flavor: a server that refuses stream_options and
	// max_completion_tokens (legacy), and a keyless one (ollama) that
	// needs no credential at all.
	lg := create(map[string]any{"name": "lg", "type": "openai", "flavor": "legacy",
		"base_url": up.URL + "/quirks/no_stream_options,no_max_completion_tokens/v1", "models": []string{"legacy-m"}})
	importInto(lg, "sk-legacy-0123456789abcdef\n", 1)
	create(map[string]any{"name": "ol", "type": "openai", "flavor": "ollama",
		"base_url": up.URL + "/quirks/keyless/v1", "models": []string{"llama3"}})

	for _, model := range []string{"claude-br", "gemini-2.5-flash", "legacy-m", "llama3"} {
		status, body := v1Chat(t, base, `{"model":"`+model+`","max_completion_tokens":64,"stream":true,"stream_options":{"include_usage":true},`+
			`"messages":[{"role":"user","content":"Hello `+model+`"}]}`)
		if status != 200 || !strings.Contains(body, "Mock reply to: Hello "+model) || !strings.Contains(body, "[DONE]") {
			t.Errorf("%s: %d %s", model, status, body)
		}
	}
	if n := len(m.Requests("AKIDCONSOLE1")) + len(m.Requests("AKIDCONSOLE2")); n == 0 {
		t.Error("no signed request reached the bedrock mock")
	}
	if n := len(m.Requests("console@proj.iam.gserviceaccount.com")); n == 0 {
		t.Error("no request reached the vertex mock with the imported account's token")
	}

	// Without its flavor the same server refuses the request: the flavor
	// is what made it work.
	if res, out := call(t, base, "PATCH", chPath(lg, ""), admin, map[string]any{"flavor": ""}); res.StatusCode != 200 || out["flavor"] != nil {
		t.Fatalf("clear flavor: %d %v", res.StatusCode, out)
	}
	if status, body := v1Chat(t, base, `{"model":"legacy-m","max_completion_tokens":64,"messages":[{"role":"user","content":"Hi"}]}`); status == 200 {
		t.Errorf("unflavored legacy server answered: %s", body)
	}

	// Listings never carry the secrets.
	for _, id := range []int64{br, vx} {
		req, _ := http.NewRequest("GET", base+chPath(id, "/credentials"), nil)
		req.Header.Set("Cookie", "sy_session="+admin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if s := string(b); res.StatusCode != 200 || strings.Contains(s, mock.AWSSecret("AKIDCONSOLE1")) || strings.Contains(s, "PRIVATE KEY") ||
			!strings.Contains(s, `"status":"active"`) {
			t.Errorf("credentials of %d: %d %s", id, res.StatusCode, s)
		}
	}
}

func v1Chat(t *testing.T, base, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+upstreamsKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
