package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/store"
)

// Channels and credentials edited live (the console). What the
// configuration file declares belongs to the file: ApplyConfig rewrites it
// at every start, so an edit made elsewhere would be silently undone. Such
// writes are refused with a ManagedByFileError naming the file field:
//
//   - a file channel (managed_by_file) refuses update, enable/disable and
//     delete; credentials can still be imported into it, and those imported
//     credentials are editable like any other (ApplyConfig never touches an
//     imported credential);
//   - a credential from the file refuses update and delete (its secret and
//     options follow the file), but may be enabled, disabled, refreshed,
//     tested and revealed: those act on its live state, which the file does
//     not declare.
//
// Validation follows the file's rules (config.ValidateChannel and
// config.ValidateCredential), so a channel accepted here would be accepted
// in the file too; the errors are config.Errors whose paths name the field.

// ErrChannelNotFound is returned for a channel id that is not stored.
var ErrChannelNotFound = errors.New("channel not found")

// ManagedByFileError refuses a write to what the configuration file
// declares. Field names it in the file, as channels[name=main].
type ManagedByFileError struct{ Field string }

func (e *ManagedByFileError) Error() string {
	return e.Field + " is managed by the configuration file; edit the file instead"
}

// ConflictError refuses a write that clashes with what is stored (a
// channel name taken, a credential the channel already holds).
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// OperatorDisabled is the reason recorded for a credential an operator
// disabled; the periodic test never re-enables such a credential.
const OperatorDisabled = "disabled by an operator"

func channelField(name string) string { return "channels[name=" + name + "]" }

// invalid builds a one-field validation error.
func invalid(field, msg string) error {
	return config.Errors{{Path: field, Message: msg}}
}

// ChannelPatch is a channel's settings as the console sends them: on
// create every member not sent takes the file's default; on update only
// the members sent change. The names are the file's (channels[]).
type ChannelPatch struct {
	Name        *string            `json:"name,omitempty"`
	Type        *string            `json:"type,omitempty"`
	BaseURL     *string            `json:"base_url,omitempty"`
	APIVersion  *string            `json:"api_version,omitempty"`
	TokenURL    *string            `json:"token_url,omitempty"`
	Models      *[]string          `json:"models,omitempty"`
	ModelMap    *map[string]string `json:"model_map,omitempty"`
	Groups      *[]string          `json:"groups,omitempty"`
	Priority    *int               `json:"priority,omitempty"`
	Weight      *int               `json:"weight,omitempty"`
	Proxy       *string            `json:"proxy,omitempty"`
	Strategy    *string            `json:"strategy,omitempty"`
	MaxImages   *int               `json:"max_images,omitempty"`
	TestModel   *string            `json:"test_model,omitempty"`
	HostedTools *string            `json:"hosted_tools,omitempty"`
	Region      *string            `json:"region,omitempty"`   // bedrock
	Project     *string            `json:"project,omitempty"`  // vertex
	Location    *string            `json:"location,omitempty"` // vertex
	Flavor      *string            `json:"flavor,omitempty"`   // openai
	Quirks      *[]string          `json:"quirks,omitempty"`   // openai
}

func (p ChannelPatch) apply(ch *config.Channel) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&ch.Name, p.Name)
	set(&ch.Type, p.Type)
	set(&ch.BaseURL, p.BaseURL)
	set(&ch.APIVersion, p.APIVersion)
	set(&ch.TokenURL, p.TokenURL)
	set(&ch.Proxy, p.Proxy)
	set(&ch.Strategy, p.Strategy)
	set(&ch.TestModel, p.TestModel)
	set(&ch.HostedTools, p.HostedTools)
	set(&ch.Region, p.Region)
	set(&ch.Project, p.Project)
	set(&ch.Location, p.Location)
	set(&ch.Flavor, p.Flavor)
	if p.Quirks != nil {
		ch.Quirks = *p.Quirks
	}
	if p.Models != nil {
		ch.Models = *p.Models
	}
	if p.ModelMap != nil {
		ch.ModelMap = *p.ModelMap
	}
	if p.Groups != nil {
		ch.Groups = *p.Groups
	}
	for _, f := range []struct {
		dst *int
		v   *int
	}{{&ch.Priority, p.Priority}, {&ch.Weight, p.Weight}, {&ch.MaxImages, p.MaxImages}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
}

