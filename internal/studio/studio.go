// Package studio keeps what a user saves in the console's image studio to
// reuse: presets (named sets of image parameters) and prompt snippets. It
// is kept on the server, per user, so both follow the user from browser
// to browser; the parameters themselves are the console's to read, and
// are stored as the JSON object it sends, bounded in size.
package studio

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/store"
)

// Limits.
const (
	MaxPresets     = 50
	MaxSnippets    = 100
	MaxName        = 64      // characters of a preset's name
	MaxParamsBytes = 8 << 10 // bytes of a preset's parameters (JSON)
	MaxSnippet     = 4000    // characters of a snippet
)

// ErrNotFound is a missing preset or snippet, or one of another user's.
var ErrNotFound = errors.New("studio: not found")

// InvalidError is a request the limits refuse; Field names what.
type InvalidError struct {
	Field, Message string
}

func (e *InvalidError) Error() string { return "studio: " + e.Field + ": " + e.Message }

// Preset is a named set of image parameters.
type Preset struct {
	Name      string
	Params    json.RawMessage // a JSON object
	UpdatedAt time.Time
}

// Snippet is a saved piece of prompt.
type Snippet struct {
	ID     int64
	Text   string
	UsedAt time.Time
}

// Store is the studio's saved items in db.
type Store struct {
	db  *store.DB
	now func() time.Time
}

