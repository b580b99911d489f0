package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
)

// Users, groups and keys are stored in the user_groups, users and api_keys
// tables. Money columns (users.balance_micros, api_keys.used_micros) belong
// to billing and are never written here; api_keys.quota_micros is only the
// cap a key is created or configured with.

// Statuses of users and keys.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled" // a user who may not use any key
	StatusRevoked  = "revoked"  // a key that is refused for good
)

// VersionSetting is the settings row every change of users, groups or keys
// rewrites with a new random value; Directories compare it to know when to
// reload.
const VersionSetting = "tenancy_version"

// Errors of the Store; wrapped with the name or id concerned.
var (
	ErrUserNotFound  = errors.New("user not found")
	ErrUserExists    = errors.New("user already exists")
	ErrGroupNotFound = errors.New("group not found")
	ErrKeyNotFound   = errors.New("key not found")
	ErrKeyExists     = errors.New("the user already has a key with this name")
)

// Store persists users, groups and keys.
type Store struct {
	db  *store.DB
	now func() time.Time
	kr  *secret.Keyring // seals webhook secrets; nil refuses to store one
}

// NewStore returns a Store over db. now may be nil (time.Now).
func NewStore(db *store.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

// WithKeyring returns a copy of s that seals keys' webhook secrets with kr.
// A Store without a keyring stores keys without webhooks only: storing a
// webhook secret fails rather than keeping it in clear.
func (s *Store) WithKeyring(kr *secret.Keyring) *Store {
	c := *s
	c.kr = kr
	return &c
}

// webhookAAD binds a sealed webhook secret to its key's row, so that a
// sealed value copied to another key's row fails to open.
func webhookAAD(keyID int64) []byte {
	return []byte("api_keys.webhook_secret:" + strconv.FormatInt(keyID, 10))
}

// sealWebhook returns the stored form of key keyID's webhook secret:
// base64 of the sealed value, or nil (NULL) when there is none.
func (s *Store) sealWebhook(keyID int64, plain string) (any, error) {
	if plain == "" {
		return nil, nil
	}
	if s.kr == nil {
		return nil, errors.New("cannot store a webhook secret: no secret key to seal it with")
	}
	sealed, err := s.kr.Seal([]byte(plain), webhookAAD(keyID))
	if err != nil {
		return nil, fmt.Errorf("seal webhook secret: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sealed), nil
}

// openWebhook reverses sealWebhook.
func openWebhook(kr *secret.Keyring, keyID int64, stored string) ([]byte, error) {
	sealed, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return nil, errors.New("stored webhook secret is not base64")
	}
	return kr.Open(sealed, webhookAAD(keyID))
}

// hashKey is the stored form of a key value: hex SHA-256.
func hashKey(value string) string {
	h := sha256.Sum256([]byte(value))
	return hex.EncodeToString(h[:])
}

// visiblePrefix is the part of a key value kept in clear to tell keys apart
// in listings: "sk-sy-" and 4 random characters for generated keys.
func visiblePrefix(value string) string {
	const n = 10
	if len(value) <= n {
		// A config key is at least 20 characters (validated); never show
		// a short value whole.
		return value[:len(value)/2]
	}
	return value[:n]
}

// ratioPPM turns a price ratio into the stored parts per million.
func ratioPPM(r float64) int64 { return int64(math.Round(r * 1e6)) }

// quotaMicros turns a USD cap into micro-USD; nil stays nil (no cap).
func quotaMicros(usd *float64) *int64 {
	if usd == nil {
		return nil
	}
	m := int64(math.Round(*usd * 1e6))
	return &m
}

func normEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

func jsonList(list []string) (string, error) {
	if len(list) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	return string(b), err
}

// bump records that tenancy changed, so every Directory reloads.
func (s *Store) bump(ctx context.Context) error {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	if err := s.db.SetSetting(ctx, VersionSetting, hex.EncodeToString(b[:])); err != nil {
		return fmt.Errorf("bump tenancy version: %w", err)
	}
	return nil
}

// ApplyConfig makes the stored groups, users and keys follow the
// configuration file. It runs at every start, possibly on several nodes at
// once, so each step is an idempotent upsert or a conditional statement,
// never check-then-insert:
//
//   - Groups are upserted by name (ratio, limits, image response format)
//     and marked file-managed.
//   - Users are upserted by email (name, group, role) and marked
//     file-managed; their status and balance are left alone.
//   - A key naming a user that users: does not declare (admin.email, say)
//     gets that user created in the default group if it does not exist.
//   - Keys are upserted by (user, name): hash and prefix of the value, limits,
//     allowlists, expiry, admin flag, quota cap, image response format and
//     webhook. The webhook secret is sealed with the Store's keyring (see
//     WithKeyring), bound to the key's id. A key revoked by hand stays
//     revoked until the file gives it a new value.
//   - A file-managed key that left the file is revoked. Users and groups
//     that left the file are left alone.
func (s *Store) ApplyConfig(ctx context.Context, groups []config.Group, users []config.User, keys []config.Key) error {
	now := s.now().UTC()
	for _, g := range groups {
		if err := s.upsertGroup(ctx, g, now); err != nil {
			return err
		}
	}
	defaultID, err := s.ensureGroup(ctx, config.DefaultGroup, now)
	if err != nil {
		return err
	}
	userIDs := map[string]int64{}
	for _, u := range users {
		id, err := s.upsertUser(ctx, u, now)
		if err != nil {
			return err
		}
		userIDs[normEmail(u.Email)] = id
	}
	keep := make([]int64, 0, len(keys))
	for i, k := range keys {
		email := normEmail(k.User)
		uid, ok := userIDs[email]
		if !ok {
			if uid, err = s.ensureUser(ctx, email, defaultID, now); err != nil {
				return fmt.Errorf("keys[%d] (%s): %w", i, k.Name, err)
			}
			userIDs[email] = uid
		}
		id, err := s.applyKey(ctx, uid, k, now)
		if err != nil {
			return fmt.Errorf("keys[%d] (%s): %w", i, k.Name, err)
		}
		keep = append(keep, id)
	}
	if err := s.revokeRemoved(ctx, keep, now); err != nil {
		return err
	}
	return s.bump(ctx)
}

// EnsureGroups creates the groups that do not exist yet, marked
// file-managed, and never changes a stored one. Command-line tools call it
// instead of ApplyConfig: their configuration may not be the servers' (run
// without -c, say), and applying it would revoke the servers' keys.
func (s *Store) EnsureGroups(ctx context.Context, groups []config.Group) error {
	q := s.db.Dialect().InsertIgnore("user_groups",
		[]string{"name", "ratio_ppm", "rpm", "tpm", "daily_requests", "image_response_format", "managed_by_file", "created_at"}, []string{"name"})
	now := s.now().UTC()
	for _, g := range groups {
		if _, err := s.db.Write().ExecContext(ctx, q, g.Name, ratioPPM(g.Ratio), g.RPM, g.TPM, g.DailyRequests, g.ImageResponseFormat, true, now); err != nil {
			return fmt.Errorf("create group %s: %w", g.Name, err)
		}
	}
	return nil
}

func (s *Store) upsertGroup(ctx context.Context, g config.Group, now time.Time) error {
	q := s.db.Dialect().Upsert("user_groups",
		[]string{"name", "ratio_ppm", "rpm", "tpm", "daily_requests", "image_response_format", "managed_by_file", "created_at"},
		[]string{"name"}, []string{"ratio_ppm", "rpm", "tpm", "daily_requests", "image_response_format", "managed_by_file"})
	if _, err := s.db.Write().ExecContext(ctx, q, g.Name, ratioPPM(g.Ratio), g.RPM, g.TPM, g.DailyRequests, g.ImageResponseFormat, true, now); err != nil {
		return fmt.Errorf("store group %s: %w", g.Name, err)
	}
	return nil
}

// ensureGroup creates group name (ratio 1, no limits) unless it exists, and
// returns its id. Keys of undeclared users land in the default group even
// when groups: does not declare it, as they always have.
func (s *Store) ensureGroup(ctx context.Context, name string, now time.Time) (int64, error) {
	q := s.db.Dialect().InsertIgnore("user_groups", []string{"name", "ratio_ppm", "managed_by_file", "created_at"}, []string{"name"})
	if _, err := s.db.Write().ExecContext(ctx, q, name, int64(1e6), false, now); err != nil {
		return 0, fmt.Errorf("create group %s: %w", name, err)
	}
	return s.groupID(ctx, s.db.Write(), name)
}

func (s *Store) groupID(ctx context.Context, q store.Querier, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, s.db.Dialect().Rebind("SELECT id FROM user_groups WHERE name = ?"), name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("group %s: %w", name, ErrGroupNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("read group %s: %w", name, err)
	}
	return id, nil
}

func (s *Store) upsertUser(ctx context.Context, u config.User, now time.Time) (int64, error) {
	email := normEmail(u.Email)
	group := u.Group
	if group == "" {
		group = config.DefaultGroup
	}
	gid, err := s.groupID(ctx, s.db.Write(), group)
	if err != nil {
		return 0, fmt.Errorf("user %s: %w", email, err)
	}
	role := u.Role
	if role == "" {
		role = "user"
	}
	q := s.db.Dialect().Upsert("users",
		[]string{"email", "name", "group_id", "role", "status", "managed_by_file", "created_at", "updated_at"},
		[]string{"email"}, []string{"name", "group_id", "role", "managed_by_file", "updated_at"})
	if _, err := s.db.Write().ExecContext(ctx, q, email, u.Name, gid, role, StatusActive, true, now, now); err != nil {
		return 0, fmt.Errorf("store user %s: %w", email, err)
	}
	return s.userID(ctx, s.db.Write(), email)
}

// ensureUser creates a user with email in group gid unless one exists.
func (s *Store) ensureUser(ctx context.Context, email string, gid int64, now time.Time) (int64, error) {
	q := s.db.Dialect().InsertIgnore("users",
		[]string{"email", "group_id", "role", "status", "managed_by_file", "created_at", "updated_at"}, []string{"email"})
	if _, err := s.db.Write().ExecContext(ctx, q, email, gid, "user", StatusActive, false, now, now); err != nil {
		return 0, fmt.Errorf("create user %s: %w", email, err)
	}
	return s.userID(ctx, s.db.Write(), email)
}

func (s *Store) userID(ctx context.Context, q store.Querier, email string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, s.db.Dialect().Rebind("SELECT id FROM users WHERE email = ?"), email).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("user %s: %w", email, ErrUserNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("read user %s: %w", email, err)
	}
	return id, nil
}

// keyRow is an api_keys row as ApplyConfig and CreateKey write it.
type keyRow struct {
	userID               int64
	name, prefix, hash   string
	models, ipAllow      string
	quota                *int64
	rpm, daily           int
	tpm                  int64
	expires              any // nil or time.Time
	admin, managedByFile bool
	imageFormat          string
	webhookURL           string
	// webhookSecret is the plaintext; it is sealed with the row's id once
	// that is known, and never written in clear.
	webhookSecret string
}

func rowOf(uid int64, k config.Key) (keyRow, error) {
	value := k.Key.Value()
	if value == "" {
		return keyRow{}, errors.New("empty key")
	}
	models, err := jsonList(k.Models)
	if err != nil {
		return keyRow{}, fmt.Errorf("encode models: %w", err)
	}
	for _, a := range k.IPAllow {
		if _, err := parsePrefix(a); err != nil {
			return keyRow{}, fmt.Errorf("ip_allow: %w", err)
		}
	}
	ips, err := jsonList(k.IPAllow)
	if err != nil {
		return keyRow{}, fmt.Errorf("encode ip_allow: %w", err)
	}
	r := keyRow{userID: uid, name: k.Name, prefix: visiblePrefix(value), hash: hashKey(value), models: models,
		ipAllow: ips, quota: quotaMicros(k.Quota), rpm: k.RPM, tpm: int64(k.TPM), daily: k.DailyRequests,
		admin: k.Admin, managedByFile: true, imageFormat: k.ImageResponseFormat, webhookURL: k.WebhookURL,
		webhookSecret: k.WebhookSecret.Value()}
	if !k.ExpiresAt.IsZero() {
		r.expires = k.ExpiresAt.UTC()
	}
	return r, nil
}

// keyColumns are the columns an insert writes; webhook_secret follows in
// an update, sealed with the new row's id.
var keyColumns = []string{"user_id", "name", "prefix", "hash", "status", "expires_at", "quota_micros", "models",
	"ip_allow", "rpm", "tpm", "daily_requests", "is_admin", "managed_by_file", "image_response_format", "webhook_url",
	"created_at", "updated_at"}

func (r keyRow) args(now time.Time) []any {
	return []any{r.userID, r.name, r.prefix, r.hash, StatusActive, r.expires, r.quota, r.models, r.ipAllow,
		r.rpm, r.tpm, r.daily, r.admin, r.managedByFile, r.imageFormat, r.webhookURL, now, now}
}

// applyKey stores the file's key k of user uid and returns its id.
func (s *Store) applyKey(ctx context.Context, uid int64, k config.Key, now time.Time) (int64, error) {
	d, w := s.db.Dialect(), s.db.Write()
	r, err := rowOf(uid, k)
	if err != nil {
		return 0, err
	}
	// The value may already be stored under another name (the key was
	// renamed or moved to another user in the file): follow it there, or
	// the insert below would hit the unique hash.
	var otherID int64
	var otherFromFile bool
	err = w.QueryRowContext(ctx, d.Rebind("SELECT id, managed_by_file FROM api_keys WHERE hash = ? AND NOT (user_id = ? AND name = ?)"),
		r.hash, uid, r.name).Scan(&otherID, &otherFromFile)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return 0, fmt.Errorf("look up key value: %w", err)
	case !otherFromFile:
		return 0, fmt.Errorf("the value is already key id %d, created outside the file; give this key another value", otherID)
	default:
		_, err := w.ExecContext(ctx, d.Rebind("UPDATE api_keys SET user_id = ?, name = ?, updated_at = ? WHERE id = ? AND hash = ?"),
			uid, r.name, now, otherID, r.hash)
		if store.IsUniqueViolation(err) {
			return 0, fmt.Errorf("the value moved here from key id %d, but this user already has a key named %q with another value", otherID, r.name)
		}
		if err != nil {
			return 0, fmt.Errorf("rename key id %d: %w", otherID, err)
		}
	}
	// Another node applying the same file at the same moment may insert this
	// row first; PostgreSQL then reports the unique hash (ON CONFLICT only
	// names user_id, name) rather than skipping. Either way the row exists.
	if _, err := w.ExecContext(ctx, d.InsertIgnore("api_keys", keyColumns, []string{"user_id", "name"}), r.args(now)...); err != nil && !store.IsUniqueViolation(err) {
		return 0, fmt.Errorf("insert: %w", err)
	}
	var id int64
	if err := w.QueryRowContext(ctx, d.Rebind("SELECT id FROM api_keys WHERE user_id = ? AND name = ?"), uid, r.name).Scan(&id); err != nil {
		return 0, fmt.Errorf("read back: %w", err)
	}
	// Sealed afresh at every start (a new nonce each time): the row's id is
	// only certain now, and the secret is bound to it.
	sealed, err := s.sealWebhook(id, r.webhookSecret)
	if err != nil {
		return 0, err
	}
	// Whether the insert above happened or not, bring the row to the file's
	// state. status comes first: MySQL evaluates SET left to right, and the
	// CASE must see the old hash. A revoked key comes back only with a new
	// value, so that revoking a leaked file key by hand holds over restarts.
	_, err = w.ExecContext(ctx, d.Rebind(`UPDATE api_keys SET
		status = CASE WHEN hash = ? THEN status ELSE ? END,
		prefix = ?, hash = ?, expires_at = ?, quota_micros = ?, models = ?, ip_allow = ?,
		rpm = ?, tpm = ?, daily_requests = ?, is_admin = ?, managed_by_file = ?,
		image_response_format = ?, webhook_url = ?, webhook_secret = ?, updated_at = ?
		WHERE id = ?`),
		r.hash, StatusActive, r.prefix, r.hash, r.expires, r.quota, r.models, r.ipAllow,
		r.rpm, r.tpm, r.daily, r.admin, true, r.imageFormat, r.webhookURL, sealed, now, id)
	if err != nil {
		return 0, fmt.Errorf("update: %w", err)
	}
	return id, nil
}

// revokeRemoved revokes every file-managed key whose id is not in keep.
func (s *Store) revokeRemoved(ctx context.Context, keep []int64, now time.Time) error {
	q := "UPDATE api_keys SET status = ?, updated_at = ? WHERE managed_by_file = ? AND status <> ?"
	args := []any{StatusRevoked, now, true, StatusRevoked}
	if len(keep) > 0 {
		q += " AND id NOT IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(keep)), ", ") + ")"
		for _, id := range keep {
			args = append(args, id)
		}
	}
	if _, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(q), args...); err != nil {
		return fmt.Errorf("revoke keys that left the file: %w", err)
	}
	return nil
}
