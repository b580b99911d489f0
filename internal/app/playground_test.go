package app_test

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
)

// The chat playground: a signed-in user chats as one of their own keys
// through the node's /v1 pipeline — the key pays (its wallet moves), the
// stream arrives as events, and another user's key is unknown.
func TestPlaygroundChatsAsOwnKey(t *testing.T) {
	cfg, _ := liveConfig(t)
	cfg.Admin = config.Admin{Email: "root@example.com", Password: filePassword}
	a := apptest.Start(t, cfg)
	base := nodeBase(a)
	if _, err := a.Accounts().SetPassword(t.Context(), liveEmail, filePassword); err != nil {
		t.Fatal(err)
	}
	res, _ := call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": liveEmail, "password": filePassword})
	user := sessionCookie(res)
	res, _ = call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": "root@example.com", "password": filePassword})
	admin := sessionCookie(res)
	if user == "" || admin == "" {
		t.Fatal("sign-in failed")
	}
	res, keys := call(t, base, "GET", "/api/v1/me/keys", user, nil)
	items, _ := keys["items"].([]any)
	if res.StatusCode != 200 || len(items) == 0 {
		t.Fatalf("own keys: %d %v", res.StatusCode, keys)
	}
	keyID := int64(items[0].(map[string]any)["id"].(float64))
	kid := "?key_id=" + strconv.FormatInt(keyID, 10)

	res, models := call(t, base, "GET", "/api/v1/me/playground/models"+kid, user, nil)
	if res.StatusCode != 200 {
		t.Fatalf("models: %d %v", res.StatusCode, models)
	}
	var m map[string]any
	for _, x := range models["models"].([]any) {
		if x.(map[string]any)["id"] == "m" {
			m = x.(map[string]any)
		}
	}
	if m == nil || m["priced"] != true || m["input_micros_per_1m"] != float64(1_000_000) || m["output_micros_per_1m"] != float64(2_000_000) {
		t.Fatalf("model m: %v", models)
	}

	balance := apptest.Balance(t, a, liveEmail)
	before := balance()
	res, out := call(t, base, "POST", "/api/v1/me/playground/chat/completions"+kid, user,
		map[string]any{"model": "m", "messages": []map[string]string{{"role": "user", "content": "hello playground"}}})
	choices, _ := out["choices"].([]any)
	if res.StatusCode != 200 || len(choices) != 1 || out["usage"] == nil {
		t.Fatalf("chat: %d %v", res.StatusCode, out)
	}
	if after := balance(); after >= before {
		t.Errorf("the key's owner was not charged: %d → %d", before, after)
	}

	// A stream passes through as server-sent events.
	req, _ := http.NewRequest("POST", base+"/api/v1/me/playground/chat/completions"+kid,
		strings.NewReader(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"[[mock chunks=5]] hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", base)
	req.Header.Set("Cookie", "sy_session="+user)
	sres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sres.Body.Close()
	if sres.StatusCode != 200 || !strings.HasPrefix(sres.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(sres.Body)
		t.Fatalf("stream: %d %s %s", sres.StatusCode, sres.Header.Get("Content-Type"), b)
	}
	var events int
	var done bool
	sc := bufio.NewScanner(sres.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			events++
			done = done || sc.Text() == "data: [DONE]"
		}
	}
	if events < 5 || !done {
		t.Errorf("%d events, [DONE] %v", events, done)
	}

	// Errors: no key, a key that is not the caller's (the admin's view of
	// this user's key), a model the key may not use (the API's own error).
	if res, out := call(t, base, "POST", "/api/v1/me/playground/chat/completions", user, map[string]any{"model": "m"}); res.StatusCode != 422 {
		t.Errorf("no key_id: %d %v", res.StatusCode, out)
	}
	if res, out := call(t, base, "POST", "/api/v1/me/playground/chat/completions"+kid, admin,
		map[string]any{"model": "m", "messages": []map[string]string{{"role": "user", "content": "x"}}}); res.StatusCode != 404 {
		t.Errorf("another user's key: %d %v", res.StatusCode, out)
	}
	if res, out := call(t, base, "POST", "/api/v1/me/playground/chat/completions"+kid, user,
		map[string]any{"model": "nope", "messages": []map[string]string{{"role": "user", "content": "x"}}}); res.StatusCode != 404 {
		t.Errorf("unknown model: %d %v", res.StatusCode, out)
	}
	// Without a session, the console refuses before the relay sees anything.
	if res, _ := call(t, base, "POST", "/api/v1/me/playground/chat/completions"+kid, "", map[string]any{"model": "m"}); res.StatusCode != 401 {
		t.Errorf("no session: %d", res.StatusCode)
	}
}
