package pool

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
)

// Channels and their credentials are stored in the channels and credentials
// tables. A credential's secret (API key or token pair) is sealed with the
// keyring, bound to sealAAD so that a sealed value copied into another
// table does not open there. Its identity is a keyed fingerprint: unique per
// channel, so nothing is stored twice, yet a database dump cannot be used to
// confirm a guessed key (a plain hash could be).

const (
	sealAAD            = "switchyard/credential/v1"
	fingerprintPurpose = "credential-fingerprint"
	maxLastError       = 2048
)

// ErrCredentialNotFound is returned for a credential id that is not stored.
var ErrCredentialNotFound = errors.New("credential not found")

// Store persists channels and credentials.
type Store struct {
	db    *store.DB
	kr    *secret.Keyring
	fpKey []byte
	now   func() time.Time
}

// NewStore returns a Store over db, sealing secrets with kr.
func NewStore(db *store.DB, kr *secret.Keyring) *Store {
	return &Store{db: db, kr: kr, fpKey: kr.Subkey(fingerprintPurpose), now: time.Now}
}

// Secret is a credential's secret part. It never prints itself: fmt, slog
// and encoding/json all see "[redacted]". It is sealed through secretJSON.
type Secret struct {
	Key          string
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time
}

const redacted = "[redacted]"

var (
	_ fmt.Stringer   = Secret{}
	_ fmt.GoStringer = Secret{}
	_ fmt.Formatter  = Secret{}
	_ slog.LogValuer = Secret{}
	_ json.Marshaler = Secret{}
)

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return "pool.Secret(" + redacted + ")" }

// Format implements fmt.Formatter, so that verbs fmt does not route through
// String (%d, %x on a struct, …) cannot print the fields.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, redacted)
}

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON keeps a CredRecord marshalled for a console or a debug dump
// free of secrets.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// secretJSON is the sealed form of a Secret.
type secretJSON struct {
	Key          string    `json:"key,omitempty"`
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
}

// CredOptions are a credential's settings, stored as JSON.
type CredOptions struct {
	DailyLimit  int64   `json:"daily_limit,omitempty"`  // requests per day, 0 = none
	DailyTokens int64   `json:"daily_tokens,omitempty"` // tokens per day, 0 = none
	DailySpend  float64 `json:"daily_spend,omitempty"`  // USD per day, 0 = none
	Proxy       string  `json:"proxy,omitempty"`
	Weight      int     `json:"weight,omitempty"`
}

// CredRecord is a stored credential with its secret opened.
type CredRecord struct {
	ID            int64
	ChannelID     int64
	Channel       string // the channel's name
	Kind          string // KindKey or KindOAuth
	Email         string
	Secret        Secret
	Options       CredOptions
	Status        string // StatusActive or StatusDisabled
	LastError     string
	ManagedByFile bool
	Version       int64 // bumped on every change of Secret
}

// ChannelRecord is a stored channel. Config.Credentials is always nil.
type ChannelRecord struct {
	ID            int64
	Config        config.Channel
	ManagedByFile bool
}

// credRow is what insertCred writes.
type credRow struct {
	channelID   int64
	fingerprint string
	sealed      []byte
	kind, email string
	options     string
	fromFile    bool
}

// fingerprint is the credential's identity within its channel, taken when
// it is first stored; it does not follow token rotation.
func (s *Store) fingerprint(c config.Credential) string {
	var id string
	switch {
	case c.Key != "":
		id = "key:" + c.Key.Value()
	case c.Email != "":
		id = "oauth-email:" + strings.ToLower(c.Email)
	case c.ServiceAccount != "":
		id = "service-account:" + c.ServiceAccount.Value()
	case c.RefreshToken != "":
		id = "oauth-rt:" + c.RefreshToken.Value()
	default:
		id = "oauth-at:" + c.AccessToken.Value()
	}
	m := hmac.New(sha256.New, s.fpKey)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Store) seal(sec Secret) ([]byte, error) {
	plain, err := json.Marshal(secretJSON(sec))
	if err != nil {
		return nil, fmt.Errorf("encode secret: %w", err)
	}
	sealed, err := s.kr.Seal(plain, []byte(sealAAD))
	if err != nil {
		return nil, fmt.Errorf("seal secret: %w", err)
	}
	return sealed, nil
}

func (s *Store) open(sealed []byte) (Secret, error) {
	plain, err := s.kr.Open(sealed, []byte(sealAAD))
	if err != nil {
		return Secret{}, err
	}
	var sj secretJSON
	if err := json.Unmarshal(plain, &sj); err != nil {
		// The plaintext is never part of the message.
		return Secret{}, errors.New("decode opened secret: not the expected JSON")
	}
	return Secret(sj), nil
}

