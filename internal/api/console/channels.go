package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/pool"
	"github.com/switchyard/switchyard/internal/sigv4"
)

// ChannelStore is what the channel routes need of pool.Store.
type ChannelStore interface {
	ChannelPage(ctx context.Context, before int64, limit int) ([]pool.ChannelRecord, error)
	ChannelByID(ctx context.Context, id int64) (pool.ChannelRecord, error)
	CreateChannel(ctx context.Context, p pool.ChannelPatch, groups []string) (pool.ChannelRecord, error)
	UpdateChannel(ctx context.Context, id int64, p pool.ChannelPatch, groups []string) (before, after pool.ChannelRecord, err error)
	SetChannelDisabled(ctx context.Context, id int64, disabled bool) (pool.ChannelRecord, error)
	DeleteChannel(ctx context.Context, id int64) (pool.ChannelRecord, error)
	AddCredential(ctx context.Context, chID int64, n pool.NewCredential) (pool.CredRecord, error)
	ImportInto(ctx context.Context, chID int64, entries []pool.ImportEntry) ([]pool.ImportResult, error)
	UpdateCredential(ctx context.Context, id int64, p pool.CredentialPatch) (before, after pool.CredRecord, err error)
	DeleteCredential(ctx context.Context, id int64) (pool.CredRecord, error)
	LoadCredential(ctx context.Context, id int64) (pool.CredRecord, error)
}

// CredentialPool is what the credential routes need of the live pool
// (*pool.Pool): its scheduler state, and the node's reload after a write.
type CredentialPool interface {
	ViewsOf(ctx context.Context, chID, before int64, limit int) ([]pool.CredentialView, error)
	View(ctx context.Context, id int64) (pool.CredentialView, error)
	Disable(ctx context.Context, id int64) error
	EnableCredential(ctx context.Context, id int64) error
	RefreshNow(ctx context.Context, id int64) (time.Time, error)
	Test(ctx context.Context, chID, credID int64, model string) (pool.TestResult, error)
	Reload(ctx context.Context) error
}

// ChannelsDeps wires the channel and credential routes.
type ChannelsDeps struct {
	Store ChannelStore
	Pool  CredentialPool
	// Groups lists the declared group names a channel may serve.
	Groups func(ctx context.Context) ([]string, error)
	// OnChange runs after every successful write, once this node has
	// reloaded its pool: the hook that tells the other nodes (the change
	// bus's Publish of the channels topic). nil: only this node reloads at
	// once; the others within pool.ReloadInterval. Its error is logged:
	// the write is done.
	OnChange func(ctx context.Context) error
	Logger   *slog.Logger
}

// MountChannels adds the routes of channels and their credentials.
func MountChannels(a *API, d ChannelsDeps) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	h := &channelRoutes{d: d}
	const ch, cr = "/api/v1/admin/channels", "/api/v1/admin/credentials"
	a.Add(
		Route{Method: "GET", Path: ch, Access: Admin, Handle: h.list},
		Route{Method: "POST", Path: ch, Access: Admin, Handle: h.create},
		Route{Method: "GET", Path: ch + "/{id}", Access: Admin, Handle: h.get},
		Route{Method: "PATCH", Path: ch + "/{id}", Access: Admin, Handle: h.update},
		Route{Method: "DELETE", Path: ch + "/{id}", Access: Admin, StepUp: true, Handle: h.delete},
		Route{Method: "POST", Path: ch + "/{id}/enable", Access: Admin, Handle: h.enable(false)},
		Route{Method: "POST", Path: ch + "/{id}/disable", Access: Admin, Handle: h.enable(true)},
		Route{Method: "POST", Path: ch + "/{id}/test", Access: Admin, Handle: h.test},
		Route{Method: "GET", Path: ch + "/{id}/credentials", Access: Admin, Handle: h.credentials},
		Route{Method: "POST", Path: ch + "/{id}/credentials", Access: Admin, Handle: h.addCredential},
		Route{Method: "POST", Path: ch + "/{id}/credentials/import", Access: Admin, Handle: h.importCredentials},
		Route{Method: "GET", Path: cr + "/{id}", Access: Admin, Handle: h.credential},
		Route{Method: "PATCH", Path: cr + "/{id}", Access: Admin, Handle: h.updateCredential},
		Route{Method: "DELETE", Path: cr + "/{id}", Access: Admin, Handle: h.deleteCredential},
		Route{Method: "POST", Path: cr + "/{id}/enable", Access: Admin, Handle: h.enableCredential(true)},
		Route{Method: "POST", Path: cr + "/{id}/disable", Access: Admin, Handle: h.enableCredential(false)},
		Route{Method: "POST", Path: cr + "/{id}/refresh", Access: Admin, Handle: h.refresh},
		Route{Method: "POST", Path: cr + "/{id}/test", Access: Admin, Handle: h.testCredential},
		Route{Method: "POST", Path: cr + "/{id}/reveal", Access: Admin, StepUp: true, Handle: h.reveal},
	)
}

