package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
)

// API keys: any user's (admin) and one's own (self-service). A key's value
// is answered once, by the POST that creates it; only its hash is stored.

type keyView struct {
	ID     int64  `json:"id"`
	UserID int64  `json:"user_id"`
	User   string `json:"user"`
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
	// Status is active, disabled, revoked or expired.
	Status              string     `json:"status"`
	Models              []string   `json:"models"`
	IPAllow             []string   `json:"ip_allow"`
	QuotaMicros         *int64     `json:"quota_micros"`
	SpentMicros         int64      `json:"spent_micros"`
	RPM                 int        `json:"rpm"`
	TPM                 int64      `json:"tpm"`
	DailyRequests       int        `json:"daily_requests"`
	ExpiresAt           *time.Time `json:"expires_at"`
	Admin               bool       `json:"admin"`
	ImageResponseFormat string     `json:"image_response_format"`
	WebhookURL          string     `json:"webhook_url"`
	ManagedBy           string     `json:"managed_by"`
	CreatedAt           time.Time  `json:"created_at"`
	// LastUsedAt is up to a flush interval (30 s) behind; null = never.
	LastUsedAt *time.Time `json:"last_used_at"`
}

// createdKey is a new key with its value, shown this once.
type createdKey struct {
	keyView
	Key string `json:"key"`
}

func (t *tenancy) viewKey(k auth.KeyInfo) keyView {
	status := k.Status
	if status == auth.StatusActive && k.ExpiresAt != nil && !t.d.Now().Before(*k.ExpiresAt) {
		status = "expired"
	}
	return keyView{ID: k.ID, UserID: k.UserID, User: k.User, Name: k.Name, Prefix: k.Prefix, Status: status, Models: k.Models,
		IPAllow: k.IPAllow, QuotaMicros: k.QuotaMicros, SpentMicros: k.SpentMicros, RPM: k.RPM, TPM: k.TPM,
		DailyRequests: k.DailyRequests, ExpiresAt: k.ExpiresAt, Admin: k.Admin, ImageResponseFormat: k.ImageResponseFormat,
		WebhookURL: k.WebhookURL, ManagedBy: managedBy(k.ManagedByFile), CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt}
}

// keyBody is a key's limits in a POST or PATCH; quota_micros and
// expires_at may be null (no cap, never), so they are read by hand.
type keyBody struct {
	Name                *string         `json:"name"`
	Models              *[]string       `json:"models"`
	IPAllow             *[]string       `json:"ip_allow"`
	QuotaMicros         json.RawMessage `json:"quota_micros"`
	RPM                 *int            `json:"rpm"`
	TPM                 *int64          `json:"tpm"`
	DailyRequests       *int            `json:"daily_requests"`
	ExpiresAt           json.RawMessage `json:"expires_at"`
	ImageResponseFormat *string         `json:"image_response_format"`
}

func (b keyBody) patch() (auth.KeyPatch, error) {
	p := auth.KeyPatch{Name: b.Name, Models: b.Models, IPAllow: b.IPAllow, RPM: b.RPM, TPM: b.TPM,
		DailyRequests: b.DailyRequests, ImageResponseFormat: b.ImageResponseFormat}
	set, null, quota, err := rawInt64("quota_micros", b.QuotaMicros)
	if err != nil {
		return p, err
	}
	if set {
		if null {
			quota = auth.NoQuota
		} else if quota < 0 {
			return p, Invalid("quota_micros", "Must be 0 or more, or null for no cap.")
		}
		p.QuotaMicros = &quota
	}
	set, _, exp, err := rawTime("expires_at", b.ExpiresAt)
	if err != nil {
		return p, err
	}
	if set {
		p.ExpiresAt = &exp // null is the zero time: never
	}
	return p, nil
}

// newKey is a patch applied to an empty key.
func newKey(p auth.KeyPatch) auth.NewKey {
	var nk auth.NewKey
	setIf(&nk.Name, p.Name)
	setIf(&nk.Models, p.Models)
	setIf(&nk.IPAllow, p.IPAllow)
	if p.QuotaMicros != nil && *p.QuotaMicros != auth.NoQuota {
		nk.QuotaMicros = p.QuotaMicros
	}
	setIf(&nk.RPM, p.RPM)
	setIf(&nk.TPM, p.TPM)
	setIf(&nk.DailyRequests, p.DailyRequests)
	setIf(&nk.ExpiresAt, p.ExpiresAt)
	setIf(&nk.ImageResponseFormat, p.ImageResponseFormat)
	return nk
}

func (t *tenancy) keyList(r *http.Request, f auth.KeyFilter) (any, error) {
	p, err := authPage(r)
	if err != nil {
		return nil, err
	}
	if f.Status, err = queryEnum(r, "status", auth.KeyStatuses...); err != nil {
		return nil, err
	}
	f.Name = r.URL.Query().Get("name")
	keys, next, err := t.d.Keys.QueryKeys(r.Context(), f, p)
	if err != nil {
		return nil, tenancyError(err)
	}
	return listOf(keys, next, t.viewKey), nil
}

func (t *tenancy) listKeys(r *http.Request, _ *Principal) (any, error) {
	uid, err := queryID(r, "user_id")
	if err != nil {
		return nil, err
	}
	return t.keyList(r, auth.KeyFilter{UserID: uid})
}

func (t *tenancy) getKey(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	k, err := t.d.Keys.GetKey(r.Context(), id)
	if err != nil {
		return nil, tenancyError(err)
	}
	return t.viewKey(k), nil
}

