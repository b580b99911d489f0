package relay

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestScrubUpstreamText(t *testing.T) {
	const key = "sk-proj-Zq8xR2mN4vT6wY1aB3cD5eF7gH9jK0lP"
	const host = "llm-gw.example.com"
	cases := []struct {
		name, in string
		secret   string
		want     string
	}{
		{"plain message kept", "max_tokens: must be at most 4096", key, "max_tokens: must be at most 4096"},
		{"model names kept", "The model `claude-3-5-sonnet-20241022-v2` does not exist", key,
			"The model `claude-3-5-sonnet-20241022-v2` does not exist"},
		{"own key", "Incorrect API key provided: " + key + ". You can find your API key at https://platform.openai.com/account/api-keys.", key,
			"Incorrect API key provided: [redacted]. You can find your API key at https://platform.openai.com/account/api-keys."},
		{"own key masked by the upstream", "Incorrect API key provided: sk-proj-Zq8x****************lP.", key,
			"Incorrect API key provided: [redacted]****************lP."},
		{"part of own key", "key ending 'B3cD5eF7gH9' was revoked", key, "key ending '[redacted]' was revoked"},
		{"short key quoted whole", "bad key kX9q", "kX9q", "bad key [redacted]"},
		{"another OpenAI key", "leaked sk-abcdefghijklmnop1234 found", key, "leaked [redacted] found"},
		{"Anthropic key", "invalid x-api-key sk-ant-api03-AAAABBBBCCCCDDDD", "", "invalid x-api-key [redacted]"},
		{"Google key", "API key not valid: AIzaSyD-1234567890abcdefghijklmnopq", "", "API key not valid: [redacted]"},
		{"bearer", "got Authorization: Bearer abc.def-ghi", "", "got Authorization: Bearer [redacted]"},
		{"JWT", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl expired", "", "token [redacted] expired"},
		{"key=value", "upstream said api_key=hunter2hunter2 is wrong", "", "upstream said api_key=[redacted] is wrong"},
		{"long hex", "signature 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 mismatch", "",
			"signature [redacted] mismatch"},
		{"channel host", "connect to llm-gw.example.com failed", key, "connect to [internal-host] failed"},
		{"channel URL", "POST https://LLM-GW.example.com:8443/v1/chat/completions?x=1 failed", key, "POST [internal-url] failed"},
		{"cluster service", "backend vllm.ml.svc.cluster.local:8000 unavailable", "", "backend [internal-host]:8000 unavailable"},
		{"internal suffix", "routed via api.corp.internal", "", "routed via [internal-host]"},
		{"internal URL", "see http://10.0.3.7:8080/debug", "", "see [internal-url]"},
		{"single-label URL", "proxy http://inference-backend:9000/v1 refused", "", "proxy [internal-url] refused"},
		{"private IP", "from 192.168.1.20 denied", "", "from [internal-host] denied"},
		{"IPv6", "listen [fd00::1]:443 failed", "", "listen [internal-host]:443 failed"},
		{"localhost", "localhost:11434 said no", "", "[internal-host]:11434 said no"},
		{"public URL with a key in its query", "see https://example.com/doc?key=AIzaSyD-1234567890abcdefghijklmnopq", "",
			"see https://example.com/doc"},
		{"times are not addresses", "retry at 10:20:30", "", "retry at 10:20:30"},
		{"path-like names kept", "projects/my-project-123/locations/us-central1 not found", "",
			"projects/my-project-123/locations/us-central1 not found"},
		{"invalid UTF-8 dropped", "bad \xff byte", "", "bad  byte"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ScrubUpstreamText(c.in, c.secret, host)
			if got != c.want {
				t.Errorf("ScrubUpstreamText(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

func TestScrubUpstreamTextBounds(t *testing.T) {
	long := strings.Repeat("é", 2000)
	got := ScrubUpstreamText(long, "")
	if len(got) > MaxUpstreamMessage || !utf8.ValidString(got) {
		t.Fatalf("%d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	// A secret the markers themselves could spell again: nothing is kept.
	secret := "a[redacted]"
	if got := ScrubUpstreamText("aredacted]", secret); strings.Contains(got, secret) {
		t.Fatalf("secret rebuilt: %q", got)
	}
}

func TestScrubField(t *testing.T) {
	cases := map[string]string{
		"invalid_request_error":       "invalid_request_error",
		"messages[0].content":         "messages[0].content",
		"INVALID_ARGUMENT":            "INVALID_ARGUMENT",
		"has space":                   "",
		"sk-proj-abcdefgh12345678":    "",
		"gw.internal":                 "",
		strings.Repeat("x", 65):       "",
		"sk-own-key-value-0123456789": "",
	}
	for in, want := range cases {
		if got := scrubField(in, "sk-own-key-value-0123456789", nil); got != want {
			t.Errorf("scrubField(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseUpstreamError(t *testing.T) {
	cases := []struct {
		body string
		want UpstreamError
	}{
		{`{"error":{"message":"m","type":"invalid_request_error","param":"messages","code":"bad"}}`,
			UpstreamError{Type: "invalid_request_error", Code: "bad", Param: "messages", Message: "m"}},
		{`{"error":{"message":"m","type":"t","param":null,"code":null}}`, UpstreamError{Type: "t", Message: "m"}},
		{`{"type":"error","error":{"type":"permission_error","message":"m"}}`, UpstreamError{Type: "permission_error", Message: "m"}},
		{`{"error":{"code":400,"message":"m","status":"INVALID_ARGUMENT"}}`, UpstreamError{Code: "INVALID_ARGUMENT", Message: "m"}},
		{`{"error":{"code":"content_filter","message":"m"}}`, UpstreamError{Code: "content_filter", Message: "m"}},
		{`{"error":"plain text"}`, UpstreamError{Message: "plain text"}},
		{`not json`, UpstreamError{}},
		{`{"error":[1]}`, UpstreamError{}},
	}
	for _, c := range cases {
		if got := parseUpstreamError([]byte(c.body)); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.body, got, c.want)
		}
	}
}

// FuzzScrubUpstreamText: never panics, always short valid UTF-8, and never
// shows the credential it was given.
func FuzzScrubUpstreamText(f *testing.F) {
	f.Add("Incorrect API key provided: sk-proj-abc123456789xyz", "sk-proj-abc123456789xyz")
	f.Add("key ending 3456789x at http://10.1.2.3/v1?key=sk-proj-abc", "sk-proj-abc123456789xyz")
	f.Add("aredacted]", "a[redacted]")
	f.Add("[internal-host]x", "x[internal-host]x")
	f.Add("Bearer eyJhbGciOi.eyJzdWIi.sig llm.svc.cluster.local", "eyJhbGciOi.eyJzdWIi.sig")
	f.Fuzz(func(t *testing.T, msg, secret string) {
		got := ScrubUpstreamText(msg, secret, "gw.example.com")
		if len(got) > MaxUpstreamMessage || !utf8.ValidString(got) {
			t.Fatalf("%d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
		}
		if len(secret) >= 4 && strings.Contains(got, secret) {
			t.Fatalf("credential %q shown in %q", secret, got)
		}
	})
}