type channelRoutes struct{ d ChannelsDeps }

// channelJSON is a channel as the console shows it: the file's members.
type channelJSON struct {
	ID          int64             `json:"id"`
	Name        string            `json:"name"`
	Type        string            `json:"type"`
	BaseURL     string            `json:"base_url"`
	APIVersion  string            `json:"api_version,omitempty"`
	TokenURL    string            `json:"token_url,omitempty"`
	Models      []string          `json:"models"`
	ModelMap    map[string]string `json:"model_map"`
	Groups      []string          `json:"groups"`
	Priority    int               `json:"priority"`
	Weight      int               `json:"weight"`
	Proxy       string            `json:"proxy,omitempty"`
	Strategy    string            `json:"strategy,omitempty"`
	MaxImages   int               `json:"max_images"`
	TestModel   string            `json:"test_model,omitempty"`
	HostedTools string            `json:"hosted_tools,omitempty"`
	Region      string            `json:"region,omitempty"`
	Project     string            `json:"project,omitempty"`
	Location    string            `json:"location,omitempty"`
	Flavor      string            `json:"flavor,omitempty"`
	Quirks      []string          `json:"quirks,omitempty"`
	Disabled    bool              `json:"disabled"`
	ManagedBy   string            `json:"managed_by"`
}

func channelOut(r pool.ChannelRecord) channelJSON {
	c := r.Config
	out := channelJSON{ID: r.ID, Name: c.Name, Type: c.Type, BaseURL: c.BaseURL, APIVersion: c.APIVersion,
		TokenURL: c.TokenURL, Models: c.Models, ModelMap: c.ModelMap, Groups: c.Groups, Priority: c.Priority,
		Weight: c.Weight, Proxy: c.Proxy, Strategy: c.Strategy, MaxImages: c.MaxImages, TestModel: c.TestModel,
		HostedTools: c.HostedTools, Region: c.Region, Project: c.Project, Location: c.Location, Flavor: c.Flavor,
		Quirks: c.Quirks, Disabled: c.Disabled, ManagedBy: "api"}
	if r.ManagedByFile {
		out.ManagedBy = "file"
	}
	if out.Models == nil {
		out.Models = []string{}
	}
	if out.ModelMap == nil {
		out.ModelMap = map[string]string{}
	}
	if out.Groups == nil {
		out.Groups = []string{}
	}
	return out
}

// domainError translates the pool's errors to the console's.
func domainError(err error) error {
	var (
		mf  *pool.ManagedByFileError
		cf  *pool.ConflictError
		fes config.Errors
	)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pool.ErrChannelNotFound):
		return NotFound("channel")
	case errors.Is(err, pool.ErrCredentialNotFound):
		return NotFound("credential")
	case errors.As(err, &mf):
		return ManagedByFile(mf.Field)
	case errors.As(err, &cf):
		return Conflict(cf.Msg)
	case errors.Is(err, pool.ErrNotOAuth):
		return Conflict("This credential is an API key or has no refresh token; there is nothing to refresh.")
	case errors.As(err, &fes) && len(fes) > 0:
		return Invalid(fes[0].Path, fes[0].Message)
	}
	return err
}

// changed reloads this node's pool after a write and tells the others.
// The write is done: a failed reload is logged (the periodic reload
// catches up), not reported as a failed write.
func (h *channelRoutes) changed(ctx context.Context) {
	if err := h.d.Pool.Reload(ctx); err != nil {
		h.d.Logger.WarnContext(ctx, "reload the pool after a console write", "error", err.Error())
	}
	if h.d.OnChange != nil {
		if err := h.d.OnChange(ctx); err != nil {
			h.d.Logger.WarnContext(ctx, "announce a channel change to the other nodes", "error", err.Error())
		}
	}
}

func (h *channelRoutes) groups(ctx context.Context) ([]string, error) {
	if h.d.Groups == nil {
		return []string{config.DefaultGroup}, nil
	}
	return h.d.Groups(ctx)
}

