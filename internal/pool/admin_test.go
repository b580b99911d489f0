package pool

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/testenv"
)

func ptr[T any](v T) *T { return &v }

// fieldOf returns the path of the first validation error in err.
func fieldOf(err error) string {
	var es config.Errors
	if errors.As(err, &es) && len(es) > 0 {
		return es[0].Path
	}
	return ""
}

func validChannel(name string) ChannelPatch {
	return ChannelPatch{Name: ptr(name), Type: ptr("openai"), BaseURL: ptr("http://up.example"),
		Models: ptr([]string{"m1", "gpt-*"})}
}

func TestChannelCRUD(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s := newTestStore(t, openDB(t, url))
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		groups := []string{"default", "vip"}
		rec, err := s.CreateChannel(ctx, validChannel("api1"), groups)
		if err != nil {
			t.Fatal(err)
		}
		if rec.ManagedByFile || rec.Config.Weight != 1 || len(rec.Config.Groups) != 1 || rec.Config.Groups[0] != "default" {
			t.Errorf("created %+v", rec)
		}
		if _, err := s.CreateChannel(ctx, validChannel("api1"), groups); !errors.As(err, new(*ConflictError)) {
			t.Errorf("duplicate name: %v", err)
		}
		// Each invalid field is named as the file's validator names it.
		for _, tc := range []struct {
			mut   func(p *ChannelPatch)
			field string
		}{
			{func(p *ChannelPatch) { p.Name = ptr(" ") }, "name"},
			{func(p *ChannelPatch) { p.Type = ptr("bogus") }, "type"},
			{func(p *ChannelPatch) { p.BaseURL = ptr("ftp://x") }, "base_url"},
			{func(p *ChannelPatch) { p.Models = ptr([]string{}) }, "models"},
			{func(p *ChannelPatch) { p.Groups = ptr([]string{"nope"}) }, "groups[0]"},
			{func(p *ChannelPatch) { p.Weight = ptr(0) }, "weight"},
			{func(p *ChannelPatch) { p.Proxy = ptr("gopher://x") }, "proxy"},
			{func(p *ChannelPatch) { p.Strategy = ptr("best") }, "strategy"},
			{func(p *ChannelPatch) { p.MaxImages = ptr(99) }, "max_images"},
			{func(p *ChannelPatch) { p.TestModel = ptr("gpt-*") }, "test_model"},
			{func(p *ChannelPatch) { p.HostedTools = ptr("keep") }, "hosted_tools"},
			{func(p *ChannelPatch) { p.TokenURL = ptr("nope") }, "token_url"},
			{func(p *ChannelPatch) { p.ModelMap = ptr(map[string]string{"a": ""}) }, "model_map.a"},
		} {
			p := validChannel("bad")
			tc.mut(&p)
			if _, err := s.CreateChannel(ctx, p, groups); fieldOf(err) != tc.field {
				t.Errorf("want an error on %s, got %v", tc.field, err)
			}
		}
		before, after, err := s.UpdateChannel(ctx, rec.ID, ChannelPatch{Priority: ptr(5), Groups: ptr([]string{"vip"})}, groups)
		if err != nil {
			t.Fatal(err)
		}
		if before.Config.Priority != 0 || after.Config.Priority != 5 || after.Config.Groups[0] != "vip" || after.Config.BaseURL != "http://up.example" {
			t.Errorf("update: before %+v after %+v", before.Config, after.Config)
		}
		if _, _, err := s.UpdateChannel(ctx, rec.ID, ChannelPatch{Name: ptr("alpha")}, groups); !errors.As(err, new(*ConflictError)) {
			t.Errorf("rename onto a taken name: %v", err)
		}
		if _, _, err := s.UpdateChannel(ctx, rec.ID, ChannelPatch{Weight: ptr(-1)}, groups); fieldOf(err) != "weight" {
			t.Errorf("invalid update: %v", err)
		}
		if _, err := s.SetChannelDisabled(ctx, rec.ID, true); err != nil {
			t.Fatal(err)
		}
		got, err := s.ChannelByID(ctx, rec.ID)
		if err != nil || !got.Config.Disabled || got.Config.Priority != 5 {
			t.Errorf("after disable: %+v %v", got, err)
		}

		// The file's channel refuses every write, naming the file field.
		chs, _, _ := s.Load(ctx)
		alpha := chs[0]
		var mf *ManagedByFileError
		if _, _, err := s.UpdateChannel(ctx, alpha.ID, ChannelPatch{Priority: ptr(1)}, groups); !errors.As(err, &mf) || mf.Field != "channels[name=alpha]" {
			t.Errorf("update file channel: %v", err)
		}
		if _, err := s.SetChannelDisabled(ctx, alpha.ID, true); !errors.As(err, &mf) {
			t.Errorf("disable file channel: %v", err)
		}
		if _, err := s.DeleteChannel(ctx, alpha.ID); !errors.As(err, &mf) {
			t.Errorf("delete file channel: %v", err)
		}
		if _, err := s.ChannelByID(ctx, 9999); !errors.Is(err, ErrChannelNotFound) {
			t.Errorf("unknown channel: %v", err)
		}

		// Paging: newest first.
		page, err := s.ChannelPage(ctx, 0, 2)
		if err != nil || len(page) != 2 || page[0].ID != rec.ID {
			t.Fatalf("first page: %+v %v", page, err)
		}
		rest, err := s.ChannelPage(ctx, page[1].ID, 2)
		if err != nil || len(rest) != 1 || rest[0].Config.Name != "alpha" {
			t.Fatalf("second page: %+v %v", rest, err)
		}

		if _, err := s.AddCredential(ctx, rec.ID, NewCredential{Key: ptr("sk-api-cccccccccccccccccccc")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteChannel(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ChannelByID(ctx, rec.ID); !errors.Is(err, ErrChannelNotFound) {
			t.Errorf("deleted channel still there: %v", err)
		}
		if n := countCreds(t, s.db); n != 3 {
			t.Errorf("%d credentials after deleting the channel; want the file's 3", n)
		}
	})
}

func TestCredentialCRUD(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s := newTestStore(t, openDB(t, url))
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		chs, creds, _ := s.Load(ctx)
		alpha, beta := chs[0], chs[1]
		// An API credential in a file channel is editable.
		c, err := s.AddCredential(ctx, alpha.ID, NewCredential{Key: ptr("sk-api-dddddddddddddddddddd"),
			CredentialPatch: CredentialPatch{DailyLimit: ptr(int64(7))}})
		if err != nil {
			t.Fatal(err)
		}
		if c.ManagedByFile || c.Options.DailyLimit != 7 || c.Options.Weight != 1 || c.Channel != "alpha" {
			t.Errorf("added %+v", c)
		}
		if _, err := s.AddCredential(ctx, alpha.ID, NewCredential{Key: ptr("sk-api-dddddddddddddddddddd")}); !errors.As(err, new(*ConflictError)) {
			t.Errorf("duplicate: %v", err)
		}
		for _, tc := range []struct {
			n     NewCredential
			ch    int64
			field string
		}{
			{NewCredential{}, alpha.ID, "key"},
			{NewCredential{Key: ptr("sk-x"), AccessToken: ptr("at")}, alpha.ID, "access_token"},
			{NewCredential{AccessToken: ptr("at"), RefreshToken: ptr("rt")}, alpha.ID, "refresh_token"}, // no token_url
			{NewCredential{Key: ptr("sk-with space")}, alpha.ID, "key"},
			{NewCredential{Key: ptr("sk-x"), CredentialPatch: CredentialPatch{Weight: ptr(0)}}, alpha.ID, "weight"},
			{NewCredential{Key: ptr("sk-x"), CredentialPatch: CredentialPatch{DailyLimit: ptr(int64(-1))}}, alpha.ID, "daily_limit"},
			{NewCredential{Key: ptr("sk-x"), CredentialPatch: CredentialPatch{Email: ptr("nope")}}, alpha.ID, "email"},
			{NewCredential{Key: ptr("sk-x"), CredentialPatch: CredentialPatch{Proxy: ptr("gopher://h")}}, alpha.ID, "proxy"},
			{NewCredential{AccessToken: ptr("at"), ExpiresAt: ptr("tomorrow")}, beta.ID, "expires_at"},
		} {
			if _, err := s.AddCredential(ctx, tc.ch, tc.n); fieldOf(err) != tc.field {
				t.Errorf("want an error on %s, got %v", tc.field, err)
			}
		}
		oauth, err := s.AddCredential(ctx, beta.ID, NewCredential{AccessToken: ptr("at-api-0002"), RefreshToken: ptr("rt-api-0002"),
			ExpiresAt: ptr("2031-01-01T00:00:00Z")})
		if err != nil || oauth.Kind != KindOAuth || oauth.Secret.ExpiresAt.Year() != 2031 {
			t.Fatalf("add oauth: %+v %v", oauth, err)
		}

		before, after, err := s.UpdateCredential(ctx, c.ID, CredentialPatch{Proxy: ptr("http://127.0.0.1:3128"), Weight: ptr(4)})
		if err != nil {
			t.Fatal(err)
		}
		if before.Options.Proxy != "" || after.Options.Proxy != "http://127.0.0.1:3128" || after.Options.Weight != 4 ||
			after.Options.DailyLimit != 7 || after.Secret.Key != "sk-api-dddddddddddddddddddd" {
			t.Errorf("update: %+v → %+v", before.Options, after.Options)
		}
		if _, _, err := s.UpdateCredential(ctx, c.ID, CredentialPatch{DailySpend: ptr(-1.0)}); fieldOf(err) != "daily_spend" {
			t.Errorf("invalid update: %v", err)
		}
		var mf *ManagedByFileError
		if _, _, err := s.UpdateCredential(ctx, creds[0].ID, CredentialPatch{Weight: ptr(2)}); !errors.As(err, &mf) || mf.Field != "channels[name=alpha].credentials" {
			t.Errorf("update file credential: %v", err)
		}
		if _, err := s.DeleteCredential(ctx, creds[0].ID); !errors.As(err, &mf) {
			t.Errorf("delete file credential: %v", err)
		}
		if _, _, err := s.UpdateCredential(ctx, 9999, CredentialPatch{}); !errors.Is(err, ErrCredentialNotFound) {
			t.Errorf("unknown credential: %v", err)
		}
		// A restart with the same file keeps the imported credential and
		// its edits.
		if err := s.ApplyConfig(ctx, testChannels()); err != nil {
			t.Fatal(err)
		}
		if got, err := s.LoadCredential(ctx, c.ID); err != nil || got.Options.Weight != 4 {
			t.Errorf("after ApplyConfig: %+v %v", got, err)
		}
		page, err := s.CredentialsOf(ctx, alpha.ID, 0, 2)
		if err != nil || len(page) != 2 || page[0].ID != c.ID {
			t.Fatalf("credentials page: %+v %v", page, err)
		}
		if _, err := s.CredentialsOf(ctx, 9999, 0, 2); !errors.Is(err, ErrChannelNotFound) {
			t.Errorf("credentials of an unknown channel: %v", err)
		}
		if _, err := s.DeleteCredential(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LoadCredential(ctx, c.ID); !errors.Is(err, ErrCredentialNotFound) {
			t.Errorf("deleted credential: %v", err)
		}
	})
}

