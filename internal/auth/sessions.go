package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/store"
)

// Session is a console sign-in. Its token is never stored: the store keys
// it by the token's SHA-256 (Hash), and ID is a separate random name that
// listings show and revocations use.
type Session struct {
	ID         string     `json:"id"`
	UserID     int64      `json:"-"`
	Hash       string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	LastSeenAt time.Time  `json:"last_seen_at"`
	ExpiresAt  time.Time  `json:"expires_at"` // absolute end
	IP         string     `json:"ip"`
	UserAgent  string     `json:"user_agent"`
	StepUpAt   *time.Time `json:"-"`
}

// ErrSessionNotFound is returned for a session that does not exist (or no
// longer: expired, revoked).
var ErrSessionNotFound = errors.New("session not found")

// SessionStore keeps sessions: in the database (SQLSessions) or in Redis
// (RedisSessions). Expiry is decided by Accounts; a store may drop expired
// sessions on its own (Redis keys carry a TTL) but need not.
type SessionStore interface {
	Create(ctx context.Context, s Session, idle time.Duration) error
	// Get returns the session whose token hashes to hash.
	Get(ctx context.Context, hash string) (Session, error)
	// Touch records activity at t, extending the idle expiry.
	Touch(ctx context.Context, s Session, t time.Time, idle time.Duration) error
	SetStepUp(ctx context.Context, s Session, t time.Time, idle time.Duration) error
	// List returns the user's sessions, newest first.
	List(ctx context.Context, userID int64) ([]Session, error)
	// Delete removes the user's session id; ErrSessionNotFound when the
	// user has no such session.
	Delete(ctx context.Context, userID int64, id string) error
	// DeleteUser removes every session of the user.
	DeleteUser(ctx context.Context, userID int64) error
}

// SQLSessions keeps sessions in the sessions table.
type SQLSessions struct{ db *store.DB }

// NewSQLSessions returns a SessionStore over db.
func NewSQLSessions(db *store.DB) *SQLSessions { return &SQLSessions{db: db} }

