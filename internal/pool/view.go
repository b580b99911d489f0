package pool

import (
	"math"
	"time"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/sigv4"
)

// CredentialView is one credential as an operator sees it: what is stored
// and, when the scheduler state is available, what the scheduler thinks of
// it now. It never carries a secret; Hint shows a few characters of a long
// one so that an operator can tell keys apart.
type CredentialView struct {
	ID        int64  `json:"id"`
	ChannelID int64  `json:"channel_id"`
	Channel   string `json:"channel"`
	Kind      string `json:"kind"`
	Email     string `json:"email,omitempty"`
	Hint      string `json:"hint"`
	// ManagedBy is "file" for a credential of the configuration file (its
	// settings follow the file) and "api" for an imported one.
	ManagedBy string `json:"managed_by"`
	// The stored settings: the daily limits today's use is held against.
	DailyLimit       int64  `json:"daily_limit"`
	DailyTokens      int64  `json:"daily_tokens"`
	DailySpendMicros int64  `json:"daily_spend_micros"`
	Proxy            string `json:"proxy,omitempty"`
	Weight           int    `json:"weight"`
	// ExpiresAt is when an OAuth access token expires (zero: unknown or a key).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Status is "disabled" (stored or by the scheduler), "cooldown",
	// "circuit_open" or "active", the first that holds.
	Status              string    `json:"status"`
	LastError           string    `json:"last_error,omitempty"`
	LastErrorAt         time.Time `json:"last_error_at,omitzero"`
	DisabledReason      string    `json:"disabled_reason,omitempty"`
	CooldownUntil       time.Time `json:"cooldown_until,omitzero"`
	LastUse             time.Time `json:"last_use,omitzero"`
	UsesToday           int64     `json:"uses_today"`
	TokensToday         int64     `json:"tokens_today"`
	SpendTodayMicros    int64     `json:"spend_today_micros"`
	EWMATTFBMillis      float64   `json:"ewma_ttfb_ms"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	Circuit             string    `json:"circuit"` // closed | open | half_open
	CircuitOpenUntil    time.Time `json:"circuit_open_until,omitzero"`
	Leases              int       `json:"leases"`
}

// BuildViews joins stored credentials with their scheduler state, matched
// by id. snaps may be nil (no shared state to read): the views then show
// the stored status only.
func BuildViews(creds []CredRecord, snaps []Snap, now time.Time) []CredentialView {
	byID := make(map[int64]Snap, len(snaps))
	for _, s := range snaps {
		byID[s.ID] = s
	}
	out := make([]CredentialView, 0, len(creds))
	for _, c := range creds {
		s := byID[c.ID]
		v := CredentialView{
			ID: c.ID, ChannelID: c.ChannelID, Channel: c.Channel, Kind: c.Kind, Email: c.Email, Hint: Hint(c.Secret),
			ManagedBy: managedBy(c.ManagedByFile), DailyLimit: c.Options.DailyLimit, DailyTokens: c.Options.DailyTokens,
			DailySpendMicros: micros(c.Options.DailySpend), Proxy: c.Options.Proxy, Weight: max(c.Options.Weight, 1),
			ExpiresAt: c.Secret.ExpiresAt, LastErrorAt: s.LastErrorAt,
			LastError: c.LastError, DisabledReason: s.DisabledWhy, CooldownUntil: s.CooldownUntil,
			LastUse: s.LastUse, UsesToday: s.UsesToday, TokensToday: s.TokensToday, SpendTodayMicros: s.SpendToday,
			EWMATTFBMillis: float64(s.EWMA) / float64(time.Millisecond), ConsecutiveFailures: s.Failures,
			Circuit: s.Circuit(now), CircuitOpenUntil: s.OpenUntil, Leases: s.Leases,
		}
		v.CooldownUntil, v.LastUse, v.CircuitOpenUntil = utc(v.CooldownUntil), utc(v.LastUse), utc(v.CircuitOpenUntil)
		v.ExpiresAt, v.LastErrorAt = utc(v.ExpiresAt), utc(v.LastErrorAt)
		if s.LastError != "" {
			v.LastError = s.LastError // newer than the stored one, which is written behind
		}
		switch {
		case c.Status == StatusDisabled || s.Disabled:
			v.Status = StatusDisabled
			if v.DisabledReason == "" {
				v.DisabledReason = c.LastError
			}
		case s.CooldownUntil.After(now):
			v.Status = "cooldown"
		case v.Circuit == "open":
			v.Status = "circuit_open"
		default:
			v.Status = StatusActive
		}
		out = append(out, v)
	}
	return out
}

// utc keeps a zero time zero (omitted) and shows any other in UTC.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// managedBy names who owns a record's settings, as the console shows it.
func managedBy(fromFile bool) string {
	if fromFile {
		return "file"
	}
	return "api"
}

// micros converts USD to micro-USD, rounded.
func micros(usd float64) int64 { return int64(math.Round(usd * 1e6)) }

// Hint shows the first 3 and last 4 characters of a secret of at least 16
// characters ("sk-…abcd"), and only "…" for a shorter one, where 7
// characters would give away too much of it.
//
// A bedrock key (ACCESS_KEY_ID:SECRET[:TOKEN]) is hinted by its access key
// id, which AWS shows anyone anyway: the last 4 characters of the packed
// key would be the secret's or the session token's.
func Hint(s Secret) string {
	v := s.Key
	if k, err := sigv4.ParseKey(v); err == nil {
		v = k.AccessKeyID
	}
	if v == "" {
		v = s.AccessToken
	}
	if utf8.RuneCountInString(v) < 16 {
		return "…"
	}
	r := []rune(v)
	return string(r[:3]) + "…" + string(r[len(r)-4:])
}
