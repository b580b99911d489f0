package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a private redis-server on a loopback port, for a test that
// kills it, starts it again on the same port with the same data, or needs
// settings the shared server must not be given.
type RedisServer struct {
	t    testing.TB
	bin  string
	dir  string
	port string
	args []string
	cmd  *exec.Cmd
}

// StartRedis starts a private redis-server with args added to its command
// line (say "--appendonly", "yes"), killed at the end of t. Without
// redis-server on PATH the test is skipped, or fails in CI.
func StartRedis(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(requireVar) != "" {
			t.Fatalf("redis-server is not on PATH but %s requires every service suite to run", requireVar)
		}
		t.Skip("redis-server is not on PATH; install it to run this test")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	r := &RedisServer{t: t, bin: bin, dir: t.TempDir(), port: port, args: args}
	r.Start()
	t.Cleanup(r.Kill)
	return r
}

// URL is the server's redis:// URL, database 0.
func (r *RedisServer) URL() string { return "redis://127.0.0.1:" + r.port + "/0" }

// Start runs the server (again) and waits for it to answer PING.
func (r *RedisServer) Start() {
	r.t.Helper()
	args := append([]string{"--port", r.port, "--bind", "127.0.0.1", "--dir", r.dir, "--save", "",
		"--protected-mode", "no"}, r.args...)
	r.cmd = exec.Command(r.bin, args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + r.port, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server not answering PING after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the server at once (SIGKILL), as a crash would.
func (r *RedisServer) Kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}
