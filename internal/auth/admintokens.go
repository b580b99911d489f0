package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Admin access tokens: "sy-admin-" and 40 random base62 characters, used
// as Authorization: Bearer on /api by scripts. Stored as SHA-256 with a
// visible prefix; the value is shown once, at creation. A token acts as
// the admin who created it, and stops working when that user is no longer
// an active admin.

// AdminTokenPrefix starts every admin access token.
const AdminTokenPrefix = "sy-admin-"

// Token scopes.
const (
	ScopeRead = "read" // GET and HEAD only
	ScopeFull = "full"
)

// AdminToken is a stored token as listings show it: never its value.
type AdminToken struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
	User       string     `json:"user"` // the creator's email
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scope      string     `json:"scope"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	CreatedAt  time.Time  `json:"created_at"`
}

// NewAdminToken is what CreateAdminToken needs.
type NewAdminToken struct {
	Name      string
	Scope     string    // ScopeRead or ScopeFull
	ExpiresAt time.Time // zero = never
}

// ErrInvalidToken covers every problem with a new token's fields.
var ErrInvalidToken = errors.New("invalid admin token")

func generateAdminToken() string {
	k := GenerateKey() // "sk-sy-" + 48 base62
	return AdminTokenPrefix + k[len(KeyPrefix):len(KeyPrefix)+40]
}

// CreateAdminToken creates a token acting as the admin userID and returns
// its value, the only time it exists in clear.
func (a *Accounts) CreateAdminToken(ctx context.Context, userID int64, nt NewAdminToken) (string, AdminToken, error) {
	name := strings.TrimSpace(nt.Name)
	switch {
	case name == "" || len(name) > 191:
		return "", AdminToken{}, fmt.Errorf("%w: name must be 1 to 191 characters", ErrInvalidToken)
	case nt.Scope != ScopeRead && nt.Scope != ScopeFull:
		return "", AdminToken{}, fmt.Errorf("%w: scope must be read or full", ErrInvalidToken)
	case !nt.ExpiresAt.IsZero() && !nt.ExpiresAt.After(a.now()):
		return "", AdminToken{}, fmt.Errorf("%w: expires_at must be in the future", ErrInvalidToken)
	}
	r, err := a.byID(ctx, userID)
	if err != nil {
		return "", AdminToken{}, fmt.Errorf("user id %d: %w", userID, err)
	}
	value := generateAdminToken()
	now := a.now().UTC()
	t := AdminToken{UserID: userID, User: r.Email, Name: name, Prefix: value[:len(AdminTokenPrefix)+4], Scope: nt.Scope, CreatedAt: now}
	var expires any
	if !nt.ExpiresAt.IsZero() {
		e := nt.ExpiresAt.UTC()
		t.ExpiresAt, expires = &e, e
	}
	t.ID, err = a.db.Dialect().InsertID(ctx, a.db.Write(),
		"INSERT INTO admin_tokens (user_id, name, prefix, hash, scope, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		userID, name, t.Prefix, hashSecret(value), nt.Scope, expires, now)
	if err != nil {
		return "", AdminToken{}, fmt.Errorf("create admin token: %w", err)
	}
	return value, t, nil
}

const tokenQuery = `SELECT t.id, t.user_id, u.email, t.name, t.prefix, t.scope, t.expires_at, t.last_used_at, t.created_at
	FROM admin_tokens t JOIN users u ON u.id = t.user_id `

func scanToken(sc interface{ Scan(...any) error }) (AdminToken, error) {
	var (
		t             AdminToken
		expires, used sql.NullTime
	)
	if err := sc.Scan(&t.ID, &t.UserID, &t.User, &t.Name, &t.Prefix, &t.Scope, &expires, &used, &t.CreatedAt); err != nil {
		return AdminToken{}, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	if expires.Valid {
		e := expires.Time.UTC()
		t.ExpiresAt = &e
	}
	if used.Valid {
		u := used.Time.UTC()
		t.LastUsedAt = &u
	}
	return t, nil
}

// ListAdminTokens returns up to limit tokens with an id below before (0 =
// from the newest), newest first.
func (a *Accounts) ListAdminTokens(ctx context.Context, before int64, limit int) ([]AdminToken, error) {
	q, args := tokenQuery, []any{}
	if before > 0 {
		q += "WHERE t.id < ? "
		args = append(args, before)
	}
	q += "ORDER BY t.id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := a.db.Read().QueryContext(ctx, a.db.Dialect().Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list admin tokens: %w", err)
	}
	defer rows.Close()
	out := []AdminToken{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list admin tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list admin tokens: %w", err)
	}
	return out, nil
}

// DeleteAdminToken deletes the token with id; ErrTokenNotFound when none.
func (a *Accounts) DeleteAdminToken(ctx context.Context, id int64) error {
	res, err := a.db.Write().ExecContext(ctx, a.db.Dialect().Rebind("DELETE FROM admin_tokens WHERE id = ?"), id)
	if err != nil {
		return fmt.Errorf("delete admin token %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("admin token %d: %w", id, ErrTokenNotFound)
	}
	return nil
}

// AuthenticateToken resolves an admin token value to the token and the
// admin it acts as. Every failure is ErrTokenNotFound: unknown, expired,
// or its admin disabled or no longer an admin.
func (a *Accounts) AuthenticateToken(ctx context.Context, value string) (Account, AdminToken, error) {
	if !strings.HasPrefix(value, AdminTokenPrefix) {
		return Account{}, AdminToken{}, ErrTokenNotFound
	}
	t, err := scanToken(a.db.Read().QueryRowContext(ctx, a.db.Dialect().Rebind(tokenQuery+"WHERE t.hash = ?"), hashSecret(value)))
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, AdminToken{}, ErrTokenNotFound
	}
	if err != nil {
		return Account{}, AdminToken{}, fmt.Errorf("read admin token: %w", err)
	}
	now := a.now()
	if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return Account{}, AdminToken{}, ErrTokenNotFound
	}
	r, err := a.byID(ctx, t.UserID)
	if err != nil || r.Status != StatusActive || r.Role != "admin" {
		return Account{}, AdminToken{}, ErrTokenNotFound
	}
	// Like sessions: at most one write a minute per token.
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= time.Minute {
		if _, err := a.db.Write().ExecContext(ctx, a.db.Dialect().Rebind("UPDATE admin_tokens SET last_used_at = ? WHERE id = ?"), now.UTC(), t.ID); err != nil {
			a.log.Warn("touch admin token", "token_id", t.ID, "error", err.Error())
		} else {
			u := now.UTC()
			t.LastUsedAt = &u
		}
	}
	return r.Account, t, nil
}
