package live

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

func openDB(t testing.TB, url string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// node is one Bus counting how often each topic's handler ran.
type node struct {
	bus  *Bus
	runs map[Topic]*atomic.Int64
}

func startNode(t *testing.T, o Options) *node {
	t.Helper()
	b, err := Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{bus: b, runs: map[Topic]*atomic.Int64{}}
	for _, tp := range Topics {
		c := &atomic.Int64{}
		n.runs[tp] = c
		b.On(tp, func(context.Context) error { c.Add(1); return nil })
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return n
}

// within waits up to d for cond, failing the test after.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func checkPropagation(t *testing.T, a, b *node) {
	t.Helper()
	ctx := t.Context()
	if err := a.bus.Publish(ctx, Prices); err != nil {
		t.Fatal(err)
	}
	// The publishing node's handlers ran before Publish returned.
	if got := a.runs[Prices].Load(); got != 1 {
		t.Fatalf("publisher ran prices handler %d times, want 1", got)
	}
	within(t, time.Second, "other node reloads prices", func() bool { return b.runs[Prices].Load() == 1 })
	// Other topics stay put, and the publisher does not reload again on
	// its own change.
	time.Sleep(3 * a.bus.poll / 2)
	for _, tp := range []Topic{Tenancy, Channels, Settings} {
		if a.runs[tp].Load()+b.runs[tp].Load() != 0 {
			t.Errorf("topic %s ran without a change", tp)
		}
	}
	if got := a.runs[Prices].Load(); got != 1 {
		t.Errorf("publisher ran prices handler %d times, want 1", got)
	}
}

func TestPollingBus(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "sy.db")
	a := startNode(t, Options{DB: openDB(t, url)})
	b := startNode(t, Options{DB: openDB(t, url)})
	checkPropagation(t, a, b)

	// A writer that only rewrites the version row (auth.Store, the
	// command line) is seen by polling.
	if err := a.bus.db.SetSetting(t.Context(), Tenancy.VersionSetting(), "from-cli"); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "both nodes reload tenancy", func() bool {
		return a.runs[Tenancy].Load() == 1 && b.runs[Tenancy].Load() == 1
	})
}

func TestRedisBus(t *testing.T) {
	rurl := testenv.RedisURL(t)
	rdb := testenv.RedisClient(t, rurl)
	prefix := testenv.RedisPrefix(t, rurl)
	url := "sqlite://" + filepath.Join(t.TempDir(), "sy.db")
	// A poll far longer than the test: only Redis can carry the change.
	o := Options{Redis: rdb, Prefix: prefix, Poll: time.Hour}
	o.DB = openDB(t, url)
	a := startNode(t, o)
	o.DB = openDB(t, url)
	b := startNode(t, o)
	start := time.Now()
	if err := a.bus.Publish(t.Context(), Channels); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "other node reloads channels", func() bool { return b.runs[Channels].Load() == 1 })
	t.Logf("seen after %v", time.Since(start))
	if a.runs[Channels].Load() != 1 {
		t.Errorf("publisher ran channels handler %d times, want 1", a.runs[Channels].Load())
	}
}

func TestFailedHandlerRunsAgain(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "sy.db")
	db := openDB(t, url)
	b, err := Open(t.Context(), Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	b.On(Settings, func(context.Context) error {
		if calls.Add(1) == 1 {
			return context.DeadlineExceeded
		}
		return nil
	})
	if err := b.Publish(t.Context(), Settings); err == nil {
		t.Fatal("Publish hid the handler's error")
	}
	if err := b.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("handler ran %d times, want 2 (failed once, retried once, then seen)", got)
	}
}

// With Redis away, a change still travels through the database poll; once
// Redis is back, the subscription is renewed by itself.
func TestRedisAway(t *testing.T) {
	srv := testenv.StartRedis(t)
	url := "sqlite://" + filepath.Join(t.TempDir(), "sy.db")
	open := func(poll time.Duration) *node {
		rdb, err := store.OpenRedis(t.Context(), srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		return startNode(t, Options{DB: openDB(t, url), Redis: rdb, Prefix: "t:", Poll: poll})
	}
	a, b := open(200*time.Millisecond), open(200*time.Millisecond)
	// c hears only Redis.
	c := open(time.Hour)

	srv.Kill()
	// A node started while Redis is away still starts, and subscribes
	// once Redis is back.
	rdb := redis.NewClient(&redis.Options{Addr: strings.TrimSuffix(strings.TrimPrefix(srv.URL(), "redis://"), "/0"), MaxRetries: 1})
	t.Cleanup(func() { rdb.Close() })
	d := startNode(t, Options{DB: openDB(t, url), Redis: rdb, Prefix: "t:", Poll: time.Hour})
	start := time.Now()
	if err := a.bus.Publish(t.Context(), Prices); err != nil {
		t.Fatalf("Publish with Redis away: %v (the change is stored; only the announcement failed)", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Publish took %v with Redis away", d)
	}
	within(t, time.Second, "polling node reloads with Redis away", func() bool { return b.runs[Prices].Load() == 1 })

	srv.Start()
	// The subscription comes back by itself; publish until c hears one.
	deadline := time.Now().Add(10 * time.Second)
	for c.runs[Settings].Load() == 0 || d.runs[Settings].Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the Redis subscription did not come back within 10s")
		}
		if err := a.bus.Publish(t.Context(), Settings); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
