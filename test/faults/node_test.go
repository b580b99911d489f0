package faults_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/usage"
)

const (
	model   = "m" // 1 micro-USD per input token, 2 per output token
	email   = "faults@example.com"
	userKey = "sk-faults-user-0123456789abcdef"
	credit  = 1_000_000 // 1 USD
)

// upstream is the real mock behind a thin handler that sees what the mock
// cannot report itself: when each of its handlers returns (the request
// context ended, or the answer was written in full), and an optional stall
// after a number of stream writes, to freeze a stream mid-way.
type upstream struct {
	mock *mock.Server
	srv  *httptest.Server

	running  atomic.Int64 // mock handlers in progress
	finished atomic.Int64 // mock handlers returned
	lastEnd  atomic.Int64 // unix nanos of the last handler return
	written  atomic.Int64 // body bytes the mock has written

	stallAfter atomic.Int64 // writes before the stall; 0: none
	stallFor   atomic.Int64 // nanos; the stall ends sooner if the request ends
	// sndBuf, when set, is the send buffer of connections accepted from
	// then on, to keep what the kernel holds for a slow reader small.
	sndBuf atomic.Int64
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{mock: mock.New(mock.Options{})}
	u.srv = httptest.NewUnstartedServer(u)
	u.srv.Listener = &bufListener{Listener: u.srv.Listener, size: &u.sndBuf}
	u.srv.Start()
	t.Cleanup(u.srv.Close)
	return u
}

type bufListener struct {
	net.Listener
	size *atomic.Int64
}

func (l *bufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok && l.size.Load() > 0 {
		_ = tc.SetWriteBuffer(int(l.size.Load()))
	}
	return c, err
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_mock/") {
		u.mock.ServeHTTP(w, r)
		return
	}
	u.running.Add(1)
	defer func() {
		// Runs when the mock aborts the connection with a panic too.
		u.lastEnd.Store(time.Now().UnixNano())
		u.finished.Add(1)
		u.running.Add(-1)
	}()
	w = &watchWriter{ResponseWriter: w, u: u, ctx: r.Context(), stallAfter: u.stallAfter.Load(),
		stallFor: time.Duration(u.stallFor.Load())}
	u.mock.ServeHTTP(w, r)
}

// stall freezes every stream after n writes for d (or until the request
// ends).
func (u *upstream) stall(n int, d time.Duration) {
	u.stallFor.Store(int64(d))
	u.stallAfter.Store(int64(n))
}

// watchWriter counts what the mock writes and applies the stall.
type watchWriter struct {
	http.ResponseWriter
	u          *upstream
	ctx        context.Context
	stallAfter int64
	stallFor   time.Duration
	writes     int64
}

func (w *watchWriter) Write(b []byte) (int, error) {
	w.writes++
	if w.stallAfter > 0 && w.writes == w.stallAfter+1 {
		select {
		case <-time.After(w.stallFor):
		case <-w.ctx.Done():
			return 0, w.ctx.Err()
		}
	}
	n, err := w.ResponseWriter.Write(b)
	w.u.written.Add(int64(n))
	return n, err
}