var (
	_ SessionStore = (*SQLSessions)(nil)
	_ SessionStore = (*RedisSessions)(nil)
)

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// Create implements SessionStore.
func (s *SQLSessions) Create(ctx context.Context, ss Session, _ time.Duration) error {
	_, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(`INSERT INTO sessions
		(id, user_id, hash, created_at, last_seen_at, expires_at, ip, user_agent, step_up_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		ss.ID, ss.UserID, ss.Hash, ss.CreatedAt.UTC(), ss.LastSeenAt.UTC(), ss.ExpiresAt.UTC(), ss.IP, ss.UserAgent, nullTime(ss.StepUpAt))
	if err != nil {
		return fmt.Errorf("store session: %w", err)
	}
	return nil
}

const sessionColumns = "id, user_id, hash, created_at, last_seen_at, expires_at, ip, user_agent, step_up_at"

func scanSession(sc interface{ Scan(...any) error }) (Session, error) {
	var (
		ss   Session
		step sql.NullTime
	)
	if err := sc.Scan(&ss.ID, &ss.UserID, &ss.Hash, &ss.CreatedAt, &ss.LastSeenAt, &ss.ExpiresAt, &ss.IP, &ss.UserAgent, &step); err != nil {
		return Session{}, err
	}
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = ss.CreatedAt.UTC(), ss.LastSeenAt.UTC(), ss.ExpiresAt.UTC()
	if step.Valid {
		t := step.Time.UTC()
		ss.StepUpAt = &t
	}
	return ss, nil
}

// Get implements SessionStore.
func (s *SQLSessions) Get(ctx context.Context, hash string) (Session, error) {
	// The read pool: every console request resolves its session, and
	// must not queue behind SQLite's single writer. Readers see every
	// committed write (WAL), so a session made a moment ago is found.
	ss, err := scanSession(s.db.Read().QueryRowContext(ctx, s.db.Dialect().Rebind("SELECT "+sessionColumns+" FROM sessions WHERE hash = ?"), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrSessionNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	return ss, nil
}

// Touch implements SessionStore.
func (s *SQLSessions) Touch(ctx context.Context, ss Session, t time.Time, _ time.Duration) error {
	if _, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind("UPDATE sessions SET last_seen_at = ? WHERE id = ?"), t.UTC(), ss.ID); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// SetStepUp implements SessionStore.
func (s *SQLSessions) SetStepUp(ctx context.Context, ss Session, t time.Time, _ time.Duration) error {
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind("UPDATE sessions SET step_up_at = ?, last_seen_at = ? WHERE id = ?"), t.UTC(), t.UTC(), ss.ID)
	if err != nil {
		return fmt.Errorf("step up session: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrSessionNotFound
	}
	return nil
}

// List implements SessionStore.
func (s *SQLSessions) List(ctx context.Context, userID int64) ([]Session, error) {
	rows, err := s.db.Read().QueryContext(ctx, s.db.Dialect().Rebind("SELECT "+sessionColumns+" FROM sessions WHERE user_id = ? ORDER BY created_at DESC, id"), userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// Delete implements SessionStore.
func (s *SQLSessions) Delete(ctx context.Context, userID int64, id string) error {
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind("DELETE FROM sessions WHERE user_id = ? AND id = ?"), userID, id)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrSessionNotFound
	}
	return nil
}

// DeleteUser implements SessionStore.
func (s *SQLSessions) DeleteUser(ctx context.Context, userID int64) error {
	if _, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind("DELETE FROM sessions WHERE user_id = ?"), userID); err != nil {
		return fmt.Errorf("delete sessions of user id %d: %w", userID, err)
	}
	return nil
}

// DeleteExpired removes sessions past their absolute or idle expiry; the
// caller runs it now and then (sessions are also refused when read).
func (s *SQLSessions) DeleteExpired(ctx context.Context, now time.Time, idle time.Duration) (int64, error) {
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind("DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?"),
		now.UTC(), now.Add(-idle).UTC())
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// RedisSessions keeps sessions in Redis, shared by every node using the
// same prefix:
//
//	{prefix}s:{hash}   the session as JSON; TTL = the sooner of the idle
//	                   and the absolute expiry
//	{prefix}u:{user}   set of the user's session hashes (members whose key
//	                   expired are dropped when listed)
type RedisSessions struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
}

// NewRedisSessions returns a SessionStore in rdb under prefix (e.g.
// "sy:sess:"). now may be nil (time.Now); it computes key TTLs.
func NewRedisSessions(rdb redis.UniversalClient, prefix string, now func() time.Time) *RedisSessions {
	if now == nil {
		now = time.Now
	}
	return &RedisSessions{rdb: rdb, prefix: prefix, now: now}
}

func (r *RedisSessions) sessKey(hash string) string { return r.prefix + "s:" + hash }
func (r *RedisSessions) userKey(userID int64) string {
	return r.prefix + "u:" + strconv.FormatInt(userID, 10)
}

// redisSession is the stored JSON: Session hides some members from JSON.
type redisSession struct {
	ID         string     `json:"id"`
	UserID     int64      `json:"user_id"`
	CreatedAt  time.Time  `json:"created_at"`
	LastSeenAt time.Time  `json:"last_seen_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	IP         string     `json:"ip"`
	UserAgent  string     `json:"user_agent"`
	StepUpAt   *time.Time `json:"step_up_at,omitempty"`
}

func (r *RedisSessions) ttl(ss Session, idle time.Duration) time.Duration {
	ttl := min(idle, ss.ExpiresAt.Sub(r.now()))
	return max(ttl, time.Second)
}

func (r *RedisSessions) write(ctx context.Context, ss Session, idle time.Duration, create bool) error {
	b, err := json.Marshal(redisSession{ID: ss.ID, UserID: ss.UserID, CreatedAt: ss.CreatedAt.UTC(), LastSeenAt: ss.LastSeenAt.UTC(),
		ExpiresAt: ss.ExpiresAt.UTC(), IP: ss.IP, UserAgent: ss.UserAgent, StepUpAt: ss.StepUpAt})
	if err != nil {
		return err
	}
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if create {
			p.Set(ctx, r.sessKey(ss.Hash), b, r.ttl(ss, idle))
			p.SAdd(ctx, r.userKey(ss.UserID), ss.Hash)
			// The index lives as long as its newest session can, which
			// (one session_max for all) is the one being created.
			p.Expire(ctx, r.userKey(ss.UserID), ss.ExpiresAt.Sub(r.now())+time.Minute)
		} else {
			// XX: a session revoked meanwhile must not come back.
			p.SetXX(ctx, r.sessKey(ss.Hash), b, r.ttl(ss, idle))
		}
		return nil
	})
	return err
}