// ChannelByID returns one stored channel.
func (s *Store) ChannelByID(ctx context.Context, id int64) (ChannelRecord, error) {
	chs, err := s.channelsWhere(ctx, "id = ?", []any{id}, 0)
	if err != nil {
		return ChannelRecord{}, err
	}
	if len(chs) == 0 {
		return ChannelRecord{}, fmt.Errorf("channel %d: %w", id, ErrChannelNotFound)
	}
	return chs[0], nil
}

// ChannelPage returns up to limit channels, newest first, with an id
// below before (0: from the newest).
func (s *Store) ChannelPage(ctx context.Context, before int64, limit int) ([]ChannelRecord, error) {
	if before <= 0 {
		return s.channelsWhere(ctx, "", nil, limit)
	}
	return s.channelsWhere(ctx, "id < ?", []any{before}, limit)
}

// channelsWhere loads channels matching where, newest first, at most
// limit of them (0: all).
func (s *Store) channelsWhere(ctx context.Context, where string, args []any, limit int) ([]ChannelRecord, error) {
	q := "SELECT id, name, type, config, managed_by_file FROM channels"
	if where != "" {
		q += " WHERE " + where
	}
	q += " ORDER BY id DESC"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.db.Read().QueryContext(ctx, s.db.Dialect().Rebind(q), args...)
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
		r.Config.Name, r.Config.Type, r.Config.Credentials = name, typ, nil
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load channels: %w", err)
	}
	return out, nil
}

// CreateChannel stores a new channel made from p with the file's defaults
// (weight 1, the default group, azure's default api_version, the endpoint
// of a bedrock region or a vertex location), validated against the
// declared groups.
func (s *Store) CreateChannel(ctx context.Context, p ChannelPatch, groups []string) (ChannelRecord, error) {
	ch := config.Channel{Weight: 1}
	p.apply(&ch)
	if len(ch.Groups) == 0 {
		ch.Groups = []string{config.DefaultGroup}
	}
	ch.FillDefaults()
	if err := config.ValidateChannel(ch, groups); err != nil {
		return ChannelRecord{}, err
	}
	blob, err := json.Marshal(ch)
	if err != nil {
		return ChannelRecord{}, fmt.Errorf("encode channel %s: %w", ch.Name, err)
	}
	now := s.now().UTC()
	d := s.db.Dialect()
	id, err := d.InsertID(ctx, s.db.Write(), d.Rebind(
		"INSERT INTO channels (name, type, config, managed_by_file, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"),
		ch.Name, ch.Type, string(blob), false, now, now)
	if store.IsUniqueViolation(err) {
		return ChannelRecord{}, &ConflictError{Msg: fmt.Sprintf("a channel named %q already exists", ch.Name)}
	}
	if err != nil {
		return ChannelRecord{}, fmt.Errorf("create channel %s: %w", ch.Name, err)
	}
	if err := s.keylessCredential(ctx, id, ch); err != nil {
		return ChannelRecord{}, fmt.Errorf("create channel %s: %w", ch.Name, err)
	}
	return ChannelRecord{ID: id, Config: ch}, nil
}

// keylessCredential gives a channel of a keyless server its credential
// without a key, as the file does: the pool leases credentials. Its
// fingerprint is the same every time, so a second call stores nothing.
func (s *Store) keylessCredential(ctx context.Context, chID int64, ch config.Channel) error {
	if !ch.HasQuirk(config.QuirkKeyless) {
		return nil
	}
	r, err := s.row(chID, config.Credential{Weight: 1}, false)
	if err == nil {
		_, _, err = s.insertCred(ctx, r)
	}
	if err != nil {
		return fmt.Errorf("its keyless credential: %w", err)
	}
	return nil
}

// editable loads channel id for a write, refusing a file channel.
func (s *Store) editable(ctx context.Context, id int64) (ChannelRecord, error) {
	rec, err := s.ChannelByID(ctx, id)
	if err != nil {
		return rec, err
	}
	if rec.ManagedByFile {
		return rec, &ManagedByFileError{Field: channelField(rec.Config.Name)}
	}
	return rec, nil
}

