package billing_test

// End-to-end billing: real gateway nodes (app.App on loopback) in front of
// the real mock upstream, with real prices, users and keys declared in the
// configuration. Each scenario runs on one node over SQLite, on one node
// over PostgreSQL (hot state in memory), and on two nodes sharing
// PostgreSQL and Redis with requests alternating between the nodes. After
// the traffic every node's meter is drained and the books are read back
// from the database: the ledger, the users' balances, the keys' spend and
// the usage log must all tell the same story.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
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
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/internal/usage"
)

const (
	pricedModel   = "m"        // 1 micro-USD per input token, 2 per output token
	freeModel     = "free-m"   // priced free: true
	unpricedModel = "unpriced" // routable, but on no price list
	vipGroup      = "vip"      // ratio 1.5
)

// client bounds every request, so a hang fails the test that caused it.
// Its pool is large enough that parallel load reuses connections.
var client = &http.Client{Timeout: 30 * time.Second,
	Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}}

type backend struct {
	name     string
	nodes    int
	postgres bool
}

var backends = []backend{
	{"sqlite-one-node", 1, false},
	{"postgres-one-node", 1, true},
	{"two-nodes-postgres-redis", 2, true},
}

func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// cluster is one or two gateway nodes in front of one mock.
type cluster struct {
	t     *testing.T
	mock  *mock.Server
	nodes []*app.App
	next  atomic.Uint64
}

func usd(v float64) *float64 { return &v }

// startCluster starts b's nodes with the test's users and keys.
func startCluster(t *testing.T, b backend, users []config.User, keys []config.Key, opts ...app.Option) *cluster {
	t.Helper()
	m := mock.New(mock.Options{DisableRecording: true})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	cfg.Upstream.FirstByteTimeout = 10 * time.Second
	cfg.Upstream.StreamIdle = 10 * time.Second
	cfg.Groups = append(cfg.Groups, config.Group{Name: vipGroup, Ratio: 1.5})
	cfg.Channels = []config.Channel{{Name: "main", Type: "openai", BaseURL: up.URL,
		Models: []string{pricedModel, freeModel, unpricedModel}, Groups: []string{config.DefaultGroup, vipGroup},
		Credentials: []config.Credential{{Key: "k1"}, {Key: "k2"}}}}
	cfg.Pricing = map[string]config.Price{
		pricedModel: {Input: 1, Output: 2},
		freeModel:   {Free: true},
	}
	cfg.Users, cfg.Keys = users, keys
	if b.postgres {
		cfg.Database.URL = config.Secret(testenv.FreshPostgresURL(t))
		cfg.SecretKey = config.Secret(strings.Repeat("ef", 32)) // shared state needs a shared key
	}
	if b.nodes > 1 {
		cfg.Redis.URL = config.Secret(testenv.RedisURL(t))
		cfg.Redis.Prefix = testenv.RedisPrefix(t, cfg.Redis.URL.Value())
	}
	c := &cluster{t: t, mock: m}
	for i := range b.nodes {
		nc := *cfg
		if i > 0 {
			nc.Server.DataDir = t.TempDir() // its own billing journal, as on its own machine
		}
		c.nodes = append(c.nodes, apptest.StartWith(t, &nc, nil, opts...))
	}
	return c
}

// node returns the nodes in turn, so consecutive requests alternate.
func (c *cluster) node() *app.App { return c.nodes[int(c.next.Add(1)-1)%len(c.nodes)] }

func (c *cluster) db() *sql.DB { return c.nodes[0].DB().Read() }

type chatReq struct {
	key, model, content string
	stream              bool
	maxTokens           int
}

func (r chatReq) request(ctx context.Context, n *app.App) *http.Request {
	body := map[string]any{"model": r.model, "stream": r.stream,
		"messages": []map[string]string{{"role": "user", "content": r.content}}}
	if r.maxTokens > 0 {
		body["max_tokens"] = r.maxTokens
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+n.Addr()+"/v1/chat/completions", strings.NewReader(string(b)))
	if err != nil {
		panic(err) // a malformed address: a bug of this file
	}
	req.Header.Set("Authorization", "Bearer "+r.key)
	req.Header.Set("Content-Type", "application/json")
	return req
}

