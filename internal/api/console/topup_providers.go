package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/live"
	"github.com/switchyard/switchyard/internal/topup"
)

// The payment providers' settings: each provider is configured in the
// file (shown read-only, naming its field) or here. A secret is never
// answered once saved, only whether it is set and its last characters;
// changing one needs a step-up. Every node reloads its providers when
// live.Topup is published.

// TopupProviderStore keeps the console's provider settings
// (topup.ProviderStore).
type TopupProviderStore interface {
	List(ctx context.Context) ([]topup.ProviderSettings, error)
	Get(ctx context.Context, name string) (topup.ProviderSettings, error)
	Save(ctx context.Context, p topup.ProviderSettings) (topup.ProviderSettings, error)
	Delete(ctx context.Context, name string) error
}

// secretHint says that a secret is set, and its last four characters
// when it is long enough for them to reveal nothing useful.
type secretHint struct {
	Set   bool   `json:"set"`
	Last4 string `json:"last4"`
}

func hintOf(s string) secretHint {
	if s == "" {
		return secretHint{}
	}
	h := secretHint{Set: true}
	if len(s) >= 16 {
		h.Last4 = s[len(s)-4:]
	}
	return h
}

// providerConfig is a provider's settings as saved in the console.
type providerConfig struct {
	Enabled        bool         `json:"enabled"`
	APIBase        string       `json:"api_base"`
	Gateway        string       `json:"gateway"`
	PID            string       `json:"pid"`
	Type           string       `json:"type"`
	Currency       string       `json:"currency"`
	Instructions   string       `json:"instructions"`
	SecretKey      secretHint   `json:"secret_key"`
	Key            secretHint   `json:"key"`
	WebhookSecrets []secretHint `json:"webhook_secrets"`
	UpdatedAt      time.Time    `json:"updated_at"`
}

func configView(p topup.ProviderSettings) *providerConfig {
	v := &providerConfig{Enabled: p.Enabled, APIBase: p.APIBase, Gateway: p.Gateway, PID: p.PID, Type: p.Type,
		Currency: p.Currency, Instructions: p.Instructions, SecretKey: hintOf(p.Secrets.SecretKey),
		Key: hintOf(p.Secrets.Key), WebhookSecrets: []secretHint{}, UpdatedAt: p.UpdatedAt}
	for _, w := range p.Secrets.WebhookSecrets {
		v.WebhookSecrets = append(v.WebhookSecrets, hintOf(w))
	}
	return v
}

// providerView is a provider as the admin sees it: whether it is in use,
// where its settings come from, the URL its notifications must be sent to
// (to paste into its dashboard), what is in force, and the console's
// settings when it is configured there.
type providerView struct {
	Name      string            `json:"name"`
	Active    bool              `json:"active"`
	ManagedBy string            `json:"managed_by"` // file, api or none
	FileField string            `json:"file_field,omitempty"`
	NotifyURL string            `json:"notify_url"`
	Settings  map[string]string `json:"settings"`
	Config    *providerConfig   `json:"config"`
}

func (t *topupSlice) providerViews(ctx context.Context) ([]providerView, error) {
	active := map[string]map[string]string{}
	for _, p := range t.d.Service.Providers() {
		active[p.Name] = p.Settings
	}
	stored := map[string]topup.ProviderSettings{}
	if t.d.Settings != nil {
		list, err := t.d.Settings.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range list {
			stored[p.Name] = p
		}
	}
	out := []providerView{}
	for _, name := range topup.ProviderKinds {
		settings, on := active[name]
		if settings == nil {
			settings = map[string]string{}
		}
		v := providerView{Name: name, Active: on, ManagedBy: "none", Settings: settings}
		if name != topup.ManualName {
			v.NotifyURL = strings.TrimSuffix(t.d.PublicURL, "/") + "/api/v1/topup/notify/" + name
		}
		if f, ok := t.d.FileProviders[name]; ok {
			v.ManagedBy, v.FileField = "file", f
		} else if p, ok := stored[name]; ok {
			v.ManagedBy, v.Config = "api", configView(p)
		}
		out = append(out, v)
	}
	return out, nil
}

func (t *topupSlice) providers(r *http.Request, _ *Principal) (any, error) {
	out, err := t.providerViews(r.Context())
	if err != nil {
		return nil, err
	}
	return List[providerView]{Items: out}, nil
}

// providerBody changes a provider's settings: a member left out keeps its
// value. A secret is replaced only by a non-empty value; webhook signing
// secrets are kept by index (webhook_secrets_keep, all when left out) and
// added (webhook_secrets_add), so a secret can be rolled without
// re-entering the others.
type providerBody struct {
	Enabled            *bool    `json:"enabled"`
	APIBase            *string  `json:"api_base"`
	Gateway            *string  `json:"gateway"`
	PID                *string  `json:"pid"`
	Type               *string  `json:"type"`
	Currency           *string  `json:"currency"`
	Instructions       *string  `json:"instructions"`
	SecretKey          string   `json:"secret_key"`
	Key                string   `json:"key"`
	WebhookSecretsKeep *[]int   `json:"webhook_secrets_keep"`
	WebhookSecretsAdd  []string `json:"webhook_secrets_add"`
}