// adminPool is a pool over a fresh SQLite store with the file's channels
// of testChannels and an upstream that answers "ok" to keyA only.
func adminPool(t *testing.T) (*Pool, *Store, *httptest.Server) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+keyA {
			http.Error(w, `{"error":{"message":"invalid api key"}}`, http.StatusUnauthorized)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(up.Close)
	s := newTestStore(t, openDB(t, "sqlite://"+t.TempDir()+"/sy.db"))
	chs := testChannels()
	chs[0].BaseURL = up.URL
	if err := s.ApplyConfig(t.Context(), chs); err != nil {
		t.Fatal(err)
	}
	p, err := New(t.Context(), Options{Store: s, State: NewMemoryState(), Clients: relay.NewTransports(config.Upstream{}).Client})
	if err != nil {
		t.Fatal(err)
	}
	p.SetProber(func(ctx context.Context, tg *relay.Target, model string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tg.Channel.BaseURL+"/v1/chat/completions", strings.NewReader(model))
		req.Header.Set("Authorization", "Bearer "+tg.Secret())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return &relay.ProbeError{Err: err}
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return &relay.ProbeError{Status: resp.StatusCode, Err: errors.New("refused")}
		}
		return nil
	})
	return p, s, up
}

func TestOperatorDisableIsSticky(t *testing.T) {
	p, s, _ := adminPool(t)
	ctx := t.Context()
	_, creds, _ := s.Load(ctx)
	id := creds[0].ID // keyA: the probe would pass
	if err := p.Disable(ctx, id); err != nil {
		t.Fatal(err)
	}
	v, err := p.View(ctx, id)
	if err != nil || v.Status != StatusDisabled || v.DisabledReason != OperatorDisabled || v.LastErrorAt.IsZero() {
		t.Fatalf("after disable: %+v %v", v, err)
	}
	p.TestDisabled(ctx)
	if v, _ := p.View(ctx, id); v.Status != StatusDisabled {
		t.Errorf("the periodic test re-enabled an operator's disable: %+v", v)
	}
	if err := p.EnableCredential(ctx, id); err != nil {
		t.Fatal(err)
	}
	if v, _ := p.View(ctx, id); v.Status != StatusActive {
		t.Errorf("after enable: %+v", v)
	}
	if err := p.Disable(ctx, 9999); !errors.Is(err, ErrCredentialNotFound) {
		t.Errorf("disable unknown: %v", err)
	}
}

