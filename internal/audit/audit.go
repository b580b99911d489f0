// Package audit is the record of who changed what: every write through
// the console API and the command line, with the values before and after
// it, secrets removed. Rows are only ever added; nothing in Switchyard
// updates or deletes them.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/store"
)

// Entry is one audited write.
type Entry struct {
	ID         int64 // set by List
	Time       time.Time
	ActorID    int64  // 0: not a console user (the CLI)
	ActorEmail string // "cli" for the command line
	Via        string // "session", "token" or "cli"
	IP         string
	Method     string // the HTTP method; "" for the CLI
	Route      string // the route pattern, or the CLI command ("switchyard keys add")
	Action     string // "users.create", "keys.revoke"…
	Target     string // what was written: "user:12", "key:7"
	Status     int    // the HTTP status answered; 0 for the CLI
	// Before and After are JSON values, nil when there is none; Record
	// removes their secrets (Redact).
	Before, After json.RawMessage
	RequestID     string
}

// Column sizes, in characters.
const (
	maxEmail   = 191
	maxShort   = 16
	maxIP      = 64
	maxRoute   = 191
	maxAction  = 64
	maxTarget  = 191
	maxRequest = 128
	// maxValue bounds a before or after value; a larger one is stored as
	// {"truncated": true, "bytes": N}: a cut JSON text would be unreadable.
	maxValue = 16 << 10
)

// Store keeps the audit log in the database.
type Store struct {
	db  *store.DB
	now func() time.Time
}