func (h *channelRoutes) list(r *http.Request, _ *Principal) (any, error) {
	pg, err := PageOf(r)
	if err != nil {
		return nil, err
	}
	before, err := pg.AfterID()
	if err != nil {
		return nil, err
	}
	recs, err := h.d.Store.ChannelPage(r.Context(), before, pg.Limit+1)
	if err != nil {
		return nil, err
	}
	out := make([]channelJSON, len(recs))
	for i, rec := range recs {
		out[i] = channelOut(rec)
	}
	return PageByID(out, pg.Limit, func(c channelJSON) int64 { return c.ID }), nil
}

func (h *channelRoutes) get(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	rec, err := h.d.Store.ChannelByID(r.Context(), id)
	if err != nil {
		return nil, domainError(err)
	}
	return channelOut(rec), nil
}

func (h *channelRoutes) create(r *http.Request, _ *Principal) (any, error) {
	var p pool.ChannelPatch
	if err := Decode(r, &p); err != nil {
		return nil, err
	}
	groups, err := h.groups(r.Context())
	if err != nil {
		return nil, err
	}
	rec, err := h.d.Store.CreateChannel(r.Context(), p, groups)
	if err != nil {
		return nil, domainError(err)
	}
	out := channelOut(rec)
	Audit(r, "channel.create", channelTarget(rec.ID), nil, auditChannel(out))
	h.changed(r.Context())
	return Created(out), nil
}

// auditChannel is a channel as the audit log keeps it: a proxy's password
// (user:pass@host) is a secret the member name does not announce.
func auditChannel(c channelJSON) channelJSON {
	c.Proxy = maskProxy(c.Proxy)
	return c
}

func auditView(v pool.CredentialView) pool.CredentialView {
	v.Proxy = maskProxy(v.Proxy)
	return v
}

func maskProxy(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}

func channelTarget(id int64) string    { return "channel:" + strconv.FormatInt(id, 10) }
func credentialTarget(id int64) string { return "credential:" + strconv.FormatInt(id, 10) }

func (h *channelRoutes) update(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	var p pool.ChannelPatch
	if err := Decode(r, &p); err != nil {
		return nil, err
	}
	groups, err := h.groups(r.Context())
	if err != nil {
		return nil, err
	}
	before, after, err := h.d.Store.UpdateChannel(r.Context(), id, p, groups)
	if err != nil {
		return nil, domainError(err)
	}
	out := channelOut(after)
	Audit(r, "channel.update", channelTarget(id), auditChannel(channelOut(before)), auditChannel(out))
	h.changed(r.Context())
	return out, nil
}

func (h *channelRoutes) delete(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	rec, err := h.d.Store.DeleteChannel(r.Context(), id)
	if err != nil {
		return nil, domainError(err)
	}
	Audit(r, "channel.delete", channelTarget(id), auditChannel(channelOut(rec)), nil)
	h.changed(r.Context())
	return NoContent(), nil
}

func (h *channelRoutes) enable(disabled bool) func(*http.Request, *Principal) (any, error) {
	action := "channel.enable"
	if disabled {
		action = "channel.disable"
	}
	return func(r *http.Request, _ *Principal) (any, error) {
		id, err := PathID(r, "id")
		if err != nil {
			return nil, err
		}
		rec, err := h.d.Store.SetChannelDisabled(r.Context(), id, disabled)
		if err != nil {
			return nil, domainError(err)
		}
		out := channelOut(rec)
		Audit(r, action, channelTarget(id), map[string]bool{"disabled": !disabled}, map[string]bool{"disabled": disabled})
		h.changed(r.Context())
		return out, nil
	}
}

// testBody is a test-now request: a model (default: the channel's test
// model) and, for a channel, which credential (default: its first enabled).
type testBody struct {
	Model        string `json:"model"`
	CredentialID int64  `json:"credential_id"`
}

func decodeOptional(r *http.Request, dst any) error {
	if r.ContentLength == 0 {
		return nil // no body: every member takes its default
	}
	return Decode(r, dst)
}

func (h *channelRoutes) test(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	var b testBody
	if err := decodeOptional(r, &b); err != nil {
		return nil, err
	}
	res, err := h.d.Pool.Test(r.Context(), id, b.CredentialID, strings.TrimSpace(b.Model))
	if err != nil {
		return nil, domainError(err)
	}
	Audit(r, "channel.test", channelTarget(id), nil, res)
	return res, nil
}

