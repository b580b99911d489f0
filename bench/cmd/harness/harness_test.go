package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
)

// The gateway configuration the harness writes must stay valid as the
// configuration schema grows.
func TestGatewayConfigLoads(t *testing.T) {
	dir := t.TempDir()
	for _, redisURL := range []string{"", "redis://127.0.0.1:6379/0"} {
		path := filepath.Join(dir, "switchyard.yaml")
		cfg := gatewayConfig("127.0.0.1:18081", dir, "sqlite://"+dir+"/x.db", redisURL, "sybenchtest:",
			randomHex(32), "http://127.0.0.1:18080", "sk-bench-"+randomHex(16))
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(config.LoadOptions{Path: path, LookupEnv: func(string) (string, bool) { return "", false }})
		if err != nil {
			t.Fatalf("redis %q: %v\n%s", redisURL, err, cfg)
		}
		if len(c.Keys) != 1 || c.Keys[0].RPM == 0 || len(c.Pricing) != 2 {
			t.Fatalf("keys %+v pricing %+v", c.Keys, c.Pricing)
		}
	}
}

func TestSetRates(t *testing.T) {
	scs := scenarios()
	if err := setRates(scs, "chat=50,embed-50k=7"); err != nil {
		t.Fatal(err)
	}
	if scs[0].Rate != 50 || scs[1].Rate != 100 || scs[2].Rate != 7 {
		t.Fatalf("rates %v %v %v", scs[0].Rate, scs[1].Rate, scs[2].Rate)
	}
	for _, bad := range []string{"chat", "chat=0", "nope=5", "chat=x"} {
		if err := setRates(scenarios(), bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEmbedInputSize(t *testing.T) {
	sc := scenarios()[2]
	if n := len(sc.Body); n < embedInputBytes || n > embedInputBytes+100 {
		t.Fatalf("embed body %d bytes", n)
	}
	if strings.ContainsAny(filler(1000), `"\`) {
		t.Fatal("filler needs JSON escaping")
	}
}

// stats reads a real process's CPU time and memory from /proc.
func TestProcStats(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	p, err := startProc("sleep", t.TempDir(), "", nil, "sleep", "5")
	if err != nil {
		if _, lookErr := exec.LookPath("sleep"); lookErr != nil {
			t.Skip("no sleep binary")
		}
		t.Fatal(err)
	}
	defer p.stop(time.Second)
	s, err := p.stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSKiB <= 0 || s.HWMKiB < s.RSSKiB || s.Threads < 1 || s.CPU < 0 {
		t.Fatalf("stats %+v", s)
	}
}
