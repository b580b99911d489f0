package liveview

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestRates(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var c Counters
	h := NewHub(HubOptions{Counters: &c, Now: clk.now})
	h.Tick(t.Context())
	// 10 requests a second for 6 s, one error a second, user 7's share 2/s.
	for range 6 {
		clk.add(time.Second)
		for i := range 10 {
			user := int64(0)
			if i < 2 {
				user = 7
			}
			c.InFlight(user, 1)
			c.InFlight(user, -1)
			c.Done(user, i == 9)
		}
		h.Tick(t.Context())
	}
	c.InFlight(7, 1)
	c.InFlight(8, 1)
	clk.add(time.Second)
	h.Tick(t.Context())
	s := h.Latest()
	if s.Total.InFlight != 2 || s.User(7).InFlight != 1 || s.User(8).InFlight != 1 {
		t.Errorf("in flight: %+v", s)
	}
	// Over the last 5 s, four busy seconds and an idle one.
	if s.Total.RequestsPerSecond != 8 || s.User(7).RequestsPerSecond != 1.6 || s.Total.ErrorsPerSecond != 0.8 {
		t.Errorf("rates: %+v, user 7 %+v", s.Total, s.User(7))
	}
	if s.User(8).RequestsPerSecond != 0 || s.User(99) != (Figures{}) {
		t.Errorf("idle users: %+v", s.Users)
	}
	// Idle for a while: everything but the in-flight count drops to 0.
	for range 7 {
		clk.add(time.Second)
		h.Tick(t.Context())
	}
	s = h.Latest()
	if s.Total.RequestsPerSecond != 0 || s.Total.InFlight != 2 || len(s.Users) != 2 {
		t.Errorf("idle: %+v", s)
	}
}

func TestSubscribe(t *testing.T) {
	var c Counters
	h := NewHub(HubOptions{Counters: &c})
	ch, stop := h.Subscribe()
	h.Tick(t.Context())
	h.Tick(t.Context()) // a slow reader misses a tick, never blocks the hub
	select {
	case <-ch:
	default:
		t.Fatal("no notification")
	}
	stop()
	h.Tick(t.Context())
	select {
	case <-ch:
		t.Fatal("notified after unsubscribing")
	default:
	}
}

func TestRunClosesSubscriptions(t *testing.T) {
	var c Counters
	h := NewHub(HubOptions{Counters: &c, Every: time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	ch, stop := h.Subscribe()
	defer stop()
	<-ch // ticking
	cancel()
	<-done
	for range ch { // drains, then ends: closed
	}
	late, stopLate := h.Subscribe()
	defer stopLate()
	if _, open := <-late; open {
		t.Error("a subscription after Run ended is open")
	}
}

// TestNodesShareThroughRedis runs two nodes on one Redis prefix: each one's
// view is the sum of both, and a node that stops publishing drops out.
func TestNodesShareThroughRedis(t *testing.T) {
	url := testenv.RedisURL(t)
	rdb := testenv.RedisClient(t, url)
	prefix := testenv.RedisPrefix(t, url)
	var a, b Counters
	ha := NewHub(HubOptions{Counters: &a, Redis: rdb, Prefix: prefix})
	hb := NewHub(HubOptions{Counters: &b, Redis: rdb, Prefix: prefix})
	a.InFlight(1, 1)
	b.InFlight(1, 1)
	b.InFlight(2, 1)
	ha.Tick(t.Context())
	hb.Tick(t.Context())
	ha.Tick(t.Context())
	for name, h := range map[string]*Hub{"a": ha, "b": hb} {
		s := h.Latest()
		if s.Nodes != 2 || s.Total.InFlight != 3 || s.User(1).InFlight != 2 || s.User(2).InFlight != 1 {
			t.Errorf("node %s sees %+v", name, s)
		}
	}
	// b stops; after the TTL a sees itself alone.
	rdb.Del(t.Context(), prefix+"live:node:"+hb.node)
	ha.Tick(t.Context())
	if s := ha.Latest(); s.Nodes != 1 || s.Total.InFlight != 1 {
		t.Errorf("after b left, a sees %+v", s)
	}
}

// BenchmarkRequestPath is what the live view adds to a request: two
// in-flight moves and a done count, for a user already seen.
func BenchmarkRequestPath(b *testing.B) {
	var c Counters
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.InFlight(7, 1)
			c.InFlight(7, -1)
			c.Done(7, false)
		}
	})
}