func (h *channelRoutes) testCredential(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	var b struct {
		Model string `json:"model"`
	}
	if err := decodeOptional(r, &b); err != nil {
		return nil, err
	}
	rec, err := h.d.Store.LoadCredential(r.Context(), id)
	if err != nil {
		return nil, domainError(err)
	}
	res, err := h.d.Pool.Test(r.Context(), rec.ChannelID, id, strings.TrimSpace(b.Model))
	if err != nil {
		return nil, domainError(err)
	}
	Audit(r, "credential.test", credentialTarget(id), nil, res)
	return res, nil
}

func (h *channelRoutes) credentials(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	pg, err := PageOf(r)
	if err != nil {
		return nil, err
	}
	before, err := pg.AfterID()
	if err != nil {
		return nil, err
	}
	views, err := h.d.Pool.ViewsOf(r.Context(), id, before, pg.Limit+1)
	if err != nil {
		return nil, domainError(err)
	}
	return PageByID(views, pg.Limit, func(v pool.CredentialView) int64 { return v.ID }), nil
}

func (h *channelRoutes) addCredential(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	var n pool.NewCredential
	if err := Decode(r, &n); err != nil {
		return nil, err
	}
	rec, err := h.d.Store.AddCredential(r.Context(), id, n)
	if err != nil {
		return nil, domainError(err)
	}
	h.changed(r.Context())
	v, err := h.d.Pool.View(r.Context(), rec.ID)
	if err != nil {
		return nil, domainError(err)
	}
	Audit(r, "credential.create", credentialTarget(rec.ID), nil, auditView(v))
	return Created(v), nil
}

// importBody is a batch import: exactly one of lines (the text `switchyard
// credentials import` reads: one API key per line, or a JSON array) and
// credentials (the array itself).
type importBody struct {
	Lines       *string           `json:"lines"`
	Credentials []json.RawMessage `json:"credentials"`
}

