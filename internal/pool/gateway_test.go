package pool_test

// End-to-end tests of the account pool: real gateway nodes (app.App on
// loopback) in front of the real mock upstream over sockets, with faults
// set per credential on the mock. Each scenario runs on one node (SQLite,
// scheduler state in memory) and on two nodes sharing PostgreSQL and Redis,
// alternating requests between the nodes, so shared state is what is
// tested there.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/switchyard/switchyard/internal/pool"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/internal/usage"
)

const (
	userKey  = "sk-pool-user-0123456789abcdef"
	adminKey = "sk-pool-admin-0123456789abcdef"
	model    = "pool-model"
)

// clock is a settable time shared by the nodes of one test.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time            { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration)   { c.ns.Add(int64(d)) }
func (c *clock) Set(t time.Time)           { c.ns.Store(t.UnixNano()) }
func (c *clock) Since(t time.Time) float64 { return c.Now().Sub(t).Seconds() }

// testClient bounds every request, so a hang fails the test that caused it
// with its name instead of the whole package timing out.
var testClient = &http.Client{Timeout: 30 * time.Second}

// cluster is one or two gateway nodes in front of one mock.
type cluster struct {
	t     *testing.T
	mock  *mock.Server
	up    string
	nodes []*app.App
	clock *clock
	next  atomic.Uint64
}

type backend struct {
	name  string
	nodes int
}

var backends = []backend{{"single-sqlite-memory", 1}, {"two-nodes-postgres-redis", 2}}

// forEachBackend runs fn once per backend as a subtest.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// keys names credentials k1…kn; the mock counts requests by key value.
func keys(prefix string, n int) []config.Credential {
	out := make([]config.Credential, n)
	for i := range out {
		out[i] = config.Credential{Key: config.Secret(fmt.Sprintf("%s%d", prefix, i+1))}
	}
	return out
}

func startCluster(t *testing.T, b backend, mutate func(cfg *config.Config)) *cluster {
	t.Helper()
	m := mock.New(mock.Options{DisableRecording: true})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	c := &cluster{t: t, mock: m, up: up.URL, clock: newClock()}
	base := apptest.Config(t)
	base.Scheduler.CircuitPause = 30 * time.Second
	base.Scheduler.Cooldown429 = 60 * time.Second
	// A stuck upstream call shows up as a failed request within the test
	// client's timeout, not as a package timeout.
	base.Upstream.FirstByteTimeout = 10 * time.Second
	base.Upstream.StreamIdle = 10 * time.Second
	base.Channels = []config.Channel{{Name: "main", Type: "openai", BaseURL: up.URL, Models: []string{model},
		Credentials: keys("k", 4)}}
	base.Keys = []config.Key{{Name: "user", Key: userKey}, {Name: "admin", Key: adminKey, Admin: true}}
	if b.nodes > 1 {
		base.Database.URL = config.Secret(testenv.FreshPostgresURL(t))
		base.Redis.URL = config.Secret(testenv.RedisURL(t))
		base.Redis.Prefix = testenv.RedisPrefix(t, base.Redis.URL.Value())
		base.SecretKey = config.Secret(strings.Repeat("ab", 32))
	}
	if mutate != nil {
		mutate(base)
	}
	for i := range b.nodes {
		cfg := *base
		if i > 0 {
			// Each node has its own data dir, as on its own machine.
			cfg.Server.DataDir = t.TempDir()
		}
		c.nodes = append(c.nodes, apptest.StartWith(t, &cfg, nil, app.WithClock(c.clock.Now)))
	}
	return c
}

