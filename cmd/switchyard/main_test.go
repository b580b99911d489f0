package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// binary is the switchyard binary built once for every test, with
// CGO_ENABLED=0 to prove the static build works.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchyard-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "switchyard")
	if out, err := build(binary); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func build(out string, extra ...string) ([]byte, error) {
	args := append([]string{"build", "-o", out}, extra...)
	cmd := exec.Command(goTool(), append(args, ".")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd.CombinedOutput()
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// cleanEnv keeps the developer's SWITCHYARD_* settings away from the binary.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHYARD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return runCLIEnv(t, dir, nil, args...)
}

func runCLIEnv(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv(env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{code, so.String(), se.String()}
}

func flagNames(c command) []string {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

func mentionsFlag(text, name string) bool {
	dash := "--"
	if len(name) == 1 {
		dash = "-"
	}
	return regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(dash+name) + `\b`).MatchString(text)
}

func TestHelp(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		r := runCLI(t, dir, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d, stderr %s", args, r.code, r.stderr)
		}
		for _, c := range commands() {
			if !strings.Contains(r.stdout, "switchyard "+c.name) {
				t.Errorf("%v: command %s missing", args, c.name)
			}
			for _, f := range flagNames(c) {
				if !mentionsFlag(r.stdout, f) {
					t.Errorf("%v: flag %s of %s missing", args, f, c.name)
				}
			}
		}
	}
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			r := runCLI(t, dir, args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, strings.Fields(c.about)[0]) {
				t.Errorf("%v: no description in %q", args, r.stdout)
			}
			for _, f := range flagNames(c) {
				if !mentionsFlag(r.stdout, f) {
					t.Errorf("%v: flag %s missing in %q", args, f, r.stdout)
				}
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args   []string
		stderr string
	}{
		{nil, "missing command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serve", "--nope"}, "-nope"},
		{[]string{"serve", "extra"}, `unexpected argument "extra"`},
		{[]string{"migrate", "sideways"}, "sideways"},
		{[]string{"migrate", "status", "--bogus"}, "-bogus"},
		{[]string{"mock", "--log-level", "loud"}, "loud"},
		{[]string{"version", "--x"}, "-x"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, dir, tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.stderr) || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, "switchyard") || strings.Contains(r.stderr, "goroutine") {
				t.Fatalf("stderr %q", r.stderr)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	const secretValue = "hunter2-is-not-hex-but-secret"
	tests := []struct {
		name, yaml string
		paths      []string
	}{
		{"typo", "server:\n  lisen: 127.0.0.1:9999\n", []string{"server.lisen"}},
		{"bad values", "server:\n  listen: nope\nlog:\n  level: loud\nsecret_key: " + secretValue + "\n",
			[]string{"server.listen", "log.level", "secret_key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range [][]string{{"serve", "-c", path}, {"migrate", "--config", path}} {
				r := runCLI(t, dir, cmd...)
				if r.code != 1 || !strings.HasPrefix(r.stderr, "switchyard: invalid configuration:\n") {
					t.Fatalf("%v: exit %d stderr %q", cmd, r.code, r.stderr)
				}
				for _, p := range tt.paths {
					if !strings.Contains(r.stderr, "\n  "+p+": ") {
						t.Errorf("%v: path %s not reported: %q", cmd, p, r.stderr)
					}
				}
				if strings.Contains(r.stderr, secretValue) || strings.Contains(r.stderr, "goroutine") {
					t.Fatalf("%v: secret or stack in %q", cmd, r.stderr)
				}
			}
		})
	}
	// $SWITCHYARD_CONFIG stands in for -c.
	r := runCLIEnv(t, dir, []string{"SWITCHYARD_CONFIG=" + filepath.Join(dir, "typo.yaml")}, "serve")
	if r.code != 1 || !strings.Contains(r.stderr, "server.lisen") {
		t.Fatalf("SWITCHYARD_CONFIG: exit %d stderr %q", r.code, r.stderr)
	}
	// --set reaches any path and is validated like the file.
	r = runCLI(t, dir, "serve", "--set", "scheduler.max_attempts=0", "--set", "server.listn=x")
	if r.code != 1 || !strings.Contains(r.stderr, "\n  scheduler.max_attempts: ") || !strings.Contains(r.stderr, "\n  server.listn: ") {
		t.Fatalf("--set: exit %d stderr %q", r.code, r.stderr)
	}
	if r = runCLI(t, dir, "serve", "--set", "no-equals-sign"); r.code != 2 || !strings.Contains(r.stderr, "PATH=VALUE") {
		t.Fatalf("--set without =: exit %d stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, dir, "serve", "-c", filepath.Join(dir, "missing.yaml"))
	if r.code != 1 || !strings.Contains(r.stderr, "missing.yaml") {
		t.Fatalf("missing file: exit %d stderr %q", r.code, r.stderr)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startCLI starts a long-running command and returns it with its output.
func startCLI(t *testing.T, dir string, args ...string) (*exec.Cmd, *syncBuf) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
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
	return cmd, out
}

type syncBuf = testenv.Output

// waitHTTP polls url until it answers, and returns the answer.
func waitHTTP(t *testing.T, url string, out *syncBuf, header ...string) (int, []byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, buf.Bytes()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not answering after 30s: %v\noutput:\n%s", url, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func terminate(t *testing.T, cmd *exec.Cmd, out *syncBuf) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\noutput:\n%s", err, out)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit 20s after SIGTERM\noutput:\n%s", out)
	}
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	cmd, out := startCLI(t, dir, "serve", "--listen", addr, "--data-dir", filepath.Join(dir, "d"), "--log-format", "json")
	base := "http://" + addr
	if code, body := waitHTTP(t, base+"/healthz", out); code != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("healthz %d %s", code, body)
	}
	code, body := waitHTTP(t, base+"/readyz", out)
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(body, &ready); err != nil || code != 200 || ready.Checks["database"] != "ok" {
		t.Fatalf("readyz %d %s", code, body)
	}
	if code, _ := waitHTTP(t, base+"/v1/no/such/path", out); code != 404 {
		t.Fatalf("unknown path: %d", code)
	}
	if r := runCLI(t, dir, "healthcheck", "--url", base+"/readyz"); r.code != 0 || !strings.Contains(r.stdout, "200 OK") {
		t.Fatalf("healthcheck of a ready node: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	terminate(t, cmd, out)
	if r := runCLI(t, dir, "healthcheck", "--url", base+"/readyz", "--timeout", "1s"); r.code != 1 {
		t.Fatalf("healthcheck of a stopped node: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "d", "switchyard.db")); err != nil {
		t.Fatalf("no database in the data dir: %v", err)
	}
	// JSON logs, one object per line, with the access log of the 404.
	if !strings.Contains(out.String(), `"path":"/v1/no/such/path"`) || !strings.Contains(out.String(), `"msg":"drained"`) ||
		!regexp.MustCompile(`"setup_url":"http://`+regexp.QuoteMeta(addr)+`/setup\?token=[A-Za-z0-9_-]{43}"`).MatchString(out.String()) {
		t.Fatalf("log:\n%s", out)
	}
}

func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d")
	r := runCLI(t, dir, "migrate", "--data-dir", data)
	if r.code != 0 || !regexp.MustCompile(`(?m)^applied \S+\.sql \(version 1\)`).MatchString(r.stdout) {
		t.Fatalf("migrate: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, dir, "migrate", "--data-dir", data)
	if r.code != 0 || !strings.Contains(r.stdout, "up to date") {
		t.Fatalf("second migrate: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{
		{"migrate", "status", "--data-dir", data},
		{"migrate", "--data-dir", data, "status"},
		{"migrate", "status", "--database-url", "sqlite://" + data + "/switchyard.db"},
	} {
		r = runCLI(t, dir, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d %q", args, r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "VERSION") {
			t.Fatalf("%v: status table %q", args, r.stdout)
		}
		if f := strings.Fields(lines[1]); len(f) != 4 || f[0] != "1" || f[2] != "yes" {
			t.Fatalf("%v: init migration row %q", args, lines[1])
		}
		if _, err := time.Parse(time.RFC3339, strings.Fields(lines[1])[3]); err != nil {
			t.Fatalf("%v: applied_at: %v", args, err)
		}
	}
	// A flag wins over the file: the file's data dir is migrated, the flag's is not.
	fileDir := filepath.Join(dir, "from-file")
	cfgPath := filepath.Join(dir, "switchyard.yaml")
	if err := os.WriteFile(cfgPath, []byte("server:\n  data_dir: "+fileDir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r = runCLI(t, dir, "migrate", "-c", cfgPath); r.code != 0 {
		t.Fatalf("migrate -c: %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(fileDir, "switchyard.db")); err != nil {
		t.Fatalf("config file's data_dir not used: %v", err)
	}
	r = runCLI(t, dir, "migrate", "status", "-c", cfgPath, "--data-dir", filepath.Join(dir, "from-flag"))
	if f := strings.Fields(strings.Split(r.stdout, "\n")[1]); r.code != 0 || f[2] != "no" {
		t.Fatalf("--data-dir did not override the file: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	// A fresh database lists the migration as pending.
	r = runCLI(t, dir, "migrate", "status", "--data-dir", filepath.Join(dir, "fresh"))
	if f := strings.Fields(strings.Split(r.stdout, "\n")[1]); r.code != 0 || f[2] != "no" || f[3] != "-" {
		t.Fatalf("fresh status: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	dir := t.TempDir()
	r := runCLI(t, dir, "version")
	want := fmt.Sprintf("(%s, %s/%s)", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "switchyard ") || !strings.Contains(r.stdout, want) {
		t.Fatalf("version: exit %d %q", r.code, r.stdout)
	}
	// -ldflags -X wins over build info.
	stamped := filepath.Join(dir, "stamped")
	if out, err := build(stamped, "-ldflags", "-X main.version=v9.8.7-test"); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(stamped, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "switchyard v9.8.7-test (") {
		t.Fatalf("stamped version %q %v", out, err)
	}
}

func TestMock(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	cmd, out := startCLI(t, dir, "mock", "--addr", addr, "--log-level", "debug")
	code, body := waitHTTP(t, "http://"+addr+"/v1/models", out, "Authorization", "Bearer sk-mock-test")
	var models struct {
		Object string            `json:"object"`
		Data   []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &models); err != nil || code != 200 || len(models.Data) == 0 {
		t.Fatalf("/v1/models %d %s", code, body)
	}
	terminate(t, cmd, out)
}

// Every command reads its flags wherever they stand: before its sub-word,
// between its positional arguments, after them, with "=" or a separate
// value, and the config flag before the command name. Each form must parse
// to the same flag values and the same positional arguments in order.
func TestFlagPositions(t *testing.T) {
	for _, c := range commands() {
		probe := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(probe)
		var flagArgs, flagArgsEq [][]string // one entry a flag
		probe.VisitAll(func(f *flag.Flag) {
			name := "--" + f.Name
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				flagArgs = append(flagArgs, []string{name})
				flagArgsEq = append(flagArgsEq, []string{name + "=true"})
				return
			}
			v := sampleValue(t, f)
			flagArgs = append(flagArgs, []string{name, v})
			flagArgsEq = append(flagArgsEq, []string{name + "=" + v})
		})
		var pos []string
		if len(c.subs) > 0 {
			pos = []string{c.subs[0], "ARG-1", "ARG-2"}
		}
		flat := func(groups [][]string) []string { return slices.Concat(groups...) }
		// Flags spread over the gaps between positionals, round robin.
		spread := func(groups [][]string) []string {
			gaps := make([][]string, len(pos)+1)
			for i, g := range groups {
				gaps[i%len(gaps)] = append(gaps[i%len(gaps)], g...)
			}
			var out []string
			for i := range gaps {
				out = append(out, gaps[i]...)
				if i < len(pos) {
					out = append(out, pos[i])
				}
			}
			return out
		}
		forms := map[string][]string{
			"flags first":     slices.Concat(flat(flagArgs), pos),
			"flags last":      slices.Concat(pos, flat(flagArgs)),
			"flags between":   spread(flagArgs),
			"with = last":     slices.Concat(pos, flat(flagArgsEq)),
			"with = between":  spread(flagArgsEq),
			"-- before words": slices.Concat(flat(flagArgs), []string{"--"}, pos),
		}
		want := parseForm(t, c, forms["flags first"])
		for name, args := range forms {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				if got := parseForm(t, c, args); !reflect.DeepEqual(got, want) {
					t.Errorf("%v\n got  %+v\n want %+v", args, got, want)
				}
			})
		}
		if len(pos) > 0 {
			// After "--", flag-like words are positional.
			got := parseForm(t, c, slices.Concat(pos, []string{"--", "-c", "x"}))
			if !reflect.DeepEqual(got.pos, append(slices.Clone(pos), "-c", "x")) {
				t.Errorf("%s: after --: positionals %q", c.name, got.pos)
			}
		}
		// The config flag may stand before the command name.
		if probe.Lookup("c") != nil {
			for _, pre := range [][]string{{"-c", "f.yaml"}, {"--config", "f.yaml"}, {"--config=f.yaml"}, {"-c=f.yaml"}} {
				hoisted := hoistConfig(slices.Concat(pre, []string{c.name}, pos))
				if hoisted[0] != c.name {
					t.Fatalf("%v: command name not first after hoisting: %q", pre, hoisted)
				}
				got := parseForm(t, c, hoisted[1:])
				if got.flags["c"] != "f.yaml" && got.flags["config"] != "f.yaml" || !reflect.DeepEqual(got.pos, pos) {
					t.Errorf("%v %s: %+v", pre, c.name, got)
				}
			}
		}
	}
}

type parsed struct {
	flags map[string]string
	pos   []string
}

func parseForm(t *testing.T, c command, args []string) parsed {
	t.Helper()
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.flags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		t.Fatalf("%s %q: %v", c.name, args, err)
	}
	p := parsed{flags: map[string]string{}, pos: pos}
	fs.Visit(func(f *flag.Flag) { p.flags[f.Name] = f.Value.String() })
	return p
}

// sampleValue finds a value f accepts (flags check theirs: numbers,
// PATH=VALUE). It sets f's value, which belongs to a probe flag set.
func sampleValue(t *testing.T, f *flag.Flag) string {
	t.Helper()
	for _, v := range []string{"7", "a.b=c", "2s", "value-" + f.Name} {
		fs := flag.NewFlagSet("probe", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Var(f.Value, f.Name, "")
		if fs.Parse([]string{"--" + f.Name, v}) == nil {
			return v
		}
	}
	t.Fatalf("no sample value accepted by --%s", f.Name)
	return ""
}