type importLine struct {
	Line    int    `json:"line"`
	Outcome string `json:"outcome"`
	ID      int64  `json:"id,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

type importReport struct {
	Added     int          `json:"added"`
	Duplicate int          `json:"duplicate"`
	Invalid   int          `json:"invalid"`
	Lines     []importLine `json:"lines"`
}

func (h *channelRoutes) importCredentials(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	var b importBody
	if err := Decode(r, &b); err != nil {
		return nil, err
	}
	var data []byte
	switch {
	case b.Lines != nil && b.Credentials != nil:
		return nil, Invalid("credentials", "Send either lines or credentials, not both.")
	case b.Lines != nil:
		data = []byte(*b.Lines)
	case b.Credentials != nil:
		if data, err = json.Marshal(b.Credentials); err != nil {
			return nil, fmt.Errorf("encode the import: %w", err)
		}
	default:
		return nil, Invalid("lines", "Send lines (one API key per line, or a JSON array) or credentials (an array of objects).")
	}
	entries, err := pool.ParseImport(bytes.NewReader(data))
	if err != nil {
		field := "lines"
		if b.Credentials != nil {
			field = "credentials"
		}
		return nil, Invalid(field, err.Error())
	}
	results, err := h.d.Store.ImportInto(r.Context(), id, entries)
	if err != nil {
		return nil, domainError(err)
	}
	rep := importReport{Lines: make([]importLine, len(results))}
	for i, res := range results {
		rep.Lines[i] = importLine{Line: res.Line, Outcome: res.Outcome, ID: res.ID, Reason: res.Reason}
		switch res.Outcome {
		case pool.ImportAdded:
			rep.Added++
		case pool.ImportDuplicate:
			rep.Duplicate++
		default:
			rep.Invalid++
		}
	}
	Audit(r, "credential.import", channelTarget(id), nil, map[string]int{"added": rep.Added, "duplicate": rep.Duplicate, "invalid": rep.Invalid})
	if rep.Added > 0 {
		h.changed(r.Context())
	}
	return rep, nil
}

func (h *channelRoutes) credential(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	v, err := h.d.Pool.View(r.Context(), id)
	if err != nil {
		return nil, domainError(err)
	}
	return v, nil
}

func (h *channelRoutes) updateCredential(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	var p pool.CredentialPatch
	if err := Decode(r, &p); err != nil {
		return nil, err
	}
	before, _, err := h.d.Store.UpdateCredential(r.Context(), id, p)
	if err != nil {
		return nil, domainError(err)
	}
	h.changed(r.Context())
	v, err := h.d.Pool.View(r.Context(), id)
	if err != nil {
		return nil, domainError(err)
	}
	opts := before.Options
	opts.Proxy = maskProxy(opts.Proxy)
	Audit(r, "credential.update", credentialTarget(id), opts, auditView(v))
	return v, nil
}

func (h *channelRoutes) deleteCredential(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	rec, err := h.d.Store.DeleteCredential(r.Context(), id)
	if err != nil {
		return nil, domainError(err)
	}
	Audit(r, "credential.delete", credentialTarget(id), map[string]any{"channel": rec.Channel, "hint": pool.Hint(rec.Secret)}, nil)
	h.changed(r.Context())
	return NoContent(), nil
}

func (h *channelRoutes) enableCredential(enable bool) func(*http.Request, *Principal) (any, error) {
	action := "credential.disable"
	if enable {
		action = "credential.enable"
	}
	return func(r *http.Request, _ *Principal) (any, error) {
		id, err := PathID(r, "id")
		if err != nil {
			return nil, err
		}
		if enable {
			err = h.d.Pool.EnableCredential(r.Context(), id)
		} else {
			err = h.d.Pool.Disable(r.Context(), id)
		}
		if err != nil {
			return nil, domainError(err)
		}
		h.changed(r.Context())
		v, err := h.d.Pool.View(r.Context(), id)
		if err != nil {
			return nil, domainError(err)
		}
		Audit(r, action, credentialTarget(id), nil, map[string]string{"status": v.Status})
		return v, nil
	}
}

// refreshResult is the outcome of an OAuth refresh: a token endpoint that
// refuses is an answer about the credential, not a failed request.
type refreshResult struct {
	OK         bool                `json:"ok"`
	Error      string              `json:"error,omitempty"`
	Credential pool.CredentialView `json:"credential"`
}

func (h *channelRoutes) refresh(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	res := refreshResult{OK: true}
	if _, err := h.d.Pool.RefreshNow(r.Context(), id); err != nil {
		if e := domainError(err); e != err {
			return nil, e
		}
		res.OK, res.Error = false, err.Error()
	}
	if res.Credential, err = h.d.Pool.View(r.Context(), id); err != nil {
		return nil, domainError(err)
	}
	Audit(r, "credential.refresh", credentialTarget(id), nil, map[string]any{"ok": res.OK, "error": res.Error})
	return res, nil
}

// revealed is a credential's secret, shown to an admin who stepped up. A
// bedrock key is also shown as its parts, a vertex credential as its
// service-account key file (stored as the refresh token) beside the
// access token the pool obtained with it.
type revealed struct {
	ID              int64     `json:"id"`
	Kind            string    `json:"kind"`
	Key             string    `json:"key,omitempty"`
	AccessToken     string    `json:"access_token,omitempty"`
	RefreshToken    string    `json:"refresh_token,omitempty"`
	ExpiresAt       time.Time `json:"expires_at,omitzero"`
	AccessKeyID     string    `json:"access_key_id,omitempty"`
	SecretAccessKey string    `json:"secret_access_key,omitempty"`
	SessionToken    string    `json:"session_token,omitempty"`
	ServiceAccount  string    `json:"service_account,omitempty"`
}

func (h *channelRoutes) reveal(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	rec, err := h.d.Store.LoadCredential(r.Context(), id)
	if err != nil {
		return nil, domainError(err)
	}
	// Recorded without values: who saw which secret, and when.
	Audit(r, "credential.reveal", credentialTarget(id), nil, nil)
	s := rec.Secret
	out := revealed{ID: rec.ID, Kind: rec.Kind, Key: s.Key, AccessToken: s.AccessToken, RefreshToken: s.RefreshToken}
	if !s.ExpiresAt.IsZero() {
		out.ExpiresAt = s.ExpiresAt.UTC()
	}
	ch, err := h.d.Store.ChannelByID(r.Context(), rec.ChannelID)
	if err != nil {
		return nil, domainError(err)
	}
	switch ch.Config.Type {
	case "bedrock":
		if k, err := sigv4.ParseKey(s.Key); err == nil {
			out.AccessKeyID, out.SecretAccessKey, out.SessionToken = k.AccessKeyID, k.SecretAccessKey, k.SessionToken
		}
	case "vertex":
		out.ServiceAccount, out.RefreshToken = s.RefreshToken, ""
	}
	return out, nil
}
