package openai_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/config"
)

// hostileLimit is server.max_body_bytes in TestHostileInput: above the
// 10 MB single-line body, which must be served, not refused for its size.
const hostileLimit = 12 << 20

// TestHostileInput sends what a broken or malicious client might, through a
// real gateway on a socket: every answer is the right status in OpenAI's
// error shape (or a normal answer), fast, and never a 5xx.
func TestHostileInput(t *testing.T) {
	g := startGateway(t, func(cfg *config.Config) { cfg.Server.MaxBodyBytes = hostileLimit })
	const msgs = `"messages":[{"role":"user","content":"hi"}],"input":"hi"` // chat + responses/embeddings
	nested := strings.Repeat("[", 100_000)
	line := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` +
		strings.Repeat("long line ", 1<<20) + `"}],"input":"hi"}`
	tests := []struct {
		name    string
		key     string // testKey when empty
		header  map[string]string
		body    string
		chunked bool
		status  int
		code    string // "" for a 2xx
		paths   []string
		budget  time.Duration // how long the answer may take; 5s when zero
	}{
		{name: "over max_body_bytes declared", body: `{"model":"gpt-4o-mini","input":"` + strings.Repeat("a", hostileLimit) + `"}`,
			status: 413, code: "request_too_large"},
		{name: "over max_body_bytes chunked", body: `{"model":"gpt-4o-mini","input":"` + strings.Repeat("a", hostileLimit) + `"}`,
			chunked: true, status: 413, code: "request_too_large"},
		{name: "100k nested arrays in a field", body: `{"model":"gpt-4o-mini",` + msgs + `,"x":` + nested + strings.Repeat("]", 100_000) + `}`,
			status: 400, code: "invalid_request_error"},
		{name: "100k unclosed arrays in a field", body: `{"model":"gpt-4o-mini",` + msgs + `,"x":` + nested,
			status: 400, code: "invalid_request_error"},
		{name: "100k nested arrays as the content", body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":` +
			nested + strings.Repeat("]", 100_000) + `}],"input":` + nested + strings.Repeat("]", 100_000) + `}`,
			status: 400, code: "invalid_request_error"},
		// Go's decoder reads invalid UTF-8 as U+FFFD; a pass-through body
		// keeps the bytes. Either way the upstream answers. In a member the
		// gateway judges it is refused: decoders disagree on its value.
		{name: "invalid UTF-8 in the content", body: "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"a\xff\xfe\xc3(b\"}],\"input\":\"a\xffb\"}",
			status: 200},
		{name: "invalid UTF-8 in the model", body: "{\"model\":\"gpt-4o\xff-mini\"," + msgs + "}",
			status: 400, code: "invalid_request_error"},
		{name: "lone surrogate escape in the model", body: `{"model":"gpt-4o-mini\ud800",` + msgs + `}`,
			status: 400, code: "invalid_request_error"},
		{name: "raw NUL in the model", body: "{\"model\":\"gpt-4o-mini\x00\"," + msgs + "}",
			status: 400, code: "invalid_request_error"},
		{name: "escaped NUL in the model", body: `{"model":"gpt-4o-mini\u0000",` + msgs + `}`,
			status: 404, code: "model_not_found"},
		{name: "raw control characters in the model", body: "{\"model\":\"gpt\x1b[31m\x07\"," + msgs + "}",
			status: 400, code: "invalid_request_error"},
		{name: "escaped control characters and a newline in the model", body: `{"model":"gpt\u001b[31m\r\nX-Forged: 1",` + msgs + `}`,
			status: 404, code: "model_not_found"},
		// Relayed for real: the gateway and the mock each decode 10 MB,
		// several seconds under the race detector.
		{name: "10 MB on one line", body: line, status: 200, paths: []string{"/v1/chat/completions"}, budget: 30 * time.Second},
		{name: "10 MB without a newline, not JSON", body: strings.Repeat("a", 10<<20),
			status: 400, code: "invalid_request_error"},
		// A duplicated or escaped model member is refused: the gateway
		// judges the value Go's decoder reads (the last) while the upstream
		// may read the first, so a key limited to one model could be
		// served another.
		{name: "duplicated model, the allowed one last", key: limitedKey,
			body: `{"model":"claude-test","model":"gpt-4o-mini",` + msgs + `}`, status: 400, code: "invalid_request_error"},
		{name: "duplicated model, the allowed one first", key: limitedKey,
			body: `{"model":"gpt-4o-mini","model":"claude-test",` + msgs + `}`, status: 400, code: "invalid_request_error"},
		{name: "escaped model member", body: `{"mod\u0065l":"gpt-4o-mini",` + msgs + `}`, status: 400, code: "invalid_request_error"},
		{name: "model inside another member is no duplicate", body: `{"model":"gpt-4o-mini","metadata":{"model":"x"},` + msgs + `}`, status: 200},
		{name: "text/plain", header: map[string]string{"Content-Type": "text/plain"},
			body: `{"model":"gpt-4o-mini",` + msgs + `}`, status: 415, code: "unsupported_media_type"},
		{name: "form", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			body: "model=gpt-4o-mini&input=hi", status: 415, code: "unsupported_media_type"},
		{name: "multipart", header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"},
			body:   "--x\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngpt-4o-mini\r\n--x--\r\n",
			status: 415, code: "unsupported_media_type"},
		{name: "unparsable Content-Type", header: map[string]string{"Content-Type": "application/json; charset"},
			body: `{"model":"gpt-4o-mini",` + msgs + `}`, status: 415, code: "unsupported_media_type"},
		{name: "+json Content-Type", header: map[string]string{"Content-Type": "application/vnd.api+json; charset=utf-8"},
			body: `{"model":"gpt-4o-mini",` + msgs + `}`, status: 200},
	}
	for _, tc := range tests {
		paths := tc.paths
		if paths == nil {
			paths = []string{"/v1/chat/completions", "/v1/responses", "/v1/embeddings"}
		}
		for _, path := range paths {
			t.Run(tc.name+path, func(t *testing.T) {
				header := map[string]string{}
				if tc.key != "" {
					header["Authorization"] = "Bearer " + tc.key
				}
				for k, v := range tc.header {
					header[k] = v
				}
				start := time.Now()
				resp := g.rawPost(t, path, header, tc.body, tc.chunked)
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("read the answer: %v", err)
				}
				budget := tc.budget
				if budget == 0 {
					budget = 5 * time.Second
				}
				if d := time.Since(start); d > budget {
					t.Errorf("took %v, more than %v", d, budget)
				}
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.status, b)
				}
				if tc.code == "" {
					return
				}
				checkHostileError(t, b, tc.code)
			})
		}
	}

	// net/http refuses a header block over the server's MaxHeaderBytes
	// (1 MiB, plus the 4 KiB of slack it always allows) before any handler
	// runs, so that answer is its plain text.
	t.Run("header over 1 MiB", func(t *testing.T) {
		start := time.Now()
		resp := g.rawPost(t, "/v1/chat/completions", map[string]string{"X-Padding": strings.Repeat("p", 1<<20+64<<10)},
			`{"model":"gpt-4o-mini",`+msgs+`}`, false)
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})

	// Still serving after all of that.
	resp := g.post(t, testKey, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	defer resp.Body.Close()
	if r := readJSONResult(t, resp); r.Content == "" {
		t.Fatal("no answer after the hostile cases")
	}
}

