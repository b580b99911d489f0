package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a target process the harness started and measures.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, valid after done
}

// pinnedCPU is the core the measured targets get in -pin mode.
const pinnedCPU = 0

// pinEnv marks the harness process that runs pinned already.
const pinEnv = "SWITCHYARD_BENCH_PINNED"

// pinTargets is set by -pin: startTarget runs targets on pinnedCPU alone.
var pinTargets bool

// pinHarness re-executes the harness under taskset on every CPU but
// pinnedCPU; the mock and load generator it starts inherit that set. It
// returns only when the process already runs pinned (or on an error).
func pinHarness() error {
	if os.Getenv(pinEnv) != "" {
		return nil
	}
	n := runtime.NumCPU()
	if n < 2 {
		return fmt.Errorf("needs at least 2 CPUs, this machine has %d", n)
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("taskset (util-linux) not found: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	others := fmt.Sprintf("%d-%d", pinnedCPU+1, n-1)
	argv := append([]string{"taskset", "-c", others, self}, os.Args[1:]...)
	return syscall.Exec(taskset, argv, append(os.Environ(), pinEnv+"=1"))
}

// startTarget is startProc for a measured target: in -pin mode it runs on
// pinnedCPU alone with GOMAXPROCS=1.
func startTarget(name, logDir, dir string, bin string, args ...string) (*proc, error) {
	if !pinTargets {
		return startProc(name, logDir, dir, nil, bin, args...)
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return nil, fmt.Errorf("taskset (util-linux) not found: %w", err)
	}
	// taskset execs bin in place, so the pid (and /proc stats) are bin's.
	return startProc(name, logDir, dir, []string{"GOMAXPROCS=1"}, taskset,
		append([]string{"-c", strconv.Itoa(pinnedCPU), bin}, args...)...)
}

// startProc runs bin with args, its output going to logDir/name.log.
func startProc(name, logDir, dir string, env []string, bin string, args ...string) (*proc, error) {
	f, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitReady polls url until it answers 200, the process exits or the
// timeout passes.
func (p *proc) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); see %s", p.name, p.err, p.log.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready at %s after %v; see %s", p.name, url, timeout, p.log.Name())
		}
	}
}

// stop asks the process to drain (SIGTERM) and kills it if it has not
// exited within grace.
func (p *proc) stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// procStats is what /proc says about a process at one moment.
type procStats struct {
	CPU     time.Duration // user + system time so far
	HWMKiB  int64         // peak resident set (VmHWM)
	RSSKiB  int64         // resident set now (VmRSS)
	AnonKiB int64         // of which anonymous (RssAnon)
	FileKiB int64         // of which file-backed (RssFile)
	Threads int64
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports; reading it properly
// (sysconf) would need cgo.
const clockTicks = 100

func (p *proc) stats() (procStats, error) {
	pid := p.cmd.Process.Pid
	var s procStats
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read %s stat: %w", p.name, err)
	}
	cpu, _, ok := parseStat(stat)
	if !ok {
		return s, fmt.Errorf("parse %s stat: %q", p.name, stat)
	}
	s.CPU = cpu

	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read %s status: %w", p.name, err)
	}
	defer status.Close()
	f2, err := parseStatus(status)
	if err != nil {
		return s, fmt.Errorf("%s: %w", p.name, err)
	}
	s.HWMKiB, s.RSSKiB, s.Threads = f2.HWMKiB, f2.RSSKiB, f2.Threads
	s.AnonKiB, s.FileKiB = f2.AnonKiB, f2.FileKiB
	return s, nil
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the target binds it; on this otherwise idle machine that
// race is not worth a log-scraping protocol.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// buildGateway compiles ./cmd/switchyard of the module at repo into dir,
// statically as the release build is.
func buildGateway(ctx context.Context, repo, dir string) (string, error) {
	bin := filepath.Join(dir, "switchyard")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/switchyard")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/switchyard: %w\n%s", err, out)
	}
	return bin, nil
}

// fdLimit is the process's soft open-files limit, from /proc/<pid>/limits.
func (p *proc) fdLimit() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read %s limits: %w", p.name, err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return n, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("parse %s limits: no \"Max open files\" line", p.name)
}

// openFDs counts the process's open file descriptors: with streams held,
// it shows that the connections really are open at the target.
func (p *proc) openFDs() (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("list %s descriptors: %w", p.name, err)
	}
	return len(ents), nil
}