func kindOf(c config.Credential) string {
	if c.Key != "" {
		return KindKey
	}
	return KindOAuth
}

func optionsOf(c config.Credential) CredOptions {
	return CredOptions{DailyLimit: c.DailyLimit, DailyTokens: c.DailyTokens, DailySpend: c.DailySpend,
		Proxy: c.Proxy, Weight: c.Weight}
}

// secretOf keeps a service-account key as the refresh token: like one, it
// is the long-lived secret access tokens are obtained from (see TokenGrant).
func secretOf(c config.Credential) Secret {
	rt := c.RefreshToken.Value()
	if c.ServiceAccount != "" {
		rt = c.ServiceAccount.Value()
	}
	return Secret{Key: c.Key.Value(), AccessToken: c.AccessToken.Value(), RefreshToken: rt,
		ExpiresAt: c.ExpiresAt.UTC()}
}

// row prepares c for insertion into channel chID.
func (s *Store) row(chID int64, c config.Credential, fromFile bool) (credRow, error) {
	sealed, err := s.seal(secretOf(c))
	if err != nil {
		return credRow{}, err
	}
	opts, err := json.Marshal(optionsOf(c))
	if err != nil {
		return credRow{}, fmt.Errorf("encode options: %w", err)
	}
	return credRow{channelID: chID, fingerprint: s.fingerprint(c), sealed: sealed, kind: kindOf(c),
		email: c.Email, options: string(opts), fromFile: fromFile}, nil
}

var credColumns = []string{"channel_id", "fingerprint", "sealed", "kind", "email", "options", "status",
	"last_error", "managed_by_file", "version", "created_at", "updated_at"}

// insertCred stores r unless its channel already holds its fingerprint.
// It is safe against concurrent inserts of the same credential, on one node
// or several: the unique (channel_id, fingerprint) key decides, and exactly
// one inserter gets added = true.
func (s *Store) insertCred(ctx context.Context, r credRow) (id int64, added bool, err error) {
	d := s.db.Dialect()
	q := d.InsertIgnore("credentials", credColumns, []string{"channel_id", "fingerprint"})
	now := s.now().UTC()
	args := []any{r.channelID, r.fingerprint, r.sealed, r.kind, r.email, r.options, StatusActive, "",
		r.fromFile, 0, now, now}
	if d == store.Postgres {
		// No LastInsertId in PostgreSQL; RETURNING yields no row on conflict.
		err := s.db.Write().QueryRowContext(ctx, q+" RETURNING id", args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, false, nil
		}
		return id, err == nil, err
	}
	res, err := s.db.Write().ExecContext(ctx, q, args...)
	if err != nil {
		return 0, false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return 0, false, err
	}
	id, err = res.LastInsertId()
	return id, err == nil, err
}

// credID returns the id of the credential with fingerprint fp in channel chID.
func (s *Store) credID(ctx context.Context, chID int64, fp string) (int64, error) {
	var id int64
	err := s.db.Write().QueryRowContext(ctx,
		s.db.Dialect().Rebind("SELECT id FROM credentials WHERE channel_id = ? AND fingerprint = ?"), chID, fp).Scan(&id)
	return id, err
}

// ApplyConfig makes the stored channels follow the configuration file. It
// runs at every start, possibly on several nodes at once, so every step is
// an idempotent upsert or a conditional statement, never check-then-insert.
//
//   - Each channel is upserted by name and marked file-managed.
//   - A file-managed channel no longer in the file is disabled, not
//     deleted: credentials imported into it stay.
//   - A credential of the file that is new to its channel is inserted; one
//     already stored gets the file's options and email, never the file's
//     secret, because an OAuth refresh token may have rotated since the
//     file was written.
//   - A file-managed credential that left the file is deleted. Imported
//     credentials are never touched, even when the file lists the same one.
func (s *Store) ApplyConfig(ctx context.Context, channels []config.Channel) error {
	d := s.db.Dialect()
	now := s.now().UTC()
	inFile := map[string]bool{}
	for _, ch := range channels {
		inFile[ch.Name] = true
		cfg := ch
		cfg.Credentials = nil
		blob, err := json.Marshal(cfg)
		if err != nil {
			return fmt.Errorf("encode channel %s: %w", ch.Name, err)
		}
		q := d.Upsert("channels", []string{"name", "type", "config", "managed_by_file", "created_at", "updated_at"},
			[]string{"name"}, []string{"type", "config", "managed_by_file", "updated_at"})
		if _, err := s.db.Write().ExecContext(ctx, q, ch.Name, ch.Type, string(blob), true, now, now); err != nil {
			return fmt.Errorf("store channel %s: %w", ch.Name, err)
		}
		var chID int64
		if err := s.db.Write().QueryRowContext(ctx, d.Rebind("SELECT id FROM channels WHERE name = ?"), ch.Name).Scan(&chID); err != nil {
			return fmt.Errorf("read back channel %s: %w", ch.Name, err)
		}
		if err := s.applyCredentials(ctx, chID, ch); err != nil {
			return fmt.Errorf("store credentials of channel %s: %w", ch.Name, err)
		}
	}
	return s.disableRemoved(ctx, inFile, now)
}