// node returns the nodes in turn, so consecutive requests alternate.
func (c *cluster) node() *app.App {
	return c.nodes[int(c.next.Add(1)-1)%len(c.nodes)]
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (c *cluster) chat(key string, hdr map[string]string) answer {
	return c.chatOn(c.node(), key, hdr, false)
}

func (c *cluster) chatOn(n *app.App, key string, hdr map[string]string, stream bool) answer {
	c.t.Helper()
	return c.chatContent(n, key, hdr, stream, "hello")
}

func (c *cluster) chatContent(n *app.App, key string, hdr map[string]string, stream bool, content string) answer {
	c.t.Helper()
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}],"stream":%v}`, model, content, stream)
	req, err := http.NewRequest("POST", "http://"+n.Addr()+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		c.t.Errorf("request: %v", err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// uses is how many requests the mock has seen per credential.
func (c *cluster) uses() map[string]int64 { return c.mock.Counters().ByCredential }

func (c *cluster) views() map[string]pool.CredentialView {
	c.t.Helper()
	vs, err := c.nodes[0].Pool().Views(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]pool.CredentialView{}
	for _, v := range vs {
		out[fmt.Sprint(v.ID)] = v
	}
	return out
}

func TestRoundRobinSpreadsEvenly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b, nil)
		for i := range 100 {
			if a := c.chat(userKey, nil); a.status != 200 {
				t.Fatalf("request %d: %d %s", i, a.status, a.body)
			}
		}
		u := c.uses()
		for i := 1; i <= 4; i++ {
			if n := u[fmt.Sprintf("k%d", i)]; n < 24 || n > 26 {
				t.Errorf("k%d served %d of 100 requests, want 25±1 (all: %v)", i, n, u)
			}
		}
	})
}

func TestCooldownAfter429IsExact(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b, nil)
		// k2 answers its next request 429 with Retry-After 40 s.
		c.mock.SetFault("k2", mock.Fault{Status: 429, RetryAfter: 40, Times: 1})
		for range 4 {
			if a := c.chat(userKey, nil); a.status != 200 {
				t.Fatalf("429 was not failed over: %d %s", a.status, a.body)
			}
		}
		if n := c.uses()["k2"]; n != 1 {
			t.Fatalf("k2 used %d times in the first round, want 1 (the 429)", n)
		}
		t0 := c.clock.Now()
		for _, at := range []time.Duration{0, 20 * time.Second, 39*time.Second + 999*time.Millisecond} {
			c.clock.Set(t0.Add(at))
			for range 6 {
				if a := c.chat(userKey, nil); a.status != 200 {
					t.Fatalf("at +%v: %d %s", at, a.status, a.body)
				}
			}
			if n := c.uses()["k2"]; n != 1 {
				t.Fatalf("k2 used during its cooldown, at +%v (uses %v)", at, c.uses())
			}
		}
		c.clock.Set(t0.Add(40 * time.Second))
		for range 4 {
			c.chat(userKey, nil)
		}
		if n := c.uses()["k2"]; n != 2 {
			t.Fatalf("k2 not back in rotation right after its cooldown: %d uses (all %v)", n, c.uses())
		}
	})
}

// waitStatus waits until the credential whose key is keyValue has status.
func waitStatus(t *testing.T, c *cluster, keyValue, status string) pool.CredentialView {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v := findView(t, c, keyValue)
		if v.Status == status {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not %s: %+v", keyValue, status, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A request's 401 (or a 403 that refuses the key or the account) makes the
// credential a suspect; the pool's own probe, refused the same way,
// disables it; the periodic test revives it. (This test used to expect the
// request's 401 itself to disable it.)
func TestUnauthorizedCredentialIsDisabledAndRevived(t *testing.T) {
	faults := []struct {
		name  string
		fault mock.Fault
		why   string
	}{
		{"401", mock.Fault{Status: 401}, "401"},
		{"403 account deactivated", mock.Fault{Status: 403, Message: "Your account has been deactivated.", Code: "account_deactivated"}, "403"},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				c := startCluster(t, b, func(cfg *config.Config) {
					cfg.Scheduler.ChannelTestInterval = 150 * time.Millisecond
				})
				c.mock.SetFault("k3", f.fault)
				for range 20 {
					if a := c.chat(userKey, nil); a.status != 200 {
						t.Fatalf("%s was not failed over: %d %s", f.name, a.status, a.body)
					}
				}
				if c.uses()["k3"] < 2 {
					t.Fatalf("k3 not tried and probed: %v", c.uses())
				}
				v := waitStatus(t, c, "k3", pool.StatusDisabled)
				if !strings.Contains(v.DisabledReason, f.why) || !strings.Contains(v.DisabledReason, "confirmed by probe") {
					t.Errorf("reason does not say %s confirmed by probe: %+v", f.why, v)
				}
				c.mock.ClearFaults()
				waitStatus(t, c, "k3", pool.StatusActive)
				before := c.uses()["k3"]
				for range 8 {
					c.chat(userKey, nil)
				}
				if after := c.uses()["k3"]; after < before+2 {
					t.Fatalf("k3 not used after revival: %d → %d", before, after)
				}
			})
		})
	}
}

// TestRequestFaultsNeverDisable: a 403 about what was asked (content
// policy, a model the account lacks) fails over and teaches nothing: no
// probe, no disabling, however often it comes. A 401 whose probe succeeds
// leaves the credential enabled.
func TestRequestFaultsNeverDisable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b, nil)
		for _, msg := range []string{
			"Request blocked by content policy: flagged as violence.",
			"Your organization does not have access to the model pool-model.",
		} {
			c.mock.ClearFaults()
			c.mock.Reset()
			c.mock.SetFault("k2", mock.Fault{Status: 403, Message: msg})
			for range 8 {
				if a := c.chat(userKey, nil); a.status != 200 {
					t.Fatalf("403 was not failed over: %d %s", a.status, a.body)
				}
			}
			time.Sleep(100 * time.Millisecond) // a probe, if one were started, would land now
			// Pinned to k2, every request reaches it exactly once: more
			// requests than that would be probes.
			before := c.uses()["k2"]
			for range 5 {
				if a := c.chat(adminKey, map[string]string{"X-Switchyard-Credential": "2"}); a.status == 200 {
					t.Fatalf("pinned request got past the 403: %s", a.body)
				}
			}
			time.Sleep(100 * time.Millisecond)
			if n := c.uses()["k2"] - before; n != 5 {
				t.Errorf("%q: k2 saw %d requests for 5 pinned ones (a probe?)", msg, n)
			}
			if v := findView(t, c, "k2"); v.Status != pool.StatusActive {
				t.Fatalf("%q disabled k2: %+v", msg, v)
			}
		}

		// A 401 once: the probe succeeds, so k2 stays.
		c.mock.ClearFaults()
		c.mock.Reset()
		c.mock.SetFault("k2", mock.Fault{Status: 401, Times: 1})
		for range 4 {
			if a := c.chat(userKey, nil); a.status != 200 {
				t.Fatalf("401 was not failed over: %d %s", a.status, a.body)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for c.uses()["k2"] < 2 { // the request, then the probe
			if time.Now().After(deadline) {
				t.Fatalf("k2 not probed after its 401: %v", c.uses())
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		if v := findView(t, c, "k2"); v.Status != pool.StatusActive {
			t.Fatalf("k2 disabled although its probe succeeded: %+v", v)
		}
		before := c.uses()["k2"]
		for range 8 {
			c.chat(userKey, nil)
		}
		if after := c.uses()["k2"]; after != before+2 {
			t.Errorf("k2 not in rotation after its probe: %d → %d", before, after)
		}
	})
}

// findView returns the view of the credential whose key is keyValue (the
// view shows a hint of the key's last characters, so match the id through
// the mock's insertion order: k1 is id 1 and so on in a fresh database).
func findView(t *testing.T, c *cluster, keyValue string) pool.CredentialView {
	t.Helper()
	id := strings.TrimPrefix(keyValue, "k")
	v, ok := c.views()[id]
	if !ok {
		t.Fatalf("no view for %s (id %s)", keyValue, id)
	}
	return v
}

func TestServerErrorFailsOverAndOpensCircuit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b, func(cfg *config.Config) { cfg.Scheduler.CircuitFailures = 3 })
		c.mock.SetFault("k1", mock.Fault{Status: 500})
		for i := range 40 {
			if a := c.chat(userKey, nil); a.status != 200 {
				t.Fatalf("request %d: client saw %d %s", i, a.status, a.body)
			}
		}
		if n := c.uses()["k1"]; n != 3 {
			t.Fatalf("k1 tried %d times, want 3 (the circuit opens after 3 consecutive failures)", n)
		}
		if v := findView(t, c, "k1"); v.Circuit != "open" {
			t.Fatalf("circuit %q, want open", v.Circuit)
		}
		// After the pause, exactly one probe goes to k1; it fails and the
		// circuit opens again.
		c.clock.Advance(31 * time.Second)
		for range 8 {
			c.chat(userKey, nil)
		}
		if n := c.uses()["k1"]; n != 4 {
			t.Fatalf("k1 tried %d times after the pause, want exactly one probe (4)", n)
		}
		c.mock.ClearFaults()
		c.clock.Advance(31 * time.Second)
		for range 8 {
			c.chat(userKey, nil)
		}
		if v := findView(t, c, "k1"); v.Circuit != "closed" {
			t.Fatalf("a successful probe did not close the circuit: %+v", v)
		}
	})
}

func TestStreamBrokenAfterFirstByteIsNotRetried(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b, nil)
		for _, k := range []string{"k1", "k2", "k3", "k4"} {
			c.mock.SetFault(k, mock.Fault{DropAfter: 2, Chunks: 6})
		}
		a := c.chatOn(c.node(), userKey, nil, true)
		if a.status != 200 || !strings.Contains(a.body, "data: ") || !strings.Contains(a.body, "upstream_error") {
			t.Fatalf("want a committed stream ending in an error event, got %d %q", a.status, a.body)
		}
		if total := c.mock.Counters().Total; total != 1 {
			t.Fatalf("upstream called %d times, want 1: a stream is never retried after its first byte", total)
		}
	})
}

// concurrently sends n requests at once, spread over the nodes.
func (c *cluster) concurrently(n int) map[int]int {
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		node := c.node()
		wg.Go(func() {
			<-start
			a := c.chatOn(node, userKey, nil, false)
			mu.Lock()
			statuses[a.status]++
			mu.Unlock()
			if a.status != 200 && a.status != 503 && a.status != 429 {
				c.t.Errorf("unexpected %d %s", a.status, a.body)
			}
			if a.status != 200 && (!strings.Contains(a.body, "no_available_channel") || a.header.Get("Retry-After") == "") {
				c.t.Errorf("%d without no_available_channel and Retry-After: %v %s", a.status, a.header, a.body)
			}
		})
	}
	close(start)
	wg.Wait()
	return statuses
}

func TestMinIntervalHoldsUnderConcurrency(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b, func(cfg *config.Config) { cfg.Scheduler.MinInterval = time.Hour })
		st := c.concurrently(50)
		// Resting for min_interval is a rate limit: 429, not an outage.
		if st[200] != 4 || st[429] != 46 {
			t.Fatalf("statuses %v, want 4 × 200 (one per credential) and 46 × 429", st)
		}
		for k, n := range c.uses() {
			if n != 1 {
				t.Errorf("%s used %d times within min_interval", k, n)
			}
		}
		c.clock.Advance(time.Hour)
		if st := c.concurrently(10); st[200] != 4 {
			t.Fatalf("after min_interval: %v, want 4 × 200", st)
		}
	})
}

func TestDailyCapsHoldUnderConcurrency(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b, func(cfg *config.Config) {
			cfg.Scheduler.DailyUsageRatio = 0.8
			creds := keys("k", 4)
			for i := range creds {
				creds[i].DailyLimit = 10 // rests at 8 uses
			}
			cfg.Channels[0].Credentials = creds
		})
		st := c.concurrently(50)
		if st[200] != 32 || st[503] != 18 {
			t.Fatalf("statuses %v, want 32 × 200 (4 credentials × 0.8 × 10) and 18 × 503", st)
		}
		for k, n := range c.uses() {
			if n != 8 {
				t.Errorf("%s used %d times, want 8", k, n)
			}
		}
		// The day turns: every credential is back.
		now := c.clock.Now()
		c.clock.Set(time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 1, 0, time.UTC))
		if st := c.concurrently(8); st[200] != 8 {
			t.Fatalf("after midnight: %v", st)
		}
	})
}

func TestAdminPinning(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b, nil)
		// Refused until the probe confirms it (the fault used to be one
		// 401, which then disabled k2 by itself).
		c.mock.SetFault("k2", mock.Fault{Status: 401})
		for range 4 {
			c.chat(userKey, nil)
		}
		waitStatus(t, c, "k2", pool.StatusDisabled)
		c.mock.ClearFaults()
		c.mock.Reset()
		// An admin may test the disabled account directly.
		a := c.chat(adminKey, map[string]string{"X-Switchyard-Credential": "2"})
		if a.status != 200 {
			t.Fatalf("pinned request: %d %s", a.status, a.body)
		}
		if n := c.uses()["k2"]; n != 1 {
			t.Fatalf("pinned request did not reach k2: %v", c.uses())
		}
		a = c.chat(userKey, map[string]string{"X-Switchyard-Channel": "main"})
		if a.status != 403 || !strings.Contains(a.body, "pin_not_allowed") {
			t.Fatalf("non-admin pin: %d %s", a.status, a.body)
		}
		a = c.chat(adminKey, map[string]string{"X-Switchyard-Channel": "nope"})
		if a.status != 400 || !strings.Contains(a.body, "X-Switchyard-Channel") {
			t.Fatalf("unknown pinned channel: %d %s", a.status, a.body)
		}
	})
}

func TestOAuthRefreshOn401AndBeforeExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b, func(cfg *config.Config) {
			cfg.Channels = []config.Channel{{Name: "oauth", Type: "openai", BaseURL: cfg.Channels[0].BaseURL,
				TokenURL: cfg.Channels[0].BaseURL + "/oauth/token?expires_in=3600", Models: []string{model},
				Credentials: []config.Credential{{AccessToken: "at-stale", RefreshToken: "rt-seed",
					ExpiresAt: time.Now().Add(24 * time.Hour), Email: "acct@example.com"}}}}
		})
		c.mock.SetFault("at-stale", mock.Fault{Status: 401})
		if a := c.chat(userKey, nil); a.status != 200 {
			t.Fatalf("401 then refresh: %d %s", a.status, a.body)
		}
		u := c.uses()
		if u["at-stale"] != 1 || u["rt-seed"] != 1 {
			t.Fatalf("want one 401 on the stale token and one refresh: %v", u)
		}
		// The rotated refresh token is stored; a second 401 refreshes with it.
		var fresh string
		for k := range c.uses() {
			if strings.HasPrefix(k, "mock-at-") {
				fresh = k
			}
		}
		if fresh == "" {
			t.Fatalf("no request with the refreshed token: %v", c.uses())
		}
		c.mock.SetFault(fresh, mock.Fault{Status: 401, Times: 1})
		if a := c.chat(userKey, nil); a.status != 200 {
			t.Fatalf("second 401: %d %s", a.status, a.body)
		}
		refreshes := 0
		for k, n := range c.uses() {
			if strings.HasPrefix(k, "mock-rt-") || k == "rt-seed" {
				refreshes += int(n)
			}
		}
		if refreshes != 2 {
			t.Fatalf("want 2 refreshes (seed, then the rotated token), counters %v", c.uses())
		}
		// Before expiry: move the clock to 20 s before the token expires;
		// the next request refreshes first.
		c.clock.Advance(time.Hour - 20*time.Second) // tokens were issued at the (fixed) test time
		if a := c.chat(userKey, nil); a.status != 200 {
			t.Fatalf("near expiry: %d %s", a.status, a.body)
		}
		refreshes = 0
		for k, n := range c.uses() {
			if strings.HasPrefix(k, "mock-rt-") || k == "rt-seed" {
				refreshes += int(n)
			}
		}
		if refreshes != 3 {
			t.Fatalf("want a third refresh before expiry, counters %v", c.uses())
		}
	})
}

func TestRequestLogNamesFailovers(t *testing.T) {
	m := mock.New(mock.Options{DisableRecording: true})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	cfg.Channels = []config.Channel{{Name: "main", Type: "openai", BaseURL: up.URL, Models: []string{model},
		Credentials: keys("k", 2)}}
	cfg.Keys = []config.Key{{Name: "user", Key: userKey}}
	var logs testenv.Output
	n := apptest.StartWith(t, cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	m.SetFault("k1", mock.Fault{Status: 503, Times: 1})
	c := &cluster{t: t, mock: m, nodes: []*app.App{n}}
	if a := c.chat(userKey, nil); a.status != 200 {
		t.Fatal(a.status, a.body)
	}
	// The access log line is written once the handler returns, which is
	// just after the client has its answer.
	var line map[string]any
	for deadline := time.Now().Add(5 * time.Second); line == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"msg":"http request"`) && strings.Contains(l, "/v1/chat/completions") {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if line == nil {
		t.Fatalf("no access log line:\n%s", logs.String())
	}
	if line["channel"] != "main" || line["credential"] != float64(2) || line["attempts"] != float64(2) ||
		!strings.Contains(fmt.Sprint(line["failovers"]), "channel main credential 1: upstream status 503") {
		t.Fatalf("access log line lacks the routing story: %v", line)
	}
	// The usage row keeps the same story, attempt by attempt.
	if err := n.Meter().Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	rows, err := usage.NewStore(n.DB()).Query(t.Context(), usage.Filter{})
	if err != nil || len(rows) != 1 {
		t.Fatalf("usage rows %+v, %v", rows, err)
	}
	a := rows[0].RouteAttempts()
	if len(a) != 2 || a[0].Channel != "main" || a[0].CredentialID != 1 || a[0].Status != 503 ||
		!strings.Contains(a[0].Error, "upstream status 503") || a[1].CredentialID != 2 || a[1].Status != 200 || a[1].Error != "" {
		t.Fatalf("usage row route %s", rows[0].Route)
	}
}

