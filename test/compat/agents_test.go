package compat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

// The coding agents people most often put behind a gateway, run as their
// users run them (default tools and features), through a real gateway to
// the mock upstream on each channel type. Each run is one tool round trip:
// a [[mock tool=… tool_arg=…]] directive in the prompt makes the mock call
// one of the agent's own tools with an argument that reads a file in the
// agent's working folder; the agent runs the tool and sends its result
// back, and the mock answers "Mock reply to tool result: …".
//
// Both agents are pinned in agents/package.json and installed from the npm
// registry (native binaries ship in platform packages there). Telemetry,
// update checks and other non-essential traffic are turned off; the gateway
// and the mock listen on loopback only.

const (
	agentRunTimeout = 3 * time.Minute
	agentFileText   = "switchyard-agent-check 42"
	agentTypes      = "anthropic,openai,gemini"
)

func TestCodingAgents(t *testing.T) {
	if testing.Short() {
		t.Skip("runs npm and the agents; skipped with -short")
	}
	node, npm := lookTools(t)
	dir, err := filepath.Abs("agents")
	if err != nil {
		t.Fatalf("resolve agents directory: %v", err)
	}
	installDeps(t, dir, node, npm)
	// Claude Code's package puts its native binary in place in a postinstall
	// script, which installDeps does not run; its wrapper finds the binary
	// in the platform package and runs it.
	claude := []string{node, filepath.Join(dir, "node_modules", "@anthropic-ai", "claude-code", "cli-wrapper.cjs")}
	codex := filepath.Join(dir, "node_modules", ".bin", "codex")

	gw := agentGateway(t)
	for _, typ := range strings.Split(agentTypes, ",") {
		t.Run("claude-code/"+typ, func(t *testing.T) {
			runClaudeCode(t, claude, gw, "agent-claude-"+typ)
		})
		t.Run("codex/"+typ, func(t *testing.T) {
			runCodex(t, codex, gw, "agent-codex-"+typ)
		})
	}
}

type agentTarget struct {
	root, key string // gateway root URL and a key for it
	upstream  string // the mock's /_mock base
}

// agentGateway serves, on one channel of each type, the two model names the
// agents are told to use there.
func agentGateway(t *testing.T) agentTarget {
	up := httptest.NewServer(mock.New(mock.Options{}))
	t.Cleanup(up.Close)
	const key = "sk-sy-agents0123456789abcdefghijklmnopqrstuvwxyzABCD"
	cfg := apptest.Config(t)
	for _, typ := range strings.Split(agentTypes, ",") {
		cfg.Channels = append(cfg.Channels, config.Channel{
			Name: typ, Type: typ, BaseURL: up.URL, Weight: 1,
			Models:      []string{"agent-claude-" + typ, "agent-codex-" + typ},
			Groups:      []string{config.DefaultGroup},
			Credentials: []config.Credential{{Key: config.Secret("agents-" + typ), Weight: 1}},
		})
	}
	cfg.Keys = []config.Key{{Name: "agents", Key: key}}
	// The gateway's warnings (a translation it refused, say) go to the
	// test log, where a failing agent run is read.
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a := apptest.StartWith(t, cfg, log)
	return agentTarget{root: "http://" + a.Addr(), key: key, upstream: up.URL + "/_mock"}
}