// NewStore returns the audit log of db; now is the clock (time.Now when nil).
func NewStore(db *store.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

// Record adds e to the log. A zero Time is now.
func (s *Store) Record(ctx context.Context, e Entry) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	var actor any
	if e.ActorID != 0 {
		actor = e.ActorID
	}
	_, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(`INSERT INTO audit_log (created_at, actor_id,
		actor_email, via, ip, method, route, action, target, status, before_json, after_json, request_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		e.Time.UTC().Truncate(time.Microsecond), actor, store.Clip(e.ActorEmail, maxEmail), store.Clip(e.Via, maxShort),
		store.Clip(e.IP, maxIP), store.Clip(e.Method, maxShort), store.Clip(e.Route, maxRoute),
		store.Clip(e.Action, maxAction), store.Clip(e.Target, maxTarget), e.Status, value(e.Before), value(e.After),
		store.Clip(e.RequestID, maxRequest))
	if err != nil {
		return fmt.Errorf("record audit entry %s %s: %w", e.Action, e.Target, err)
	}
	return nil
}

// value is what is stored of a before or after value: redacted, bounded,
// NULL for none.
func value(v json.RawMessage) any {
	v = Redact(v)
	if len(v) == 0 {
		return nil
	}
	if len(v) > maxValue {
		return `{"truncated":true,"bytes":` + strconv.Itoa(len(v)) + `}`
	}
	return string(v)
}

// Filter selects entries; zero fields select everything.
type Filter struct {
	ActorID int64
	Actor   string // the actor's email (or "cli")
	// Action is an action, or a prefix of actions ending in "*"
	// ("users.*").
	Action   string
	Target   string
	Since    time.Time // at or after
	Until    time.Time // before
	BeforeID int64     // keyset cursor: entries older than this id
	Limit    int       // default 50, at most 1000
}

// List returns matching entries, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Entry, error) {
	var (
		conds []string
		args  []any
	)
	add := func(c string, a ...any) { conds, args = append(conds, c), append(args, a...) }
	if f.ActorID != 0 {
		add("actor_id = ?", f.ActorID)
	}
	if f.Actor != "" {
		add("actor_email = ?", strings.ToLower(strings.TrimSpace(f.Actor)))
	}
	if prefix, ok := strings.CutSuffix(f.Action, "*"); ok {
		// LIKE's own wildcards in the prefix are escaped: the prefix is
		// matched as text.
		// '!' rather than a backslash, which MySQL reads as an escape
		// inside the literal itself.
		r := strings.NewReplacer(`!`, `!!`, `%`, `!%`, `_`, `!_`)
		add(`action LIKE ? ESCAPE '!'`, r.Replace(prefix)+"%")
	} else if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Target != "" {
		add("target = ?", f.Target)
	}
	if !f.Since.IsZero() {
		add("created_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		add("created_at < ?", f.Until.UTC())
	}
	if f.BeforeID != 0 {
		add("id < ?", f.BeforeID)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = 50
	case limit > 1000:
		limit = 1000
	}
	q := `SELECT id, created_at, actor_id, actor_email, via, ip, method, route, action, target, status, before_json,
		after_json, request_id FROM audit_log`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY id DESC LIMIT " + strconv.Itoa(limit)
	rows, err := s.db.Read().QueryContext(ctx, s.db.Dialect().Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var (
			e             Entry
			actor         *int64
			before, after *string
		)
		if err := rows.Scan(&e.ID, &e.Time, &actor, &e.ActorEmail, &e.Via, &e.IP, &e.Method, &e.Route, &e.Action,
			&e.Target, &e.Status, &before, &after, &e.RequestID); err != nil {
			return nil, fmt.Errorf("list audit log: %w", err)
		}
		e.Time = e.Time.UTC()
		if actor != nil {
			e.ActorID = *actor
		}
		if before != nil {
			e.Before = json.RawMessage(*before)
		}
		if after != nil {
			e.After = json.RawMessage(*after)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	return out, nil
}

// Redacted replaces every secret value.
const Redacted = "[redacted]"

// secretWords are the words of a member name that mark its value secret:
// api_key, password_hash, invite_code, refresh_token, totp_secret…
var secretWords = map[string]bool{
	"password": true, "passwd": true, "secret": true, "secrets": true, "token": true, "tokens": true,
	"key": true, "keys": true, "code": true, "codes": true, "totp": true, "recovery": true,
	"authorization": true, "cookie": true, "hash": true, "sealed": true, "credential": true, "credentials": true,
}

// Redact returns v with the value of every member whose name has a
// secret word ("api_key", "password", "refresh_token"…) replaced by
// Redacted, however deep: strings, and every string inside an array or
// object there. Numbers and booleans stay (key_id, has_password): they are
// identifiers or facts, never secrets. Input that is not JSON is replaced
// by a JSON string saying so, never kept.
func Redact(v json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(v)) == 0 || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return json.RawMessage(`"[not JSON]"`)
	}
	out, err := json.Marshal(redact(x, false))
	if err != nil {
		return json.RawMessage(`"[not JSON]"`)
	}
	return out
}

func redact(x any, secret bool) any {
	switch t := x.(type) {
	case map[string]any:
		for k, v := range t {
			t[k] = redact(v, secret || secretName(k))
		}
	case []any:
		for i, v := range t {
			t[i] = redact(v, secret)
		}
	case string:
		if secret && t != "" {
			return Redacted
		}
	}
	return x
}

// notSecret are last words that make a name about a secret rather than
// the secret itself: key_name, key_id, key_prefix, token_expires_at.
var notSecret = map[string]bool{"id": true, "ids": true, "name": true, "names": true, "prefix": true, "count": true,
	"at": true, "set": true, "enabled": true, "required": true, "fingerprint": true}

// secretName reports whether a member name has a secret word, its words
// split at '_', '-', '.' and lower-to-upper case changes (apiKey), unless
// its last word says it names or counts something (key_name, key_id).
func secretName(name string) bool {
	if w := lastWord(name); notSecret[w] {
		return false
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		end := i == len(name)
		if !end {
			c := name[i]
			upper := c >= 'A' && c <= 'Z'
			prevLower := i > 0 && name[i-1] >= 'a' && name[i-1] <= 'z'
			if c != '_' && c != '-' && c != '.' && !(upper && prevLower) {
				continue
			}
		}
		if secretWords[strings.ToLower(name[start:i])] {
			return true
		}
		start = i
		if !end && (name[i] == '_' || name[i] == '-' || name[i] == '.') {
			start = i + 1
		}
	}
	return false
}

func lastWord(name string) string {
	i := len(name)
	for i > 0 {
		c := name[i-1]
		if c == '_' || c == '-' || c == '.' {
			break
		}
		if c >= 'A' && c <= 'Z' {
			i--
			break
		}
		i--
	}
	return strings.ToLower(strings.TrimLeft(name[i:], "_-."))
}