// UpdateChannel changes the members p sends of an API channel.
func (s *Store) UpdateChannel(ctx context.Context, id int64, p ChannelPatch, groups []string) (before, after ChannelRecord, err error) {
	before, err = s.editable(ctx, id)
	if err != nil {
		return before, before, err
	}
	after = before
	after.Config.Models = append([]string(nil), before.Config.Models...)
	p.apply(&after.Config)
	followEndpoint(before.Config, &after.Config, p.BaseURL != nil)
	if err := config.ValidateChannel(after.Config, groups); err != nil {
		return before, before, err
	}
	if err := s.writeChannel(ctx, after); err != nil {
		return before, before, err
	}
	if err := s.keylessCredential(ctx, id, after.Config); err != nil {
		return before, after, fmt.Errorf("update channel %s: %w", after.Config.Name, err)
	}
	return before, after, nil
}

// followEndpoint keeps a bedrock or vertex channel's base_url on the
// endpoint of its region or location when an update moves it there and
// the base_url was the default one (not a private endpoint) and is not
// being set by the same update; a base_url sent empty means the default.
func followEndpoint(before config.Channel, after *config.Channel, baseURLSent bool) {
	if !baseURLSent && before.Type == after.Type {
		switch {
		case after.Type == "bedrock" && before.BaseURL == config.BedrockURL(before.Region):
			after.BaseURL = ""
		case after.Type == "vertex" && before.BaseURL == config.VertexBaseURL(before.Location):
			after.BaseURL = ""
		}
	}
	after.FillDefaults()
}

// SetChannelDisabled takes an API channel out of routing, or returns it.
func (s *Store) SetChannelDisabled(ctx context.Context, id int64, disabled bool) (ChannelRecord, error) {
	rec, err := s.editable(ctx, id)
	if err != nil {
		return rec, err
	}
	rec.Config.Disabled = disabled
	return rec, s.writeChannel(ctx, rec)
}

// writeChannel stores rec's settings unless the file took the channel over
// meanwhile (a start with a file that declares its name).
func (s *Store) writeChannel(ctx context.Context, rec ChannelRecord) error {
	cfg := rec.Config
	cfg.Credentials = nil
	blob, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode channel %s: %w", cfg.Name, err)
	}
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(
		"UPDATE channels SET name = ?, type = ?, config = ?, updated_at = ? WHERE id = ? AND managed_by_file = ?"),
		cfg.Name, cfg.Type, string(blob), s.now().UTC(), rec.ID, false)
	if store.IsUniqueViolation(err) {
		return &ConflictError{Msg: fmt.Sprintf("a channel named %q already exists", cfg.Name)}
	}
	if err != nil {
		return fmt.Errorf("update channel %d: %w", rec.ID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		_, err := s.editable(ctx, rec.ID)
		return errors.Join(err, fmt.Errorf("update channel %d: changed meanwhile", rec.ID))
	}
	return nil
}