// checkHostileError fails unless b is exactly an OpenAI error with the given
// code, in valid UTF-8 and without raw control characters that could forge
// a log line or a terminal escape where it is shown.
func checkHostileError(t *testing.T, b []byte, code string) {
	t.Helper()
	var body struct {
		Error *openAIErr `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Error == nil {
		t.Fatalf("not an OpenAI error (%v): %.300q", err, b)
	}
	e := body.Error
	if e.Code != code || e.Type == "" || e.Message == "" {
		t.Errorf("code %q type %q message %q, want code %q", e.Code, e.Type, e.Message, code)
	}
	if !utf8.Valid(b) {
		t.Errorf("answer is not valid UTF-8: %.300q", b)
	}
	if i := strings.IndexFunc(strings.TrimSuffix(string(b), "\n"), func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
		t.Errorf("raw control character at byte %d of the answer: %.300q", i, b)
	}
}

// The OpenAI-shaped endpoints and the rest of a valid body for each.
const (
	pathChat        = "/v1/chat/completions"
	pathCompletions = "/v1/completions"
	pathResponses   = "/v1/responses"
	pathEmbeddings  = "/v1/embeddings"
)

var restOfBody = map[string]string{
	pathChat:        `"messages":[{"role":"user","content":"hi"}]`,
	pathCompletions: `"prompt":"hi"`,
	pathResponses:   `"input":"hi"`,
	pathEmbeddings:  `"input":"hi"`,
}

// TestHostileJudgedMembers: the gateway judges exactly the bytes the
// upstream reads. A member it reads (model, the token caps, n, best_of,
// stream, stream_options) written twice, in another letter case, with
// escapes in its name or with the wrong type is a 400 naming it, and no
// upstream is called. Each case used to pass (200) or be judged on another
// value than the upstream read: {"model":"premium","MODEL":"allowed"} was
// allowed as "allowed" and served as "premium"; {"max_tokens":5000,
// "MAX_TOKENS":1} reserved 1 token; "max_tokens":"100000" reserved the
// default 4096.
func TestHostileJudgedMembers(t *testing.T) {
	g := startGateway(t, nil)
	all := []string{pathChat, pathCompletions, pathResponses, pathEmbeddings}
	maxTokensPaths := []string{pathChat, pathCompletions}
	nPaths := []string{pathChat, pathCompletions}
	streamOptionsPaths := []string{pathChat, pathCompletions}
	tests := []struct {
		name    string
		key     string // testKey when empty
		members string // the members before the rest of the body
		param   string
		paths   []string
	}{
		{"model in upper case, the allowed one last", limitedKey, `"model":"claude-test","MODEL":"gpt-4o-mini"`, "MODEL", all},
		{"model in upper case, the allowed one first", limitedKey, `"model":"gpt-4o-mini","MODEL":"claude-test"`, "MODEL", all},
		{"model in mixed case alone", "", `"Model":"gpt-4o-mini"`, "Model", all},
		{"model in upper case with escapes", limitedKey, `"model":"claude-test","\u004dODEL":"gpt-4o-mini"`, "MODEL", all},
		{"model twice, escaped", limitedKey, `"model":"claude-test","mod\u0065l":"gpt-4o-mini"`, "model", all},
		{"model a number", "", `"model":4`, "model", all},
		{"model an array", "", `"model":["gpt-4o-mini"]`, "model", all},

		{"max_tokens in upper case, the smaller last", "", `"model":"gpt-4o-mini","max_tokens":5000,"MAX_TOKENS":1`, "MAX_TOKENS", maxTokensPaths},
		{"max_tokens in mixed case", "", `"model":"gpt-4o-mini","Max_Tokens":5000`, "Max_Tokens", maxTokensPaths},
		{"max_tokens with a Kelvin sign", "", `"model":"gpt-4o-mini","max_to` + "\u212a" + `ens":5000`, "max_to\u212aens", maxTokensPaths},
		{"max_tokens twice", "", `"model":"gpt-4o-mini","max_tokens":5000,"max_tokens":1`, "max_tokens", maxTokensPaths},
		{"max_tokens twice, escaped", "", `"model":"gpt-4o-mini","max_tokens":5000,"max_tok\u0065ns":1`, "max_tokens", maxTokensPaths},
		{"max_tokens a string", "", `"model":"gpt-4o-mini","max_tokens":"100000"`, "max_tokens", maxTokensPaths},
		{"max_tokens a float", "", `"model":"gpt-4o-mini","max_tokens":100.0`, "max_tokens", maxTokensPaths},
		{"max_tokens an exponent", "", `"model":"gpt-4o-mini","max_tokens":1e5`, "max_tokens", maxTokensPaths},
		{"max_tokens a bool", "", `"model":"gpt-4o-mini","max_tokens":true`, "max_tokens", maxTokensPaths},
		{"max_tokens an array", "", `"model":"gpt-4o-mini","max_tokens":[100000]`, "max_tokens", maxTokensPaths},
		{"max_tokens beyond int64", "", `"model":"gpt-4o-mini","max_tokens":100000000000000000000`, "max_tokens", maxTokensPaths},
		{"max_tokens beyond int32", "", `"model":"gpt-4o-mini","max_tokens":2147483648`, "max_tokens", maxTokensPaths},
		{"max_tokens zero", "", `"model":"gpt-4o-mini","max_tokens":0`, "max_tokens", maxTokensPaths},
		{"max_tokens negative", "", `"model":"gpt-4o-mini","max_tokens":-1`, "max_tokens", maxTokensPaths},
		{"max_completion_tokens in upper case", "", `"model":"gpt-4o-mini","max_completion_tokens":5000,"MAX_COMPLETION_TOKENS":1`,
			"MAX_COMPLETION_TOKENS", []string{pathChat}},
		{"max_completion_tokens twice", "", `"model":"gpt-4o-mini","max_completion_tokens":5000,"max_completion_tokens":1`,
			"max_completion_tokens", []string{pathChat}},
		{"max_completion_tokens a string", "", `"model":"gpt-4o-mini","max_completion_tokens":"100000"`,
			"max_completion_tokens", []string{pathChat}},
		{"max_output_tokens in upper case", "", `"model":"gpt-4o-mini","max_output_tokens":5000,"MAX_OUTPUT_TOKENS":16`,
			"MAX_OUTPUT_TOKENS", []string{pathResponses}},
		{"max_output_tokens twice", "", `"model":"gpt-4o-mini","max_output_tokens":5000,"max_output_tokens":16`,
			"max_output_tokens", []string{pathResponses}},
		{"max_output_tokens a float", "", `"model":"gpt-4o-mini","max_output_tokens":5000.5`, "max_output_tokens", []string{pathResponses}},

		{"n a string", "", `"model":"gpt-4o-mini","n":"2"`, "n", nPaths},
		{"n a float", "", `"model":"gpt-4o-mini","n":2.0`, "n", nPaths},
		{"n zero", "", `"model":"gpt-4o-mini","n":0`, "n", nPaths},
		{"n over 128", "", `"model":"gpt-4o-mini","n":129`, "n", nPaths},
		{"n in upper case", "", `"model":"gpt-4o-mini","n":1,"N":10`, "N", nPaths},
		{"n twice", "", `"model":"gpt-4o-mini","n":10,"n":1`, "n", nPaths},
		{"best_of a string", "", `"model":"gpt-4o-mini","best_of":"5"`, "best_of", []string{pathCompletions}},
		{"best_of over 20", "", `"model":"gpt-4o-mini","best_of":21`, "best_of", []string{pathCompletions}},
		{"best_of in upper case", "", `"model":"gpt-4o-mini","best_of":1,"BEST_OF":20`, "BEST_OF", []string{pathCompletions}},

		{"messages in upper case", "", `"model":"gpt-4o-mini","MESSAGES":[{"role":"user","content":"short"}]`, "MESSAGES", []string{pathChat}},
		{"messages twice", "", `"model":"gpt-4o-mini","messages":[{"role":"user","content":"short"}]`, "messages", []string{pathChat}},
		{"tools in mixed case", "", `"model":"gpt-4o-mini","Tools":[]`, "Tools", []string{pathChat, pathResponses}},
		{"prompt in upper case", "", `"model":"gpt-4o-mini","PROMPT":"short"`, "PROMPT", []string{pathCompletions}},
		{"input in upper case", "", `"model":"gpt-4o-mini","INPUT":"short"`, "INPUT", []string{pathResponses, pathEmbeddings}},
		{"input twice", "", `"model":"gpt-4o-mini","input":"short"`, "input", []string{pathResponses, pathEmbeddings}},
		{"instructions twice", "", `"model":"gpt-4o-mini","instructions":"a","instructions":"b"`, "instructions", []string{pathResponses}},

		{"stream a string", "", `"model":"gpt-4o-mini","stream":"true"`, "stream", all},
		{"stream in mixed case", "", `"model":"gpt-4o-mini","stream":false,"Stream":true`, "Stream", all},
		{"stream with a long s", "", `"model":"gpt-4o-mini","stream":false,"ſtream":true`, "ſtream", all},
		{"stream twice", "", `"model":"gpt-4o-mini","stream":false,"stream":true`, "stream", all},
		{"stream_options in upper case", "", `"model":"gpt-4o-mini","stream":true,"STREAM_OPTIONS":{"include_usage":true}`,
			"STREAM_OPTIONS", streamOptionsPaths},
		{"stream_options a string", "", `"model":"gpt-4o-mini","stream":true,"stream_options":"include_usage"`,
			"stream_options", streamOptionsPaths},
		{"include_usage twice", "", `"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true,"include_usage":false}`,
			"stream_options.include_usage", streamOptionsPaths},
		{"include_usage in upper case", "", `"model":"gpt-4o-mini","stream":true,"stream_options":{"INCLUDE_USAGE":true}`,
			"stream_options.INCLUDE_USAGE", streamOptionsPaths},
		{"include_usage a string", "", `"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":"yes"}`,
			"stream_options.include_usage", streamOptionsPaths},
	}
	for _, tc := range tests {
		for _, path := range tc.paths {
			t.Run(tc.name+path, func(t *testing.T) {
				key := tc.key
				if key == "" {
					key = testKey
				}
				calls := g.mock.Counters().Total
				resp := g.rawPost(t, path, map[string]string{"Authorization": "Bearer " + key},
					"{"+tc.members+","+restOfBody[path]+"}", false)
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %.300s", resp.StatusCode, b)
				}
				checkHostileError(t, b, "invalid_request_error")
				var e struct {
					Error openAIErr `json:"error"`
				}
				if err := json.Unmarshal(b, &e); err != nil || e.Error.Param == nil || *e.Error.Param != tc.param {
					t.Errorf("param %v, want %q: %s", e.Error.Param, tc.param, b)
				}
				if n := g.mock.Counters().Total - calls; n != 0 {
					t.Errorf("%d upstream calls", n)
				}
			})
		}
	}

	// The same members read plainly are served, null included where OpenAI
	// takes it.
	for _, path := range all {
		body := `{"model":"gpt-4o-mini","stream":false,` + restOfBody[path] + `}`
		switch path {
		case pathChat:
			body = `{"model":"gpt-4o-mini","max_tokens":16,"max_completion_tokens":null,"n":1,"stream_options":null,` + restOfBody[path] + `}`
		case pathCompletions:
			body = `{"model":"gpt-4o-mini","max_tokens":16,"n":1,"best_of":1,"stream":null,` + restOfBody[path] + `}`
		case pathResponses:
			body = `{"model":"gpt-4o-mini","max_output_tokens":16,` + restOfBody[path] + `}`
		}
		resp := g.rawPost(t, path, map[string]string{"Authorization": "Bearer " + limitedKey}, body, false)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s: status %d: %.300s", path, body, resp.StatusCode, b)
		}
	}
}