func TestFailoverNeverRepeatsACredentialAndStopsOnClientErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b, func(cfg *config.Config) { cfg.Scheduler.MaxAttempts = 3 })
		for _, k := range []string{"k1", "k2", "k3", "k4"} {
			c.mock.SetFault(k, mock.Fault{Status: 502, Times: 1})
		}
		a := c.chat(userKey, nil)
		if a.status != 502 || !strings.Contains(a.body, "upstream_error") {
			t.Fatalf("every attempt failed: want 502 upstream_error, got %d %s", a.status, a.body)
		}
		u := c.uses()
		if len(u) != 3 {
			t.Fatalf("want 3 distinct credentials tried once each (max_attempts 3), got %v", u)
		}
		for k, n := range u {
			if n != 1 {
				t.Errorf("%s tried %d times in one request", k, n)
			}
		}
		// A 400 is the request's own fault: answered as is, not retried.
		c.mock.Reset()
		c.mock.ClearFaults()
		a = c.chatContent(c.node(), userKey, nil, false, "[[mock status=400]] hello")
		if a.status != 400 {
			t.Fatalf("upstream 400: client got %d %s", a.status, a.body)
		}
		if total := c.mock.Counters().Total; total != 1 {
			t.Fatalf("a 400 was retried: %d upstream calls", total)
		}
	})
}

