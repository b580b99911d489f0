package pool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/relay"
)

// OAuth credentials: a node refreshes an access token ahead of its expiry
// (refreshExpiring, every 30 s, for tokens with under RefreshAhead left), just
// before use when it is about to expire, and once after a 401. Several nodes
// may want the same refresh at once, and the refresh token may rotate (the
// old one then stops working), so exactly one refresh happens at a time
// across nodes: a node-local mutex, then a lock in the shared state, then a
// re-read of the database, which also tells a node that lost the race the
// token another node obtained.

// RefreshAhead is how long before expiry a token is refreshed in the
// background.
const RefreshAhead = 5 * time.Minute

// Credential kinds and statuses as stored.
const (
	KindKey        = "key"
	KindOAuth      = "oauth"
	StatusActive   = "active"
	StatusDisabled = "disabled"
)

// expiring also holds for a credential that has no access token yet (a
// service account before its first exchange).
func (p *Pool) expiring(c *cred, now time.Time, within time.Duration) bool {
	s := c.secret.Load()
	return s.RefreshToken != "" && (s.AccessToken == "" || !s.ExpiresAt.IsZero() && s.ExpiresAt.Sub(now) < within)
}

// TokenGrant obtains a new access token from a credential's long-lived secret
// (what Secret.RefreshToken holds: for vertex, the service-account key).
// A refusal that only the operator can fix is a *RefreshError; the token's
// RefreshToken is what is stored next (the same secret when nothing rotates).
type TokenGrant func(ctx context.Context, client *http.Client, ch *config.Channel, longLived string, now time.Time) (Token, error)

// refreshable reports whether c's channel has a way to get a new token.
func (p *Pool) refreshable(c *cred) bool {
	return c.ch.cfg.TokenURL != "" || p.grants[c.ch.cfg.Type] != nil
}

// redeem gets a new token for c from its stored long-lived secret.
func (p *Pool) redeem(ctx context.Context, c *cred, longLived string) (Token, error) {
	if g := p.grants[c.ch.cfg.Type]; g != nil {
		return g(ctx, c.client, &c.ch.cfg, longLived, p.now())
	}
	return Refresh(ctx, c.client, c.ch.cfg.TokenURL, longLived, p.now())
}

// refreshMode says when refreshToken may settle for a token another node
// stored meanwhile.
type refreshMode uint8

const (
	// refreshAhead: ahead of expiry, a newer stored token that expires soon
	// too is refreshed anyway.
	refreshAhead refreshMode = iota
	// refreshAfter401: any newer stored token is worth a try.
	refreshAfter401
	// refreshForced: an operator asked; the token is refreshed whatever
	// was stored, unless a refresh on this node just finished.
	refreshForced
)

