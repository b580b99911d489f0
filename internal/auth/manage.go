package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/store"
)

// What operators do to users and keys outside the file: the command line
// now, the console later. Every change bumps the tenancy version so that
// every node's Directory reloads.

// KeyPrefix starts every generated key.
const KeyPrefix = "sk-sy-"

const (
	keyRandomLen = 48
	base62       = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	// rejectFrom is the largest multiple of 62 a byte can hold (4 × 62):
	// bytes from here up are drawn again, so that each character is
	// exactly equally likely (b % 62 over all 256 values would favour the
	// first 8 characters by a quarter).
	rejectFrom = 248
)

// GenerateKey returns a new key: KeyPrefix and 48 base62 characters from
// crypto/rand (about 285 bits).
func GenerateKey() string {
	out := make([]byte, len(KeyPrefix), len(KeyPrefix)+keyRandomLen)
	copy(out, KeyPrefix)
	var buf [64]byte
	for len(out) < cap(out) {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand panics instead)
		for _, b := range buf {
			if b >= rejectFrom {
				continue
			}
			out = append(out, base62[b%62])
			if len(out) == cap(out) {
				break
			}
		}
	}
	return string(out)
}

// User is a stored user.
type User struct {
	ID            int64  `json:"id"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	Group         string `json:"group"`
	Role          string `json:"role"`
	Status        string `json:"status"`
	ManagedByFile bool   `json:"managed_by_file"`
	// BalanceMicros is the wallet as posted to the ledger; holds of
	// requests in flight are not deducted yet.
	BalanceMicros int64     `json:"balance_micros"`
	CreatedAt     time.Time `json:"created_at"`
}

// NewUser is what CreateUser needs. Group defaults to the default group and
// Role to "user".
type NewUser struct {
	Email, Name, Group, Role string
}

// CreateUser stores a new user (status active) and returns it.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	email := normEmail(nu.Email)
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return User{}, fmt.Errorf("%q is not an email address (name@example.com)", nu.Email)
	}
	if nu.Group == "" {
		nu.Group = config.DefaultGroup
	}
	if nu.Role == "" {
		nu.Role = "user"
	}
	if !slices.Contains(config.Roles, nu.Role) {
		return User{}, fmt.Errorf("role %q is not one of %s", nu.Role, strings.Join(config.Roles, ", "))
	}
	gid, err := s.groupID(ctx, s.db.Write(), nu.Group)
	if err != nil {
		return User{}, err
	}
	now := s.now().UTC()
	id, err := s.db.Dialect().InsertID(ctx, s.db.Write(),
		"INSERT INTO users (email, name, group_id, role, status, managed_by_file, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		email, nu.Name, gid, nu.Role, StatusActive, false, now, now)
	if store.IsUniqueViolation(err) {
		return User{}, fmt.Errorf("user %s: %w", email, ErrUserExists)
	}
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", email, err)
	}
	if err := s.bump(ctx); err != nil {
		return User{}, err
	}
	return User{ID: id, Email: email, Name: nu.Name, Group: nu.Group, Role: nu.Role, Status: StatusActive, CreatedAt: now}, nil
}

// ListUsers returns every user, oldest first.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.Read().QueryContext(ctx, userSelect+" ORDER BY u.id")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// SetUserStatus sets the status (StatusActive or StatusDisabled) of the
// user with email. A disabled user's keys are refused.
func (s *Store) SetUserStatus(ctx context.Context, email, status string) error {
	email = normEmail(email)
	if status != StatusActive && status != StatusDisabled {
		return fmt.Errorf("user status %q is not %s or %s", status, StatusActive, StatusDisabled)
	}
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind("UPDATE users SET status = ?, updated_at = ? WHERE email = ?"),
		status, s.now().UTC(), email)
	if err != nil {
		return fmt.Errorf("set status of user %s: %w", email, err)
	}
	// MySQL counts only changed rows, so 0 may also mean "no change".
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		if _, err := s.userID(ctx, s.db.Write(), email); err != nil {
			return err
		}
	}
	return s.bump(ctx)
}

// KeyInfo is a stored key as listings show it: never its value or hash.
type KeyInfo struct {
	ID          int64    `json:"id"`
	UserID      int64    `json:"user_id"`
	User        string   `json:"user"` // the owner's email
	Name        string   `json:"name"`
	Prefix      string   `json:"prefix"`
	Status      string   `json:"status"`
	Models      []string `json:"models"`   // empty = every model
	IPAllow     []string `json:"ip_allow"` // empty = any address
	QuotaMicros *int64   `json:"quota_micros"`
	// SpentMicros is what the key has spent against its quota, as posted
	// to the ledger (the last fraction of a second may still be in flight).
	SpentMicros   int64      `json:"spent_micros"`
	RPM           int        `json:"rpm"`
	TPM           int64      `json:"tpm"`
	DailyRequests int        `json:"daily_requests"`
	ExpiresAt     *time.Time `json:"expires_at"`
	Admin         bool       `json:"admin"`
	ManagedByFile bool       `json:"managed_by_file"`
	CreatedAt     time.Time  `json:"created_at"`
	// ImageResponseFormat is the key's own ("" = its group's).
	ImageResponseFormat string `json:"image_response_format"`
	// WebhookURL is "" for a key without a webhook. Its secret is never
	// listed.
	WebhookURL string `json:"webhook_url"`
	// LastUsedAt is when the key last authenticated a request, as flushed
	// by the nodes (see LastUsed): up to a flush interval behind. nil =
	// never used.
	LastUsedAt *time.Time `json:"last_used_at"`
}

// NewKey is what CreateKey needs. User is the owner's email.
type NewKey struct {
	User          string
	Name          string
	Models        []string
	QuotaMicros   *int64 // nil = no cap
	RPM           int
	TPM           int64
	DailyRequests int
	IPAllow       []string
	ExpiresAt     time.Time // zero = never
	Admin         bool

	ImageResponseFormat string // "" (the group's), "url" or "b64_json"
	// WebhookURL and WebhookSecret go together, as in the file's keys:.
	// The secret is sealed with the Store's keyring (see WithKeyring).
	WebhookURL    string
	WebhookSecret string
	// WebhookAllowHTTP accepts an http:// WebhookURL; set it from
	// images.webhook_allow_private.
	WebhookAllowHTTP bool
}

func (nk NewKey) check() error {
	var errs []error
	if strings.TrimSpace(nk.Name) == "" {
		errs = append(errs, invalid("name", "name must not be empty"))
	} else if len(nk.Name) > 191 {
		errs = append(errs, invalid("name", "name is longer than 191 bytes"))
	}
	for i, m := range nk.Models {
		if strings.TrimSpace(m) == "" {
			errs = append(errs, invalid(fmt.Sprintf("models[%d]", i), "models: a model name is empty"))
		}
	}
	if nk.QuotaMicros != nil && *nk.QuotaMicros < 0 {
		errs = append(errs, invalid("quota_micros", "quota must be 0 or more"))
	}
	if nk.RPM < 0 || nk.TPM < 0 || nk.DailyRequests < 0 {
		field := "daily_requests"
		if nk.RPM < 0 {
			field = "rpm"
		} else if nk.TPM < 0 {
			field = "tpm"
		}
		errs = append(errs, invalid(field, "rpm, tpm and daily requests must be 0 (no limit) or more"))
	}
	for i, a := range nk.IPAllow {
		if _, err := parsePrefix(a); err != nil {
			errs = append(errs, invalid(fmt.Sprintf("ip_allow[%d]", i), "ip allow: %v", err))
		}
	}
	if !slices.Contains(config.ImageResponseFormats, nk.ImageResponseFormat) {
		errs = append(errs, invalid("image_response_format", "image response format %q is not url or b64_json (or empty for the group's)", nk.ImageResponseFormat))
	}
	if nk.WebhookURL != "" {
		if p := config.CheckWebhookURL(nk.WebhookURL, nk.WebhookAllowHTTP); p != "" {
			errs = append(errs, invalid("webhook_url", "webhook url: %s", p))
		}
	}
	if p := config.CheckWebhookSecret(nk.WebhookURL, nk.WebhookSecret); p != "" {
		errs = append(errs, invalid("webhook_secret", "webhook secret: %s", p))
	}
	return errors.Join(errs...)
}

// CreateKey generates a key for a user and stores its hash. The returned
// value is the only time the key exists in clear: it cannot be shown again.
func (s *Store) CreateKey(ctx context.Context, nk NewKey) (value string, info KeyInfo, err error) {
	if err := nk.check(); err != nil {
		return "", KeyInfo{}, err
	}
	email := normEmail(nk.User)
	uid, err := s.userID(ctx, s.db.Write(), email)
	if err != nil {
		return "", KeyInfo{}, err
	}
	value = GenerateKey()
	models, _ := jsonList(nk.Models) // a []string always encodes
	ips, _ := jsonList(nk.IPAllow)
	r := keyRow{userID: uid, name: nk.Name, prefix: visiblePrefix(value), hash: hashKey(value), models: models,
		ipAllow: ips, quota: nk.QuotaMicros, rpm: nk.RPM, tpm: nk.TPM, daily: nk.DailyRequests, admin: nk.Admin,
		imageFormat: nk.ImageResponseFormat, webhookURL: nk.WebhookURL}
	var expires *time.Time
	if !nk.ExpiresAt.IsZero() {
		t := nk.ExpiresAt.UTC()
		r.expires, expires = t, &t
	}
	if nk.WebhookSecret != "" && s.kr == nil {
		// Checked before anything is written, so no key is left without it.
		return "", KeyInfo{}, errors.New("cannot store a webhook secret: no secret key to seal it with")
	}
	now := s.now().UTC()
	id, err := s.insertKey(ctx, r, nk.WebhookSecret, now)
	if store.IsUniqueViolation(err) {
		return "", KeyInfo{}, fmt.Errorf("key %q of %s: %w", nk.Name, email, ErrKeyExists)
	}
	if err != nil {
		return "", KeyInfo{}, fmt.Errorf("create key %q of %s: %w", nk.Name, email, err)
	}
	if err := s.bump(ctx); err != nil {
		return "", KeyInfo{}, err
	}
	return value, KeyInfo{ID: id, UserID: uid, User: email, Name: nk.Name, Prefix: r.prefix, Status: StatusActive,
		Models: nonNil(nk.Models), IPAllow: nonNil(nk.IPAllow), QuotaMicros: nk.QuotaMicros, RPM: nk.RPM, TPM: nk.TPM,
		DailyRequests: nk.DailyRequests, ExpiresAt: expires, Admin: nk.Admin, CreatedAt: now,
		ImageResponseFormat: nk.ImageResponseFormat, WebhookURL: nk.WebhookURL}, nil
}

// insertKey inserts r and, in the same transaction, its webhook secret
// sealed with the new id, so that no key is ever stored without the secret
// its webhook needs.
func (s *Store) insertKey(ctx context.Context, r keyRow, webhookSecret string, now time.Time) (id int64, err error) {
	tx, err := s.db.Write().BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	q := "INSERT INTO api_keys (" + strings.Join(keyColumns, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(keyColumns)), ", ") + ")"
	if id, err = s.db.Dialect().InsertID(ctx, tx, q, r.args(now)...); err != nil {
		return 0, err
	}
	if webhookSecret != "" {
		sealed, err := s.sealWebhook(id, webhookSecret)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, s.db.Dialect().Rebind("UPDATE api_keys SET webhook_secret = ? WHERE id = ?"), sealed, id); err != nil {
			return 0, fmt.Errorf("store webhook secret: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return id, nil
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// ListKeys returns every key, or only those of the user with email when it
// is not empty, oldest first.
func (s *Store) ListKeys(ctx context.Context, email string) ([]KeyInfo, error) {
	q := keySelect
	var args []any
	if email != "" {
		email = normEmail(email)
		if _, err := s.userID(ctx, s.db.Read(), email); err != nil {
			return nil, err
		}
		q += " WHERE u.email = ?"
		args = append(args, email)
	}
	rows, err := s.db.Read().QueryContext(ctx, s.db.Dialect().Rebind(q+" ORDER BY k.id"), args...)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	out := []KeyInfo{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

const keySelect = `SELECT k.id, k.user_id, u.email, k.name, k.prefix, k.status, k.models, k.ip_allow, k.quota_micros,
	k.used_micros, k.rpm, k.tpm, k.daily_requests, k.expires_at, k.is_admin, k.managed_by_file, k.created_at,
	k.image_response_format, k.webhook_url, k.last_used_at
	FROM api_keys k JOIN users u ON u.id = k.user_id`

func scanKey(sc interface{ Scan(...any) error }) (KeyInfo, error) {
	var (
		k           KeyInfo
		models, ips string
		quota       sql.NullInt64
		expires     sql.NullTime
		lastUsed    sql.NullTime
	)
	if err := sc.Scan(&k.ID, &k.UserID, &k.User, &k.Name, &k.Prefix, &k.Status, &models, &ips, &quota,
		&k.SpentMicros, &k.RPM, &k.TPM, &k.DailyRequests, &expires, &k.Admin, &k.ManagedByFile, &k.CreatedAt,
		&k.ImageResponseFormat, &k.WebhookURL, &lastUsed); err != nil {
		return KeyInfo{}, err
	}
	if err := json.Unmarshal([]byte(models), &k.Models); err != nil {
		return KeyInfo{}, fmt.Errorf("key id %d: decode models: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(ips), &k.IPAllow); err != nil {
		return KeyInfo{}, fmt.Errorf("key id %d: decode ip_allow: %w", k.ID, err)
	}
	k.Models, k.IPAllow = nonNil(k.Models), nonNil(k.IPAllow)
	if quota.Valid {
		k.QuotaMicros = &quota.Int64
	}
	if expires.Valid {
		t := expires.Time.UTC()
		k.ExpiresAt = &t
	}
	if lastUsed.Valid {
		t := lastUsed.Time.UTC()
		k.LastUsedAt = &t
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, nil
}

// RevokeKey refuses the key with id from now on; revoking a revoked key is
// not an error. A key declared in the file stays revoked until the file
// gives it a new value.
func (s *Store) RevokeKey(ctx context.Context, id int64) error {
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind("UPDATE api_keys SET status = ?, updated_at = ? WHERE id = ?"),
		StatusRevoked, s.now().UTC(), id)
	if err != nil {
		return fmt.Errorf("revoke key id %d: %w", id, err)
	}
	// MySQL counts only changed rows, so 0 may also mean "no change".
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		var one int
		err := s.db.Write().QueryRowContext(ctx, s.db.Dialect().Rebind("SELECT 1 FROM api_keys WHERE id = ?"), id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("key id %d: %w", id, ErrKeyNotFound)
		}
		if err != nil {
			return fmt.Errorf("revoke key id %d: %w", id, err)
		}
	}
	return s.bump(ctx)
}