// testWriter sends a logger's lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// agentWorkdir is a folder holding the file the round trip reads, and a
// home for the agent's own state, so nothing of the machine's is used.
func agentWorkdir(t *testing.T) (work, home string) {
	root := t.TempDir()
	work, home = filepath.Join(root, "work"), filepath.Join(root, "home")
	for _, d := range []string{work, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(work, "hello.txt"), []byte(agentFileText+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Codex's shell tool takes a command line; the directive cannot carry
	// spaces, so the command is a script without arguments.
	if err := os.WriteFile(filepath.Join(work, "show-hello"), []byte("#!/bin/sh\ncat hello.txt\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return work, home
}

// agentEnv is the environment without the developer's own agent settings.
func agentEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ANTHROPIC_") || strings.HasPrefix(k, "CLAUDE_") || strings.HasPrefix(k, "CODEX_") ||
			strings.HasPrefix(k, "OPENAI_") || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func runAgent(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), agentRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = nil // the agents read a prompt from stdin when it is a pipe
	setProcessGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	what := filepath.Base(name)
	if len(args) > 0 && strings.HasSuffix(args[0], ".cjs") {
		what = filepath.Base(args[0])
	}
	t.Logf("%s stdout:\n%s", what, clipLog(stdout.Bytes()))
	if stderr.Len() > 0 {
		t.Logf("%s stderr:\n%s", what, clipLog(stderr.Bytes()))
	}
	if ctx.Err() != nil {
		t.Fatalf("%s timed out after %s", what, agentRunTimeout)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return stdout.Bytes()
}

func clipLog(b []byte) string {
	const most = 20 << 10
	if len(b) > most {
		return string(b[:most]) + fmt.Sprintf("\n… (%d more bytes)", len(b)-most)
	}
	return string(b)
}

// runClaudeCode asks Claude Code (print mode, JSON output) to show a file;
// the mock makes it call its Read tool on it.
func runClaudeCode(t *testing.T, claude []string, gw agentTarget, model string) {
	work, home := agentWorkdir(t)
	file := filepath.Join(work, "hello.txt")
	env := agentEnv(
		"HOME="+home,
		"CLAUDE_CONFIG_DIR="+filepath.Join(home, ".claude"),
		"ANTHROPIC_BASE_URL="+gw.root,
		"ANTHROPIC_API_KEY="+gw.key,
		// Every request it makes, background ones included, goes to the
		// model under test.
		"ANTHROPIC_MODEL="+model,
		"ANTHROPIC_DEFAULT_OPUS_MODEL="+model,
		"ANTHROPIC_DEFAULT_SONNET_MODEL="+model,
		"ANTHROPIC_DEFAULT_HAIKU_MODEL="+model,
		"ANTHROPIC_SMALL_FAST_MODEL="+model,
		"CLAUDE_CODE_SUBAGENT_MODEL="+model,
		"DISABLE_TELEMETRY=1",
		"DISABLE_AUTOUPDATER=1",
		"DISABLE_ERROR_REPORTING=1",
		"DISABLE_BUG_COMMAND=1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"NO_COLOR=1",
	)
	prompt := "Show me hello.txt. [[mock tool=Read tool_arg=file_path:" + file + "]]"
	out := runAgent(t, work, env, claude[0], append(claude[1:], "-p", prompt, "--output-format", "json")...)
	var res struct {
		Type, Subtype, Result string
		IsError               bool `json:"is_error"`
	}
	if err := json.Unmarshal(lastJSONLine(out), &res); err != nil {
		t.Fatalf("Claude Code's output is not its JSON result: %v", err)
	}
	if res.IsError || res.Subtype != "success" {
		t.Fatalf("Claude Code reported an error: subtype %q, result %q", res.Subtype, res.Result)
	}
	// The mock quotes the start of the tool result it was sent: the file's
	// text, as Read numbered it.
	if !strings.HasPrefix(res.Result, "Mock reply to tool result:") || !strings.Contains(res.Result, agentFileText) {
		t.Fatalf("Claude Code's answer is not the reply to its Read result: %q", res.Result)
	}
}

// runCodex asks Codex (exec mode, JSON events) to show a file; the mock
// makes it run a command that prints it.
func runCodex(t *testing.T, codex string, gw agentTarget, model string) {
	work, home := agentWorkdir(t)
	codexHome := filepath.Join(home, ".codex")
	if err := os.MkdirAll(codexHome, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`model = %q
model_provider = "switchyard"
check_for_update_on_startup = false

[model_providers.switchyard]
name = "Switchyard"
base_url = %q
env_key = "SWITCHYARD_API_KEY"
wire_api = "responses"

[analytics]
enabled = false

[feedback]
enabled = false
`, model, gw.root+"/v1")
	if err := os.WriteFile(filepath.Join(codexHome, "config.toml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := agentEnv("HOME="+home, "CODEX_HOME="+codexHome, "SWITCHYARD_API_KEY="+gw.key, "NO_COLOR=1")
	prompt := "Show me hello.txt. [[mock tool=exec_command tool_arg=cmd:./show-hello]]"
	out := runAgent(t, work, env, codex, "exec", "--json", "--skip-git-repo-check", prompt)

	var ran, answered, completed bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev struct {
			Type string
			Item struct {
				Type, Text, Message string
				Output              string `json:"aggregated_output"`
				ExitCode            *int   `json:"exit_code"`
			}
			Error struct{ Message string }
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch {
		case ev.Type == "turn.failed" || ev.Type == "error":
			t.Fatalf("Codex failed: %s", sc.Bytes())
		case ev.Type == "item.completed" && ev.Item.Type == "command_execution":
			ran = ev.Item.ExitCode != nil && *ev.Item.ExitCode == 0 && strings.Contains(ev.Item.Output, agentFileText)
		case ev.Type == "item.completed" && ev.Item.Type == "agent_message":
			answered = strings.HasPrefix(ev.Item.Text, "Mock reply to tool result:")
		case ev.Type == "turn.completed":
			completed = true
		}
	}
	if !ran || !answered || !completed {
		t.Fatalf("Codex did not complete the round trip (command ran and printed the file: %v; answer to the tool result: %v; turn completed: %v)",
			ran, answered, completed)
	}
}

// lastJSONLine is the last line of out that starts a JSON object.
func lastJSONLine(out []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if l := bytes.TrimSpace(lines[i]); len(l) > 0 && l[0] == '{' {
			return l
		}
	}
	return nil
}