// EnsureChannels stores the channels of the file that the database does not
// have yet, and changes nothing else: no settings replaced, no channel
// disabled, no credential added or deleted. The command line uses it, so
// that running it with another (or no) configuration file cannot undo what
// `serve` applied for the running nodes.
func (s *Store) EnsureChannels(ctx context.Context, channels []config.Channel) error {
	d := s.db.Dialect()
	now := s.now().UTC()
	q := d.InsertIgnore("channels", []string{"name", "type", "config", "managed_by_file", "created_at", "updated_at"}, []string{"name"})
	for _, ch := range channels {
		cfg := ch
		cfg.Credentials = nil
		blob, err := json.Marshal(cfg)
		if err != nil {
			return fmt.Errorf("encode channel %s: %w", ch.Name, err)
		}
		if _, err := s.db.Write().ExecContext(ctx, q, ch.Name, ch.Type, string(blob), true, now, now); err != nil {
			return fmt.Errorf("store channel %s: %w", ch.Name, err)
		}
	}
	return nil
}

func (s *Store) applyCredentials(ctx context.Context, chID int64, ch config.Channel) error {
	d := s.db.Dialect()
	keep := make([]string, 0, len(ch.Credentials))
	for i, c := range ch.Credentials {
		r, err := s.row(chID, c, true)
		if err != nil {
			return fmt.Errorf("credentials[%d]: %w", i, err)
		}
		keep = append(keep, r.fingerprint)
		_, added, err := s.insertCred(ctx, r)
		if err != nil {
			return fmt.Errorf("insert credentials[%d]: %w", i, err)
		}
		if added {
			continue
		}
		_, err = s.db.Write().ExecContext(ctx, d.Rebind(
			"UPDATE credentials SET options = ?, email = ?, updated_at = ? "+
				"WHERE channel_id = ? AND fingerprint = ? AND managed_by_file = ?"),
			r.options, r.email, s.now().UTC(), chID, r.fingerprint, true)
		if err != nil {
			return fmt.Errorf("update credentials[%d]: %w", i, err)
		}
	}
	q := "DELETE FROM credentials WHERE channel_id = ? AND managed_by_file = ?"
	args := []any{chID, true}
	if len(keep) > 0 {
		q += " AND fingerprint NOT IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(keep)), ", ") + ")"
		for _, fp := range keep {
			args = append(args, fp)
		}
	}
	if _, err := s.db.Write().ExecContext(ctx, d.Rebind(q), args...); err != nil {
		return fmt.Errorf("delete credentials removed from the file: %w", err)
	}
	return nil
}

// disableRemoved sets disabled in the stored configuration of file-managed
// channels the file no longer declares.
func (s *Store) disableRemoved(ctx context.Context, inFile map[string]bool, now time.Time) error {
	d := s.db.Dialect()
	rows, err := s.db.Write().QueryContext(ctx, d.Rebind("SELECT id, name, config FROM channels WHERE managed_by_file = ?"), true)
	if err != nil {
		return fmt.Errorf("list file channels: %w", err)
	}
	type gone struct {
		id   int64
		name string
		cfg  config.Channel
	}
	var stale []gone
	for rows.Next() {
		var g gone
		var blob string
		if err := rows.Scan(&g.id, &g.name, &blob); err != nil {
			rows.Close()
			return fmt.Errorf("list file channels: %w", err)
		}
		if inFile[g.name] {
			continue
		}
		if err := json.Unmarshal([]byte(blob), &g.cfg); err != nil {
			rows.Close()
			return fmt.Errorf("decode stored channel %s: %w", g.name, err)
		}
		if !g.cfg.Disabled {
			stale = append(stale, g)
		}
	}
	// Closed before the updates: SQLite's single writer connection is busy
	// until then.
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("list file channels: %w", err)
	}
	for _, g := range stale {
		g.cfg.Disabled = true
		blob, err := json.Marshal(g.cfg)
		if err != nil {
			return fmt.Errorf("encode channel %s: %w", g.name, err)
		}
		if _, err := s.db.Write().ExecContext(ctx, d.Rebind("UPDATE channels SET config = ?, updated_at = ? WHERE id = ?"),
			string(blob), now, g.id); err != nil {
			return fmt.Errorf("disable channel %s: %w", g.name, err)
		}
	}
	return nil
}