// apply changes p by b and reports whether a secret changed.
func (b providerBody) apply(p *topup.ProviderSettings) (secretChanged bool, err error) {
	for _, f := range []struct {
		from *string
		to   *string
	}{{b.APIBase, &p.APIBase}, {b.Gateway, &p.Gateway}, {b.PID, &p.PID}, {b.Type, &p.Type},
		{b.Currency, &p.Currency}, {b.Instructions, &p.Instructions}} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	if b.Enabled != nil {
		p.Enabled = *b.Enabled
	}
	if s := strings.TrimSpace(b.SecretKey); s != "" && s != p.Secrets.SecretKey {
		p.Secrets.SecretKey, secretChanged = s, true
	}
	if s := strings.TrimSpace(b.Key); s != "" && s != p.Secrets.Key {
		p.Secrets.Key, secretChanged = s, true
	}
	old := p.Secrets.WebhookSecrets
	kept := slices.Clone(old)
	if b.WebhookSecretsKeep != nil {
		kept = kept[:0:0]
		for _, i := range *b.WebhookSecretsKeep {
			if i < 0 || i >= len(old) {
				return false, Invalid("webhook_secrets_keep", "No signing secret has index "+strconv.Itoa(i)+".")
			}
			if !slices.Contains(kept, old[i]) {
				kept = append(kept, old[i])
			}
		}
	}
	for _, w := range b.WebhookSecretsAdd {
		if w = strings.TrimSpace(w); w != "" && !slices.Contains(kept, w) {
			kept = append(kept, w)
		}
	}
	if !slices.Equal(kept, old) {
		secretChanged = true
	}
	p.Secrets.WebhookSecrets = kept
	return secretChanged, nil
}

// knownProvider answers 404 for a provider Switchyard does not have and
// 409 for one the file declares.
func (t *topupSlice) knownProvider(name string) error {
	if !slices.Contains(topup.ProviderKinds, name) {
		return NotFound("payment provider " + strconv.Quote(name))
	}
	if f, ok := t.d.FileProviders[name]; ok {
		return ManagedByFile(f)
	}
	if t.d.Settings == nil {
		return Forbidden("Payment providers are configured in the file on this node.")
	}
	return nil
}

// providerField maps the domain's field names to the body's.
func providerField(f string) string {
	if f == "webhook_secrets" {
		return "webhook_secrets_add"
	}
	return f
}

func (t *topupSlice) saveProvider(r *http.Request, p *Principal) (any, error) {
	name := r.PathValue("name")
	if err := t.knownProvider(name); err != nil {
		return nil, err
	}
	var body providerBody
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	before, err := t.d.Settings.Get(r.Context(), name)
	isNew := errors.Is(err, topup.ErrNotFound)
	if err != nil && !isNew {
		return nil, err
	}
	if isNew {
		before = topup.ProviderSettings{Name: name}
	}
	after := before
	after.Secrets.WebhookSecrets = slices.Clone(before.Secrets.WebhookSecrets)
	if isNew && body.Enabled == nil {
		after.Enabled = true
	}
	secretChanged, err := body.apply(&after)
	if err != nil {
		return nil, err
	}
	// A secret decides where money is paid and which notifications are
	// believed: changing one asks for the password again.
	if secretChanged && !t.a.SteppedUp(p) {
		return nil, StepUpRequired()
	}
	saved, err := t.d.Settings.Save(r.Context(), after)
	var inv *topup.InvalidError
	if errors.As(err, &inv) {
		return nil, Invalid(providerField(inv.Field), fieldSentence(inv.Reason)+".")
	}
	if err != nil {
		return nil, err
	}
	if err := t.d.Live.Publish(r.Context(), live.Topup); err != nil {
		return nil, err
	}
	var was any
	if !isNew {
		was = configView(before)
	}
	Audit(r, "topup.provider.save", "topup_provider:"+name, was, configView(saved))
	return t.providerView(r.Context(), name)
}

func (t *topupSlice) deleteProvider(r *http.Request, _ *Principal) (any, error) {
	name := r.PathValue("name")
	if err := t.knownProvider(name); err != nil {
		return nil, err
	}
	before, err := t.d.Settings.Get(r.Context(), name)
	if errors.Is(err, topup.ErrNotFound) {
		return nil, NotFound("console settings of payment provider " + strconv.Quote(name))
	}
	if err != nil {
		return nil, err
	}
	if err := t.d.Settings.Delete(r.Context(), name); err != nil {
		return nil, err
	}
	if err := t.d.Live.Publish(r.Context(), live.Topup); err != nil {
		return nil, err
	}
	Audit(r, "topup.provider.delete", "topup_provider:"+name, configView(before), nil)
	return NoContent(), nil
}

func (t *topupSlice) providerView(ctx context.Context, name string) (any, error) {
	views, err := t.providerViews(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range views {
		if v.Name == name {
			return v, nil
		}
	}
	return nil, NotFound("payment provider " + strconv.Quote(name))
}