// TestTranslatedChannelRefusesN: a channel type whose translation cannot
// give n answers refuses n > 1 with a 400 naming n, before any upstream call.
func TestTranslatedChannelRefusesN(t *testing.T) {
	g := startGateway(t, nil)
	calls := g.mock.Counters().Total
	resp := g.rawPost(t, pathChat, nil, `{"model":"claude-test","n":3,`+restOfBody[pathChat]+`}`, false)
	e := readOpenAIError(t, resp)
	if resp.StatusCode != http.StatusBadRequest || e.Param == nil || *e.Param != "n" {
		t.Fatalf("status %d, error %+v; want 400 naming n", resp.StatusCode, e)
	}
	if n := g.mock.Counters().Total - calls; n != 0 {
		t.Errorf("%d upstream calls", n)
	}
}

// TestReservationCountsChoices: a request's reservation is its output cap
// (or billing.default_max_tokens) times the answers the upstream generates:
// n for chat, max(n, best_of) for completions. A wallet that covers one
// answer but not ten refuses the request before any upstream call; it used
// to reserve one answer and let the upstream produce ten.
func TestReservationCountsChoices(t *testing.T) {
	const payer = "sk-test-payer-0123456789"
	g := startGateway(t, func(cfg *config.Config) {
		// 10 micro-USD an output token; 4096 default tokens cost 0.041 USD.
		cfg.Pricing = map[string]config.Price{"gpt-4o-mini": {Input: 1, Output: 10}, "gemini-test": {Input: 1, Output: 10}}
		cfg.Users = append(cfg.Users, config.User{Email: "payer@example.com", Credit: 0.05})
		cfg.Keys = append(cfg.Keys, config.Key{Name: "payer", User: "payer@example.com", Key: config.Secret(payer)})
	})
	tests := []struct {
		path, members string
		status        int
	}{
		{pathChat, `"model":"gpt-4o-mini","max_tokens":1000`, 200},
		{pathChat, `"model":"gpt-4o-mini","max_tokens":1000,"n":10`, 429},
		{pathChat, `"model":"gpt-4o-mini","max_completion_tokens":1000,"n":10`, 429},
		{pathChat, `"model":"gpt-4o-mini","n":1`, 200},
		{pathChat, `"model":"gpt-4o-mini","n":2`, 429}, // 2 × the default 4096
		{pathChat, `"model":"gemini-test","max_tokens":1000,"n":10`, 429},
		{pathCompletions, `"model":"gpt-4o-mini","max_tokens":1000,"n":1`, 200},
		{pathCompletions, `"model":"gpt-4o-mini","max_tokens":1000,"n":10`, 429},
		{pathCompletions, `"model":"gpt-4o-mini","max_tokens":1000,"n":1,"best_of":10`, 429},
	}
	for _, tc := range tests {
		calls := g.mock.Counters().Total
		resp := g.rawPost(t, tc.path, map[string]string{"Authorization": "Bearer " + payer},
			"{"+tc.members+","+restOfBody[tc.path]+"}", false)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.status {
			t.Errorf("%s {%s}: status %d, want %d: %.300s", tc.path, tc.members, resp.StatusCode, tc.status, b)
			continue
		}
		if tc.status == 429 {
			checkHostileError(t, b, "insufficient_quota")
			if n := g.mock.Counters().Total - calls; n != 0 {
				t.Errorf("%s {%s}: %d upstream calls", tc.path, tc.members, n)
			}
		}
	}
}