// Load returns every channel and every credential with its secret opened,
// each ordered by id.
func (s *Store) Load(ctx context.Context) ([]ChannelRecord, []CredRecord, error) {
	chs, err := s.channels(ctx)
	if err != nil {
		return nil, nil, err
	}
	creds, err := s.credentials(ctx, "", nil)
	if err != nil {
		return nil, nil, err
	}
	return chs, creds, nil
}

func (s *Store) channels(ctx context.Context) ([]ChannelRecord, error) {
	rows, err := s.db.Read().QueryContext(ctx, "SELECT id, name, type, config, managed_by_file FROM channels ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("load channels: %w", err)
	}
	defer rows.Close()
	var out []ChannelRecord
	for rows.Next() {
		var r ChannelRecord
		var name, typ, blob string
		if err := rows.Scan(&r.ID, &name, &typ, &blob, &r.ManagedByFile); err != nil {
			return nil, fmt.Errorf("load channels: %w", err)
		}
		if err := json.Unmarshal([]byte(blob), &r.Config); err != nil {
			return nil, fmt.Errorf("decode stored channel %s: %w", name, err)
		}
		// The columns are authoritative over the JSON copy.
		r.Config.Name, r.Config.Type, r.Config.Credentials = name, typ, nil
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load channels: %w", err)
	}
	return out, nil
}

const credSelect = "SELECT c.id, c.channel_id, ch.name, c.kind, c.email, c.sealed, c.options, c.status, " +
	"c.last_error, c.managed_by_file, c.version FROM credentials c JOIN channels ch ON ch.id = c.channel_id"

// credentials loads the credentials matching where (a condition on c, with
// `?` placeholders), ordered by id.
func (s *Store) credentials(ctx context.Context, where string, args []any) ([]CredRecord, error) {
	if where == "" {
		where = "1 = 1"
	}
	return s.credentialsOrdered(ctx, where+" ORDER BY c.id", args)
}

