package pool

import (
	"time"
	"unicode/utf8"
)

// CredentialView is one credential as an operator sees it: what is stored
// and, when the scheduler state is available, what the scheduler thinks of
// it now. It never carries a secret; Hint shows a few characters of a long
// one so that an operator can tell keys apart.
type CredentialView struct {
	ID      int64  `json:"id"`
	Channel string `json:"channel"`
	Kind    string `json:"kind"`
	Email   string `json:"email,omitempty"`
	Hint    string `json:"hint"`
	// Status is "disabled" (stored or by the scheduler), "cooldown",
	// "circuit_open" or "active", the first that holds.
	Status              string    `json:"status"`
	LastError           string    `json:"last_error,omitempty"`
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
			ID: c.ID, Channel: c.Channel, Kind: c.Kind, Email: c.Email, Hint: Hint(c.Secret),
			LastError: c.LastError, DisabledReason: s.DisabledWhy, CooldownUntil: s.CooldownUntil,
			LastUse: s.LastUse, UsesToday: s.UsesToday, TokensToday: s.TokensToday, SpendTodayMicros: s.SpendToday,
			EWMATTFBMillis: float64(s.EWMA) / float64(time.Millisecond), ConsecutiveFailures: s.Failures,
			Circuit: s.Circuit(now), CircuitOpenUntil: s.OpenUntil, Leases: s.Leases,
		}
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

// Hint shows the first 3 and last 4 characters of a secret of at least 16
// characters ("sk-…abcd"), and only "…" for a shorter one, where 7
// characters would give away too much of it.
func Hint(s Secret) string {
	v := s.Key
	if v == "" {
		v = s.AccessToken
	}
	if utf8.RuneCountInString(v) < 16 {
		return "…"
	}
	r := []rune(v)
	return string(r[:3]) + "…" + string(r[len(r)-4:])
}
