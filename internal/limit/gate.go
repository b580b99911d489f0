package limit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/auth"
)

// Authenticator identifies a request's caller (auth.Directory).
type Authenticator interface {
	Authenticate(r *http.Request, clientIP netip.Addr) (*auth.Key, error)
}

// Gate admits an authenticated request against its key's and its group's
// limits. It wraps the key directory, so every handler that authenticates
// also counts:
//   - rpm and daily_requests take one unit per request, per key and per
//     group (one budget shared by all keys of the group);
//   - tpm cannot be known before the answer, so admission only checks that
//     the key and group are not in debt, and Charge adds the real tokens
//     once the request is done: a key over its tpm waits until the debt is
//     paid back at the configured rate.
//
// When the limiter fails (Redis unreachable) requests are refused with 503
// limiter_unavailable: failing open would let each node admit traffic the
// others cannot count.
type Gate struct {
	keys Authenticator
	lim  Limiter
	now  func() time.Time
	log  *slog.Logger
}

// NewGate builds a gate over keys; now may be nil (time.Now).
func NewGate(keys Authenticator, lim Limiter, now func() time.Time, log *slog.Logger) *Gate {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Gate{keys: keys, lim: lim, now: now, log: log}
}

// rulePool recycles the rules of one admission: Take is an interface call,
// so a local array would escape to the heap on every request.
var rulePool = sync.Pool{New: func() any { s := make([]Rule, 0, 6); return &s }}

// Authenticate authenticates r and admits it. Errors are *apierror.Error.
func (g *Gate) Authenticate(r *http.Request, clientIP netip.Addr) (*auth.Key, error) {
	k, err := g.keys.Authenticate(r, clientIP)
	if err != nil {
		return nil, err
	}
	rp := rulePool.Get().(*[]Rule)
	rules := appendRules((*rp)[:0], k)
	defer func() { *rp = rules[:0]; rulePool.Put(rp) }()
	if len(rules) == 0 {
		return k, nil
	}
	d, err := g.lim.Take(r.Context(), rules, g.now())
	if err != nil {
		g.log.LogAttrs(r.Context(), slog.LevelError, "rate limiter failed", slog.String("error", err.Error()))
		return nil, apierror.LimiterUnavailable()
	}
	if !d.Allowed {
		return nil, apierror.RateLimited(max(d.RetryAfter, time.Millisecond))
	}
	return k, nil
}

// Charge adds a finished request's tokens to its key's and group's tpm.
func (g *Gate) Charge(ctx context.Context, k *auth.Key, tokens int64) {
	if tokens <= 0 {
		return
	}
	now := g.now()
	for _, r := range [2]Rule{
		{Key: keyID(k, "tpm"), Kind: GCRA, Limit: k.TPM, Period: time.Minute},
		{Key: "g:" + k.Group + ":tpm", Kind: GCRA, Limit: k.GroupTPM, Period: time.Minute},
	} {
		if r.Limit <= 0 {
			continue
		}
		if err := g.lim.Charge(ctx, r, tokens, now); err != nil && !errors.Is(err, context.Canceled) {
			g.log.LogAttrs(ctx, slog.LevelWarn, "charge tokens to the rate limiter",
				slog.String("rule", r.Key), slog.String("error", err.Error()))
		}
	}
}

func keyID(k *auth.Key, what string) string {
	return "k:" + strconv.FormatInt(k.ID, 10) + ":" + what
}

// appendRules lists k's limits: requests take one unit, tpm is check-only.
func appendRules(rules []Rule, k *auth.Key) []Rule {
	if k.RPM > 0 {
		rules = append(rules, Rule{Key: keyID(k, "rpm"), Kind: GCRA, Limit: int64(k.RPM), Period: time.Minute, Cost: 1})
	}
	if k.DailyRequests > 0 {
		rules = append(rules, Rule{Key: keyID(k, "day"), Kind: Daily, Limit: int64(k.DailyRequests), Cost: 1})
	}
	if k.TPM > 0 {
		rules = append(rules, Rule{Key: keyID(k, "tpm"), Kind: GCRA, Limit: k.TPM, Period: time.Minute})
	}
	if k.GroupRPM > 0 {
		rules = append(rules, Rule{Key: "g:" + k.Group + ":rpm", Kind: GCRA, Limit: int64(k.GroupRPM), Period: time.Minute, Cost: 1})
	}
	if k.GroupDailyRequests > 0 {
		rules = append(rules, Rule{Key: "g:" + k.Group + ":day", Kind: Daily, Limit: int64(k.GroupDailyRequests), Cost: 1})
	}
	if k.GroupTPM > 0 {
		rules = append(rules, Rule{Key: "g:" + k.Group + ":tpm", Kind: GCRA, Limit: k.GroupTPM, Period: time.Minute})
	}
	return rules
}
