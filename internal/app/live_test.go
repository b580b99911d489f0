package app_test

// Live changes end to end: a change made through a store and published on
// the bus is in force on the next request on the node that made it, and
// within a second on another node sharing the database (through Redis, or
// through the database's version polling without it).

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/live"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/pool"
	"github.com/switchyard/switchyard/internal/settings"
	"github.com/switchyard/switchyard/internal/testenv"
)

const (
	liveEmail = "live@example.com"
	liveKey   = "sk-live-main-0123456789abcdef"
	liveKey2  = "sk-live-second-0123456789abcdef"
)

// liveConfig is a node in front of a mock upstream serving models m and
// m2 (m priced in the file, m2 not), with one user holding 1 USD and two
// keys.
func liveConfig(t *testing.T) (*config.Config, string) {
	t.Helper()
	up := httptest.NewServer(mock.New(mock.Options{DisableRecording: true}))
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	cfg.Channels = []config.Channel{{Name: "main", Type: "openai", BaseURL: up.URL,
		Models: []string{"m", "m2"}, Credentials: []config.Credential{{Key: "k1"}}}}
	cfg.Pricing = map[string]config.Price{"m": {Input: 1, Output: 2}, "m3": {Free: true}}
	cfg.Users = []config.User{{Email: liveEmail, Credit: 1}}
	cfg.Keys = []config.Key{{Name: "main", User: liveEmail, Key: liveKey}, {Name: "second", User: liveEmail, Key: liveKey2}}
	return cfg, up.URL
}

