package web

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/pool"
	openaiup "github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
)

// fakeAuth answers for the console API too: a session cookie of the
// stand-in is a principal, stepped up by POST /api/v1/auth/step-up.
func (f *fakeAuth) Authenticate(r *http.Request) (*console.Principal, error) {
	c, err := r.Cookie("sy_session")
	if err != nil {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.sessions[c.Value]
	if u == nil {
		return nil, nil
	}
	return &console.Principal{UserID: u.ID, Email: u.Email, Role: u.Role, Via: console.ViaSession,
		SessionID: c.Value, StepUpAt: f.stepUps[c.Value]}, nil
}

// mountChannels serves the real channel routes over a store and pool on
// SQLite, with a file channel "main" (read-only in the console) pointing at
// a mock upstream, whose URL it returns for the channels the suite creates.
// POST /_test/credentials/{id}/cooldown puts a credential in a 10-minute
// cooldown after one measured success, as a 429 from the upstream would, so
// the suite can see the countdown without waiting for real traffic;
// ?circuit=1 opens its circuit for 5 minutes instead, as failing 5xx do.
func mountChannels(t *testing.T, rt *api.Router, auth *fakeAuth) string {
	t.Helper()
	ctx := t.Context()
	up := httptest.NewServer(mock.New(mock.Options{}))
	t.Cleanup(up.Close)
	db, err := store.Open(ctx, "sqlite://"+t.TempDir()+"/sy.db", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	kr, err := secret.New(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st := pool.NewStore(db, kr)
	if err := st.ApplyConfig(ctx, []config.Channel{{Name: "main", Type: "openai", BaseURL: up.URL,
		Models: []string{"gpt-4o-mini", "gpt-4o", "o3-mini", "text-embedding-3-small"}, Weight: 1, Priority: 10, Groups: []string{"default"},
		Credentials: []config.Credential{{Key: "sk-file-main-0000000000000001", Weight: 1}}}}); err != nil {
		t.Fatal(err)
	}
	state := pool.NewMemoryState()
	pl, err := pool.New(ctx, pool.Options{Store: st, State: state, Clients: relay.NewTransports(config.Upstream{}).Client})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pl.Close)
	rl, err := relay.New(relay.Options{Pool: pl, Adapters: map[string]relay.ChatAdapter{"openai": openaiup.NewUpstream()}})
	if err != nil {
		t.Fatal(err)
	}
	pl.SetProber(rl.Probe)

	capi := console.New(console.Options{Auth: auth})
	console.MountChannels(capi, console.ChannelsDeps{Store: st, Pool: pl,
		Groups: func(context.Context) ([]string, error) { return []string{"default", "vip"}, nil }})
	capi.Mount(rt)

	rt.Handle("POST /_test/credentials/{id}/cooldown", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now()
		day := now.UTC().Format("2006-01-02")
		outcomes := []pool.Outcome{
			{Kind: pool.Success, TTFB: 420 * time.Millisecond, Tokens: 1800, Spend: 250_000, Day: day},
			{Kind: pool.RateLimited, Cooldown: 10 * time.Minute, Err: "upstream 429: rate limit reached for requests", Day: day},
		}
		if r.URL.Query().Get("circuit") == "1" {
			outcomes[1] = pool.Outcome{Kind: pool.Failed, Err: "upstream 502: bad gateway", Day: day,
				CircuitFailures: 1, CircuitPause: 5 * time.Minute}
		}
		for i, o := range outcomes {
			lease := "browser-test-" + strconv.Itoa(i)
			g, err := state.Acquire(r.Context(), &pool.Acquire{Channel: "browser-test", Cands: []pool.Cand{{ID: id, Weight: 1}},
				Strategy: pool.RoundRobin, Now: now, Day: day, LeaseID: lease, LeaseTTL: time.Minute, Force: true})
			if err != nil || !g.Found {
				http.Error(w, "acquire failed", http.StatusInternalServerError)
				return
			}
			if err := state.Release(r.Context(), id, lease, o, now); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	return up.URL
}