// A credential enabled by another node (a store write this node did not
// make) leaves this node's memory state at the next reload.
func TestReloadFollowsEnableElsewhere(t *testing.T) {
	p, s, _ := adminPool(t)
	ctx := t.Context()
	_, creds, _ := s.Load(ctx)
	id := creds[0].ID
	if err := p.Disable(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStatus(ctx, id, StatusActive, ""); err != nil { // the other node
		t.Fatal(err)
	}
	if err := p.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := p.View(ctx, id); v.Status != StatusActive {
		t.Errorf("after reload: %+v", v)
	}
}

func TestTestNow(t *testing.T) {
	p, s, _ := adminPool(t)
	ctx := t.Context()
	chs, creds, _ := s.Load(ctx)
	alpha := chs[0]
	res, err := p.Test(ctx, alpha.ID, 0, "")
	if err != nil || !res.OK || res.Model != "m1" || res.CredentialID != creds[0].ID || res.LatencyMillis < 0 {
		t.Fatalf("test with the first credential: %+v %v", res, err)
	}
	res, err = p.Test(ctx, alpha.ID, creds[1].ID, "m1")
	if err != nil || res.OK || res.Status != 401 || res.Error == "" {
		t.Fatalf("test with a refused key: %+v %v", res, err)
	}
	if _, err := p.Test(ctx, alpha.ID, 0, "other"); fieldOf(err) != "model" {
		t.Errorf("unserved model: %v", err)
	}
	if _, err := p.Test(ctx, alpha.ID, creds[2].ID, ""); fieldOf(err) != "credential_id" {
		t.Errorf("credential of another channel: %v", err)
	}
	if _, err := p.Test(ctx, 9999, 0, ""); !errors.Is(err, ErrChannelNotFound) {
		t.Errorf("unknown channel: %v", err)
	}
	// Nothing learned: the refused key is still active.
	if v, _ := p.View(ctx, creds[1].ID); v.Status != StatusActive {
		t.Errorf("test changed state: %+v", v)
	}
}

func TestRefreshNowRefusesKeys(t *testing.T) {
	p, s, _ := adminPool(t)
	_, creds, _ := s.Load(t.Context())
	if _, err := p.RefreshNow(t.Context(), creds[0].ID); !errors.Is(err, ErrNotOAuth) {
		t.Errorf("refresh of a key: %v", err)
	}
	if _, err := p.RefreshNow(t.Context(), 9999); !errors.Is(err, ErrCredentialNotFound) {
		t.Errorf("refresh of an unknown credential: %v", err)
	}
}

// What the console writes is routed at the next reload, which the console
// runs after every write.
func TestConsoleWritesRouteAtReload(t *testing.T) {
	p, s, up := adminPool(t)
	ctx := t.Context()
	rec, err := s.CreateChannel(ctx, ChannelPatch{Name: ptr("api"), Type: ptr("openai"), BaseURL: ptr(up.URL),
		Models: ptr([]string{"live-model"}), Groups: ptr([]string{"vip"})}, []string{"default", "vip"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if p.ServesModel("live-model", "vip") {
		t.Error("a channel without credentials is routed")
	}
	if _, err := s.AddCredential(ctx, rec.ID, NewCredential{Key: ptr(keyA)}); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if !p.ServesModel("live-model", "vip") || p.ServesModel("live-model", "default") {
		t.Error("the new channel is not routed to its group")
	}
	l, err := p.Pick(ctx, &relay.PickQuery{Model: "live-model", Group: "vip"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Target().Secret() != keyA {
		t.Error("picked another credential")
	}
	l.Done(ctx, relay.Outcome{Committed: true, Status: 200})
	if _, err := s.SetChannelDisabled(ctx, rec.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if p.ServesModel("live-model", "vip") {
		t.Error("a disabled channel is still routed")
	}
}
