package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/switchyard/switchyard/internal/store"
)

// Sessions of Accounts: create on sign-in, resolve on each console request,
// expire when idle or old, revoke.

// SessionToken is a session as its client holds it: the token (cookie
// value, shown once) and the stored session.
type SessionToken struct {
	Token   string
	Session Session
}

// touchEvery is how stale last_seen_at may get before a request writes it:
// a write per request would be a write per console click.
func (a *Accounts) touchEvery() time.Duration { return min(time.Minute, a.idle/4) }

// CreateSession signs the user in: a new random token (32 bytes, base64url)
// whose SHA-256 is stored with the client's address and user agent.
func (a *Accounts) CreateSession(ctx context.Context, userID int64, clientIP netip.Addr, userAgent string) (SessionToken, error) {
	tok := randomToken(32)
	now := a.now().UTC()
	ip := ""
	if clientIP.IsValid() {
		ip = clientIP.Unmap().String()
	}
	s := Session{ID: randomToken(12), UserID: userID, Hash: hashSecret(tok), CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(a.max), IP: ip, UserAgent: store.Clip(userAgent, 255)}
	if err := a.sessions.Create(ctx, s, a.idle); err != nil {
		return SessionToken{}, err
	}
	return SessionToken{Token: tok, Session: s}, nil
}

// expired reports whether s is past its absolute or idle end at now.
func (a *Accounts) expired(s Session, now time.Time) bool {
	return !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= a.idle
}

// Authenticate resolves a session token to its session and its user, who
// must be active. Expired sessions are deleted and, like unknown ones,
// give ErrSessionNotFound.
func (a *Accounts) Authenticate(ctx context.Context, token string) (Account, Session, error) {
	if token == "" {
		return Account{}, Session{}, ErrSessionNotFound
	}
	s, err := a.sessions.Get(ctx, hashSecret(token))
	if err != nil {
		return Account{}, Session{}, err
	}
	now := a.now()
	if a.expired(s, now) {
		if err := a.sessions.Delete(ctx, s.UserID, s.ID); err != nil && !errors.Is(err, ErrSessionNotFound) {
			a.log.Warn("delete expired session", "error", err.Error())
		}
		return Account{}, Session{}, ErrSessionNotFound
	}
	r, err := a.byID(ctx, s.UserID)
	if errors.Is(err, ErrUserNotFound) {
		return Account{}, Session{}, ErrSessionNotFound
	}
	if err != nil {
		return Account{}, Session{}, err
	}
	if r.Status != StatusActive {
		return Account{}, Session{}, ErrSessionNotFound
	}
	if now.Sub(s.LastSeenAt) >= a.touchEvery() {
		if err := a.sessions.Touch(ctx, s, now.UTC(), a.idle); err != nil {
			a.log.Warn("touch session", "error", err.Error())
		} else {
			s.LastSeenAt = now.UTC()
		}
	}
	return r.Account, s, nil
}

// Logout ends the session of token; an unknown token is not an error.
func (a *Accounts) Logout(ctx context.Context, token string) error {
	s, err := a.sessions.Get(ctx, hashSecret(token))
	if errors.Is(err, ErrSessionNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := a.sessions.Delete(ctx, s.UserID, s.ID); err != nil && !errors.Is(err, ErrSessionNotFound) {
		return err
	}
	return nil
}

// Sessions lists the user's live sessions, newest first.
func (a *Accounts) Sessions(ctx context.Context, userID int64) ([]Session, error) {
	all, err := a.sessions.List(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := a.now()
	out := all[:0]
	for _, s := range all {
		if !a.expired(s, now) {
			out = append(out, s)
		}
	}
	return out, nil
}

// RevokeSession ends one of the user's sessions; ErrSessionNotFound when
// the user has no session id.
func (a *Accounts) RevokeSession(ctx context.Context, userID int64, id string) error {
	return a.sessions.Delete(ctx, userID, id)
}

// RevokeUserSessions ends every session of the user. Call it when the
// user's password, status or role changes.
func (a *Accounts) RevokeUserSessions(ctx context.Context, userID int64) error {
	if err := a.sessions.DeleteUser(ctx, userID); err != nil {
		return fmt.Errorf("revoke sessions of user id %d: %w", userID, err)
	}
	return nil
}

// SweepSessions deletes expired sessions from the database; Redis expires
// its own. Run it now and then (hourly is plenty: expired sessions are
// refused when read anyway).
func (a *Accounts) SweepSessions(ctx context.Context) error {
	if s, ok := a.sessions.(*SQLSessions); ok {
		_, err := s.DeleteExpired(ctx, a.now(), a.idle)
		return err
	}
	return nil
}

// StepUp records that the session's user re-entered their password (or,
// when password is empty, a TOTP code) and returns until when that
// authorises high-risk actions. Attempts count against the login throttle.
func (a *Accounts) StepUp(ctx context.Context, s Session, password, totp string, clientIP netip.Addr) (time.Time, error) {
	r, err := a.byID(ctx, s.UserID)
	if err != nil {
		return time.Time{}, fmt.Errorf("user id %d: %w", s.UserID, err)
	}
	rules := a.throttleRules(r.Email, clientIP)
	if err := a.attempt(ctx, rules); err != nil {
		return time.Time{}, err
	}
	switch {
	case password != "":
		if !VerifyPassword(r.passwordHash, password) {
			return time.Time{}, ErrInvalidCredentials
		}
	case totp != "" && r.TOTPEnabled:
		if err := a.checkTOTP(ctx, r, totp); err != nil {
			return time.Time{}, err
		}
	default:
		return time.Time{}, ErrInvalidCredentials
	}
	a.refund(ctx, rules)
	now := a.now().UTC()
	if err := a.sessions.SetStepUp(ctx, s, now, a.idle); err != nil {
		return time.Time{}, err
	}
	return now.Add(StepUpWindow), nil
}