// On a single node the scheduler state lives in memory; it is saved when
// the node stops and loaded when it starts, so a restart does not hand a
// credential its daily requests a second time.
func TestSingleNodeStateSurvivesRestart(t *testing.T) {
	m := mock.New(mock.Options{DisableRecording: true})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	cfg.Scheduler.DailyUsageRatio = 1
	creds := keys("k", 2)
	for i := range creds {
		creds[i].DailyLimit = 3
	}
	cfg.Channels = []config.Channel{{Name: "main", Type: "openai", BaseURL: up.URL, Models: []string{model}, Credentials: creds}}
	cfg.Keys = []config.Key{{Name: "user", Key: userKey}}
	clk := newClock()
	run := func(requests int) map[int]int {
		a, err := app.New(context.Background(), cfg, nil, app.WithClock(clk.Now))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		<-a.Ready()
		c := &cluster{t: t, mock: m, nodes: []*app.App{a}}
		got := map[int]int{}
		for range requests {
			got[c.chat(userKey, nil).status]++
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := run(4); got[200] != 4 {
		t.Fatalf("first run: %v", got)
	}
	// 2 of the 6 daily requests are left, whatever the restart.
	if got := run(4); got[200] != 2 || got[503] != 2 {
		t.Fatalf("after a restart: %v, want 2 × 200 and 2 × 503 (daily limits 2 × 3)", got)
	}
}