// Create implements SessionStore.
func (r *RedisSessions) Create(ctx context.Context, ss Session, idle time.Duration) error {
	if err := r.write(ctx, ss, idle, true); err != nil {
		return fmt.Errorf("store session in redis: %w", err)
	}
	return nil
}

// Get implements SessionStore.
func (r *RedisSessions) Get(ctx context.Context, hash string) (Session, error) {
	b, err := r.rdb.Get(ctx, r.sessKey(hash)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Session{}, ErrSessionNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session from redis: %w", err)
	}
	return decodeRedisSession(hash, b)
}

func decodeRedisSession(hash string, b []byte) (Session, error) {
	var rs redisSession
	if err := json.Unmarshal(b, &rs); err != nil {
		return Session{}, fmt.Errorf("decode session: %w", err)
	}
	return Session{ID: rs.ID, UserID: rs.UserID, Hash: hash, CreatedAt: rs.CreatedAt.UTC(), LastSeenAt: rs.LastSeenAt.UTC(),
		ExpiresAt: rs.ExpiresAt.UTC(), IP: rs.IP, UserAgent: rs.UserAgent, StepUpAt: rs.StepUpAt}, nil
}

// Touch implements SessionStore.
func (r *RedisSessions) Touch(ctx context.Context, ss Session, t time.Time, idle time.Duration) error {
	ss.LastSeenAt = t
	if err := r.write(ctx, ss, idle, false); err != nil {
		return fmt.Errorf("touch session in redis: %w", err)
	}
	return nil
}

// SetStepUp implements SessionStore.
func (r *RedisSessions) SetStepUp(ctx context.Context, ss Session, t time.Time, idle time.Duration) error {
	ss.StepUpAt, ss.LastSeenAt = &t, t
	if err := r.write(ctx, ss, idle, false); err != nil {
		return fmt.Errorf("step up session in redis: %w", err)
	}
	return nil
}

// List implements SessionStore.
func (r *RedisSessions) List(ctx context.Context, userID int64) ([]Session, error) {
	hashes, err := r.rdb.SMembers(ctx, r.userKey(userID)).Result()
	if err != nil {
		return nil, fmt.Errorf("list sessions in redis: %w", err)
	}
	out := []Session{}
	if len(hashes) == 0 {
		return out, nil
	}
	keys := make([]string, len(hashes))
	for i, h := range hashes {
		keys[i] = r.sessKey(h)
	}
	vals, err := r.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("list sessions in redis: %w", err)
	}
	var gone []any
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			gone = append(gone, hashes[i])
			continue
		}
		ss, err := decodeRedisSession(hashes[i], []byte(s))
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	if len(gone) > 0 {
		_ = r.rdb.SRem(ctx, r.userKey(userID), gone...).Err() // tidying only
	}
	sortSessions(out)
	return out, nil
}

// Delete implements SessionStore.
func (r *RedisSessions) Delete(ctx context.Context, userID int64, id string) error {
	list, err := r.List(ctx, userID)
	if err != nil {
		return err
	}
	for _, ss := range list {
		if ss.ID == id {
			if err := r.rdb.Del(ctx, r.sessKey(ss.Hash)).Err(); err != nil {
				return fmt.Errorf("delete session in redis: %w", err)
			}
			_ = r.rdb.SRem(ctx, r.userKey(userID), ss.Hash).Err()
			return nil
		}
	}
	return ErrSessionNotFound
}

// DeleteUser implements SessionStore.
func (r *RedisSessions) DeleteUser(ctx context.Context, userID int64) error {
	hashes, err := r.rdb.SMembers(ctx, r.userKey(userID)).Result()
	if err != nil {
		return fmt.Errorf("delete sessions in redis: %w", err)
	}
	keys := []string{r.userKey(userID)}
	for _, h := range hashes {
		keys = append(keys, r.sessKey(h))
	}
	if err := r.rdb.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("delete sessions in redis: %w", err)
	}
	return nil
}

func sortSessions(l []Session) {
	// Newest first, as SQLSessions lists them; ties by id for a stable order.
	slices.SortFunc(l, func(a, b Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
