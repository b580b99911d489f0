package vertex_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/pool"
	"github.com/switchyard/switchyard/internal/provider/vertex"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

// grant is the app's vertex grant, restated: the test drives the pool
// directly, below the app.
func grant(ctx context.Context, c *http.Client, ch *config.Channel, key string, now time.Time) (pool.Token, error) {
	tok, err := vertex.Exchange(ctx, c, []byte(key), ch.TokenURL, now)
	if err != nil {
		return pool.Token{}, err
	}
	return pool.Token{AccessToken: tok.AccessToken, RefreshToken: key, ExpiresAt: tok.ExpiresAt}, nil
}

// clock is a settable clock shared by the nodes and the mock.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }
func newClock(t time.Time) *clock    { c := &clock{}; c.ns.Store(t.UnixNano()); return c }

// nodes starts n pools over one SQLite database and one shared state (what
// Redis is between real nodes), with one vertex channel of one service
// account whose token endpoint is the mock's.
func nodes(t *testing.T, n int, newState func() pool.State) ([]*pool.Pool, *mock.Server, *clock) {
	t.Helper()
	ctx := t.Context()
	clk := newClock(time.Now())
	m := mock.New(mock.Options{Clock: clk.now})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	ch := config.Channel{Name: "vx", Type: "vertex", Project: "p", Location: "us-central1", BaseURL: up.URL,
		TokenURL: up.URL + mock.VertexTokenPath, Models: []string{"gemini-2.5-flash"}, Groups: []string{config.DefaultGroup}, Weight: 1,
		Credentials: []config.Credential{{ServiceAccount: config.Secret(mock.VertexServiceAccount("sa@p.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token")), Weight: 1}}}
	dbPath := "sqlite://" + filepath.Join(t.TempDir(), "sy.db")
	kr, err := secret.New(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	var out []*pool.Pool
	for i := range n {
		db, err := store.Open(ctx, dbPath, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if i == 0 {
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		st := pool.NewStore(db, kr)
		if err := st.ApplyConfig(ctx, []config.Channel{ch}); err != nil {
			t.Fatal(err)
		}
		p, err := pool.New(ctx, pool.Options{Store: st, State: newState(), Now: clk.now,
			Clients:   relay.NewTransports(config.Upstream{}).Client,
			Scheduler: config.Scheduler{Strategy: string(pool.RoundRobin)},
			Grants:    map[string]pool.TokenGrant{"vertex": grant}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		out = append(out, p)
	}
	return out, m, clk
}

// use leases the credential once and returns the access token it carried.
func use(t *testing.T, p *pool.Pool) string {
	t.Helper()
	l, err := p.Pick(context.Background(), &relay.PickQuery{Model: "gemini-2.5-flash"})
	if err != nil {
		t.Error(err)
		return ""
	}
	tok := l.Target().Secret()
	l.Done(context.Background(), relay.Outcome{Status: 200})
	return tok
}

// Many requests on many nodes find a service account without a token: one
// exchange happens, everyone else waits for it and uses its token; near
// expiry one node renews and the other adopts the renewed token.
func TestTokenSharedAcrossNodesAndWaiters(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		// One in-process state stands for what Redis is between nodes.
		shared := pool.NewMemoryState()
		testTokenShared(t, func() pool.State { return shared })
	})
	t.Run("redis", func(t *testing.T) {
		url := testenv.RedisURL(t)
		prefix := testenv.RedisPrefix(t, url)
		testTokenShared(t, func() pool.State { return pool.NewRedisState(testenv.RedisClient(t, url), prefix+"pool:") })
	})
}

func testTokenShared(t *testing.T, newState func() pool.State) {
	ps, m, clk := nodes(t, 2, newState)
	var wg sync.WaitGroup
	tokens := make(chan string, 32)
	for i := range 32 {
		wg.Go(func() { tokens <- use(t, ps[i%2]) })
	}
	wg.Wait()
	close(tokens)
	var first string
	for tok := range tokens {
		if first == "" {
			first = tok
		}
		if tok == "" || tok != first {
			t.Fatalf("requests used different tokens: %q and %q", first, tok)
		}
	}
	if n := m.VertexTokensIssued(); n != 1 {
		t.Fatalf("%d token exchanges for 32 concurrent requests on 2 nodes, want 1", n)
	}

	// 20 s before expiry a request renews the token; the other node,
	// finding its copy about to expire too, adopts the stored one.
	clk.add(time.Hour - 20*time.Second)
	a := use(t, ps[0])
	b := use(t, ps[1])
	if a == first || a != b {
		t.Fatalf("after renewal: node A %q, node B %q (old %q)", a, b, first)
	}
	if n := m.VertexTokensIssued(); n != 2 {
		t.Fatalf("%d exchanges after one renewal, want 2", n)
	}
}
