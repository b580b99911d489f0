// Package settings keeps the console's site-wide settings: the site's name
// and announcement, how people may register, the group and credit a new
// user gets, the image default and whether admins must use two-factor
// sign-in.
//
// Each setting is one row of the settings table named "console.<field>"
// holding its JSON value; a setting never written through the console has
// its default, which for new_user_credit_micros and image_response_format
// comes from the configuration file (billing.new_user_credit,
// images.response_format). Values are read by the hot path from memory
// (Current), reloaded when another node publishes live.Settings.
package settings

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/store"
)

// Registration modes.
const (
	RegistrationOff    = "off"    // accounts are made by admins only
	RegistrationOpen   = "open"   // anyone may register
	RegistrationInvite = "invite" // registration needs an invite code
)

// Settings are the console settings. Money is integer micro-USD.
type Settings struct {
	SiteName            string `json:"site_name"`
	Announcement        string `json:"announcement"`
	Registration        string `json:"registration"` // off | open | invite
	DefaultGroup        string `json:"default_group"`
	NewUserCreditMicros int64  `json:"new_user_credit_micros"`
	// ImageResponseFormat is the response_format of image requests that
	// send none and whose key and group set none: "" (each model's own),
	// "url" or "b64_json".
	ImageResponseFormat string `json:"image_response_format"`
	RequireAdmin2FA     bool   `json:"require_admin_2fa"`
}

// Public is what anyone may read, signed in or not.
type Public struct {
	SiteName     string `json:"site_name"`
	Announcement string `json:"announcement"`
	Registration string `json:"registration"`
}

// Public returns the settings anyone may read.
func (s Settings) Public() Public {
	return Public{SiteName: s.SiteName, Announcement: s.Announcement, Registration: s.Registration}
}

// Patch is a partial update: nil members are left as they are.
type Patch struct {
	SiteName            *string `json:"site_name,omitempty"`
	Announcement        *string `json:"announcement,omitempty"`
	Registration        *string `json:"registration,omitempty"`
	DefaultGroup        *string `json:"default_group,omitempty"`
	NewUserCreditMicros *int64  `json:"new_user_credit_micros,omitempty"`
	ImageResponseFormat *string `json:"image_response_format,omitempty"`
	RequireAdmin2FA     *bool   `json:"require_admin_2fa,omitempty"`
}

// Limits of the free-text settings, in characters.
const (
	MaxSiteName     = 100
	MaxAnnouncement = 4000
	// MaxNewUserCreditMicros caps the welcome credit at 1 000 000 USD: a
	// larger value is a typo, not a policy.
	MaxNewUserCreditMicros = 1_000_000 * 1_000_000
)

// DefaultSiteName is the site's name until an admin sets one.
const DefaultSiteName = "Switchyard"

// FieldError is a refused value, named by its JSON member.
type FieldError struct{ Field, Message string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// settingPrefix starts the settings rows of this package.
const settingPrefix = "console."

// Store reads and writes the settings.
type Store struct {
	db       *store.DB
	defaults Settings
	log      *slog.Logger
	cur      atomic.Pointer[Settings]
	reloadMu sync.Mutex
}

// NewStore loads the settings from db over defaults (see Defaults).
func NewStore(ctx context.Context, db *store.DB, defaults Settings, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{db: db, defaults: defaults, log: log}
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Defaults are the settings of a database where none was written:
// newUserCredit and imageFormat come from the configuration file.
func Defaults(newUserCreditMicros int64, imageFormat string) Settings {
	return Settings{
		SiteName: DefaultSiteName, Registration: RegistrationOff, DefaultGroup: "default",
		NewUserCreditMicros: newUserCreditMicros, ImageResponseFormat: imageFormat,
	}
}

// Current is the settings as last loaded, without touching the database.
func (s *Store) Current() Settings { return *s.cur.Load() }

// Reload reads the settings now (after a change on another node).
func (s *Store) Reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	v, err := s.Get(ctx)
	if err != nil {
		return err
	}
	s.cur.Store(&v)
	return nil
}

// field binds a member of Settings to its row.
type field struct {
	name string
	ptr  func(*Settings) any
}

var fields = []field{
	{"site_name", func(s *Settings) any { return &s.SiteName }},
	{"announcement", func(s *Settings) any { return &s.Announcement }},
	{"registration", func(s *Settings) any { return &s.Registration }},
	{"default_group", func(s *Settings) any { return &s.DefaultGroup }},
	{"new_user_credit_micros", func(s *Settings) any { return &s.NewUserCreditMicros }},
	{"image_response_format", func(s *Settings) any { return &s.ImageResponseFormat }},
	{"require_admin_2fa", func(s *Settings) any { return &s.RequireAdmin2FA }},
}

// Get reads the settings from the database. A stored value that cannot be
// read (written by hand, say) is logged and its default used.
func (s *Store) Get(ctx context.Context) (Settings, error) {
	names := make([]any, len(fields))
	for i, f := range fields {
		names[i] = settingPrefix + f.name
	}
	q := "SELECT name, value FROM settings WHERE name IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ") + ")"
	rows, err := s.db.Read().QueryContext(ctx, s.db.Dialect().Rebind(q), names...)
	if err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	defer rows.Close()
	stored := map[string]string{}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			return Settings{}, fmt.Errorf("read settings: %w", err)
		}
		stored[strings.TrimPrefix(n, settingPrefix)] = v
	}
	if err := rows.Err(); err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	out := s.defaults
	for _, f := range fields {
		raw, ok := stored[f.name]
		if !ok {
			continue
		}
		tmp := out
		if err := json.Unmarshal([]byte(raw), f.ptr(&tmp)); err != nil {
			s.log.Error("stored setting unreadable; its default applies", "setting", settingPrefix+f.name, "error", err.Error())
			continue
		}
		out = tmp
	}
	return out, nil
}