// New returns the store of db; now is the clock (time.Now when nil).
func New(db *store.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

func (s *Store) q(query string) string { return s.db.Dialect().Rebind(query) }

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// nameKey is how preset names compare: trimmed, case-insensitive.
func nameKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// Presets returns userID's presets, the last saved first.
func (s *Store) Presets(ctx context.Context, userID int64) ([]Preset, error) {
	rows, err := s.db.Read().QueryContext(ctx, s.q(`SELECT name, params, updated_at FROM studio_presets
		WHERE user_id = ? ORDER BY updated_at DESC, id DESC`), userID)
	if err != nil {
		return nil, fmt.Errorf("studio: presets: %w", err)
	}
	defer rows.Close()
	out := []Preset{}
	for rows.Next() {
		var p Preset
		var params string
		if err := rows.Scan(&p.Name, &params, &p.UpdatedAt); err != nil {
			return nil, fmt.Errorf("studio: presets: %w", err)
		}
		p.Params, p.UpdatedAt = json.RawMessage(params), p.UpdatedAt.UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// SavePreset adds preset name of userID, or replaces the one of the same
// name (trimmed, case-insensitive), which then takes the new spelling.
func (s *Store) SavePreset(ctx context.Context, userID int64, name string, params json.RawMessage) (Preset, error) {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return Preset{}, &InvalidError{"name", "A preset needs a name."}
	case n > MaxName:
		return Preset{}, &InvalidError{"name", fmt.Sprintf("At most %d characters.", MaxName)}
	}
	if len(params) > MaxParamsBytes {
		return Preset{}, &InvalidError{"params", fmt.Sprintf("At most %d bytes.", MaxParamsBytes)}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(params, &obj); err != nil || obj == nil {
		return Preset{}, &InvalidError{"params", "Must be a JSON object."}
	}
	key := nameKey(name)
	at := s.clock()
	// The count is read before the insert: two concurrent saves may leave
	// one preset more than the limit, which bounds growth all the same.
	var n, exists int
	err := s.db.Read().QueryRowContext(ctx, s.q(`SELECT COUNT(*), COALESCE(SUM(CASE WHEN name_key = ? THEN 1 ELSE 0 END), 0)
		FROM studio_presets WHERE user_id = ?`), key, userID).Scan(&n, &exists)
	if err != nil {
		return Preset{}, fmt.Errorf("studio: save preset: %w", err)
	}
	if exists == 0 && n >= MaxPresets {
		return Preset{}, &InvalidError{"name", fmt.Sprintf("At most %d presets; delete one first.", MaxPresets)}
	}
	q := s.db.Dialect().Upsert("studio_presets", []string{"user_id", "name", "name_key", "params", "updated_at"},
		[]string{"user_id", "name_key"}, []string{"name", "params", "updated_at"})
	if _, err := s.db.Write().ExecContext(ctx, q, userID, name, key, string(params), at); err != nil {
		return Preset{}, fmt.Errorf("studio: save preset: %w", err)
	}
	return Preset{Name: name, Params: params, UpdatedAt: at}, nil
}

// DeletePreset removes userID's preset name.
func (s *Store) DeletePreset(ctx context.Context, userID int64, name string) error {
	res, err := s.db.Write().ExecContext(ctx, s.q(`DELETE FROM studio_presets WHERE user_id = ? AND name_key = ?`), userID, nameKey(name))
	if err != nil {
		return fmt.Errorf("studio: delete preset: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrNotFound
	}
	return nil
}

// Snippets returns userID's snippets, the last saved first.
func (s *Store) Snippets(ctx context.Context, userID int64) ([]Snippet, error) {
	rows, err := s.db.Read().QueryContext(ctx, s.q(`SELECT id, text, used_at FROM studio_snippets
		WHERE user_id = ? ORDER BY used_at DESC, id DESC`), userID)
	if err != nil {
		return nil, fmt.Errorf("studio: snippets: %w", err)
	}
	defer rows.Close()
	out := []Snippet{}
	for rows.Next() {
		var sn Snippet
		if err := rows.Scan(&sn.ID, &sn.Text, &sn.UsedAt); err != nil {
			return nil, fmt.Errorf("studio: snippets: %w", err)
		}
		sn.UsedAt = sn.UsedAt.UTC()
		out = append(out, sn)
	}
	return out, rows.Err()
}

// SaveSnippet adds text as a snippet of userID, or moves the same text,
// already saved, to the top.
func (s *Store) SaveSnippet(ctx context.Context, userID int64, text string) (Snippet, error) {
	text = strings.TrimSpace(text)
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return Snippet{}, &InvalidError{"text", "A snippet needs some text."}
	case n > MaxSnippet || !utf8.ValidString(text):
		return Snippet{}, &InvalidError{"text", fmt.Sprintf("At most %d characters of text.", MaxSnippet)}
	}
	sum := sha256.Sum256([]byte(text))
	hash := hex.EncodeToString(sum[:])
	at := s.clock()
	res, err := s.db.Write().ExecContext(ctx, s.q(`UPDATE studio_snippets SET used_at = ? WHERE user_id = ? AND text_hash = ?`), at, userID, hash)
	if err != nil {
		return Snippet{}, fmt.Errorf("studio: save snippet: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return s.snippet(ctx, userID, hash)
	}
	var n int
	if err := s.db.Read().QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM studio_snippets WHERE user_id = ?`), userID).Scan(&n); err != nil {
		return Snippet{}, fmt.Errorf("studio: save snippet: %w", err)
	}
	if n >= MaxSnippets {
		return Snippet{}, &InvalidError{"text", fmt.Sprintf("At most %d snippets; delete one first.", MaxSnippets)}
	}
	q := s.db.Dialect().InsertIgnore("studio_snippets", []string{"user_id", "text", "text_hash", "used_at"}, []string{"user_id", "text_hash"})
	if _, err := s.db.Write().ExecContext(ctx, q, userID, text, hash, at); err != nil {
		return Snippet{}, fmt.Errorf("studio: save snippet: %w", err)
	}
	return s.snippet(ctx, userID, hash)
}

func (s *Store) snippet(ctx context.Context, userID int64, hash string) (Snippet, error) {
	var sn Snippet
	err := s.db.Write().QueryRowContext(ctx, s.q(`SELECT id, text, used_at FROM studio_snippets WHERE user_id = ? AND text_hash = ?`),
		userID, hash).Scan(&sn.ID, &sn.Text, &sn.UsedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return sn, ErrNotFound // deleted in between
	}
	if err != nil {
		return sn, fmt.Errorf("studio: read snippet: %w", err)
	}
	sn.UsedAt = sn.UsedAt.UTC()
	return sn, nil
}

// DeleteSnippet removes userID's snippet id.
func (s *Store) DeleteSnippet(ctx context.Context, userID, id int64) error {
	res, err := s.db.Write().ExecContext(ctx, s.q(`DELETE FROM studio_snippets WHERE user_id = ? AND id = ?`), userID, id)
	if err != nil {
		return fmt.Errorf("studio: delete snippet: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrNotFound
	}
	return nil
}