// refreshToken refreshes c's access token, or adopts the one another node
// has just stored, as mode allows.
func (p *Pool) refreshToken(ctx context.Context, c *cred, mode refreshMode) error {
	if !p.refreshable(c) {
		return fmt.Errorf("channel %s has no token_url", c.ch.cfg.Name)
	}
	seen := c.version.Load()
	c.refresh.Lock()
	defer c.refresh.Unlock()
	if c.version.Load() != seen {
		return nil // refreshed by another request on this node meanwhile
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	name := "refresh:" + fmt.Sprint(c.id)
	// Real time, not p.now: this bounds an actual wait.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := p.state.TryLock(ctx, name, token, 30*time.Second)
		if err != nil {
			return fmt.Errorf("lock refresh of credential %d: %w", c.id, err)
		}
		if ok {
			break
		}
		// Another node is refreshing: wait for its result in the database.
		if adopted, err := p.adoptStored(ctx, c, seen); err != nil || adopted {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("credential %d: another node holds the refresh lock", c.id)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer func() { _ = p.state.Unlock(context.WithoutCancel(ctx), name, token) }()
	rec, err := p.store.LoadCredential(ctx, c.id)
	if err != nil {
		return fmt.Errorf("reload credential %d: %w", c.id, err)
	}
	if rec.Version != seen {
		p.adopt(c, rec)
		if mode == refreshAfter401 || (mode == refreshAhead && !p.expiring(c, p.now(), 30*time.Second)) {
			return nil
		}
	}
	tok, err := p.redeem(ctx, c, rec.Secret.RefreshToken)
	if err != nil {
		var re *RefreshError
		if errors.As(err, &re) {
			// The token endpoint refused the refresh token: only the
			// operator can fix that. Mark it so nobody keeps trying.
			reason := "oauth refresh refused: " + err.Error()
			_ = p.state.Disable(ctx, c.id, reason, p.now())
			p.persist(c.id, StatusDisabled, reason)
			p.log.LogAttrs(ctx, slog.LevelWarn, "credential disabled",
				slog.String("channel", c.ch.cfg.Name), slog.Int64("credential", c.id), slog.String("reason", reason))
		}
		return fmt.Errorf("refresh credential %d: %w", c.id, err)
	}
	sec := rec.Secret
	sec.AccessToken, sec.RefreshToken, sec.ExpiresAt = tok.AccessToken, tok.RefreshToken, tok.ExpiresAt
	ver, ok, err := p.store.UpdateSecret(ctx, c.id, sec, rec.Version)
	if err != nil {
		// The upstream has rotated the refresh token; keep the new one in
		// memory at least, and say loudly that it is not durable.
		c.secret.Store(&sec)
		p.log.LogAttrs(ctx, slog.LevelError, "oauth token refreshed but not saved; it is lost on restart",
			slog.Int64("credential", c.id), slog.String("error", err.Error()))
		return nil
	}
	if !ok {
		_, err := p.adoptStored(ctx, c, seen)
		return err
	}
	c.secret.Store(&sec)
	c.version.Store(ver)
	p.log.LogAttrs(ctx, slog.LevelInfo, "oauth token refreshed",
		slog.String("channel", c.ch.cfg.Name), slog.Int64("credential", c.id), slog.Time("expires_at", tok.ExpiresAt))
	return nil
}

// adoptStored takes the stored secret when it is newer than seen.
func (p *Pool) adoptStored(ctx context.Context, c *cred, seen int64) (bool, error) {
	rec, err := p.store.LoadCredential(ctx, c.id)
	if err != nil {
		return false, fmt.Errorf("reload credential %d: %w", c.id, err)
	}
	if rec.Version == seen {
		return false, nil
	}
	p.adopt(c, rec)
	return true, nil
}

func (p *Pool) adopt(c *cred, rec CredRecord) {
	sec := rec.Secret
	c.secret.Store(&sec)
	c.version.Store(rec.Version)
}

// refreshExpiring refreshes, in the background, every OAuth token that
// expires within RefreshAhead, so requests rarely wait for a refresh.
func (p *Pool) refreshExpiring(ctx context.Context) {
	now := p.now()
	for _, c := range p.rt.Load().creds {
		if c.kind != KindOAuth || !p.expiring(c, now, RefreshAhead) {
			continue
		}
		if err := p.refreshToken(ctx, c, refreshAhead); err != nil && ctx.Err() == nil {
			p.log.Warn("oauth refresh ahead of expiry", "credential", c.id, "error", err.Error())
		}
	}
}

// TestDisabled sends the probe request to every disabled credential and
// enables those that answer it. One node tests a credential at a time.
func (p *Pool) TestDisabled(ctx context.Context) {
	rt := p.rt.Load()
	ids := make([]int64, 0, len(rt.creds))
	for id := range rt.creds {
		ids = append(ids, id)
	}
	snaps, err := p.state.Snapshot(ctx, ids, p.now())
	if err != nil {
		p.log.Warn("periodic credential test", "error", err.Error())
		return
	}
	for _, s := range snaps {
		if !s.Disabled || s.DisabledWhy == OperatorDisabled {
			continue // an operator's decision is not revised by a test
		}
		c := rt.creds[s.ID]
		if err := p.TestCredential(ctx, c.id); err != nil && ctx.Err() == nil {
			p.log.LogAttrs(ctx, slog.LevelInfo, "disabled credential still failing",
				slog.String("channel", c.ch.cfg.Name), slog.Int64("credential", c.id), slog.String("error", err.Error()))
		}
	}
}

// TestCredential probes one credential now and enables it on success.
func (p *Pool) TestCredential(ctx context.Context, id int64) error {
	if p.probe == nil {
		return errNoProber
	}
	c := p.rt.Load().creds[id]
	if c == nil {
		return fmt.Errorf("no credential %d in an enabled channel", id)
	}
	if ran, err := p.probeCredential(ctx, c); err != nil || !ran {
		return err // nil when another node is testing it
	}
	if err := p.Enable(ctx, id); err != nil {
		return fmt.Errorf("enable credential %d: %w", id, err)
	}
	p.log.LogAttrs(ctx, slog.LevelInfo, "credential re-enabled by test",
		slog.String("channel", c.ch.cfg.Name), slog.Int64("credential", id))
	return nil
}

// probeCredential sends c the prober's request under the credential's test
// lock. ran is false, with a nil error, when another node holds the lock
// or no prober is set.
func (p *Pool) probeCredential(ctx context.Context, c *cred) (ran bool, err error) {
	if p.probe == nil {
		return false, nil
	}
	interval := p.sched.ChannelTestInterval
	if interval <= 0 {
		interval = time.Minute
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	name := "test:" + fmt.Sprint(c.id)
	if ok, err := p.state.TryLock(ctx, name, token, interval/2); err != nil || !ok {
		return false, err
	}
	defer func() { _ = p.state.Unlock(context.WithoutCancel(ctx), name, token) }()
	if c.kind == KindOAuth && p.expiring(c, p.now(), RefreshAhead) {
		if err := p.refreshToken(ctx, c, refreshAhead); err != nil {
			return true, err
		}
	}
	model := c.ch.cfg.ProbeModel()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return true, p.probe(tctx, relay.NewTarget(&c.ch.cfg, c.id, c.token(), c.client), model)
}
