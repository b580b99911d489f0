package pool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/relay"
)

// What an operator does to the live pool (the console): disable, enable,
// refresh, test, and the scheduler's view of one channel's credentials.

// ErrNotOAuth refuses an OAuth refresh of an API key credential.
var ErrNotOAuth = errors.New("not an OAuth credential with a refresh token")

// Disable takes a credential out of rotation, durably, until Enable. The
// periodic test leaves it alone (OperatorDisabled).
func (p *Pool) Disable(ctx context.Context, id int64) error {
	if _, err := p.store.LoadCredential(ctx, id); err != nil {
		return err
	}
	if err := p.state.Disable(ctx, id, OperatorDisabled, p.now()); err != nil {
		return err
	}
	return p.store.SetStatus(ctx, id, StatusDisabled, OperatorDisabled)
}

// EnableCredential is Enable for a stored credential; the error wraps
// ErrCredentialNotFound for an unknown id.
func (p *Pool) EnableCredential(ctx context.Context, id int64) error {
	if _, err := p.store.LoadCredential(ctx, id); err != nil {
		return err
	}
	return p.Enable(ctx, id)
}

// RefreshNow refreshes an OAuth credential's access token at once and
// returns its new expiry. The credential's channel must be enabled (a
// disabled channel's credentials are not loaded).
func (p *Pool) RefreshNow(ctx context.Context, id int64) (time.Time, error) {
	rec, err := p.store.LoadCredential(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	if rec.Kind != KindOAuth || rec.Secret.RefreshToken == "" {
		return time.Time{}, ErrNotOAuth
	}
	c := p.rt.Load().creds[id]
	if c == nil {
		return time.Time{}, &ConflictError{Msg: fmt.Sprintf("credential %d: its channel %s is disabled; enable it first", id, rec.Channel)}
	}
	if err := p.refreshToken(ctx, c, refreshForced); err != nil {
		return time.Time{}, err
	}
	return c.secret.Load().ExpiresAt, nil
}

// TestResult is what one test call to an upstream answered.
type TestResult struct {
	ChannelID    int64  `json:"channel_id"`
	CredentialID int64  `json:"credential_id"`
	Model        string `json:"model"`
	OK           bool   `json:"ok"`
	// LatencyMillis is the time to the upstream's full answer.
	LatencyMillis int64 `json:"latency_ms"`
	// Status is the upstream's HTTP status, 0 when none came (a connection
	// error, a timeout) or on success.
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// TestTimeout bounds one test call.
var TestTimeout = 30 * time.Second

// Test sends one real request for model (the channel's probe model when
// empty) through channel chID with credential credID (0: its first
// enabled credential, else its first), the periodic test's request, and
// reports how the upstream answered. It changes no state: a disabled
// channel or credential can be tested before it is enabled. The error is
// for what prevents the call (unknown channel or credential, a model the
// channel does not serve); an upstream failure is in the result.
func (p *Pool) Test(ctx context.Context, chID, credID int64, model string) (TestResult, error) {
	if p.probe == nil {
		return TestResult{}, errNoProber
	}
	ch, err := p.store.ChannelByID(ctx, chID)
	if err != nil {
		return TestResult{}, err
	}
	if model == "" {
		model = ch.Config.ProbeModel()
	} else if !serves(ch.Config, model) {
		return TestResult{}, invalid("model", fmt.Sprintf("channel %s does not serve %q", ch.Config.Name, model))
	}
	creds, err := p.store.credentials(ctx, "c.channel_id = ?", []any{chID})
	if err != nil {
		return TestResult{}, err
	}
	var rec *CredRecord
	switch {
	case credID != 0:
		i := slices.IndexFunc(creds, func(c CredRecord) bool { return c.ID == credID })
		if i < 0 {
			return TestResult{}, invalid("credential_id", fmt.Sprintf("channel %s has no credential %d", ch.Config.Name, credID))
		}
		rec = &creds[i]
	case len(creds) == 0:
		return TestResult{}, invalid("credential_id", fmt.Sprintf("channel %s has no credentials to test with", ch.Config.Name))
	default:
		rec = &creds[0]
		if i := slices.IndexFunc(creds, func(c CredRecord) bool { return c.Status == StatusActive }); i >= 0 {
			rec = &creds[i]
		}
	}
	token := rec.Secret.Key
	if token == "" {
		token = rec.Secret.AccessToken
	}
	// The live secret may be newer than the stored one (a refresh not yet
	// read back).
	var refreshErr error
	if c := p.rt.Load().creds[rec.ID]; c != nil && c.version.Load() >= rec.Version {
		// A credential just added with only its long-lived secret (a
		// refresh token, a service-account key) has no access token yet:
		// the test obtains one, as the first request would.
		if c.kind == KindOAuth && p.expiring(c, p.now(), RefreshAhead) {
			refreshErr = p.refreshToken(ctx, c, refreshAhead)
		}
		token = c.token()
	}
	proxy := ch.Config.Proxy
	if rec.Options.Proxy != "" {
		proxy = rec.Options.Proxy
	}
	client, err := p.clients(proxy)
	if err != nil {
		return TestResult{}, fmt.Errorf("test channel %s: %w", ch.Config.Name, err)
	}
	cfg := ch.Config
	res := TestResult{ChannelID: chID, CredentialID: rec.ID, Model: model}
	if refreshErr != nil {
		res.Error = "obtain an access token: " + refreshErr.Error()
		return res, nil
	}
	tctx, cancel := context.WithTimeout(ctx, TestTimeout)
	defer cancel()
	start := time.Now() // real time: this measures the upstream
	err = p.probe(tctx, relay.NewTarget(&cfg, rec.ID, token, client), model)
	res.LatencyMillis = time.Since(start).Milliseconds()
	if err == nil {
		res.OK = true
		return res, nil
	}
	res.Error = err.Error()
	var pe *relay.ProbeError
	if errors.As(err, &pe) {
		res.Status = pe.Status
	}
	return res, nil
}

// serves reports whether ch serves model by name, pattern or model_map.
func serves(ch config.Channel, model string) bool {
	if _, ok := ch.ModelMap[model]; ok {
		return true
	}
	for _, m := range ch.Models {
		if m == model || (config.IsModelPattern(m) && config.MatchModel(m, model)) {
			return true
		}
	}
	return false
}

// ViewsOf is the scheduler's view of up to limit credentials of channel
// chID, newest first, with an id below before (0: from the newest).
func (p *Pool) ViewsOf(ctx context.Context, chID, before int64, limit int) ([]CredentialView, error) {
	recs, err := p.store.CredentialsOf(ctx, chID, before, limit)
	if err != nil {
		return nil, err
	}
	return p.views(ctx, recs)
}

// View is the scheduler's view of one credential.
func (p *Pool) View(ctx context.Context, id int64) (CredentialView, error) {
	rec, err := p.store.LoadCredential(ctx, id)
	if err != nil {
		return CredentialView{}, err
	}
	v, err := p.views(ctx, []CredRecord{rec})
	if err != nil {
		return CredentialView{}, err
	}
	return v[0], nil
}

func (p *Pool) views(ctx context.Context, recs []CredRecord) ([]CredentialView, error) {
	ids := make([]int64, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	now := p.now()
	snaps, err := p.state.Snapshot(ctx, ids, now)
	if err != nil {
		return nil, err
	}
	return BuildViews(recs, snaps, now), nil
}

// Store returns the store the pool loads from, for the console's writes.
func (p *Pool) Store() *Store { return p.store }
