package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	studiosaved "github.com/switchyard/switchyard/internal/studio"
)

// The studio's presets and prompt snippets, each user's own, kept on the
// server (studiosaved.Store) so they follow the user from browser to browser.

// StudioSaved is what the preset and snippet routes need (studiosaved.Store).
type StudioSaved interface {
	Presets(ctx context.Context, userID int64) ([]studiosaved.Preset, error)
	SavePreset(ctx context.Context, userID int64, name string, params json.RawMessage) (studiosaved.Preset, error)
	DeletePreset(ctx context.Context, userID int64, name string) error
	Snippets(ctx context.Context, userID int64) ([]studiosaved.Snippet, error)
	SaveSnippet(ctx context.Context, userID int64, text string) (studiosaved.Snippet, error)
	DeleteSnippet(ctx context.Context, userID, id int64) error
}

// MountStudioSaved adds the preset and snippet routes.
func MountStudioSaved(a *API, s StudioSaved) {
	h := studioSaved{s}
	a.Add(
		Route{Method: "GET", Path: "/api/v1/me/studio/presets", Access: User, Handle: h.presets},
		Route{Method: "PUT", Path: "/api/v1/me/studio/presets/{name}", Access: User, Handle: h.savePreset},
		Route{Method: "DELETE", Path: "/api/v1/me/studio/presets/{name}", Access: User, Handle: h.deletePreset},
		Route{Method: "GET", Path: "/api/v1/me/studio/snippets", Access: User, Handle: h.snippets},
		Route{Method: "POST", Path: "/api/v1/me/studio/snippets", Access: User, Handle: h.saveSnippet},
		Route{Method: "DELETE", Path: "/api/v1/me/studio/snippets/{id}", Access: User, Handle: h.deleteSnippet},
	)
}

type studioSaved struct{ s StudioSaved }

// StudioPreset is a preset as the console shows it.
type StudioPreset struct {
	Name      string          `json:"name"`
	Params    json.RawMessage `json:"params"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// StudioPresetBody is PUT /api/v1/me/studio/presets/{name}'s body.
type StudioPresetBody struct {
	Params json.RawMessage `json:"params"`
}

// StudioSnippet is a snippet as the console shows it.
type StudioSnippet struct {
	ID     int64     `json:"id"`
	Text   string    `json:"text"`
	UsedAt time.Time `json:"used_at"`
}

// StudioSnippetBody is POST /api/v1/me/studio/snippets's body.
type StudioSnippetBody struct {
	Text string `json:"text"`
}

// savedError turns the store's refusals into field errors.
func savedError(err error, what string) error {
	var ie *studiosaved.InvalidError
	switch {
	case errors.As(err, &ie):
		return Invalid(ie.Field, ie.Message)
	case errors.Is(err, studiosaved.ErrNotFound):
		return NotFound(what)
	}
	return err
}

func (h studioSaved) presets(r *http.Request, p *Principal) (any, error) {
	ps, err := h.s.Presets(r.Context(), p.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]StudioPreset, len(ps))
	for i, x := range ps {
		out[i] = StudioPreset{Name: x.Name, Params: x.Params, UpdatedAt: x.UpdatedAt}
	}
	return map[string]any{"items": out}, nil
}

func (h studioSaved) savePreset(r *http.Request, p *Principal) (any, error) {
	var body StudioPresetBody
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	if len(body.Params) == 0 {
		return nil, Invalid("params", "Required.")
	}
	x, err := h.s.SavePreset(r.Context(), p.UserID, r.PathValue("name"), body.Params)
	if err != nil {
		return nil, savedError(err, "preset")
	}
	return StudioPreset{Name: x.Name, Params: x.Params, UpdatedAt: x.UpdatedAt}, nil
}

func (h studioSaved) deletePreset(r *http.Request, p *Principal) (any, error) {
	if err := h.s.DeletePreset(r.Context(), p.UserID, r.PathValue("name")); err != nil {
		return nil, savedError(err, "preset "+r.PathValue("name"))
	}
	return NoContent(), nil
}

func (h studioSaved) snippets(r *http.Request, p *Principal) (any, error) {
	ss, err := h.s.Snippets(r.Context(), p.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]StudioSnippet, len(ss))
	for i, x := range ss {
		out[i] = StudioSnippet{ID: x.ID, Text: x.Text, UsedAt: x.UsedAt}
	}
	return map[string]any{"items": out}, nil
}

func (h studioSaved) saveSnippet(r *http.Request, p *Principal) (any, error) {
	var body StudioSnippetBody
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	x, err := h.s.SaveSnippet(r.Context(), p.UserID, body.Text)
	if err != nil {
		return nil, savedError(err, "snippet")
	}
	return StudioSnippet{ID: x.ID, Text: x.Text, UsedAt: x.UsedAt}, nil
}

func (h studioSaved) deleteSnippet(r *http.Request, p *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	if err := h.s.DeleteSnippet(r.Context(), p.UserID, id); err != nil {
		return nil, savedError(err, "snippet")
	}
	return NoContent(), nil
}
