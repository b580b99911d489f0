package pool

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/relay"
)

// A 401 or 403 on a client's request does not disable a credential by
// itself: the request is the client's, and some upstreams answer 403 to
// what is asked (content, a model the account lacks), so one user could
// otherwise switch off a credential every user shares. The pool tells the
// two apart from the answer's error object:
//
//   - a 403 about the request (content policy, safety, a model, a region) is
//     the request's fault: nothing is learned about the credential;
//   - a 401, or a 403 that says the key is invalid, the account deactivated
//     or unpaid, or says nothing clear, makes the credential a suspect: the
//     pool sends it its own probe (the periodic test's one-token request) at
//     once, and only a probe the upstream refuses with 401, or with a 403
//     that is not about the request, disables it.
//
// Either way the request fails over to the next credential. The probe is
// the gateway's own request, so no client input decides the outcome; a
// credential is probed at most once per SuspectProbeInterval per node.

// SuspectProbeInterval is the least time between two suspicion probes of
// one credential on one node.
var SuspectProbeInterval = 30 * time.Second

// Markers are matched in the lower-cased type, code and message.
var (
	// credentialMarkers name a refused credential or account outright.
	credentialMarkers = []string{
		"invalid api key", "invalid_api_key", "incorrect api key", "api key not valid", "api_key_invalid",
		"invalid x-api-key", "key is invalid", "invalid key", "invalid subscription key", "invalid authentication",
		"deactivated", "suspended", "revoked", "disabled", "banned", "terminated", "leaked",
		"billing", "payment", "account is not active", "inactive",
	}
	// requestMarkers name what was asked: refusing it says nothing about
	// the credential.
	requestMarkers = []string{
		"content", "policy", "safety", "moderation", "flagged", "violat",
		"model", "region", "country", "location", "territory", "unsupported", "not supported",
	}
)

// refusesCredential reports whether a 401 or 403 answer is about the
// credential (true) rather than about the request.
func refusesCredential(status int, e relay.UpstreamError) bool {
	if status == http.StatusUnauthorized {
		return true
	}
	if status != http.StatusForbidden {
		return false
	}
	text := strings.ToLower(e.Type + " " + e.Code + " " + e.Message)
	for _, m := range credentialMarkers {
		if strings.Contains(text, m) {
			return true
		}
	}
	for _, m := range requestMarkers {
		if strings.Contains(text, m) {
			return false
		}
	}
	return true // unclear: the probe decides
}

// suspect starts the probe that decides whether c is disabled, unless one
// ran within SuspectProbeInterval or the pool is closing.
func (p *Pool) suspect(ctx context.Context, c *cred, reason string) {
	p.log.LogAttrs(ctx, slog.LevelWarn, "credential suspect; probing it",
		slog.String("channel", c.ch.cfg.Name), slog.Int64("credential", c.id), slog.String("reason", reason))
	now := time.Now() // real time: this bounds real probe traffic
	p.suspectMu.Lock()
	defer p.suspectMu.Unlock()
	if p.bg.Err() != nil {
		return
	}
	if last, ok := p.suspects[c.id]; ok && now.Sub(last) < SuspectProbeInterval {
		return
	}
	p.suspects[c.id] = now
	p.probes.Add(1)
	go func() {
		defer p.probes.Done()
		p.confirmSuspect(p.bg, c, reason)
	}()
}

// confirmSuspect probes c and disables it when the upstream refuses the
// probe's credential too.
func (p *Pool) confirmSuspect(ctx context.Context, c *cred, reason string) {
	log := func(level slog.Level, msg string, attrs ...slog.Attr) {
		p.log.LogAttrs(ctx, level, msg, append([]slog.Attr{slog.String("channel", c.ch.cfg.Name),
			slog.Int64("credential", c.id)}, attrs...)...)
	}
	ran, err := p.probeCredential(ctx, c)
	var pe *relay.ProbeError
	switch {
	case !ran && err == nil:
		// Another node is testing it; its periodic test or its own
		// suspicion settles the matter.
	case err == nil:
		log(slog.LevelInfo, "suspect credential passed its probe; kept")
	case errors.As(err, &pe) && pe.Status != 0 && refusesCredential(pe.Status, pe.Upstream):
		why := reason + "; confirmed by probe: " + err.Error()
		if err := p.state.Disable(ctx, c.id, why, p.now()); err != nil {
			log(slog.LevelWarn, "disable credential", slog.String("error", err.Error()))
			return
		}
		p.persist(c.id, StatusDisabled, why)
		log(slog.LevelWarn, "credential disabled", slog.String("reason", why))
	default:
		// A 429, 5xx, timeout, or a 403 about the probe's model: not a
		// verdict on the credential.
		log(slog.LevelWarn, "suspect credential probe inconclusive; kept", slog.String("error", err.Error()))
	}
}
