package limit_test

// End-to-end: real gateway nodes in front of the mock upstream, keys and
// groups with limits declared in the file, the limiter's clock injected.
// Each scenario runs on one node (memory limiter) and on two nodes sharing
// PostgreSQL and Redis with requests alternating between them.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/testenv"
)

type nodes struct {
	t     *testing.T
	apps  []*app.App
	now   atomic.Int64
	next  atomic.Uint64
	start time.Time
}

func (n *nodes) clock() time.Time        { return time.Unix(0, n.now.Load()).UTC() }
func (n *nodes) advance(d time.Duration) { n.now.Add(int64(d)) }

var client = &http.Client{Timeout: 30 * time.Second}

func startNodes(t *testing.T, count int, mutate func(cfg *config.Config)) *nodes {
	t.Helper()
	up := httptest.NewServer(mock.New(mock.Options{DisableRecording: true}))
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	cfg.Channels = []config.Channel{{Name: "main", Type: "openai", BaseURL: up.URL, Models: []string{"m"},
		Groups: []string{"default", "team"}, Credentials: []config.Credential{{Key: "up-1"}}}}
	cfg.Groups = append(cfg.Groups, config.Group{Name: "team", Ratio: 1})
	cfg.Users = []config.User{{Email: "solo@example.com", Group: "default"}, {Email: "team@example.com", Group: "team"}}
	if mutate != nil {
		mutate(cfg)
	}
	if count > 1 {
		cfg.Database.URL = config.Secret(testenv.FreshPostgresURL(t))
		cfg.Redis.URL = config.Secret(testenv.RedisURL(t))
		cfg.Redis.Prefix = testenv.RedisPrefix(t, cfg.Redis.URL.Value())
		cfg.SecretKey = config.Secret(strings.Repeat("cd", 32))
	}
	n := &nodes{t: t, start: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	n.now.Store(n.start.UnixNano())
	for i := range count {
		c := *cfg
		if i > 0 {
			c.Server.DataDir = t.TempDir()
		}
		n.apps = append(n.apps, apptest.StartWith(t, &c, nil, app.WithClock(n.clock)))
	}
	return n
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (n *nodes) chat(key string) reply {
	n.t.Helper()
	a := n.apps[int(n.next.Add(1)-1)%len(n.apps)]
	req, _ := http.NewRequest("POST", "http://"+a.Addr()+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hello there"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		n.t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// expect sends len(want) requests and checks each status in turn.
func (n *nodes) expect(key string, want ...int) reply {
	n.t.Helper()
	var last reply
	for i, w := range want {
		last = n.chat(key)
		if last.status != w {
			n.t.Fatalf("request %d: status %d, want %d: %s", i+1, last.status, w, last.body)
		}
	}
	return last
}

func forBoth(t *testing.T, fn func(t *testing.T, count int)) {
	t.Run("one-node-memory", func(t *testing.T) { fn(t, 1) })
	t.Run("two-nodes-postgres-redis", func(t *testing.T) { fn(t, 2) })
}

const (
	soloKey  = "sk-limit-solo-0123456789abcdef"
	teamKey1 = "sk-limit-team1-0123456789abcdef"
	teamKey2 = "sk-limit-team2-0123456789abcdef"
)

func TestKeyRPM(t *testing.T) {
	forBoth(t, func(t *testing.T, count int) {
		n := startNodes(t, count, func(cfg *config.Config) {
			cfg.Keys = []config.Key{{Name: "solo", User: "solo@example.com", Key: soloKey, RPM: 3}}
		})
		r := n.expect(soloKey, 200, 200, 200, 429)
		if !strings.Contains(r.body, "rate_limit_exceeded") || r.header.Get("Retry-After") != "20" ||
			r.header.Get("Retry-After-Ms") != "20000" {
			t.Fatalf("429 without the right code and retry headers: %v %s", r.header, r.body)
		}
		n.advance(19 * time.Second)
		n.expect(soloKey, 429)
		n.advance(time.Second)
		n.expect(soloKey, 200, 429)
	})
}

func TestGroupBudgetIsShared(t *testing.T) {
	forBoth(t, func(t *testing.T, count int) {
		n := startNodes(t, count, func(cfg *config.Config) {
			cfg.Groups[len(cfg.Groups)-1].RPM = 4
			cfg.Keys = []config.Key{
				{Name: "t1", User: "team@example.com", Key: teamKey1},
				{Name: "t2", User: "team@example.com", Key: teamKey2},
				{Name: "solo", User: "solo@example.com", Key: soloKey},
			}
		})
		n.expect(teamKey1, 200, 200)
		n.expect(teamKey2, 200, 200, 429)
		n.expect(teamKey1, 429)
		n.expect(soloKey, 200, 200, 200, 200, 200) // another group: not counted
	})
}

func TestDailyRequests(t *testing.T) {
	forBoth(t, func(t *testing.T, count int) {
		n := startNodes(t, count, func(cfg *config.Config) {
			cfg.Keys = []config.Key{{Name: "solo", User: "solo@example.com", Key: soloKey, DailyRequests: 3}}
		})
		r := n.expect(soloKey, 200, 200, 200, 429)
		if r.header.Get("Retry-After") != fmt.Sprint(14*3600) { // 10:00 → midnight
			t.Fatalf("Retry-After %q, want the time to UTC midnight", r.header.Get("Retry-After"))
		}
		n.advance(14 * time.Hour)
		n.expect(soloKey, 200)
	})
}

func TestTPMDebt(t *testing.T) {
	forBoth(t, func(t *testing.T, count int) {
		n := startNodes(t, count, func(cfg *config.Config) {
			cfg.Keys = []config.Key{{Name: "solo", User: "solo@example.com", Key: soloKey, TPM: 10}}
		})
		// The first request is admitted with an empty budget and spends more
		// than 10 tokens; the key is then in debt until enough of a minute
		// passes.
		n.expect(soloKey, 200, 429)
		n.advance(2 * time.Minute)
		n.expect(soloKey, 200)
	})
}

func TestRPMHoldsUnderConcurrency(t *testing.T) {
	forBoth(t, func(t *testing.T, count int) {
		n := startNodes(t, count, func(cfg *config.Config) {
			cfg.Keys = []config.Key{{Name: "solo", User: "solo@example.com", Key: soloKey, RPM: 10}}
		})
		var mu sync.Mutex
		got := map[int]int{}
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				r := n.chat(soloKey)
				mu.Lock()
				got[r.status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if got[200] != 10 || got[429] != 90 {
			t.Fatalf("statuses %v, want exactly 10 × 200 and 90 × 429", got)
		}
	})
}
