package app

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/limit"
	"github.com/switchyard/switchyard/internal/netguard"
	"github.com/switchyard/switchyard/internal/topup"
)

// The top-up slice: users buying credit through the providers of the
// file's topup section (docs/payments.md).

// notifyPath is where a provider's notifications arrive.
func notifyPath(provider string) string { return "/api/v1/topup/notify/" + provider }

// buildTopup makes the node's top-up service from cfg.Topup.
func (a *App) buildTopup() (*topup.Service, error) {
	t := a.cfg.Topup
	base := strings.TrimSuffix(a.cfg.Server.PublicURL, "/")
	var providers []topup.Provider
	if t.Manual {
		providers = append(providers, topup.Manual{})
	}
	if s := t.Stripe; s != nil {
		secrets := make([]string, len(s.WebhookSecrets))
		for i, w := range s.WebhookSecrets {
			secrets[i] = w.Value()
		}
		// Stripe's API is public; an api_base set by the operator (a
		// test double, a proxy) may be on a private network.
		client := netguard.NewClient(&netguard.Guard{AllowPrivate: s.APIBase != ""}, 30*time.Second)
		providers = append(providers, &topup.Stripe{SecretKey: s.SecretKey.Value(), WebhookSecrets: secrets,
			APIBase: s.APIBase, Client: client, Now: a.now})
	}
	if e := t.EPay; e != nil {
		providers = append(providers, &topup.EPay{Gateway: e.Gateway, PID: e.PID, Key: e.Key.Value(), Type: e.Type,
			Currency: e.Currency, NotifyURL: base + notifyPath(topup.EPayName),
			// The gateway is the operator's choice, not a user's.
			Client: netguard.NewClient(&netguard.Guard{AllowPrivate: true}, 20*time.Second)})
	}
	custom, err := topupCustom(t.Custom)
	if err != nil {
		return nil, err
	}
	return topup.New(a.db, billing.NewLedger(a.db, a.now), topup.Options{TTL: t.OrderTTL, Custom: custom, Now: a.now,
		Log: a.log.With("component", "topup"), Providers: providers}), nil
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
func (a *App) mountTopup(c *console.API) error {
	svc, err := a.buildTopup()
	if err != nil {
		return err
	}
	a.topup = svc
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
		ReturnURL: strings.TrimSuffix(a.cfg.Server.PublicURL, "/") + "/me/topup"})
	return nil
}

// runTopup finishes paid orders left uncredited and expires stale ones,
// at start and every minute, until ctx ends.
func (a *App) runTopup(ctx context.Context) {
	if a.topup != nil {
		go a.topup.Run(ctx, time.Minute)
	}
}