// TestHostileJudgedImageMembers: a JSON image generation or edit is held
// to the same rule. The gateway rebuilds the upstream body from the
// members it decoded, but forwarded a case variant beside its own value
// ({"quality":"low","Quality":"high"} was priced low, and an upstream
// decoding names case-insensitively made high), and took the last of
// duplicates.
func TestHostileJudgedImageMembers(t *testing.T) {
	g := imageGateway(t, nil)
	const edit = `"images":[{"image_url":"https://example.com/a.png"}]`
	tests := []struct {
		name, members, param string
	}{
		{"model in upper case", `"model":"gpt-image-1","MODEL":"dall-e-3","prompt":"x"`, "MODEL"},
		{"model twice", `"model":"gpt-image-1","model":"dall-e-3","prompt":"x"`, "model"},
		{"prompt in upper case", `"model":"gpt-image-1","prompt":"x","PROMPT":"y"`, "PROMPT"},
		{"size in upper case", `"model":"gpt-image-1","prompt":"x","size":"256x256","SIZE":"4096x4096"`, "SIZE"},
		{"size twice", `"model":"gpt-image-1","prompt":"x","size":"256x256","size":"4096x4096"`, "size"},
		{"size a number", `"model":"gpt-image-1","prompt":"x","size":256`, "size"},
		{"quality in mixed case", `"model":"gpt-image-1","prompt":"x","quality":"low","Quality":"high"`, "Quality"},
		{"quality twice", `"model":"gpt-image-1","prompt":"x","quality":"low","quality":"high"`, "quality"},
		{"n in upper case", `"model":"gpt-image-1","prompt":"x","n":1,"N":10`, "N"},
		{"n twice", `"model":"gpt-image-1","prompt":"x","n":1,"n":10`, "n"},
		{"n a float", `"model":"gpt-image-1","prompt":"x","n":2.0`, "n"},
		{"n over 10", `"model":"gpt-image-1","prompt":"x","n":11`, "n"},
		{"response_format in upper case", `"model":"gpt-image-1","prompt":"x","RESPONSE_FORMAT":"url"`, "RESPONSE_FORMAT"},
		{"stream in upper case", `"model":"gpt-image-1","prompt":"x","STREAM":true`, "STREAM"},
		{"async twice", `"model":"gpt-image-1","prompt":"x","async":false,"async":true`, "async"},
		{"partial_images in upper case", `"model":"gpt-image-1","prompt":"x","PARTIAL_IMAGES":3`, "PARTIAL_IMAGES"},
	}
	for _, tc := range tests {
		for _, path := range []string{"/v1/images/generations", "/v1/images/edits"} {
			t.Run(tc.name+path, func(t *testing.T) {
				calls := g.mock.Counters().Total
				resp, a := g.imagePost(t, path, testKey, "application/json", strings.NewReader("{"+tc.members+","+edit+"}"), nil)
				if resp.StatusCode != http.StatusBadRequest || a.Error == nil || a.Error.Param != tc.param {
					t.Fatalf("status %d %+v, want 400 naming %s", resp.StatusCode, a.Error, tc.param)
				}
				if n := g.mock.Counters().Total - calls; n != 0 {
					t.Errorf("%d upstream calls", n)
				}
			})
		}
	}
	// An edit's input images are judged too: they are inspected and counted.
	for _, body := range []string{
		`{"model":"gpt-image-1","prompt":"x",` + edit + `,` + edit + `}`,
		`{"model":"gpt-image-1","prompt":"x",` + edit + `,"IMAGES":[{"image_url":"data:image/png;base64,AAAA"}]}`,
		`{"model":"gpt-image-1","prompt":"x",` + edit + `,"mask":null,"Mask":{"image_url":"https://example.com/m.png"}}`,
	} {
		resp, a := g.imagePost(t, "/v1/images/edits", testKey, "application/json", strings.NewReader(body), nil)
		if resp.StatusCode != http.StatusBadRequest || a.Error == nil {
			t.Errorf("%s: status %d %+v, want 400", body, resp.StatusCode, a.Error)
		}
	}
}