// DeleteChannel deletes an API channel and every credential in it.
func (s *Store) DeleteChannel(ctx context.Context, id int64) (ChannelRecord, error) {
	rec, err := s.editable(ctx, id)
	if err != nil {
		return rec, err
	}
	d := s.db.Dialect()
	tx, err := s.db.Write().BeginTx(ctx, nil)
	if err != nil {
		return rec, fmt.Errorf("delete channel %d: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, d.Rebind("DELETE FROM channels WHERE id = ? AND managed_by_file = ?"), id, false)
	if err != nil {
		return rec, fmt.Errorf("delete channel %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return rec, fmt.Errorf("channel %d: %w", id, ErrChannelNotFound)
	}
	// Not left to ON DELETE CASCADE: SQLite enforces it only with the
	// foreign_keys pragma.
	if _, err := tx.ExecContext(ctx, d.Rebind("DELETE FROM credentials WHERE channel_id = ?"), id); err != nil {
		return rec, fmt.Errorf("delete credentials of channel %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return rec, fmt.Errorf("delete channel %d: commit: %w", id, err)
	}
	return rec, nil
}

// CredentialsOf returns up to limit credentials of channel chID, newest
// first, with an id below before (0: from the newest). The channel must
// exist.
func (s *Store) CredentialsOf(ctx context.Context, chID, before int64, limit int) ([]CredRecord, error) {
	if _, err := s.ChannelByID(ctx, chID); err != nil {
		return nil, err
	}
	where, args := "c.channel_id = ?", []any{chID}
	if before > 0 {
		where, args = where+" AND c.id < ?", append(args, before)
	}
	return s.credentialsPage(ctx, where, args, limit)
}

// credentialsPage is credentials newest first, at most limit (0: all).
func (s *Store) credentialsPage(ctx context.Context, where string, args []any, limit int) ([]CredRecord, error) {
	q := where + " ORDER BY c.id DESC"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	// credentials appends its own ORDER BY; this one is placed in the
	// condition instead, so the order is by id descending.
	return s.credentialsOrdered(ctx, q, args)
}

// NewCredential is a credential added through the console: the file's
// credential fields.
type NewCredential struct {
	Key          *string `json:"key,omitempty"`
	AccessToken  *string `json:"access_token,omitempty"`
	RefreshToken *string `json:"refresh_token,omitempty"`
	ExpiresAt    *string `json:"expires_at,omitempty"` // RFC 3339
	// AccessKeyID, SecretAccessKey and SessionToken are a bedrock
	// channel's AWS access key; they are packed into key as the file's are.
	AccessKeyID     *string `json:"access_key_id,omitempty"`
	SecretAccessKey *string `json:"secret_access_key,omitempty"`
	SessionToken    *string `json:"session_token,omitempty"`
	// ServiceAccount is a vertex channel's service-account key file (its
	// JSON, as a string).
	ServiceAccount *string `json:"service_account,omitempty"`
	CredentialPatch
}

// CredentialPatch is a credential's settings; only the members sent
// change.
type CredentialPatch struct {
	Email       *string  `json:"email,omitempty"`
	DailyLimit  *int64   `json:"daily_limit,omitempty"`
	DailyTokens *int64   `json:"daily_tokens,omitempty"`
	DailySpend  *float64 `json:"daily_spend,omitempty"` // USD
	Proxy       *string  `json:"proxy,omitempty"`
	Weight      *int     `json:"weight,omitempty"`
}

func (p CredentialPatch) apply(c *config.Credential) {
	if p.Email != nil {
		c.Email = strings.TrimSpace(*p.Email)
	}
	if p.DailyLimit != nil {
		c.DailyLimit = *p.DailyLimit
	}
	if p.DailyTokens != nil {
		c.DailyTokens = *p.DailyTokens
	}
	if p.DailySpend != nil {
		c.DailySpend = *p.DailySpend
	}
	if p.Proxy != nil {
		c.Proxy = strings.TrimSpace(*p.Proxy)
	}
	if p.Weight != nil {
		c.Weight = *p.Weight
	}
}

// checkCredential applies the file's rules, then the import's (lengths,
// stray whitespace), both naming the field.
func checkCredential(ch config.Channel, c config.Credential) error {
	if err := config.ValidateCredential(ch, c); err != nil {
		return err
	}
	if err := validateCredential(c); err != nil {
		field := ""
		var fe *fieldError
		if errors.As(err, &fe) {
			field = fe.field
		}
		return invalid(field, err.Error())
	}
	return nil
}

// AddCredential stores one credential in channel chID, file channels
// included (it is then an imported credential, editable here).
func (s *Store) AddCredential(ctx context.Context, chID int64, n NewCredential) (CredRecord, error) {
	ch, err := s.ChannelByID(ctx, chID)
	if err != nil {
		return CredRecord{}, err
	}
	c := config.Credential{Weight: 1}
	for _, f := range []struct {
		dst *config.Secret
		v   *string
	}{{&c.Key, n.Key}, {&c.AccessToken, n.AccessToken}, {&c.RefreshToken, n.RefreshToken}} {
		if f.v != nil {
			*f.dst = config.Secret(*f.v)
		}
	}
	// Copied from the AWS console or a key file: a line break at the end
	// is the paste's, not the secret's.
	for _, f := range []struct {
		dst *config.Secret
		v   *string
	}{{&c.AccessKeyID, n.AccessKeyID}, {&c.SecretAccessKey, n.SecretAccessKey}, {&c.SessionToken, n.SessionToken},
		{&c.ServiceAccount, n.ServiceAccount}} {
		if f.v != nil {
			*f.dst = config.Secret(strings.TrimSpace(*f.v))
		}
	}
	if c.ServiceAccount != "" {
		sa, err := compactServiceAccount(c.ServiceAccount.Value())
		if err != nil {
			return CredRecord{}, err
		}
		c.ServiceAccount = config.Secret(sa)
	}
	if ch.Config.Type == "bedrock" {
		c.PackAWSKey()
	}
	if n.ExpiresAt != nil && *n.ExpiresAt != "" {
		t, err := parseTime(*n.ExpiresAt)
		if err != nil {
			return CredRecord{}, invalid("expires_at", "want an RFC 3339 time such as 2030-01-02T15:04:05Z")
		}
		c.ExpiresAt = t
	}
	n.CredentialPatch.apply(&c)
	if err := checkCredential(ch.Config, c); err != nil {
		return CredRecord{}, err
	}
	r, err := s.row(chID, c, false)
	if err != nil {
		return CredRecord{}, err
	}
	id, added, err := s.insertCred(ctx, r)
	if err != nil {
		return CredRecord{}, fmt.Errorf("add credential to channel %s: %w", ch.Config.Name, err)
	}
	if !added {
		id, err := s.credID(ctx, chID, r.fingerprint)
		if err != nil {
			return CredRecord{}, fmt.Errorf("find the stored duplicate: %w", err)
		}
		return CredRecord{}, &ConflictError{Msg: fmt.Sprintf("channel %s already holds this credential (id %d)", ch.Config.Name, id)}
	}
	return s.LoadCredential(ctx, id)
}

// ImportInto is Import by channel id.
func (s *Store) ImportInto(ctx context.Context, chID int64, entries []ImportEntry) ([]ImportResult, error) {
	ch, err := s.ChannelByID(ctx, chID)
	if err != nil {
		return nil, err
	}
	return s.Import(ctx, ch.Config.Name, entries)
}

// UpdateCredential changes the settings p sends of an imported credential.
func (s *Store) UpdateCredential(ctx context.Context, id int64, p CredentialPatch) (before, after CredRecord, err error) {
	before, ch, err := s.editableCred(ctx, id)
	if err != nil {
		return before, before, err
	}
	c := config.Credential{
		Key: config.Secret(before.Secret.Key), AccessToken: config.Secret(before.Secret.AccessToken),
		RefreshToken: config.Secret(before.Secret.RefreshToken), ExpiresAt: before.Secret.ExpiresAt,
		Email: before.Email, DailyLimit: before.Options.DailyLimit, DailyTokens: before.Options.DailyTokens,
		DailySpend: before.Options.DailySpend, Proxy: before.Options.Proxy, Weight: max(before.Options.Weight, 1),
	}
	if ch.Config.Type == "vertex" {
		// Stored as the refresh token (secretOf); the access token is the
		// pool's, obtained from it.
		c.ServiceAccount, c.AccessToken, c.RefreshToken = c.RefreshToken, "", ""
	}
	p.apply(&c)
	if err := checkCredential(ch.Config, c); err != nil {
		return before, before, err
	}
	opts, err := json.Marshal(optionsOf(c))
	if err != nil {
		return before, before, fmt.Errorf("encode options: %w", err)
	}
	_, err = s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(
		"UPDATE credentials SET options = ?, email = ?, updated_at = ? WHERE id = ? AND managed_by_file = ?"),
		string(opts), c.Email, s.now().UTC(), id, false)
	if err != nil {
		return before, before, fmt.Errorf("update credential %d: %w", id, err)
	}
	after, err = s.LoadCredential(ctx, id)
	return before, after, err
}

// DeleteCredential deletes an imported credential.
func (s *Store) DeleteCredential(ctx context.Context, id int64) (CredRecord, error) {
	rec, _, err := s.editableCred(ctx, id)
	if err != nil {
		return rec, err
	}
	_, err = s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(
		"DELETE FROM credentials WHERE id = ? AND managed_by_file = ?"), id, false)
	if err != nil {
		return rec, fmt.Errorf("delete credential %d: %w", id, err)
	}
	return rec, nil
}

// editableCred loads credential id for a write, refusing one of the file.
func (s *Store) editableCred(ctx context.Context, id int64) (CredRecord, ChannelRecord, error) {
	rec, err := s.LoadCredential(ctx, id)
	if err != nil {
		return rec, ChannelRecord{}, err
	}
	ch, err := s.ChannelByID(ctx, rec.ChannelID)
	if err != nil {
		return rec, ch, err
	}
	if rec.ManagedByFile {
		return rec, ch, &ManagedByFileError{Field: channelField(rec.Channel) + ".credentials"}
	}
	return rec, ch, nil
}

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) }
