package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

const (
	killEmail   = "load@example.com"
	killKey     = "sk-kill-test-0123456789abcdef0123456789"
	killCredit  = 50 * billing.Micros(1_000_000) // 50.00 USD
	killWorkers = 32
	// killAfter completed requests the gateway is killed.
	killAfter = 150
)

// The requirement: a gateway killed with SIGKILL in the middle of a
// load run and started again has every charge it settled on the ledger and
// no reservation stranded — on one node (journal files) and with PostgreSQL
// and Redis (the journal in Redis, the node's own holds released at start).
func TestKill(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		data := filepath.Join(dir, "data")
		killRun(t, dir, "sqlite://"+filepath.Join(data, "switchyard.db"), "", nil)
	})
	t.Run("postgres-redis", func(t *testing.T) {
		dir := t.TempDir()
		dbURL := testenv.FreshPostgresURL(t)
		redisURL := testenv.RedisURL(t)
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		prefix := testenv.RedisPrefix(t, redisURL)
		extra := fmt.Sprintf("database:\n  url: %q\nredis:\n  url: %q\n  prefix: %q\nsecret_key: %s\n",
			dbURL, redisURL, prefix, hex.EncodeToString(secret))
		rdb := testenv.RedisClient(t, redisURL)
		// On failure: what the billing state in Redis still holds.
		diag := func(ctx context.Context) string {
			bill := prefix + "bill:"
			holds, _ := rdb.HLen(ctx, bill+"o:"+readNodeID(dir)).Result()
			return fmt.Sprintf("redis: journal %d records, node's open holds %d, drain lock ttl %v",
				rdb.LLen(ctx, bill+"j").Val(), holds, rdb.PTTL(ctx, bill+"lock").Val())
		}
		killRun(t, dir, dbURL, extra, diag)
	})
}

// killOutcome is what the client saw of one request.
type killOutcome struct {
	id       string
	complete bool
}

