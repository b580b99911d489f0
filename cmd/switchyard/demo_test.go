package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	demoKeyRe   = regexp.MustCompile(`API key:\s+(sk-sy-[0-9A-Za-z]{48})\n`)
	demoBaseRe  = regexp.MustCompile(`Base URL:\s+(http://\S+)/v1\n`)
	demoAdminRe = regexp.MustCompile(`Console:\s+(http://\S+)/  \(sign in as (\S+), password ([0-9A-Za-z]{20}); shown only now\)\n`)
)

func TestDemoKey(t *testing.T) {
	re := regexp.MustCompile(`^sk-sy-[0-9A-Za-z]{48}$`)
	seen := map[string]bool{}
	counts := map[byte]int{}
	for range 500 {
		k, err := newDemoKey()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(k) || seen[k] {
			t.Fatalf("key %q: bad shape or repeated", k)
		}
		seen[k] = true
		for i := len("sk-sy-"); i < len(k); i++ {
			counts[k[i]]++
		}
	}
	// 24,000 symbols over 62: every symbol shows up, none wildly often.
	if len(counts) != 62 {
		t.Fatalf("%d distinct symbols, want 62", len(counts))
	}
	for c, n := range counts {
		if n < 250 || n > 560 {
			t.Errorf("symbol %q appeared %d times, expected about 387", c, n)
		}
	}
}

// startDemo runs `switchyard demo` with its temp dir under tmp and waits for
// the printed instructions.
func startDemo(t *testing.T, tmp string, args ...string) (*exec.Cmd, *syncBuf, string, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"demo"}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = cleanEnv("TMPDIR=" + tmp)
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C to stop") {
		if time.Now().After(deadline) {
			t.Fatalf("demo not ready after 30s:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	key, base := demoKeyRe.FindStringSubmatch(out.String()), demoBaseRe.FindStringSubmatch(out.String())
	if key == nil || base == nil {
		t.Fatalf("no key or base URL in:\n%s", out)
	}
	return cmd, out, base[1], key[1]
}

func TestDemo(t *testing.T) {
	tmp := t.TempDir()
	addr := freePort(t)
	cmd, out, base, key := startDemo(t, tmp, "--listen", addr)
	if base != "http://"+addr {
		t.Fatalf("base URL %q, want http://%s", base, addr)
	}
	text := out.String()
	for _, want := range []string{"curl -N " + base + "/v1/chat/completions", `base_url="` + base + `/v1"`,
		"baseURL: '" + base + "/v1'", "gpt-4o-mini", "text-embedding-3-small", "gpt-image-1",
		"gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash", "switchyard serve"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	dirs, err := os.ReadDir(tmp)
	if err != nil || len(dirs) != 1 || !strings.HasPrefix(dirs[0].Name(), "switchyard-demo-") {
		t.Fatalf("temp data dir: %v %v", dirs, err)
	}
	if _, err := os.Stat(filepath.Join(tmp, dirs[0].Name(), "switchyard.db")); err != nil {
		t.Fatalf("no database in the data dir: %v", err)
	}

	for _, model := range []string{"gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash"} {
		for _, stream := range []bool{false, true} {
			content := demoChat(t, base, key, model, stream)
			if !strings.HasPrefix(content, "Mock reply to: Hello demo") {
				t.Errorf("%s stream=%v: content %q", model, stream, content)
			}
		}
	}
	// The printed console sign-in works, and the console is served at /.
	adm := demoAdminRe.FindStringSubmatch(text)
	if adm == nil || adm[1] != base {
		t.Fatalf("no console sign-in line for %s in:\n%s", base, text)
	}
	req, _ := http.NewRequest("POST", base+"/api/v1/auth/login",
		strings.NewReader(`{"email":"`+adm[2]+`","password":"`+adm[3]+`"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || len(res.Cookies()) == 0 {
		t.Errorf("console sign-in with the printed password: %d", res.StatusCode)
	}
	if res, err := http.Get(base + "/"); err != nil || res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("console page: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	// The printed key is the only one: another is refused.
	if code := demoStatus(t, base, "sk-sy-"+strings.Repeat("x", 48)); code != http.StatusUnauthorized {
		t.Errorf("unknown key: status %d", code)
	}

	terminate(t, cmd, out)
	if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
		t.Fatalf("temp data dir left behind: %v %v", left, err)
	}
	if !strings.Contains(out.String(), "msg=drained") {
		t.Fatalf("no drain in the log:\n%s", out)
	}
}

func TestDemoKeep(t *testing.T) {
	tmp := t.TempDir()
	cmd, out, _, _ := startDemo(t, tmp, "--listen", freePort(t), "--keep")
	terminate(t, cmd, out)
	dirs, err := os.ReadDir(tmp)
	if err != nil || len(dirs) != 1 {
		t.Fatalf("--keep: %v %v", dirs, err)
	}
	kept := filepath.Join(tmp, dirs[0].Name())
	if !strings.Contains(out.String(), kept) {
		t.Fatalf("kept dir %s not printed:\n%s", kept, out)
	}
	if _, err := os.Stat(filepath.Join(kept, "switchyard.db")); err != nil {
		t.Fatalf("database not kept: %v", err)
	}
}

func demoStatus(t *testing.T, base, key string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// demoChat sends one chat completion and returns the assistant's text,
// assembled from the chunks when streaming.
func demoChat(t *testing.T, base, key, model string, stream bool) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"model": model, "stream": stream,
		"messages": []map[string]string{{"role": "user", "content": "Hello demo"}},
	})
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s stream=%v: status %d", model, stream, resp.StatusCode)
	}
	type choice struct {
		Message struct{ Content string } `json:"message"`
		Delta   struct{ Content string } `json:"delta"`
	}
	var reply struct {
		Model   string   `json:"model"`
		Choices []choice `json:"choices"`
	}
	if !stream {
		if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil || len(reply.Choices) != 1 || reply.Model != model {
			t.Fatalf("%s: reply %+v %v", model, reply, err)
		}
		return reply.Choices[0].Message.Content
	}
	var text strings.Builder
	done := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		reply.Choices = nil
		if err := json.Unmarshal([]byte(data), &reply); err != nil || reply.Model != model {
			t.Fatalf("%s: chunk %s: %v", model, data, err)
		}
		for _, c := range reply.Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	if err := sc.Err(); err != nil || !done {
		t.Fatalf("%s: stream ended without [DONE]: %v", model, err)
	}
	return text.String()
}