// chat sends one chat request to n and returns the status and body.
func chat(t *testing.T, n *app.App, key, model string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"model": model, "max_tokens": 50,
		"messages": []map[string]string{{"role": "user", "content": "[[mock chunks=7]] live"}}})
	req, err := http.NewRequestWithContext(t.Context(), "POST", "http://"+n.Addr()+"/v1/chat/completions", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// within polls cond for up to a second, the promise made for live changes.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > time.Second {
			t.Fatalf("%s: not in force within 1s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Logf("%s: in force after %v", what, time.Since(start).Round(time.Millisecond))
}

func publish(t *testing.T, n *app.App, topic live.Topic) {
	t.Helper()
	if err := n.Live().Publish(context.Background(), topic); err != nil {
		t.Fatal(err)
	}
}

// A price set through the store is charged from the next request.
func TestPriceSetThroughStoreIsCharged(t *testing.T) {
	cfg, _ := liveConfig(t)
	n := apptest.Start(t, cfg)
	balance := apptest.Balance(t, n, liveEmail)

	if st, body := chat(t, n, liveKey, "m2"); st != 403 {
		t.Fatalf("unpriced m2: %d %s, want 403", st, body)
	}
	cost := func() billing.Micros {
		t.Helper()
		before := balance()
		if st, body := chat(t, n, liveKey, "m2"); st != 200 {
			t.Fatalf("m2: %d %s", st, body)
		}
		return before - balance()
	}
	if _, _, err := n.PriceStore().Put(t.Context(), "m2", billing.PriceSpec{InputMicros: 1_000_000, OutputMicros: 2_000_000}); err != nil {
		t.Fatal(err)
	}
	publish(t, n, live.Prices)
	first := cost()
	if first <= 0 {
		t.Fatalf("m2 at 1/2 micro-USD per token cost %d", first)
	}
	if _, _, err := n.PriceStore().Put(t.Context(), "m2", billing.PriceSpec{InputMicros: 3_000_000, OutputMicros: 6_000_000}); err != nil {
		t.Fatal(err)
	}
	publish(t, n, live.Prices)
	if second := cost(); second != 3*first {
		t.Fatalf("after tripling the price a request cost %d, want 3 × %d", second, first)
	}
	// A file price is refused to the store.
	if _, _, err := n.PriceStore().Put(t.Context(), "m", billing.PriceSpec{Free: true}); err == nil {
		t.Fatal("a file price was overwritten")
	}
}

// Two nodes on one PostgreSQL database: a price, a revoked key and a new
// channel made on node A are in force on node B within a second.
func TestLiveTwoNodes(t *testing.T) {
	for _, pubsub := range []bool{true, false} {
		name := "postgres-redis"
		var opts []app.Option
		if !pubsub {
			// Billing needs the shared Redis of two nodes; the bus is
			// kept off it, so only the database's version polling can
			// carry the changes.
			name = "postgres-polling"
			opts = append(opts, app.WithLive(func(o *live.Options) { o.Redis = nil }))
		}
		t.Run(name, func(t *testing.T) {
			cfg, upstream := liveConfig(t)
			cfg.Database.URL = config.Secret(testenv.FreshPostgresURL(t))
			cfg.SecretKey = config.Secret(strings.Repeat("ab", 32))
			cfg.Redis.URL = config.Secret(testenv.RedisURL(t))
			cfg.Redis.Prefix = testenv.RedisPrefix(t, cfg.Redis.URL.Value())
			a := apptest.StartWith(t, cfg, nil, opts...)
			bcfg := *cfg
			bcfg.Server.DataDir = t.TempDir()
			b := apptest.StartWith(t, &bcfg, nil, opts...)
			ctx := t.Context()

			// A price.
			if st, body := chat(t, b, liveKey, "m2"); st != 403 {
				t.Fatalf("unpriced m2 on B: %d %s, want 403", st, body)
			}
			if _, _, err := a.PriceStore().Put(ctx, "m2", billing.PriceSpec{InputMicros: 1_000_000}); err != nil {
				t.Fatal(err)
			}
			publish(t, a, live.Prices)
			within(t, "price on B", func() bool { st, _ := chat(t, b, liveKey, "m2"); return st == 200 })

			// A revoked key.
			if st, body := chat(t, b, liveKey2, "m"); st != 200 {
				t.Fatalf("second key on B: %d %s", st, body)
			}
			keys, err := auth.NewStore(a.DB(), time.Now).ListKeys(ctx, liveEmail)
			if err != nil {
				t.Fatal(err)
			}
			var id int64
			for _, k := range keys {
				if k.Name == "second" {
					id = k.ID
				}
			}
			if err := auth.NewStore(a.DB(), time.Now).RevokeKey(ctx, id); err != nil {
				t.Fatal(err)
			}
			publish(t, a, live.Tenancy)
			if st, _ := chat(t, a, liveKey2, "m"); st != 401 {
				t.Fatalf("revoked key on A (the writer): %d, want 401 at once", st)
			}
			within(t, "revoked key on B", func() bool { st, _ := chat(t, b, liveKey2, "m"); return st == 401 })

			// A new channel, serving m3.
			if st, _ := chat(t, b, liveKey, "m3"); st == 200 {
				t.Fatal("m3 served before any channel has it")
			}
			ps := pool.NewStore(a.DB(), a.Keyring())
			if err := ps.EnsureChannels(ctx, []config.Channel{{Name: "extra", Type: "openai", BaseURL: upstream, Models: []string{"m3"}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := ps.Import(ctx, "extra", []pool.ImportEntry{{Line: 1, Cred: config.Credential{Key: "k-extra"}}}); err != nil {
				t.Fatal(err)
			}
			publish(t, a, live.Channels)
			within(t, "new channel on B", func() bool { st, _ := chat(t, b, liveKey, "m3"); return st == 200 })

			// A setting, read by anyone on B's console.
			name := "Acme AI"
			if _, err := a.Settings().Update(ctx, settings.Patch{SiteName: &name}); err != nil {
				t.Fatal(err)
			}
			publish(t, a, live.Settings)
			within(t, "site name on B", func() bool { return publicSiteName(t, b) == name })
		})
	}
}

// publicSiteName reads the site name from n's public settings route.
func publicSiteName(t *testing.T, n *app.App) string {
	t.Helper()
	resp, err := http.Get("http://" + n.Addr() + "/api/v1/settings/public")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		SiteName string `json:"site_name"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("public settings: %d %v", resp.StatusCode, err)
	}
	return v.SiteName
}

// The bus's tenancy version is the row auth.Store rewrites on every change,
// so changes made by the command line (which has no bus) are seen too.
func TestTenancyTopicIsTheKeysVersion(t *testing.T) {
	if live.Tenancy.VersionSetting() != auth.VersionSetting {
		t.Fatalf("live.Tenancy polls %q, auth.Store bumps %q", live.Tenancy.VersionSetting(), auth.VersionSetting)
	}
}