func (w *watchWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *watchWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// node is one gateway in front of one upstream, with a client of its own.
type node struct {
	t      *testing.T
	app    *app.App
	up     *upstream
	client *http.Client
	tr     *http.Transport
	// key is the API key requests are sent with; "" is userKey.
	key string
	// rcvBuf, when set, is the receive buffer of the client's connections
	// dialled from then on.
	rcvBuf atomic.Int64
	// base is the goroutine count with the node idle and no connection
	// open, taken by start; checkLeaks compares against it.
	base int
}

// startNode starts a node on SQLite with one user (1 USD), one key and one
// channel of two credentials (k1, k2) on the mock. mutate adjusts the
// configuration before the start.
func startNode(t *testing.T, mutate func(cfg *config.Config)) *node {
	t.Helper()
	up := newUpstream(t)
	cfg := apptest.Config(t)
	// Generous by default: the cases that are about timeouts set their own.
	cfg.Upstream.FirstByteTimeout = 5 * time.Second
	cfg.Upstream.StreamIdle = 5 * time.Second
	// Failures must not open circuits between the requests of one case,
	// so that each request meets the fault it was sent with.
	cfg.Scheduler.CircuitFailures = 1000
	cfg.Channels = []config.Channel{{Name: "main", Type: "openai", BaseURL: up.srv.URL, Models: []string{model},
		Credentials: []config.Credential{{Key: "k1"}, {Key: "k2"}}}}
	cfg.Pricing = map[string]config.Price{model: {Input: 1, Output: 2}}
	cfg.Users = []config.User{{Email: email, Credit: 1}}
	cfg.Keys = []config.Key{{Name: "user", User: email, Key: userKey}}
	if mutate != nil {
		mutate(cfg)
	}
	a := apptest.StartWith(t, cfg, nil, app.WithMeter(func(o *billing.MeterOptions) {
		o.DrainEvery = 50 * time.Millisecond
	}))
	n := &node{t: t, app: a, up: up}
	var d net.Dialer
	n.tr = &http.Transport{MaxIdleConnsPerHost: 16, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok && n.rcvBuf.Load() > 0 {
			_ = tc.SetReadBuffer(int(n.rcvBuf.Load()))
		}
		return c, err
	}}
	tr := n.tr
	n.client = &http.Client{Transport: tr, Timeout: 20 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	// One request first, so that what is started once per process or per
	// node (transports, pools, caches) is in the baseline.
	if a := n.send("warm up", false); a.status != 200 {
		t.Fatalf("warm-up request: %d %s", a.status, a.body)
	}
	n.up.mock.Reset()
	n.base = n.quiesce()
	return n
}

// request builds a chat request for content.
func (n *node) request(ctx context.Context, content string, stream bool) *http.Request {
	return n.requestFor(ctx, model, content, stream)
}

func (n *node) requestFor(ctx context.Context, model, content string, stream bool) *http.Request {
	body, _ := json.Marshal(map[string]any{"model": model, "stream": stream, "max_tokens": 1000,
		"messages": []map[string]string{{"role": "user", "content": content}}})
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+n.app.Addr()+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		n.t.Fatal(err)
	}
	key := userKey
	if n.key != "" {
		key = n.key
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	return req
}

type answer struct {
	status int
	header http.Header
	body   string
	took   time.Duration
}

// send sends one chat request and reads the whole answer.
func (n *node) send(content string, stream bool) answer {
	n.t.Helper()
	return n.sendFor(model, content, stream)
}

func (n *node) sendFor(model, content string, stream bool) answer {
	n.t.Helper()
	start := time.Now()
	resp, err := n.client.Do(n.requestFor(context.Background(), model, content, stream))
	if err != nil {
		n.t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatalf("read answer: %v", err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b), took: time.Since(start)}
}

// code is the error code of an error answer in the OpenAI shape.
func (a answer) code() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
			Type string `json:"type"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(a.body), &e) != nil {
		return ""
	}
	return e.Error.Code
}

// events splits a stream into its data payloads.
func (a answer) events() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(a.body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

// aborted reports whether a 200 stream ended with the gateway's abort
// event (an OpenAI error payload) and without [DONE].
func (a answer) aborted() bool {
	ev := a.events()
	if a.status != 200 || len(ev) == 0 || strings.Contains(a.body, "[DONE]") {
		return false
	}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	return json.Unmarshal([]byte(ev[len(ev)-1]), &e) == nil && e.Error.Code == "upstream_error"
}

// wantError checks an error answer: status, code, the OpenAI shape, and no
// internal detail leaking into the message.
func (n *node) wantError(what string, a answer, status int, code string) {
	n.t.Helper()
	if a.status != status || a.code() != code {
		n.t.Fatalf("%s: %d %s, want %d %s", what, a.status, a.body, status, code)
	}
	noGoError(n.t, what, a.body)
}

// noGoError fails when a client-facing body carries a Go error's text.
func noGoError(t *testing.T, what, body string) {
	t.Helper()
	for _, s := range []string{"invalid character", "unexpected EOF", "unexpected end of JSON", "dial tcp",
		"connection refused", "context deadline", "context canceled", "127.0.0.1", "timeout awaiting"} {
		if strings.Contains(body, s) {
			t.Fatalf("%s: answer leaks an internal error (%q): %s", what, s, body)
		}
	}
}

// settle drains the meter until the usage log holds want rows besides the
// warm-up's and every reserve on the ledger has its release, then returns
// those rows, oldest first. Rows appear a little after the client has its
// answer, so it polls.
func (n *node) settle(want int) []usage.Row {
	n.t.Helper()
	return n.settleRange(want, want)
}

// settleRange is settle for a case that cannot know exactly how many of
// its requests were logged: at least least and at most most rows.
func (n *node) settleRange(least, most int) []usage.Row {
	n.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := n.app.Meter().Drain(ctx); err != nil {
			n.t.Fatalf("drain: %v", err)
		}
		rows := n.usageRows()
		if len(rows) > 0 {
			rows = rows[1:] // the warm-up's
		}
		open := n.openHolds()
		if len(rows) >= least && len(open) == 0 {
			if len(rows) > most {
				n.t.Fatalf("usage log holds %d rows, want %d to %d", len(rows), least, most)
			}
			return rows
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("after draining: %d usage rows (want %d to %d), holds never released: %v", len(rows), least, most, open)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *node) usageRows() []usage.Row {
	n.t.Helper()
	rows, err := usage.NewStore(n.app.DB()).Query(context.Background(), usage.Filter{Limit: usage.MaxLimit})
	if err != nil {
		n.t.Fatalf("read usage: %v", err)
	}
	// Newest first from Query; the cases read them in request order.
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows
}

// charges is the request path's ledger rows: charge → kind → amount.
func (n *node) charges() map[string]map[billing.Kind]int64 {
	n.t.Helper()
	db := n.app.DB().Read()
	rows, err := db.QueryContext(context.Background(), "SELECT request_id, kind, amount_micros FROM ledger")
	if err != nil {
		n.t.Fatalf("read ledger: %v", err)
	}
	defer rows.Close()
	out := map[string]map[billing.Kind]int64{}
	for rows.Next() {
		var (
			charge string
			kind   billing.Kind
			amount int64
		)
		if err := rows.Scan(&charge, &kind, &amount); err != nil {
			n.t.Fatalf("read ledger: %v", err)
		}
		if kind != billing.KindReserve && kind != billing.KindRelease && kind != billing.KindSettle {
			continue
		}
		if out[charge] == nil {
			out[charge] = map[billing.Kind]int64{}
		}
		out[charge][kind] = amount
	}
	if err := rows.Err(); err != nil {
		n.t.Fatalf("read ledger: %v", err)
	}
	return out
}

// openHolds lists the charges reserved and not (or not fully) released.
func (n *node) openHolds() []string {
	var open []string
	for charge, kinds := range n.charges() {
		if res, ok := kinds[billing.KindReserve]; ok && kinds[billing.KindRelease] != -res {
			open = append(open, charge)
		}
	}
	return open
}

// wantFree checks that a failed request cost nothing: its row, no settle,
// its reserve released in full (or, settled within the journal file it was
// reserved in, no reserve and no release: folded, see billing.entries).
func (n *node) wantFree(r usage.Row, status int) {
	n.t.Helper()
	if r.Status != status || r.CostMicros != 0 {
		n.t.Errorf("failed request logged with status %d cost %d, want %d at no cost", r.Status, r.CostMicros, status)
	}
	kinds := n.charges()[r.ChargeID]
	if s, ok := kinds[billing.KindSettle]; ok && s != 0 {
		n.t.Errorf("charge %s of a failed request settled %d", r.ChargeID, s)
	}
	if res := kinds[billing.KindReserve]; res > 0 || kinds[billing.KindRelease] != -res {
		n.t.Errorf("charge %s: reserve %d, release %d", r.ChargeID, res, kinds[billing.KindRelease])
	}
}

// wantRelayedOnly checks that a cut stream was charged for what it relayed
// (some tokens, fewer than maxTokens) at the model's prices, and that the
// settle matches.
func (n *node) wantRelayedOnly(r usage.Row, status, maxTokens int) {
	n.t.Helper()
	if r.Status != status {
		n.t.Errorf("cut stream logged with status %d, want %d", r.Status, status)
	}
	if r.CompletionTokens <= 0 || r.CompletionTokens >= int64(maxTokens) {
		n.t.Errorf("cut stream logged %d completion tokens, want some but fewer than the whole answer's %d", r.CompletionTokens, maxTokens)
	}
	if want := r.PromptTokens + 2*r.CompletionTokens; r.CostMicros != want {
		n.t.Errorf("cut stream cost %d, want prompt %d + 2 × completion %d = %d", r.CostMicros, r.PromptTokens, r.CompletionTokens, want)
	}
	kinds := n.charges()[r.ChargeID]
	if kinds[billing.KindSettle] != -r.CostMicros {
		n.t.Errorf("cut stream settled %d, usage says %d", kinds[billing.KindSettle], r.CostMicros)
	}
	if res := kinds[billing.KindReserve]; res > 0 || kinds[billing.KindRelease] != -res {
		n.t.Errorf("charge %s: reserve %d, release %d", r.ChargeID, res, kinds[billing.KindRelease])
	}
}

// audit fails the test when a balance is not the sum of its ledger rows,
// and checks the user's balance is the credit less the usage log's costs.
func (n *node) audit() {
	n.t.Helper()
	mm, err := billing.NewLedger(n.app.DB(), nil).Audit(context.Background())
	if err != nil {
		n.t.Fatalf("audit: %v", err)
	}
	if len(mm) > 0 {
		n.t.Fatalf("ledger audit: %+v", mm)
	}
	l := billing.NewLedger(n.app.DB(), nil)
	uid, err := l.UserID(context.Background(), email)
	if err != nil {
		n.t.Fatal(err)
	}
	bal, err := l.Balance(context.Background(), uid)
	if err != nil {
		n.t.Fatal(err)
	}
	rows := n.usageRows()
	var cost int64
	for _, r := range rows {
		cost += r.CostMicros
	}
	if int64(bal) != credit-cost {
		n.t.Fatalf("balance %d, want credit %d less the logged costs %d", bal, credit, cost)
	}
	// The relay counts a request out after OnDone logged its row: give
	// the last one a moment.
	for deadline := time.Now().Add(2 * time.Second); n.app.LiveCounters().Running() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			n.t.Fatalf("the live view counts %d requests in flight after the case", n.app.LiveCounters().Running())
		}
	}
	// The analytics rollups are written with the rows, in their
	// transaction: whatever the fault, they count each logged row once.
	st, err := usage.NewStore(n.app.DB()).Stats(context.Background(), usage.StatsQuery{Range: "30d"})
	if err != nil {
		n.t.Fatal(err)
	}
	if st.Totals.Requests != int64(len(rows)) || st.Totals.SpendMicros != cost {
		n.t.Fatalf("rollups count %d requests costing %d, the usage log %d costing %d",
			st.Totals.Requests, st.Totals.SpendMicros, len(rows), cost)
	}
}

// noLeases fails when the pool still counts a lease on any credential.
func (n *node) noLeases() {
	n.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		vs, err := n.app.Pool().Views(context.Background())
		if err != nil {
			n.t.Fatalf("pool views: %v", err)
		}
		var held []string
		for _, v := range vs {
			if v.Leases != 0 {
				held = append(held, fmt.Sprintf("credential %d: %d", v.ID, v.Leases))
			}
		}
		if len(held) == 0 {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("pool leases left after the case: %v", held)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// quiesce closes every idle connection on both sides of the node and
// returns the goroutine count once it has stopped moving.
func (n *node) quiesce() int {
	n.tr.CloseIdleConnections()
	n.up.srv.CloseClientConnections()
	prev, stable := -1, 0
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		g := runtime.NumGoroutine()
		if g == prev {
			if stable++; stable >= 3 {
				return g
			}
		} else {
			prev, stable = g, 0
		}
	}
	return runtime.NumGoroutine()
}

// leakMargin absorbs goroutines that come and go on their own (timers
// firing, a database connection opened or closed by the pool).
const leakMargin = 4

// checkLeaks is every case's last word: no pool lease, no upstream
// handler still running, and goroutines back near the baseline.
func (n *node) checkLeaks() {
	n.t.Helper()
	n.noLeases()
	deadline := time.Now().Add(5 * time.Second)
	for n.up.running.Load() != 0 {
		if time.Now().After(deadline) {
			n.t.Fatalf("%d upstream handlers still running after the case", n.up.running.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var g int
	for {
		n.tr.CloseIdleConnections()
		n.up.srv.CloseClientConnections()
		g = runtime.NumGoroutine()
		if g <= n.base+leakMargin {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	n.t.Fatalf("%d goroutines after the case, baseline %d (+%d allowed):\n%s", g, n.base, leakMargin, b.String())
}

// openSQL opens a database/sql handle of its own (driver as store uses).
func openSQL(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("open %s: %v", driver, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
