package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/internal/store"
)

// Keys as the console reads and edits them: an admin any user's, a user
// their own, within limits the admin set (OwnKeyRules).

// MaxOwnKeys bounds how many keys (revoked ones included) a user may
// create for themselves.
const MaxOwnKeys = 100

// ErrTooManyKeys refuses a user's key beyond MaxOwnKeys.
var ErrTooManyKeys = fmt.Errorf("a user may create at most %d keys", MaxOwnKeys)

// KeyFilter narrows QueryKeys; zero fields do not filter.
type KeyFilter struct {
	UserID int64
	// Status is active (usable: not disabled, revoked or expired),
	// disabled, revoked or expired.
	Status string
	Name   string // substring
}

// KeyStatuses are the values of KeyFilter.Status.
var KeyStatuses = []string{StatusActive, StatusDisabled, StatusRevoked, "expired"}

// QueryKeys returns one page of keys, newest first, and the Before of the
// next page (0 on the last).
func (s *Store) QueryKeys(ctx context.Context, f KeyFilter, p Page) ([]KeyInfo, int64, error) {
	var where []string
	var args []any
	if f.UserID != 0 {
		where = append(where, "k.user_id = ?")
		args = append(args, f.UserID)
	}
	now := s.now().UTC()
	switch f.Status {
	case "":
	case StatusActive:
		where = append(where, "k.status = ? AND (k.expires_at IS NULL OR k.expires_at > ?)")
		args = append(args, StatusActive, now)
	case StatusRevoked, StatusDisabled:
		where = append(where, "k.status = ?")
		args = append(args, f.Status)
	case "expired":
		where = append(where, "k.status = ? AND k.expires_at <= ?")
		args = append(args, StatusActive, now)
	default:
		return nil, 0, invalid("status", "status %q is not active, disabled, revoked or expired", f.Status)
	}
	if f.Name != "" {
		where = append(where, "k.name LIKE ? ESCAPE '!'")
		args = append(args, likeContains(f.Name))
	}
	where, args, tail := p.pageWhere("k.id", where, args)
	rows, err := s.db.Read().QueryContext(ctx, s.db.Dialect().Rebind(keySelect+whereSQL(where)+tail), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("query keys: %w", err)
	}
	defer rows.Close()
	out := []KeyInfo{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("query keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("query keys: %w", err)
	}
	out, next := cut(out, p, func(k KeyInfo) int64 { return k.ID })
	return out, next, nil
}

// GetKey returns the key with id (ErrKeyNotFound).
func (s *Store) GetKey(ctx context.Context, id int64) (KeyInfo, error) {
	k, err := scanKey(s.db.Write().QueryRowContext(ctx, s.db.Dialect().Rebind(keySelect+" WHERE k.id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return KeyInfo{}, fmt.Errorf("key id %d: %w", id, ErrKeyNotFound)
	}
	if err != nil {
		return KeyInfo{}, fmt.Errorf("read key id %d: %w", id, err)
	}
	return k, nil
}

// getOwnKey is GetKey for owner: another user's key is ErrKeyNotFound, so
// that a user learns nothing about keys that are not theirs.
func (s *Store) getOwnKey(ctx context.Context, owner, id int64) (KeyInfo, error) {
	k, err := s.GetKey(ctx, id)
	if err == nil && k.UserID != owner {
		return KeyInfo{}, fmt.Errorf("key id %d: %w", id, ErrKeyNotFound)
	}
	return k, err
}

// KeyPatch is a change to a key's name and limits; nil fields are left
// alone.
type KeyPatch struct {
	Name    *string
	Models  *[]string
	IPAllow *[]string
	// QuotaMicros NoQuota removes the cap.
	QuotaMicros   *int64
	RPM           *int
	TPM           *int64
	DailyRequests *int
	// ExpiresAt zero means never.
	ExpiresAt           *time.Time
	ImageResponseFormat *string
}

// UpdateKey applies p to the key with id and returns it before and after.
// A key declared in the file refuses (*ManagedByFileError): every field
// of it is the file's.
func (s *Store) UpdateKey(ctx context.Context, id int64, p KeyPatch) (before, after KeyInfo, err error) {
	before, err = s.GetKey(ctx, id)
	if err != nil {
		return KeyInfo{}, KeyInfo{}, err
	}
	return s.updateKey(ctx, before, p, nil)
}

// UpdateOwnKey is UpdateKey for the key's owner, within rules.
func (s *Store) UpdateOwnKey(ctx context.Context, owner, id int64, p KeyPatch, rules OwnKeyRules) (before, after KeyInfo, err error) {
	before, err = s.getOwnKey(ctx, owner, id)
	if err != nil {
		return KeyInfo{}, KeyInfo{}, err
	}
	return s.updateKey(ctx, before, p, &rules)
}

func (s *Store) updateKey(ctx context.Context, before KeyInfo, p KeyPatch, rules *OwnKeyRules) (KeyInfo, KeyInfo, error) {
	if before.ManagedByFile {
		return before, before, &ManagedByFileError{Field: "keys[user=" + before.User + ",name=" + before.Name + "]"}
	}
	nk := NewKey{User: before.User, Name: before.Name, Models: before.Models, QuotaMicros: before.QuotaMicros, RPM: before.RPM,
		TPM: before.TPM, DailyRequests: before.DailyRequests, IPAllow: before.IPAllow, Admin: before.Admin,
		ImageResponseFormat: before.ImageResponseFormat}
	if before.ExpiresAt != nil {
		nk.ExpiresAt = *before.ExpiresAt
	}
	setIf(&nk.Name, p.Name)
	setIf(&nk.Models, p.Models)
	setIf(&nk.IPAllow, p.IPAllow)
	if p.QuotaMicros != nil {
		nk.QuotaMicros = p.QuotaMicros
		if *p.QuotaMicros == NoQuota {
			nk.QuotaMicros = nil
		}
	}
	setIf(&nk.RPM, p.RPM)
	setIf(&nk.TPM, p.TPM)
	setIf(&nk.DailyRequests, p.DailyRequests)
	setIf(&nk.ExpiresAt, p.ExpiresAt)
	setIf(&nk.ImageResponseFormat, p.ImageResponseFormat)
	if err := nk.check(); err != nil {
		return before, before, err
	}
	if rules != nil {
		if err := rules.check(nk); err != nil {
			return before, before, err
		}
	}
	models, _ := jsonList(nk.Models) // a []string always encodes
	ips, _ := jsonList(nk.IPAllow)
	var expires any
	if !nk.ExpiresAt.IsZero() {
		expires = nk.ExpiresAt.UTC()
	}
	_, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(`UPDATE api_keys SET name = ?, models = ?, ip_allow = ?,
		quota_micros = ?, rpm = ?, tpm = ?, daily_requests = ?, expires_at = ?, image_response_format = ?, updated_at = ?
		WHERE id = ?`), nk.Name, models, ips, nk.QuotaMicros, nk.RPM, nk.TPM, nk.DailyRequests, expires, nk.ImageResponseFormat,
		s.now().UTC(), before.ID)
	if store.IsUniqueViolation(err) {
		return before, before, fmt.Errorf("key %q of %s: %w", nk.Name, before.User, ErrKeyExists)
	}
	if err != nil {
		return before, before, fmt.Errorf("update key id %d: %w", before.ID, err)
	}
	if err := s.bump(ctx); err != nil {
		return before, before, err
	}
	after, err := s.GetKey(ctx, before.ID)
	return before, after, err
}

// SetKeyDisabled disables (refuses until enabled again) or enables the key
// with id and returns it before and after. Unlike a revocation it can be
// undone, so it is refused where undoing it would not hold: a key declared
// in the file (*ManagedByFileError, the file says what it is), and
// enabling a revoked key (*InvalidError: revoked is for good). Setting the
// state a key already has changes nothing and is not an error.
func (s *Store) SetKeyDisabled(ctx context.Context, id int64, disabled bool) (before, after KeyInfo, err error) {
	before, err = s.GetKey(ctx, id)
	if err != nil {
		return KeyInfo{}, KeyInfo{}, err
	}
	return s.setKeyDisabled(ctx, before, disabled)
}

// SetOwnKeyDisabled is SetKeyDisabled for the key's owner. Another user's
// key is ErrKeyNotFound.
func (s *Store) SetOwnKeyDisabled(ctx context.Context, owner, id int64, disabled bool) (before, after KeyInfo, err error) {
	before, err = s.getOwnKey(ctx, owner, id)
	if err != nil {
		return KeyInfo{}, KeyInfo{}, err
	}
	return s.setKeyDisabled(ctx, before, disabled)
}

func (s *Store) setKeyDisabled(ctx context.Context, before KeyInfo, disabled bool) (KeyInfo, KeyInfo, error) {
	if before.ManagedByFile {
		return before, before, &ManagedByFileError{Field: "keys[user=" + before.User + ",name=" + before.Name + "]"}
	}
	from, to := StatusDisabled, StatusActive
	if disabled {
		from, to = StatusActive, StatusDisabled
	}
	switch before.Status {
	case to:
		return before, before, nil
	case from:
	default:
		return before, before, invalid("status", "a %s key cannot be %s", before.Status, map[bool]string{true: "disabled", false: "enabled"}[disabled])
	}
	// The status in the WHERE keeps a revocation that lands in between from
	// being undone.
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind("UPDATE api_keys SET status = ?, updated_at = ? WHERE id = ? AND status = ?"),
		to, s.now().UTC(), before.ID, from)
	if err != nil {
		return before, before, fmt.Errorf("set status of key id %d: %w", before.ID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return before, before, invalid("status", "the key changed meanwhile; reload it and try again")
	}
	if err := s.bump(ctx); err != nil {
		return before, before, err
	}
	after, err := s.GetKey(ctx, before.ID)
	return before, after, err
}

// RevokeOwnKey is RevokeKey for the key's owner; it returns the key as it
// was. Another user's key is ErrKeyNotFound.
func (s *Store) RevokeOwnKey(ctx context.Context, owner, id int64) (KeyInfo, error) {
	k, err := s.getOwnKey(ctx, owner, id)
	if err != nil {
		return KeyInfo{}, err
	}
	return k, s.RevokeKey(ctx, id)
}

// OwnKeyRules are the limits within which a user creates and edits their
// own keys: never an admin key or a webhook (those are the admin's), and
// per-key rate limits no looser than the user's group's (a key limit of 0,
// none, is allowed: the group's limit still applies).
type OwnKeyRules struct {
	GroupRPM           int
	GroupTPM           int64
	GroupDailyRequests int
}

// OwnKeyRules returns the rules for the user with id, from their group.
func (s *Store) OwnKeyRules(ctx context.Context, userID int64) (OwnKeyRules, error) {
	var r OwnKeyRules
	err := s.db.Read().QueryRowContext(ctx, s.db.Dialect().Rebind(`SELECT g.rpm, g.tpm, g.daily_requests
		FROM users u JOIN user_groups g ON g.id = u.group_id WHERE u.id = ?`), userID).Scan(&r.GroupRPM, &r.GroupTPM, &r.GroupDailyRequests)
	if errors.Is(err, sql.ErrNoRows) {
		return OwnKeyRules{}, fmt.Errorf("user id %d: %w", userID, ErrUserNotFound)
	}
	if err != nil {
		return OwnKeyRules{}, fmt.Errorf("read limits of user id %d: %w", userID, err)
	}
	return r, nil
}

func (r OwnKeyRules) check(nk NewKey) error {
	exceeds := func(v, group int64) bool { return group > 0 && v > group }
	switch {
	case nk.Admin:
		return invalid("admin", "only an administrator can create an admin key")
	case nk.WebhookURL != "" || nk.WebhookSecret != "":
		return invalid("webhook_url", "only an administrator can set a key's webhook")
	case exceeds(int64(nk.RPM), int64(r.GroupRPM)):
		return invalid("rpm", "rpm %d is above your group's %d", nk.RPM, r.GroupRPM)
	case exceeds(nk.TPM, r.GroupTPM):
		return invalid("tpm", "tpm %d is above your group's %d", nk.TPM, r.GroupTPM)
	case exceeds(int64(nk.DailyRequests), int64(r.GroupDailyRequests)):
		return invalid("daily_requests", "daily_requests %d is above your group's %d", nk.DailyRequests, r.GroupDailyRequests)
	}
	return nil
}

// CreateOwnKey creates a key for the user with id, within the rules of
// their group (see OwnKeyRules) and at most MaxOwnKeys of them.
func (s *Store) CreateOwnKey(ctx context.Context, userID int64, nk NewKey) (string, KeyInfo, error) {
	if err := nk.check(); err != nil {
		return "", KeyInfo{}, err
	}
	u, err := s.GetUser(ctx, userID)
	if err != nil {
		return "", KeyInfo{}, err
	}
	rules, err := s.OwnKeyRules(ctx, userID)
	if err != nil {
		return "", KeyInfo{}, err
	}
	if err := rules.check(nk); err != nil {
		return "", KeyInfo{}, err
	}
	var n int
	if err := s.db.Read().QueryRowContext(ctx, s.db.Dialect().Rebind("SELECT COUNT(*) FROM api_keys WHERE user_id = ?"), userID).Scan(&n); err != nil {
		return "", KeyInfo{}, fmt.Errorf("count keys of user id %d: %w", userID, err)
	}
	if n >= MaxOwnKeys {
		return "", KeyInfo{}, ErrTooManyKeys
	}
	nk.User = u.Email
	return s.CreateKey(ctx, nk)
}