// killRun loads, kills, restarts and stops the gateway of the config in
// dir plus extra, then checks the ledger in dbURL; diag, if set, describes
// the hot state when a check fails.
func killRun(t *testing.T, dir, dbURL, extra string, diag func(context.Context) string) {
	up := httptest.NewServer(mock.New(mock.Options{DisableRecording: true}))
	t.Cleanup(up.Close)
	addr := freePort(t)
	cfgPath := filepath.Join(dir, "switchyard.yaml")
	cfg := fmt.Sprintf(`server:
  listen: %s
  data_dir: %s
  shutdown_timeout: 5s
channels:
  - name: mock
    type: openai
    base_url: %s
    models: [m]
    credentials: [{key: mock-a}, {key: mock-b}]
users:
  - {email: %s, credit: 50.00}
keys:
  - {name: load, user: %s, key: %s}
pricing:
  m: {input: 1, output: 2}
`, addr, filepath.Join(dir, "data"), up.URL, killEmail, killEmail, killKey) + extra
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr

	cmd, out := startCLI(t, dir, "serve", "-c", cfgPath)
	waitReady(t, base, out)

	// The load: every worker loops until the kill, each request with its
	// own id, streams and plain answers mixed, the upstream slow enough
	// that many requests are in flight at any moment.
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: killWorkers, DisableCompression: true},
	}
	defer client.CloseIdleConnections()
	var (
		next, done, inFlight atomic.Int64
		stop                 atomic.Bool
		mu                   sync.Mutex
		outcomes             []killOutcome
		firstErr             string
		killNow              = make(chan struct{})
		killOnce             sync.Once
	)
	loadCtx, cancelLoad := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancelLoad()
	var wg sync.WaitGroup
	for range killWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && loadCtx.Err() == nil {
				n := next.Add(1)
				id := fmt.Sprintf("kill-%d", n)
				inFlight.Add(1)
				err := killRequest(loadCtx, client, base, id, n%2 == 0, n)
				inFlight.Add(-1)
				mu.Lock()
				outcomes = append(outcomes, killOutcome{id: id, complete: err == nil})
				if err != nil && !stop.Load() && firstErr == "" {
					firstErr = id + ": " + err.Error()
				}
				mu.Unlock()
				if err == nil && done.Add(1) == killAfter {
					killOnce.Do(func() { close(killNow) })
				}
			}
		}()
	}

	select {
	case <-killNow:
	case <-time.After(45 * time.Second):
		stop.Store(true)
		cancelLoad()
		wg.Wait()
		t.Fatalf("only %d of %d requests completed in 45s (first error: %s)\noutput:\n%s", done.Load(), next.Load(), firstErr, out)
	}
	stop.Store(true)
	atKill := inFlight.Load()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, out, func(err error) bool {
		var ee *exec.ExitError
		return errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	})
	wg.Wait()
	if atKill == 0 {
		t.Fatal("no request was in flight at the kill; the load is too light to prove anything")
	}
	if firstErr != "" {
		t.Fatalf("a request failed before the kill: %s\noutput:\n%s", firstErr, out)
	}
	completed := map[string]bool{}
	for _, o := range outcomes {
		if o.complete {
			completed[o.id] = true
		}
	}

	// The same binary, configuration and data dir again.
	cmd2, out2 := startCLI(t, dir, "serve", "-c", cfgPath)
	waitReady(t, base, out2)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	db, err := store.Open(ctx, dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The drainer posts in the background: give it a bounded while. With
	// Redis it waits for the killed process's drain lock to lapse (10 s
	// after its last renewal).
	deadline := time.Now().Add(20 * time.Second)
	var rep killReport
	for {
		rep = killCheck(ctx, t, db, completed)
		if len(rep.problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	terminate(t, cmd2, out2)

	rep = killCheck(ctx, t, db, completed)
	t.Logf("requests sent %d, completed %d, in flight at the kill %d; ledger: %d reserves, %d settles (%d folded), %d holds released unsettled",
		len(outcomes), len(completed), atKill, rep.reserves, rep.settles, rep.folded, rep.releasedOnly)
	if len(rep.problems) > 0 {
		sort.Strings(rep.problems)
		if len(rep.problems) > 20 {
			rep.problems = append(rep.problems[:20], fmt.Sprintf("… and %d more", len(rep.problems)-20))
		}
		state := "files in the billing dir: " + billingFiles(dir)
		if diag != nil {
			state += "\n" + diag(ctx)
		}
		t.Errorf("after the restart and a clean stop: %d holds stranded, %d completed requests not charged:\n  %s\n%s\nfirst run output (tail):\n%s\nsecond run output (tail):\n%s",
			rep.stranded, rep.unsettled, strings.Join(rep.problems, "\n  "), state, tail(out.String(), 30), tail(out2.String(), 30))
	}
}

// killRequest sends one chat completion and returns nil only when the
// client got the whole answer: a full JSON body, or a stream to [DONE].
func killRequest(ctx context.Context, client *http.Client, base, id string, stream bool, n int64) error {
	// Upstream latency and a chunk delay, varied so requests overlap at
	// every stage (waiting for the first byte, mid-stream, finishing).
	directive := fmt.Sprintf("[[mock latency=%dms chunk_delay=%dms chunks=6]]", 20+n%5*15, 5+n%4*5)
	body := fmt.Sprintf(`{"model":"m","max_tokens":50,"stream":%t,"messages":[{"role":"user","content":"request %s %s"}]}`,
		stream, id, directive)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+killKey)
	req.Header.Set("X-Request-Id", id)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if !stream {
		var answer struct {
			Choices []json.RawMessage `json:"choices"`
			Usage   struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &answer); err != nil || len(answer.Choices) == 0 {
			return fmt.Errorf("incomplete answer %.200q: %v", b, err)
		}
		return nil
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if bytes.Equal(bytes.TrimSpace(sc.Bytes()), []byte("data: [DONE]")) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("stream ended without [DONE]")
}

type killReport struct {
	reserves, settles, releasedOnly int
	folded                          int // settle rows standing for their reserve and release
	stranded, unsettled             int // holds never released; completed requests not charged
	problems                        []string
}

// killCheck reads the ledger and the balance and lists every broken
// promise: the audit, stranded holds, completed requests not charged, and
// the balance not being the credit less the charges.
func killCheck(ctx context.Context, t *testing.T, db *store.DB, completed map[string]bool) killReport {
	t.Helper()
	l := billing.NewLedger(db, nil)
	var rep killReport
	bad := func(format string, args ...any) { rep.problems = append(rep.problems, fmt.Sprintf(format, args...)) }

	mis, err := l.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mis {
		bad("audit: user %s balance %d, ledger sum %d", m.Email, m.Balance, m.LedgerSum)
	}

	type charge struct {
		reserve, release, settle *billing.Micros
		note                     string
	}
	charges := map[string]*charge{}
	byRequest := map[string]string{} // client request id → charge
	rows, err := db.Read().QueryContext(ctx, `SELECT request_id, kind, amount_micros, note FROM ledger
		WHERE kind IN ('reserve', 'release', 'settle') ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			id, kind, note string
			amount         int64
		)
		if err := rows.Scan(&id, &kind, &amount, &note); err != nil {
			t.Fatal(err)
		}
		c := charges[id]
		if c == nil {
			c = &charge{}
			charges[id] = c
		}
		a := billing.Micros(amount)
		switch kind {
		case "reserve":
			c.reserve, c.note = &a, note
			if req, ok := strings.CutPrefix(note, "request "); ok {
				byRequest[req] = id
			}
		case "release":
			c.release = &a
		case "settle":
			// A hold settled within the journal file it was made in is
			// one settle row, carrying the reserve's note (folded).
			c.settle = &a
			if req, ok := strings.CutPrefix(note, "request "); ok {
				c.note = note
				byRequest[req] = id
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()

	var charged billing.Micros
	for id, c := range charges {
		switch {
		case c.reserve == nil && c.release == nil && c.settle != nil:
			rep.folded++
		case c.reserve == nil:
			bad("charge %s: release without a reserve", id)
			continue
		case c.release == nil:
			rep.stranded++
			bad("stranded: charge %s (%s) reserved %d and never released", id, c.note, *c.reserve)
		case *c.release != -*c.reserve:
			bad("charge %s (%s): reserved %d, released %d", id, c.note, *c.reserve, *c.release)
		}
		if c.reserve != nil {
			rep.reserves++
		}
		if c.settle != nil {
			rep.settles++
			charged += *c.settle
		} else {
			rep.releasedOnly++
		}
	}
	for req := range completed {
		c, ok := charges[byRequest[req]]
		if !ok || c.settle == nil {
			rep.unsettled++
		}
		switch {
		case !ok:
			bad("completed request %s: no reserve or folded settle row", req)
		case c.settle == nil:
			bad("completed request %s: charge %s never settled", req, byRequest[req])
		case *c.settle >= 0:
			bad("completed request %s: settle amount %d", req, *c.settle)
		}
	}
	if rep.settles < len(completed) {
		bad("%d settle rows for %d completed requests", rep.settles, len(completed))
	}

	uid, err := l.UserID(ctx, killEmail)
	if err != nil {
		t.Fatal(err)
	}
	bal, err := l.Balance(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	if want := killCredit + charged; bal != want {
		bad("balance %d, want the credit %d plus the settled charges %d = %d (holds not given back: %d)",
			bal, killCredit, charged, want, want-bal)
	}
	return rep
}

// waitReady polls /readyz until it answers 200.
func waitReady(t *testing.T, base string, out *syncBuf) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz not 200 after 30s: %v\noutput:\n%s", base, err, out)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitExit waits (bounded) for cmd to exit and checks how with ok.
func waitExit(t *testing.T, cmd *exec.Cmd, out *syncBuf, ok func(error) bool) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if !ok(err) {
			t.Fatalf("unexpected exit: %v\noutput:\n%s", err, out)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after 20s\noutput:\n%s", out)
	}
}

func billingFiles(dir string) string {
	ents, err := os.ReadDir(filepath.Join(dir, "data", "billing"))
	if err != nil {
		return err.Error()
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func readNodeID(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "data", "billing", "node-id"))
	return strings.TrimSpace(string(b))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
