package topup

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/store"
)

// Providers configured in the console. A provider is configured either in
// the file (read-only in the console) or here; its settings are one row
// of topup_providers whose secrets are sealed with the node's keyring,
// bound to the provider's name so a sealed value copied to another row
// does not open. Every node rebuilds its providers from the file and these
// rows when the live topic topup changes.

// ProviderKinds are the providers Switchyard knows, by name.
var ProviderKinds = []string{EPayName, ManualName, StripeName}

// ProviderSettings is a provider's configuration as the console keeps it.
type ProviderSettings struct {
	Name    string `json:"name"` // stripe, epay or manual
	Enabled bool   `json:"enabled"`
	// Stripe.
	APIBase string `json:"api_base,omitempty"` // empty = https://api.stripe.com
	// EPay.
	Gateway  string `json:"gateway,omitempty"`
	PID      string `json:"pid,omitempty"`
	Type     string `json:"type,omitempty"`     // alipay, wxpay, …; empty lets the gateway ask
	Currency string `json:"currency,omitempty"` // empty = cny
	// Manual: what the user is told to do (bank details, who to contact).
	Instructions string `json:"instructions,omitempty"`

	Secrets   ProviderSecrets `json:"-"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// ProviderSecrets are the settings that are never shown again once saved.
type ProviderSecrets struct {
	SecretKey      string   `json:"secret_key,omitempty"`      // Stripe API key
	WebhookSecrets []string `json:"webhook_secrets,omitempty"` // Stripe signing secrets, several while one is rolled
	Key            string   `json:"key,omitempty"`             // EPay merchant key
}

// Limits of the console's provider settings.
const (
	maxInstructions   = 2000
	maxWebhookSecrets = 4
)

// Validate checks s, naming the field of the first refused value. A
// disabled provider may be incomplete (saved while it is being set up).
func (s *ProviderSettings) Validate() error {
	s.APIBase = strings.TrimSpace(s.APIBase)
	s.Gateway = strings.TrimSpace(s.Gateway)
	s.PID = strings.TrimSpace(s.PID)
	s.Type = strings.TrimSpace(s.Type)
	s.Currency = strings.ToLower(strings.TrimSpace(s.Currency))
	s.Instructions = strings.TrimSpace(s.Instructions)
	sec := &s.Secrets
	sec.SecretKey, sec.Key = strings.TrimSpace(sec.SecretKey), strings.TrimSpace(sec.Key)
	for i := range sec.WebhookSecrets {
		sec.WebhookSecrets[i] = strings.TrimSpace(sec.WebhookSecrets[i])
	}
	switch s.Name {
	case StripeName:
		if s.APIBase != "" && !httpURL(s.APIBase) {
			return invalid("api_base", "the API base must be an http or https URL")
		}
		if sec.SecretKey != "" && !strings.HasPrefix(sec.SecretKey, "sk_") && !strings.HasPrefix(sec.SecretKey, "rk_") {
			return invalid("secret_key", "a Stripe secret key starts with sk_ (or rk_ for a restricted key)")
		}
		if len(sec.WebhookSecrets) > maxWebhookSecrets {
			return invalid("webhook_secrets", "at most %d signing secrets (two while one is rolled)", maxWebhookSecrets)
		}
		for _, w := range sec.WebhookSecrets {
			if !strings.HasPrefix(w, "whsec_") {
				return invalid("webhook_secrets", "a webhook signing secret starts with whsec_")
			}
		}
		if s.Enabled && sec.SecretKey == "" {
			return invalid("secret_key", "the secret key is required to enable Stripe")
		}
		if s.Enabled && len(sec.WebhookSecrets) == 0 {
			return invalid("webhook_secrets", "a webhook signing secret is required to enable Stripe")
		}
	case EPayName:
		if s.Gateway != "" && !httpURL(s.Gateway) {
			return invalid("gateway", "the gateway must be an http or https URL")
		}
		if len(s.PID) > 64 || strings.ContainsAny(s.PID, "&=?# ") {
			return invalid("pid", "the merchant id is at most 64 characters, without & = ? # or spaces")
		}
		if len(s.Type) > 32 || !token(s.Type) {
			return invalid("type", "the payment type is a word like alipay or wxpay (or empty to let the gateway ask)")
		}
		if s.Currency != "" && !validCurrency(s.Currency) {
			return invalid("currency", "currency %q is not a three-letter ISO 4217 code", s.Currency)
		}
		if s.Enabled {
			switch {
			case s.Gateway == "":
				return invalid("gateway", "the gateway URL is required to enable EPay")
			case s.PID == "":
				return invalid("pid", "the merchant id is required to enable EPay")
			case sec.Key == "":
				return invalid("key", "the merchant key is required to enable EPay")
			}
		}
	case ManualName:
		if len([]rune(s.Instructions)) > maxInstructions {
			return invalid("instructions", "instructions are at most %d characters", maxInstructions)
		}
	default:
		return fmt.Errorf("provider %q: %w", s.Name, ErrNotFound)
	}
	return nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

func token(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Sealer seals and opens secrets at rest (secret.Keyring).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// ProviderStore keeps the providers configured in the console.
type ProviderStore struct {
	db  *store.DB
	kr  Sealer
	now func() time.Time
}

// NewProviderStore returns the store of console-configured providers.
func NewProviderStore(db *store.DB, kr Sealer, now func() time.Time) *ProviderStore {
	if now == nil {
		now = time.Now
	}
	return &ProviderStore{db: db, kr: kr, now: now}
}

func providerAAD(name string) []byte { return []byte("topup-provider:" + name) }

// List returns every configured provider, by name.
func (s *ProviderStore) List(ctx context.Context) ([]ProviderSettings, error) {
	rows, err := s.db.Read().QueryContext(ctx, "SELECT name, enabled, settings, sealed, updated_at FROM topup_providers ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list topup providers: %w", err)
	}
	defer rows.Close()
	var out []ProviderSettings
	for rows.Next() {
		p, err := s.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list topup providers: %w", err)
	}
	return out, nil
}

// Get returns the provider named name; ErrNotFound when the console has
// not configured it.
func (s *ProviderStore) Get(ctx context.Context, name string) (ProviderSettings, error) {
	row := s.db.Read().QueryRowContext(ctx, s.db.Dialect().Rebind(
		"SELECT name, enabled, settings, sealed, updated_at FROM topup_providers WHERE name = ?"), name)
	p, err := s.scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return ProviderSettings{}, fmt.Errorf("provider %q: %w", name, ErrNotFound)
	}
	return p, err
}

type scanner interface{ Scan(dest ...any) error }

func (s *ProviderStore) scan(r scanner) (ProviderSettings, error) {
	var (
		p        ProviderSettings
		settings string
		sealed   []byte
	)
	if err := r.Scan(&p.Name, &p.Enabled, &settings, &sealed, &p.UpdatedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return p, err
		}
		return p, fmt.Errorf("read topup provider: %w", err)
	}
	name, enabled, updated := p.Name, p.Enabled, p.UpdatedAt
	if err := json.Unmarshal([]byte(settings), &p); err != nil {
		return p, fmt.Errorf("read topup provider %s: settings: %w", name, err)
	}
	p.Name, p.Enabled, p.UpdatedAt = name, enabled, updated.UTC()
	if len(sealed) > 0 {
		plain, err := s.kr.Open(sealed, providerAAD(name))
		if err != nil {
			return p, fmt.Errorf("open topup provider %s secrets: %w", name, err)
		}
		if err := json.Unmarshal(plain, &p.Secrets); err != nil {
			// The plaintext is never part of the message.
			return p, fmt.Errorf("open topup provider %s secrets: not the expected JSON", name)
		}
	}
	return p, nil
}

// Save validates p and stores it in place of any earlier settings of the
// provider, its secrets sealed. The caller publishes live.Topup.
func (s *ProviderStore) Save(ctx context.Context, p ProviderSettings) (ProviderSettings, error) {
	if err := p.Validate(); err != nil {
		return ProviderSettings{}, err
	}
	p.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	settings, err := json.Marshal(p)
	if err != nil {
		return ProviderSettings{}, fmt.Errorf("encode provider %s: %w", p.Name, err)
	}
	var sealed []byte
	if p.Secrets.SecretKey != "" || p.Secrets.Key != "" || len(p.Secrets.WebhookSecrets) > 0 {
		plain, err := json.Marshal(p.Secrets)
		if err != nil {
			return ProviderSettings{}, fmt.Errorf("encode provider %s secrets: %w", p.Name, err)
		}
		if sealed, err = s.kr.Seal(plain, providerAAD(p.Name)); err != nil {
			return ProviderSettings{}, fmt.Errorf("seal provider %s secrets: %w", p.Name, err)
		}
	}
	d := s.db.Dialect()
	cols := []string{"name", "enabled", "settings", "sealed", "updated_at"}
	q := d.Upsert("topup_providers", cols, []string{"name"}, cols[1:])
	if _, err := s.db.Write().ExecContext(ctx, q, p.Name, p.Enabled, string(settings), sealed, p.UpdatedAt); err != nil {
		return ProviderSettings{}, fmt.Errorf("save provider %s: %w", p.Name, err)
	}
	return p, nil
}

// Delete forgets the console's settings of the provider named name.
func (s *ProviderStore) Delete(ctx context.Context, name string) error {
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind("DELETE FROM topup_providers WHERE name = ?"), name)
	if err != nil {
		return fmt.Errorf("delete provider %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("provider %q: %w", name, ErrNotFound)
	}
	return nil
}
