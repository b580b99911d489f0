package settings

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

func openDB(t testing.TB, url string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

func ptr[T any](v T) *T { return &v }

func TestSettings(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		db := openDB(t, url)
		if err := auth.NewStore(db, time.Now).ApplyConfig(ctx, []config.Group{{Name: "vip", Ratio: 1}}, nil, nil); err != nil {
			t.Fatal(err)
		}
		s, err := NewStore(ctx, db, Defaults(2_000_000, "url"), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := Settings{SiteName: DefaultSiteName, Registration: RegistrationOff, DefaultGroup: "default",
			NewUserCreditMicros: 2_000_000, ImageResponseFormat: "url"}
		if got := s.Current(); got != want {
			t.Fatalf("defaults = %+v, want %+v", got, want)
		}

		for _, c := range []struct {
			field string
			p     Patch
		}{
			{"site_name", Patch{SiteName: ptr("  ")}},
			{"site_name", Patch{SiteName: ptr(strings.Repeat("x", MaxSiteName+1))}},
			{"site_name", Patch{SiteName: ptr("a\nb")}},
			{"announcement", Patch{Announcement: ptr(strings.Repeat("x", MaxAnnouncement+1))}},
			{"registration", Patch{Registration: ptr("closed")}},
			{"default_group", Patch{DefaultGroup: ptr("nope")}},
			{"new_user_credit_micros", Patch{NewUserCreditMicros: ptr(int64(-1))}},
			{"image_response_format", Patch{ImageResponseFormat: ptr("png")}},
			// A valid member does not slip through beside a bad one.
			{"registration", Patch{SiteName: ptr("Partial"), Registration: ptr("x")}},
		} {
			var fe *FieldError
			if _, err := s.Update(ctx, c.p); !errors.As(err, &fe) || fe.Field != c.field {
				t.Errorf("Update(%+v) = %v, want a field error on %s", c.p, err, c.field)
			}
		}
		if got := s.Current(); got != want {
			t.Fatalf("refused updates changed the settings: %+v", got)
		}

		got, err := s.Update(ctx, Patch{SiteName: ptr(" Acme AI "), Registration: ptr(RegistrationInvite),
			DefaultGroup: ptr("vip"), NewUserCreditMicros: ptr(int64(0)), ImageResponseFormat: ptr(""),
			RequireAdmin2FA: ptr(true)})
		if err != nil {
			t.Fatal(err)
		}
		want = Settings{SiteName: "Acme AI", Registration: RegistrationInvite, DefaultGroup: "vip",
			ImageResponseFormat: "", RequireAdmin2FA: true}
		if got != want {
			t.Fatalf("after update = %+v, want %+v", got, want)
		}
		// Another node's store reads the same.
		other, err := NewStore(ctx, openDB(t, url), Defaults(5, "b64_json"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := other.Current(); got != want {
			t.Errorf("other node reads %+v, want %+v", got, want)
		}
		if p := other.Current().Public(); p != (Public{SiteName: "Acme AI", Registration: RegistrationInvite}) {
			t.Errorf("public = %+v", p)
		}
	})
}