// credentialsOrdered loads the credentials matching tail, a condition on c
// followed by its ORDER BY (and LIMIT).
func (s *Store) credentialsOrdered(ctx context.Context, tail string, args []any) ([]CredRecord, error) {
	q := credSelect + " WHERE " + tail
	rows, err := s.db.Read().QueryContext(ctx, s.db.Dialect().Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("load credentials: %w", err)
	}
	defer rows.Close()
	var out []CredRecord
	for rows.Next() {
		var r CredRecord
		var sealed []byte
		var opts string
		if err := rows.Scan(&r.ID, &r.ChannelID, &r.Channel, &r.Kind, &r.Email, &sealed, &opts, &r.Status,
			&r.LastError, &r.ManagedByFile, &r.Version); err != nil {
			return nil, fmt.Errorf("load credentials: %w", err)
		}
		if r.Secret, err = s.open(sealed); err != nil {
			return nil, fmt.Errorf("open credential %d of channel %s: %w", r.ID, r.Channel, err)
		}
		if err := json.Unmarshal([]byte(opts), &r.Options); err != nil {
			return nil, fmt.Errorf("decode options of credential %d: %w", r.ID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load credentials: %w", err)
	}
	return out, nil
}

// LoadCredential returns one credential with its secret opened; the error
// wraps ErrCredentialNotFound when there is no such id.
func (s *Store) LoadCredential(ctx context.Context, id int64) (CredRecord, error) {
	recs, err := s.credentials(ctx, "c.id = ?", []any{id})
	if err != nil {
		return CredRecord{}, fmt.Errorf("credential %d: %w", id, err)
	}
	if len(recs) == 0 {
		return CredRecord{}, fmt.Errorf("credential %d: %w", id, ErrCredentialNotFound)
	}
	return recs[0], nil
}

// SetStatus records a credential's durable status and last error. A
// credential deleted meanwhile is not an error.
func (s *Store) SetStatus(ctx context.Context, id int64, status, lastError string) error {
	if len(lastError) > maxLastError {
		lastError = strings.ToValidUTF8(lastError[:maxLastError], "")
	}
	_, err := s.db.Write().ExecContext(ctx,
		s.db.Dialect().Rebind("UPDATE credentials SET status = ?, last_error = ?, updated_at = ? WHERE id = ?"),
		status, lastError, s.now().UTC(), id)
	if err != nil {
		return fmt.Errorf("set status of credential %d: %w", id, err)
	}
	return nil
}

// UpdateSecret replaces a credential's secret if its version is still
// expectVersion, and returns the new version. ok is false, with no error,
// when another writer changed it first (or it was deleted): the caller
// should re-read it rather than overwrite a rotated refresh token.
func (s *Store) UpdateSecret(ctx context.Context, id int64, sec Secret, expectVersion int64) (newVersion int64, ok bool, err error) {
	sealed, err := s.seal(sec)
	if err != nil {
		return 0, false, fmt.Errorf("update secret of credential %d: %w", id, err)
	}
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(
		"UPDATE credentials SET sealed = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?"),
		sealed, s.now().UTC(), id, expectVersion)
	if err != nil {
		return 0, false, fmt.Errorf("update secret of credential %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, false, fmt.Errorf("update secret of credential %d: %w", id, err)
	}
	if n == 0 {
		return 0, false, nil
	}
	return expectVersion + 1, true, nil
}

// ImportResult is what Import did with one entry.
type ImportResult struct {
	Line    int
	Outcome string // ImportAdded, ImportDuplicate or ImportInvalid
	ID      int64  // the stored credential (added or duplicate)
	Reason  string // why the entry is invalid
}

// Import outcomes.
const (
	ImportAdded     = "added"
	ImportDuplicate = "duplicate"
	ImportInvalid   = "invalid"
)

// Import stores entries in the named channel, one result per entry in
// order. A credential the channel already holds (from the file, an earlier
// import, an earlier line, or a concurrent import) is a duplicate and is
// not stored again. Imported credentials are never changed by ApplyConfig.
func (s *Store) Import(ctx context.Context, channel string, entries []ImportEntry) ([]ImportResult, error) {
	chs, err := s.channels(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(chs, func(c ChannelRecord) bool { return c.Config.Name == channel })
	if i < 0 {
		names := make([]string, len(chs))
		for j, c := range chs {
			names[j] = c.Config.Name
		}
		known := "none"
		if len(names) > 0 {
			known = strings.Join(names, ", ")
		}
		return nil, fmt.Errorf("import into channel %q: no such channel (known channels: %s)", channel, known)
	}
	ch := chs[i]
	out := make([]ImportResult, 0, len(entries))
	for _, e := range entries {
		res := ImportResult{Line: e.Line}
		err := e.Err
		if err == nil {
			err = validateCredential(e.Cred)
		}
		if err == nil && e.Cred.RefreshToken != "" && ch.Config.TokenURL == "" {
			err = fmt.Errorf("channel %s has no token_url", channel)
		}
		if err == nil && (ch.Config.Type == "vertex" || ch.Config.Type == "bedrock" || e.Cred.ServiceAccount != "" ||
			e.Cred.AccessKeyID != "" || e.Cred.SecretAccessKey != "" || e.Cred.SessionToken != "") {
			// A vertex channel takes service accounts only, and only it
			// does; a bedrock channel takes AWS access keys only, and only
			// it does. The file's rules say so, by field.
			c := e.Cred
			c.Weight = max(c.Weight, 1)
			err = config.ValidateCredential(ch.Config, c)
		}
		if err != nil {
			res.Outcome, res.Reason = ImportInvalid, err.Error()
			out = append(out, res)
			continue
		}
		c := e.Cred
		c.Weight = max(c.Weight, 1)
		r, err := s.row(ch.ID, c, false)
		if err != nil {
			return out, fmt.Errorf("import line %d: %w", e.Line, err)
		}
		id, added, err := s.insertCred(ctx, r)
		if err != nil {
			return out, fmt.Errorf("import line %d: %w", e.Line, err)
		}
		res.Outcome = ImportAdded
		if !added {
			res.Outcome = ImportDuplicate
			if id, err = s.credID(ctx, ch.ID, r.fingerprint); err != nil {
				return out, fmt.Errorf("import line %d: find the stored duplicate: %w", e.Line, err)
			}
		}
		res.ID = id
		out = append(out, res)
	}
	return out, nil
}