func (t *tenancy) createKey(r *http.Request, p *Principal) (any, error) {
	var body struct {
		keyBody
		UserID        int64  `json:"user_id"`
		Admin         bool   `json:"admin"`
		WebhookURL    string `json:"webhook_url"`
		WebhookSecret string `json:"webhook_secret"`
	}
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	patch, err := body.patch()
	if err != nil {
		return nil, err
	}
	if body.UserID <= 0 {
		return nil, Invalid("user_id", "The id of the key's owner is required.")
	}
	u, err := t.d.Users.GetUser(r.Context(), body.UserID)
	if errors.Is(err, auth.ErrUserNotFound) {
		return nil, Invalid("user_id", "No user has this id.")
	}
	if err != nil {
		return nil, err
	}
	// An admin key may force routes: as powerful as a role change.
	if body.Admin && !t.a.SteppedUp(p) {
		return nil, StepUpRequired()
	}
	nk := newKey(patch)
	nk.User, nk.Admin = u.Email, body.Admin
	nk.WebhookURL, nk.WebhookSecret, nk.WebhookAllowHTTP = body.WebhookURL, body.WebhookSecret, t.d.WebhookAllowHTTP
	value, k, err := t.d.Keys.CreateKey(r.Context(), nk)
	if err != nil {
		return nil, tenancyError(err)
	}
	v := t.viewKey(k)
	t.changed(r.Context())
	Audit(r, "key.create", target("key", k.ID), nil, v)
	return Created(createdKey{keyView: v, Key: value}), nil
}

func (t *tenancy) updateKey(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	var body keyBody
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	patch, err := body.patch()
	if err != nil {
		return nil, err
	}
	before, after, err := t.d.Keys.UpdateKey(r.Context(), id, patch)
	if err != nil {
		return nil, tenancyError(err)
	}
	t.changed(r.Context())
	Audit(r, "key.update", target("key", id), t.viewKey(before), t.viewKey(after))
	return t.viewKey(after), nil
}

// revokeKey revokes any key, the file's included: revoking a leaked key
// must not wait for an edit of the file (it stays revoked until the file
// gives it a new value).
func (t *tenancy) revokeKey(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	before, err := t.d.Keys.GetKey(r.Context(), id)
	if err != nil {
		return nil, tenancyError(err)
	}
	if err := t.d.Keys.RevokeKey(r.Context(), id); err != nil {
		return nil, tenancyError(err)
	}
	after := before
	after.Status = auth.StatusRevoked
	t.changed(r.Context())
	Audit(r, "key.revoke", target("key", id), t.viewKey(before), t.viewKey(after))
	return NoContent(), nil
}

// --- one's own keys ---

func (t *tenancy) listOwnKeys(r *http.Request, p *Principal) (any, error) {
	return t.keyList(r, auth.KeyFilter{UserID: p.UserID})
}

func (t *tenancy) getOwnKey(r *http.Request, p *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	k, err := t.d.Keys.GetKey(r.Context(), id)
	if err == nil && k.UserID != p.UserID {
		err = auth.ErrKeyNotFound // another's key is not there, as far as this user knows
	}
	if err != nil {
		return nil, tenancyError(err)
	}
	return t.viewKey(k), nil
}

func (t *tenancy) createOwnKey(r *http.Request, p *Principal) (any, error) {
	var body keyBody
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	patch, err := body.patch()
	if err != nil {
		return nil, err
	}
	value, k, err := t.d.Keys.CreateOwnKey(r.Context(), p.UserID, newKey(patch))
	if err != nil {
		return nil, tenancyError(err)
	}
	v := t.viewKey(k)
	t.changed(r.Context())
	Audit(r, "key.create", target("key", k.ID), nil, v)
	return Created(createdKey{keyView: v, Key: value}), nil
}

func (t *tenancy) updateOwnKey(r *http.Request, p *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	var body keyBody
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	patch, err := body.patch()
	if err != nil {
		return nil, err
	}
	rules, err := t.d.Keys.OwnKeyRules(r.Context(), p.UserID)
	if err != nil {
		return nil, tenancyError(err)
	}
	before, after, err := t.d.Keys.UpdateOwnKey(r.Context(), p.UserID, id, patch, rules)
	if err != nil {
		return nil, tenancyError(err)
	}
	t.changed(r.Context())
	Audit(r, "key.update", target("key", id), t.viewKey(before), t.viewKey(after))
	return t.viewKey(after), nil
}

func (t *tenancy) revokeOwnKey(r *http.Request, p *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	before, err := t.d.Keys.RevokeOwnKey(r.Context(), p.UserID, id)
	if err != nil {
		return nil, tenancyError(err)
	}
	after := before
	after.Status = auth.StatusRevoked
	t.changed(r.Context())
	Audit(r, "key.revoke", target("key", id), t.viewKey(before), t.viewKey(after))
	return NoContent(), nil
}

// setKeyDisabled disables or enables a key: any key for an admin, one's
// own (own) for a user. The file's keys refuse (409 managed_by_file), and
// a revoked key cannot be enabled (422).
func (t *tenancy) setKeyDisabled(disabled, own bool) func(*http.Request, *Principal) (any, error) {
	action := "key.enable"
	if disabled {
		action = "key.disable"
	}
	return func(r *http.Request, p *Principal) (any, error) {
		id, err := PathID(r, "id")
		if err != nil {
			return nil, err
		}
		var before, after auth.KeyInfo
		if own {
			before, after, err = t.d.Keys.SetOwnKeyDisabled(r.Context(), p.UserID, id, disabled)
		} else {
			before, after, err = t.d.Keys.SetKeyDisabled(r.Context(), id, disabled)
		}
		if err != nil {
			return nil, tenancyError(err)
		}
		if before.Status != after.Status {
			t.changed(r.Context())
			Audit(r, action, target("key", id), t.viewKey(before), t.viewKey(after))
		}
		return t.viewKey(after), nil
	}
}
