package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/limit"
	"github.com/switchyard/switchyard/internal/live"
	"github.com/switchyard/switchyard/internal/netguard"
	"github.com/switchyard/switchyard/internal/topup"
)

// The top-up slice: users buying credit through the providers of the
// file's topup section or the console's (docs/payments.md).

// notifyPath is where a provider's notifications arrive.
func notifyPath(provider string) string { return "/api/v1/topup/notify/" + provider }

// buildTopup makes the node's top-up service: the providers of the
// file's topup section, and those configured in the console.
func (a *App) buildTopup(ctx context.Context) (*topup.Service, error) {
	t := a.cfg.Topup
	a.topupStore = topup.NewProviderStore(a.db, a.keyring, a.now)
	custom, err := topupCustom(t.Custom)
	if err != nil {
		return nil, err
	}
	svc := topup.New(a.db, billing.NewLedger(a.db, a.now), topup.Options{TTL: t.OrderTTL, Custom: custom, Now: a.now,
		Log: a.log.With("component", "topup")})
	a.topup = svc
	if err := a.reloadTopup(ctx); err != nil {
		return nil, err
	}
	return svc, nil
}

// topupFileFields names, for each provider the file declares, its field
// there: the console shows the provider read-only, naming it.
func (a *App) topupFileFields() map[string]string {
	t, out := a.cfg.Topup, map[string]string{}
	if t.Manual {
		out[topup.ManualName] = "topup.manual"
	}
	if t.Stripe != nil {
		out[topup.StripeName] = "topup.stripe"
	}
	if t.EPay != nil {
		out[topup.EPayName] = "topup.epay"
	}
	return out
}

// reloadTopup rebuilds the providers in use from the file and the
// console's settings (at start, and when live.Topup changes on any node).
// A provider the file declares is never taken from the console.
func (a *App) reloadTopup(ctx context.Context) error {
	t := a.cfg.Topup
	var providers []topup.Provider
	if t.Manual {
		providers = append(providers, topup.Manual{})
	}
	if s := t.Stripe; s != nil {
		secrets := make([]string, len(s.WebhookSecrets))
		for i, w := range s.WebhookSecrets {
			secrets[i] = w.Value()
		}
		providers = append(providers, a.stripeProvider(s.SecretKey.Value(), secrets, s.APIBase))
	}
	if e := t.EPay; e != nil {
		providers = append(providers, a.epayProvider(e.Gateway, e.PID, e.Key.Value(), e.Type, e.Currency))
	}
	stored, err := a.topupStore.List(ctx)
	if err != nil {
		return fmt.Errorf("load payment providers: %w", err)
	}
	file := a.topupFileFields()
	for _, p := range stored {
		if _, ok := file[p.Name]; ok || !p.Enabled {
			continue
		}
		switch p.Name {
		case topup.ManualName:
			providers = append(providers, topup.Manual{Instructions: p.Instructions})
		case topup.StripeName:
			providers = append(providers, a.stripeProvider(p.Secrets.SecretKey, p.Secrets.WebhookSecrets, p.APIBase))
		case topup.EPayName:
			providers = append(providers, a.epayProvider(p.Gateway, p.PID, p.Secrets.Key, p.Type, p.Currency))
		}
	}
	a.topup.SetProviders(providers)
	return nil
}

func (a *App) stripeProvider(key string, webhookSecrets []string, apiBase string) *topup.Stripe {
	// Stripe's API is public; an api_base set by the operator (a test
	// double, a proxy) may be on a private network.
	client := netguard.NewClient(&netguard.Guard{AllowPrivate: apiBase != ""}, 30*time.Second)
	return &topup.Stripe{SecretKey: key, WebhookSecrets: webhookSecrets, APIBase: apiBase, Client: client, Now: a.now}
}

func (a *App) epayProvider(gateway, pid, key, typ, currency string) *topup.EPay {
	base := strings.TrimSuffix(a.cfg.Server.PublicURL, "/")
	return &topup.EPay{Gateway: gateway, PID: pid, Key: key, Type: typ, Currency: currency,
		NotifyURL: base + notifyPath(topup.EPayName),
		// The gateway is the operator's choice, not a user's.
		Client: netguard.NewClient(&netguard.Guard{AllowPrivate: true}, 20*time.Second)}
}

func topupCustom(c config.TopupCustom) (topup.Custom, error) {
	if !c.Enabled {
		return topup.Custom{}, nil
	}
	lo, err := billing.FromUSD(c.MinUSD)
	if err != nil {
		return topup.Custom{}, err
	}
	hi, err := billing.FromUSD(c.MaxUSD)
	if err != nil {
		return topup.Custom{}, err
	}
	return topup.Custom{Enabled: true, Currency: c.Currency, PricePerUSD: c.PricePerUSD, Min: lo, Max: hi}, nil
}

// mountTopup adds the top-up routes to the console. Notifications are
// rate-limited per client address (in Redis when configured, so the
// budget is the cluster's).
func (a *App) mountTopup(ctx context.Context, c *console.API) error {
	svc, err := a.buildTopup(ctx)
	if err != nil {
		return err
	}
	a.bus.On(live.Topup, a.reloadTopup)
	var lim limit.Limiter = limit.NewMemory()
	if a.redis != nil {
		lim = limit.NewRedis(a.redis, a.cfg.Redis.Prefix+"limit:")
	}
	rate := int64(a.cfg.Topup.NotifyRate)
	allow := func(r *http.Request) (bool, time.Duration) {
		if rate <= 0 {
			return true, 0
		}
		d, err := lim.Take(r.Context(), []limit.Rule{{Key: "topup-notify:" + api.ClientIP(r.Context()).String(),
			Kind: limit.GCRA, Limit: rate, Period: time.Minute, Cost: 1}}, a.now())
		if err != nil {
			// A payment notification is worth more than the limit: fail open.
			a.log.Warn("topup notify rate limiter unavailable", "error", err.Error())
			return true, 0
		}
		return d.Allowed, d.RetryAfter
	}
	console.MountTopup(c, console.TopupDeps{Service: svc, AllowNotify: allow, PublicURL: a.cfg.Server.PublicURL,
		ReturnURL: strings.TrimSuffix(a.cfg.Server.PublicURL, "/") + "/me/topup",
		Settings:  a.topupStore, FileProviders: a.topupFileFields(), Live: a.bus})
	return nil
}

// runTopup finishes paid orders left uncredited and expires stale ones,
// at start and every minute, until ctx ends.
func (a *App) runTopup(ctx context.Context) {
	if a.topup != nil {
		go a.topup.Run(ctx, time.Minute)
	}
}