// Update checks every member p sets, then stores them and returns the
// settings after the change. A refused value is a *FieldError naming its
// member; nothing is stored then. The caller publishes live.Settings.
func (s *Store) Update(ctx context.Context, p Patch) (Settings, error) {
	if err := s.validate(ctx, p); err != nil {
		return Settings{}, err
	}
	var changes []struct {
		name string
		v    any
	}
	add := func(name string, v any) {
		changes = append(changes, struct {
			name string
			v    any
		}{name, v})
	}
	if p.SiteName != nil {
		add("site_name", strings.TrimSpace(*p.SiteName))
	}
	if p.Announcement != nil {
		add("announcement", *p.Announcement)
	}
	if p.Registration != nil {
		add("registration", *p.Registration)
	}
	if p.DefaultGroup != nil {
		add("default_group", *p.DefaultGroup)
	}
	if p.NewUserCreditMicros != nil {
		add("new_user_credit_micros", *p.NewUserCreditMicros)
	}
	if p.ImageResponseFormat != nil {
		add("image_response_format", *p.ImageResponseFormat)
	}
	if p.RequireAdmin2FA != nil {
		add("require_admin_2fa", *p.RequireAdmin2FA)
	}
	for _, c := range changes {
		b, err := json.Marshal(c.v)
		if err != nil {
			return Settings{}, fmt.Errorf("store setting %s: %w", c.name, err)
		}
		if err := s.db.SetSetting(ctx, settingPrefix+c.name, string(b)); err != nil {
			return Settings{}, err
		}
	}
	if err := s.Reload(ctx); err != nil {
		return Settings{}, err
	}
	return s.Current(), nil
}

func (s *Store) validate(ctx context.Context, p Patch) error {
	if p.SiteName != nil {
		n := strings.TrimSpace(*p.SiteName)
		switch {
		case n == "":
			return &FieldError{"site_name", "must not be empty"}
		case utf8.RuneCountInString(n) > MaxSiteName:
			return &FieldError{"site_name", fmt.Sprintf("must be at most %d characters", MaxSiteName)}
		case strings.ContainsAny(n, "\r\n"):
			return &FieldError{"site_name", "must be one line"}
		}
	}
	if p.Announcement != nil && utf8.RuneCountInString(*p.Announcement) > MaxAnnouncement {
		return &FieldError{"announcement", fmt.Sprintf("must be at most %d characters", MaxAnnouncement)}
	}
	if p.Registration != nil {
		switch *p.Registration {
		case RegistrationOff, RegistrationOpen, RegistrationInvite:
		default:
			return &FieldError{"registration", fmt.Sprintf("must be %s, %s or %s", RegistrationOff, RegistrationOpen, RegistrationInvite)}
		}
	}
	if p.DefaultGroup != nil {
		ok, err := s.groupExists(ctx, *p.DefaultGroup)
		if err != nil {
			return err
		}
		if !ok {
			return &FieldError{"default_group", fmt.Sprintf("no group is named %q", *p.DefaultGroup)}
		}
	}
	if p.NewUserCreditMicros != nil && (*p.NewUserCreditMicros < 0 || *p.NewUserCreditMicros > MaxNewUserCreditMicros) {
		return &FieldError{"new_user_credit_micros", fmt.Sprintf("must be between 0 and %d", int64(MaxNewUserCreditMicros))}
	}
	if p.ImageResponseFormat != nil {
		switch *p.ImageResponseFormat {
		case "", "url", "b64_json":
		default:
			return &FieldError{"image_response_format", `must be "" (each model's own), url or b64_json`}
		}
	}
	return nil
}

// groupExists reads user_groups directly: the default group must name a
// group that exists, and this one query is all this package needs of
// tenancy.
func (s *Store) groupExists(ctx context.Context, name string) (bool, error) {
	var one int
	err := s.db.Read().QueryRowContext(ctx, s.db.Dialect().Rebind("SELECT 1 FROM user_groups WHERE name = ?"), name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check group %s: %w", name, err)
	}
	return true, nil
}