type answer struct {
	status int
	header http.Header
	body   string
}

// code is the error code of an error answer.
func (a answer) code() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(a.body), &e)
	return e.Error.Code
}

// send sends r to the next node and reads the whole answer.
func (c *cluster) send(r chatReq) answer {
	resp, err := client.Do(r.request(context.Background(), c.node()))
	if err != nil {
		c.t.Errorf("request: %v", err)
		return answer{}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Errorf("read answer: %v", err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// ledgerRow is one row of the ledger table.
type ledgerRow struct {
	charge string
	kind   billing.Kind
	user   int64
	key    int64
	amount int64
}

func (c *cluster) ledger() []ledgerRow {
	c.t.Helper()
	rows, err := c.db().QueryContext(context.Background(), "SELECT request_id, kind, user_id, key_id, amount_micros FROM ledger")
	if err != nil {
		c.t.Fatalf("read ledger: %v", err)
	}
	defer rows.Close()
	var out []ledgerRow
	for rows.Next() {
		var (
			r   ledgerRow
			key sql.NullInt64
		)
		if err := rows.Scan(&r.charge, &r.kind, &r.user, &key, &r.amount); err != nil {
			c.t.Fatalf("read ledger: %v", err)
		}
		r.key = key.Int64
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		c.t.Fatalf("read ledger: %v", err)
	}
	return out
}

// byCharge groups the request path's ledger rows by charge and kind.
func byCharge(rows []ledgerRow) map[string]map[billing.Kind]ledgerRow {
	out := map[string]map[billing.Kind]ledgerRow{}
	for _, r := range rows {
		if r.kind != billing.KindReserve && r.kind != billing.KindRelease && r.kind != billing.KindSettle {
			continue
		}
		if out[r.charge] == nil {
			out[r.charge] = map[billing.Kind]ledgerRow{}
		}
		out[r.charge][r.kind] = r
	}
	return out
}

// drain posts every node's journal until the usage log holds want rows and
// every reserve on the ledger has its release, or fails at the deadline.
// Rows appear a little after the client has its answer (a request is
// logged when its handler ends), so this polls.
func (c *cluster) drain(want int64) {
	c.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, n := range c.nodes {
			if err := n.Meter().Drain(ctx); err != nil {
				c.t.Fatalf("drain: %v", err)
			}
		}
		tot := c.totals()
		open := 0
		for charge, kinds := range byCharge(c.ledger()) {
			if _, ok := kinds[billing.KindReserve]; ok {
				if _, ok := kinds[billing.KindRelease]; !ok {
					open++
					if time.Now().After(deadline) {
						c.t.Errorf("charge %s: reserved, never released", charge)
					}
				}
			}
		}
		if tot.Requests >= want && open == 0 {
			if tot.Requests != want {
				c.t.Fatalf("usage log holds %d rows, want %d (one per request sent)", tot.Requests, want)
			}
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("after draining: %d usage rows (want %d), %d holds not released", tot.Requests, want, open)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *cluster) totals() usage.Totals {
	c.t.Helper()
	tot, err := usage.NewStore(c.nodes[0].DB()).Totals(context.Background(), usage.Filter{})
	if err != nil {
		c.t.Fatal(err)
	}
	return tot
}

func (c *cluster) usageRows(f usage.Filter) []usage.Row {
	c.t.Helper()
	f.Limit = usage.MaxLimit
	rows, err := usage.NewStore(c.nodes[0].DB()).Query(context.Background(), f)
	if err != nil {
		c.t.Fatal(err)
	}
	return rows
}

// audit fails the test when any balance is not the sum of its ledger.
func (c *cluster) audit() {
	c.t.Helper()
	mm, err := billing.NewLedger(c.nodes[0].DB(), nil).Audit(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	if len(mm) > 0 {
		c.t.Fatalf("ledger audit: %+v", mm)
	}
}

func (c *cluster) userID(email string) int64 {
	c.t.Helper()
	id, err := billing.NewLedger(c.nodes[0].DB(), nil).UserID(context.Background(), email)
	if err != nil {
		c.t.Fatal(err)
	}
	return id
}

func (c *cluster) balance(email string) int64 {
	c.t.Helper()
	b, err := billing.NewLedger(c.nodes[0].DB(), nil).Balance(context.Background(), c.userID(email))
	if err != nil {
		c.t.Fatal(err)
	}
	return int64(b)
}

// key returns the id and spend of the key named name.
func (c *cluster) key(name string) (id, used int64) {
	c.t.Helper()
	db := c.nodes[0].DB()
	err := db.Read().QueryRowContext(context.Background(), db.Dialect().Rebind("SELECT id, used_micros FROM api_keys WHERE name = ?"), name).Scan(&id, &used)
	if err != nil {
		c.t.Fatalf("read key %s: %v", name, err)
	}
	return id, used
}

// baseCost is what r's tokens cost at model m's prices, group ratio 1:
// prompt × 1 + completion × 2 micro-USD (no cached input price is set, so
// cached tokens cost the input price).
func baseCost(r usage.Row) int64 { return r.PromptTokens + 2*r.CompletionTokens }

func TestGatewayNoOverspend(t *testing.T) {
	const (
		email     = "poor@example.com"
		walletKey = "sk-bill-wallet-0123456789abcdef"
		quotaKey  = "sk-bill-quota-0123456789abcdef"
		credit    = 50_000 // 0.05 USD
		quota     = 20_000 // 0.02 USD
		requests  = 320
	)
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b, []config.User{{Email: email, Credit: 0.05}},
			[]config.Key{{Name: "wallet", User: email, Key: walletKey}, {Name: "capped", User: email, Key: quotaKey, Quota: usd(0.02)}})
		// About 200 completion tokens an answer, 300 reserved: the wallet
		// pays for about a hundred answers, the capped key for about forty.
		content := "[[mock chunks=200]] spend it all"
		var (
			mu       sync.Mutex
			statuses = map[string]int{}
			wg       sync.WaitGroup
		)
		start := make(chan struct{})
		for i := range requests {
			r := chatReq{key: walletKey, model: pricedModel, content: content, stream: i%3 == 0, maxTokens: 300}
			if i%2 == 1 {
				r.key = quotaKey
			}
			wg.Go(func() {
				<-start
				a := c.send(r)
				label := fmt.Sprint(a.status)
				switch {
				case a.status == 200:
				case a.status == 429 && a.code() == "insufficient_quota":
					label += " insufficient_quota"
					if a.header.Get("x-should-retry") != "false" {
						t.Errorf("insufficient_quota without x-should-retry: false: %v", a.header)
					}
				default:
					t.Errorf("unexpected answer %d %s", a.status, a.body)
				}
				mu.Lock()
				statuses[label]++
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		t.Logf("statuses: %v", statuses)
		if statuses["429 insufficient_quota"] == 0 {
			t.Fatalf("no request refused for funds: %v", statuses)
		}
		if statuses["200"] == 0 {
			t.Fatalf("no request served: %v", statuses)
		}

		c.drain(requests)
		c.audit()
		uid := c.userID(email)
		capID, capUsed := c.key("capped")
		var settled, capSettled int64
		charges := byCharge(c.ledger())
		for charge, kinds := range charges {
			res, rel := kinds[billing.KindReserve], kinds[billing.KindRelease]
			if rel.amount != -res.amount {
				t.Errorf("charge %s: reserved %d, released %d", charge, -res.amount, rel.amount)
			}
			if s, ok := kinds[billing.KindSettle]; ok {
				if s.user != uid {
					t.Errorf("charge %s settled for user %d, want %d", charge, s.user, uid)
				}
				settled += s.amount
				if s.key == capID {
					capSettled += s.amount
				}
			}
		}
		bal := c.balance(email)
		if bal < 0 {
			t.Errorf("balance %d below zero (overdraft 0)", bal)
		}
		if bal != credit+settled {
			t.Errorf("balance %d, want credit %d + settles %d = %d", bal, credit, settled, credit+settled)
		}
		if capUsed > quota {
			t.Errorf("capped key spent %d, above its quota %d", capUsed, quota)
		}
		if capUsed != -capSettled {
			t.Errorf("capped key spent %d, its settles sum to %d", capUsed, -capSettled)
		}
		tot := c.totals()
		if tot.CostMicros != -settled {
			t.Errorf("usage log costs sum to %d, settles to %d", tot.CostMicros, -settled)
		}
		// Every row of the log is accounted for: a served request has its
		// charge settled for what the row says it cost.
		served := 0
		for _, r := range c.usageRows(usage.Filter{}) {
			if r.Status != 200 {
				if r.CostMicros != 0 {
					t.Errorf("refused request %s cost %d", r.ChargeID, r.CostMicros)
				}
				continue
			}
			served++
			if s := charges[r.ChargeID][billing.KindSettle]; s.amount != -r.CostMicros || r.CostMicros != baseCost(r) {
				t.Errorf("request %s: cost %d, settle %d, price of its usage %d", r.ChargeID, r.CostMicros, s.amount, baseCost(r))
			}
		}
		if served != statuses["200"] {
			t.Errorf("usage log has %d served requests, clients saw %d", served, statuses["200"])
		}
	})
}

func TestGatewayRateLimitsHold(t *testing.T) {
	const (
		email = "rate@example.com"
		key   = "sk-bill-rate-0123456789abcdef"
		rpm   = 8
	)
	forEachBackend(t, func(t *testing.T, b backend) {
		// A fixed clock: the minute cannot turn during the burst.
		now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		c := startCluster(t, b, []config.User{{Email: email, Credit: 1}},
			[]config.Key{{Name: "rate", User: email, Key: key, RPM: rpm}},
			app.WithClock(func() time.Time { return now }))
		var (
			mu  sync.Mutex
			got = map[int]int{}
			wg  sync.WaitGroup
		)
		for i := range 3 * rpm {
			wg.Go(func() {
				a := c.send(chatReq{key: key, model: pricedModel, content: "hello", stream: i%2 == 0, maxTokens: 50})
				mu.Lock()
				got[a.status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if got[200] != rpm || got[429] != 2*rpm {
			t.Fatalf("statuses %v, want exactly %d × 200 and %d × 429", got, rpm, 2*rpm)
		}
		// Refused by the rate limit, the others never reached the relay:
		// only the served requests are logged and charged.
		c.drain(rpm)
		c.audit()
		var settled int64
		for _, r := range c.ledger() {
			if r.kind == billing.KindSettle {
				settled += r.amount
			}
		}
		if tot := c.totals(); tot.CostMicros != -settled || settled == 0 {
			t.Fatalf("usage costs %d, settles %d", tot.CostMicros, settled)
		}
	})
}

func TestGatewayAbortedStreamBilledForRelayed(t *testing.T) {
	const (
		email = "abort@example.com"
		key   = "sk-bill-abort-0123456789abcdef"
	)
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b, []config.User{{Email: email, Credit: 1}},
			[]config.Key{{Name: "abort", User: email, Key: key}})
		r := chatReq{key: key, model: pricedModel, content: "[[mock chunks=100 chunk_delay=10ms]] tell me a long story",
			stream: true, maxTokens: 500}

		// The whole answer, for its completion tokens.
		if a := c.send(r); a.status != 200 || !strings.Contains(a.body, "[DONE]") {
			t.Fatalf("complete stream: %d %s", a.status, a.body)
		}
		c.drain(1)
		full := c.usageRows(usage.Filter{})[0]
		if full.Status != 200 || full.CompletionTokens < 50 {
			t.Fatalf("complete stream logged as %+v", full)
		}

		// The same request, left after a few chunks.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := client.Do(r.request(ctx, c.node()))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("stream: %d %s", resp.StatusCode, b)
		}
		rd := bufio.NewReader(resp.Body)
		for seen := 0; seen < 6; {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("read stream: %v", err)
			}
			if strings.HasPrefix(line, "data: ") {
				seen++
			}
		}
		cancel()
		resp.Body.Close()

		c.drain(2)
		rows := c.usageRows(usage.Filter{Status: "499"})
		if len(rows) != 1 {
			t.Fatalf("%d usage rows with status 499, want 1: %+v", len(rows), c.usageRows(usage.Filter{}))
		}
		cut := rows[0]
		if cut.CompletionTokens <= 0 || cut.CompletionTokens >= full.CompletionTokens {
			t.Fatalf("aborted stream logged %d completion tokens, want some but fewer than the whole answer's %d",
				cut.CompletionTokens, full.CompletionTokens)
		}
		if cut.CostMicros != baseCost(cut) || cut.CostMicros <= 0 {
			t.Fatalf("aborted stream cost %d, want prompt %d × 1 + completion %d × 2 = %d",
				cut.CostMicros, cut.PromptTokens, cut.CompletionTokens, baseCost(cut))
		}
		kinds := byCharge(c.ledger())[cut.ChargeID]
		if s := kinds[billing.KindSettle]; s.amount != -cut.CostMicros {
			t.Fatalf("settle of the aborted stream %d, want %d", s.amount, -cut.CostMicros)
		}
		if res, rel := kinds[billing.KindReserve], kinds[billing.KindRelease]; res.amount >= 0 || rel.amount != -res.amount {
			t.Fatalf("hold of the aborted stream: reserve %d, release %d", res.amount, rel.amount)
		}
		c.audit()
		if bal := c.balance(email); bal != 1_000_000-full.CostMicros-cut.CostMicros {
			t.Fatalf("balance %d, want 1 USD less %d and %d", bal, full.CostMicros, cut.CostMicros)
		}
	})
}

func TestGatewayFailedUpstreamCostsNothing(t *testing.T) {
	const (
		email = "fail@example.com"
		key   = "sk-bill-fail-0123456789abcdef"
	)
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b, []config.User{{Email: email, Credit: 1}},
			[]config.Key{{Name: "fail", User: email, Key: key}})
		c.mock.SetFault("k1", mock.Fault{Status: 500})
		c.mock.SetFault("k2", mock.Fault{Status: 500})
		for _, stream := range []bool{false, true} {
			if a := c.send(chatReq{key: key, model: pricedModel, content: "hello", stream: stream, maxTokens: 100}); a.status != 502 {
				t.Fatalf("stream %v: every credential failing: %d %s, want 502", stream, a.status, a.body)
			}
		}
		c.drain(2)
		charges := byCharge(c.ledger())
		for _, r := range c.usageRows(usage.Filter{}) {
			if r.Status != 502 || r.CostMicros != 0 {
				t.Errorf("failed request logged with status %d cost %d", r.Status, r.CostMicros)
			}
			kinds := charges[r.ChargeID]
			// A hold settled within the journal file it was made in folds
			// into its settle row, and a settle of zero posts nothing.
			res, rel := kinds[billing.KindReserve], kinds[billing.KindRelease]
			if res.amount > 0 || rel.amount != -res.amount {
				t.Errorf("charge %s: reserve %d, release %d", r.ChargeID, res.amount, rel.amount)
			}
			if s, ok := kinds[billing.KindSettle]; ok {
				t.Errorf("charge %s of a failed request settled %d", r.ChargeID, s.amount)
			}
		}
		c.audit()
		if bal := c.balance(email); bal != 1_000_000 {
			t.Fatalf("balance %d after failed requests, want 1000000", bal)
		}
	})
}

func TestGatewayPricing(t *testing.T) {
	const (
		plainEmail = "plain@example.com"
		vipEmail   = "vip@example.com"
		plainKey   = "sk-bill-plain-0123456789abcdef"
		vipKey     = "sk-bill-vip-0123456789abcdef"
	)
	forEachBackend(t, func(t *testing.T, b backend) {
		c := startCluster(t, b,
			[]config.User{{Email: plainEmail, Credit: 1}, {Email: vipEmail, Credit: 1, Group: vipGroup}},
			[]config.Key{{Name: "plain", User: plainEmail, Key: plainKey}, {Name: "vip", User: vipEmail, Key: vipKey}})

		// An unpriced model never reaches the upstream.
		before := c.mock.Counters().Total
		a := c.send(chatReq{key: plainKey, model: unpricedModel, content: "hello"})
		if a.status != 403 || a.code() != "model_not_allowed" {
			t.Fatalf("unpriced model: %d %s, want 403 model_not_allowed", a.status, a.body)
		}
		if n := c.mock.Counters().Total - before; n != 0 {
			t.Fatalf("unpriced model reached the upstream %d times", n)
		}
		c.drain(1)
		if rows := c.ledger(); len(rows) != 2 { // the two users' credit grants
			t.Fatalf("ledger after an unpriced request: %+v", rows)
		}

		// A free model is served and charges nothing, not even a hold.
		for _, stream := range []bool{false, true} {
			if a := c.send(chatReq{key: plainKey, model: freeModel, content: "hello", stream: stream}); a.status != 200 {
				t.Fatalf("free model: %d %s", a.status, a.body)
			}
		}
		c.drain(3)
		for _, r := range c.ledger() {
			if r.kind != billing.KindTopup {
				t.Fatalf("a free model left a ledger row: %+v", r)
			}
		}
		for _, r := range c.usageRows(usage.Filter{Model: freeModel}) {
			if r.Status != 200 || r.CostMicros != 0 || r.CompletionTokens == 0 {
				t.Fatalf("free model logged as %+v", r)
			}
		}

		// The same request costs 1.5 times as much, rounded up, in the vip
		// group.
		req := chatReq{model: pricedModel, content: "[[mock chunks=33]] price me", maxTokens: 200}
		for _, k := range []string{plainKey, vipKey} {
			req.key = k
			if a := c.send(req); a.status != 200 {
				t.Fatalf("priced model: %d %s", a.status, a.body)
			}
		}
		c.drain(5)
		charges := byCharge(c.ledger())
		costs := map[string]usage.Row{}
		for _, r := range c.usageRows(usage.Filter{Model: pricedModel}) {
			costs[r.User] = r
			if s := charges[r.ChargeID][billing.KindSettle]; s.amount != -r.CostMicros {
				t.Errorf("%s: settle %d, usage cost %d", r.User, s.amount, r.CostMicros)
			}
		}
		plain, vip := costs[plainEmail], costs[vipEmail]
		base := baseCost(plain)
		if plain.CostMicros != base || base == 0 {
			t.Fatalf("default group paid %d, want %d", plain.CostMicros, base)
		}
		if baseCost(vip) != base {
			t.Fatalf("identical requests reported different usage: %+v vs %+v", plain, vip)
		}
		if want := (3*base + 1) / 2; vip.CostMicros != want { // ceil(1.5 × base)
			t.Fatalf("vip group (ratio 1.5) paid %d, want ceil(1.5 × %d) = %d", vip.CostMicros, base, want)
		}
		c.audit()
		if bal := c.balance(vipEmail); bal != 1_000_000-vip.CostMicros {
			t.Fatalf("vip balance %d, want %d", bal, 1_000_000-vip.CostMicros)
		}
	})
}
