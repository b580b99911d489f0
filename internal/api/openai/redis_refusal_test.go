package openai_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/testenv"
)

// redisGateway starts a gateway on a fresh PostgreSQL database and a fresh
// Redis prefix, counting the chat requests that reach the upstream.
func redisGateway(t *testing.T, mutate func(cfg *config.Config)) (*gateway, *redis.Client, string, *atomic.Int64) {
	t.Helper()
	pg := testenv.FreshPostgresURL(t)
	rurl := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, rurl)
	var upstream atomic.Int64
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/chat/completions") {
				upstream.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}
	g := startGatewayUpstream(t, mock.New(mock.Options{DisableRecording: true}), wrap, func(cfg *config.Config) {
		cfg.Database.URL = config.Secret(pg)
		cfg.SecretKey = config.Secret(strings.Repeat("ab", 32))
		cfg.Redis.URL = config.Secret(rurl)
		cfg.Redis.Prefix = prefix
		cfg.Pricing = map[string]config.Price{"gpt-4o-mini": {Input: 0.15, Output: 0.6}}
		cfg.Billing.NewUserCredit = 1e6
		mutate(cfg)
	})
	return g, testenv.RedisClient(t, rurl), prefix, &upstream
}

// heldState is what a request may leave held in Redis: the billing
// state's open holds and pending amounts, and the pool's live leases.
type heldState struct {
	openHolds int64 // fields of every bill:o:{node} hash
	pending   int64 // sum of every account's p
	balance   int64 // sum of every user account's b
	leases    int64 // members of every pool:l:{id} zset
	uses      int64 // today's uses over every credential
}

func readHeld(t *testing.T, rdb *redis.Client, prefix string) heldState {
	t.Helper()
	ctx := context.Background()
	var s heldState
	scan := func(pattern string, each func(key string)) {
		iter := rdb.Scan(ctx, 0, prefix+pattern, 500).Iterator()
		for iter.Next(ctx) {
			each(iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
	}
	scan("bill:o:*", func(k string) { s.openHolds += rdb.HLen(ctx, k).Val() })
	scan("bill:u:*", func(k string) {
		p, _ := rdb.HGet(ctx, k, "p").Int64()
		b, _ := rdb.HGet(ctx, k, "b").Int64()
		s.pending += p
		s.balance += b
	})
	scan("bill:k:*", func(k string) {
		p, _ := rdb.HGet(ctx, k, "p").Int64()
		s.pending += p
	})
	scan("pool:l:*", func(k string) { s.leases += rdb.ZCard(ctx, k).Val() })
	scan("pool:c:*", func(k string) {
		u, _ := rdb.HGet(ctx, k, "uses").Int64()
		s.uses += u
	})
	return s
}

// settled waits until nothing is held any more (the settle and the lease's
// release run after the answer) and returns the state.
func settled(t *testing.T, rdb *redis.Client, prefix string) heldState {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := readHeld(t, rdb, prefix)
		if s.openHolds == 0 && s.pending == 0 && s.leases == 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("still held after 5s: %+v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const refusalBody = `{"model":"gpt-4o-mini","max_tokens":100,"messages":[{"role":"user","content":"Hello there"}]}`

// TestPipelinedAdmissionRefusedLeavesNothingHeld: on Redis the admission,
// the reservation and the lease go in one pipeline; when the rate limit
// refuses, the reservation and the lease it made are given back, and the
// client gets the gate's 429 with its Retry-After, the upstream untouched.
func TestPipelinedAdmissionRefusedLeavesNothingHeld(t *testing.T) {
	g, rdb, prefix, upstream := redisGateway(t, func(cfg *config.Config) {
		for i := range cfg.Keys {
			if cfg.Keys[i].Key == testKey {
				cfg.Keys[i].RPM = 1
			}
		}
	})
	resp := g.post(t, testKey, refusalBody)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: status %d", resp.StatusCode)
	}
	before := settled(t, rdb, prefix)
	if before.uses != 1 {
		t.Fatalf("uses after one request = %d, want 1", before.uses)
	}
	// The second is the first refusal on this node: pipelined, then given
	// back. The third is refused at once (the key was refused moments
	// ago), without a reservation or a lease.
	for i := range 2 {
		resp := g.post(t, testKey, refusalBody)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("request %d: status %d, want 429", i+2, resp.StatusCode)
		}
		if ra := resp.Header.Get("Retry-After"); ra == "" {
			t.Errorf("request %d: no Retry-After", i+2)
		}
		code := errorCode(t, resp)
		resp.Body.Close()
		if code != "rate_limit_exceeded" {
			t.Errorf("request %d: code %q, want rate_limit_exceeded", i+2, code)
		}
		after := settled(t, rdb, prefix)
		if after.balance != before.balance {
			t.Errorf("request %d: balance %d, was %d", i+2, after.balance, before.balance)
		}
		if after.uses != before.uses {
			t.Errorf("request %d: credential uses %d, was %d (the refused request's lease counted)", i+2, after.uses, before.uses)
		}
	}
	if n := upstream.Load(); n != 1 {
		t.Errorf("upstream called %d times, want 1", n)
	}
}

// TestPipelinedReserveRefusedReleasesLease: a reservation refused for lack
// of balance gives back the lease queued with it.
func TestPipelinedReserveRefusedReleasesLease(t *testing.T) {
	g, rdb, prefix, upstream := redisGateway(t, func(cfg *config.Config) {
		cfg.Billing.NewUserCredit = 1e-6 // one micro-USD: short of any estimate
		limitKey(cfg)
	})
	for i := range 2 {
		resp := g.post(t, testKey, refusalBody)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("request %d: status %d, want 429", i+1, resp.StatusCode)
		}
		code := errorCode(t, resp)
		resp.Body.Close()
		if code != "insufficient_quota" {
			t.Errorf("request %d: code %q, want insufficient_quota", i+1, code)
		}
		s := settled(t, rdb, prefix)
		if s.uses != 0 {
			t.Errorf("request %d: credential uses %d, want 0", i+1, s.uses)
		}
	}
	if n := upstream.Load(); n != 0 {
		t.Errorf("upstream called %d times, want 0", n)
	}
}
