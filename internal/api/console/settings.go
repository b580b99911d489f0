package console

import (
	"context"
	"errors"
	"net/http"

	"github.com/switchyard/switchyard/internal/live"
	"github.com/switchyard/switchyard/internal/settings"
)

// The settings slice: the site-wide settings (admin) and what anyone may
// read of them (the sign-in page shows the site name, the announcement and
// whether registration is open).

// SettingsStore is what the slice needs of the settings (settings.Store).
type SettingsStore interface {
	Get(ctx context.Context) (settings.Settings, error)
	Update(ctx context.Context, p settings.Patch) (settings.Settings, error)
	// Current is the settings as loaded in memory: the public route reads
	// it, so anonymous traffic never reaches the database.
	Current() settings.Settings
}

// SettingsDeps wires the settings slice.
type SettingsDeps struct {
	Settings SettingsStore
	Live     LivePublisher
}

// MountSettings adds the settings routes.
func MountSettings(a *API, d SettingsDeps) {
	a.Add(
		Route{Method: "GET", Path: "/api/v1/admin/settings", Access: Admin,
			Handle: func(r *http.Request, p *Principal) (any, error) { return d.Settings.Get(r.Context()) }},
		Route{Method: "PATCH", Path: "/api/v1/admin/settings", Access: Admin,
			Handle: func(r *http.Request, p *Principal) (any, error) { return d.patch(r) }},
		Route{Method: "GET", Path: "/api/v1/settings/public", Access: Public,
			Handle: func(r *http.Request, p *Principal) (any, error) { return d.Settings.Current().Public(), nil }},
	)
}

func (d SettingsDeps) patch(r *http.Request) (any, error) {
	var patch settings.Patch
	if err := Decode(r, &patch); err != nil {
		return nil, err
	}
	before, err := d.Settings.Get(r.Context())
	if err != nil {
		return nil, err
	}
	after, err := d.Settings.Update(r.Context(), patch)
	var fe *settings.FieldError
	if errors.As(err, &fe) {
		return nil, Invalid(fe.Field, fieldSentence(fe.Message)+".")
	}
	if err != nil {
		return nil, err
	}
	if err := d.Live.Publish(r.Context(), live.Settings); err != nil {
		return nil, err
	}
	Audit(r, "settings.update", "settings", before, after)
	return after, nil
}
