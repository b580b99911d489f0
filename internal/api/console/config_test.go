package console_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/api/console/consoletest"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/live"
	"github.com/switchyard/switchyard/internal/settings"
	"github.com/switchyard/switchyard/internal/store"
)

// configEnv is the pricing and settings routes over real stores on SQLite,
// with a real change bus whose handlers keep a PriceTable and the settings
// current, as a node does.
type configEnv struct {
	srv      *consoletest.Server
	table    *billing.PriceTable
	settings *settings.Store
}

func newConfigEnv(t *testing.T) *configEnv {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := auth.NewStore(db, time.Now).ApplyConfig(ctx, []config.Group{{Name: "vip", Ratio: 1}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	prices := billing.NewPriceStore(db, time.Now, nil)
	if err := prices.ApplyConfig(ctx, map[string]config.Price{"gpt-4o": {Input: 2.5, Output: 10}, "claude-*": {Input: 3}}); err != nil {
		t.Fatal(err)
	}
	p, err := prices.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := &configEnv{table: billing.NewPriceTable(p)}
	if e.settings, err = settings.NewStore(ctx, db, settings.Defaults(1_000_000, ""), nil); err != nil {
		t.Fatal(err)
	}
	bus, err := live.Open(ctx, live.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	bus.On(live.Prices, func(ctx context.Context) error {
		p, err := prices.Load(ctx)
		if err == nil {
			e.table.Swap(p)
		}
		return err
	})
	bus.On(live.Settings, e.settings.Reload)
	e.srv = consoletest.New(t, func(a *console.API) {
		console.MountPricing(a, console.PricingDeps{Prices: prices, Live: bus})
		console.MountSettings(a, console.SettingsDeps{Settings: e.settings, Live: bus})
	})
	return e
}

func TestPricingRoutes(t *testing.T) {
	e := newConfigEnv(t)
	admin := e.srv.Admin()

	var list struct {
		Items []struct {
			Model     string `json:"model"`
			ManagedBy string `json:"managed_by"`
		} `json:"items"`
	}
	admin.Do("GET", "/api/v1/admin/pricing", nil).Expect(t, 200).Decode(t, &list)
	if len(list.Items) != 2 || list.Items[0].Model != "claude-*" || list.Items[0].ManagedBy != "file" {
		t.Fatalf("list = %+v", list.Items)
	}

	// Create, then update: in force on this node when the answer comes.
	spec := map[string]any{"input_micros": 150000, "output_micros": 600000, "per_image_micros": map[string]int64{"1024x1024": 40000}}
	r := admin.Do("PUT", "/api/v1/admin/pricing/openai%2Fgpt-4o-mini", spec).Expect(t, 201)
	if r.JSON["model"] != "openai/gpt-4o-mini" || r.JSON["managed_by"] != "api" {
		t.Fatalf("created %s", r.Body)
	}
	if pr, ok := e.table.Lookup("openai/gpt-4o-mini"); !ok || pr.Input != 150000 || pr.PerImage["1024x1024"] != 40000 {
		t.Fatalf("price table after PUT: %+v %v", pr, ok)
	}
	spec["input_micros"] = 200000
	admin.Do("PUT", "/api/v1/admin/pricing/openai%2Fgpt-4o-mini", spec).Expect(t, 200)
	if pr, _ := e.table.Lookup("openai/gpt-4o-mini"); pr.Input != 200000 {
		t.Fatalf("price table after update: %+v", pr)
	}
	admin.Do("GET", "/api/v1/admin/pricing/openai%2Fgpt-4o-mini", nil).Expect(t, 200)
	// A pattern is its own entry, and matches models.
	admin.Do("PUT", "/api/v1/admin/pricing/gemini-*", map[string]any{"free": true}).Expect(t, 201)
	if pr, ok := e.table.Lookup("gemini-2.5-pro"); !ok || !pr.Free {
		t.Fatalf("pattern price: %+v %v", pr, ok)
	}

	// Paging by model name.
	var page struct {
		Items      []map[string]any `json:"items"`
		NextCursor *string          `json:"next_cursor"`
	}
	admin.Do("GET", "/api/v1/admin/pricing?limit=3", nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 3 || page.NextCursor == nil {
		t.Fatalf("first page: %+v", page)
	}
	admin.Do("GET", "/api/v1/admin/pricing?limit=3&cursor="+*page.NextCursor, nil).Expect(t, 200).Decode(t, &page)
	if len(page.Items) != 1 || page.Items[0]["model"] != "openai/gpt-4o-mini" || page.NextCursor != nil {
		t.Fatalf("second page: %+v", page)
	}

	// Delete: the model is unpriced again.
	admin.Do("DELETE", "/api/v1/admin/pricing/openai%2Fgpt-4o-mini", nil).Expect(t, 204)
	if _, ok := e.table.Lookup("openai/gpt-4o-mini"); ok {
		t.Fatal("a deleted price is still charged")
	}
	if n := len(e.srv.Audits()); n < 4 {
		t.Errorf("%d audit rows for 4 writes", n)
	}
}

func TestPricingRefusals(t *testing.T) {
	e := newConfigEnv(t)
	admin, user, anon := e.srv.Admin(), e.srv.User(), e.srv.Anon()
	const one = "/api/v1/admin/pricing/m"
	cases := []struct {
		name         string
		c            *consoletest.Client
		method, path string
		body         any
		status       int
		code, field  string
	}{
		{"no session", anon, "GET", "/api/v1/admin/pricing", nil, 401, "unauthenticated", ""},
		{"user", user, "GET", "/api/v1/admin/pricing", nil, 403, "forbidden", ""},
		{"user writes", user, "PUT", one, `{}`, 403, "forbidden", ""},
		{"cookie without origin", admin.With("Origin", ""), "PUT", one, `{}`, 403, "csrf_failed", ""},
		{"unknown model", admin, "GET", one, nil, 404, "not_found", ""},
		{"delete unknown", admin, "DELETE", one, nil, 404, "not_found", ""},
		{"file entry put", admin, "PUT", "/api/v1/admin/pricing/gpt-4o", `{"free":true}`, 409, "managed_by_file", "pricing.gpt-4o"},
		{"file entry delete", admin, "DELETE", "/api/v1/admin/pricing/claude-*", nil, 409, "managed_by_file", "pricing.claude-*"},
		{"bad limit", admin, "GET", "/api/v1/admin/pricing?limit=0", nil, 422, "invalid", "limit"},
		{"unknown member", admin, "PUT", one, `{"input":1}`, 422, "invalid", "input"},
		{"wrong type", admin, "PUT", one, `{"input_micros":"1"}`, 422, "invalid", "input_micros"},
		{"fraction", admin, "PUT", one, `{"input_micros":1.5}`, 422, "invalid", "input_micros"},
		{"blank model", admin, "PUT", "/api/v1/admin/pricing/%20", `{}`, 422, "invalid", "model"},
		{"long model", admin, "PUT", "/api/v1/admin/pricing/" + strings.Repeat("m", 192), `{}`, 422, "invalid", "model"},
	}
	for _, f := range []string{"input_micros", "cached_input_micros", "output_micros", "per_request_micros", "per_web_search_micros"} {
		cases = append(cases, struct {
			name         string
			c            *consoletest.Client
			method, path string
			body         any
			status       int
			code, field  string
		}{"negative " + f, admin, "PUT", one, map[string]any{f: -1}, 422, "invalid", f})
	}
	cases = append(cases,
		struct {
			name         string
			c            *consoletest.Client
			method, path string
			body         any
			status       int
			code, field  string
		}{"bad image key", admin, "PUT", one, `{"per_image_micros":{"big":1}}`, 422, "invalid", "per_image_micros.big"},
		struct {
			name         string
			c            *consoletest.Client
			method, path string
			body         any
			status       int
			code, field  string
		}{"negative image price", admin, "PUT", one, `{"per_image_micros":{"default":-1}}`, 422, "invalid", "per_image_micros.default"},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Do(tc.method, tc.path, tc.body).ExpectError(t, tc.status, tc.code, tc.field)
		})
	}
	if _, ok := e.table.Lookup("m"); ok {
		t.Error("a refused write priced the model")
	}
}

func TestSettingsRoutes(t *testing.T) {
	e := newConfigEnv(t)
	admin, user, anon := e.srv.Admin(), e.srv.User(), e.srv.Anon()

	r := admin.Do("GET", "/api/v1/admin/settings", nil).Expect(t, 200)
	if r.JSON["site_name"] != settings.DefaultSiteName || r.JSON["registration"] != "off" || r.JSON["new_user_credit_micros"] != float64(1_000_000) {
		t.Fatalf("defaults: %s", r.Body)
	}
	r = anon.Do("GET", "/api/v1/settings/public", nil).Expect(t, 200)
	if r.JSON["site_name"] != settings.DefaultSiteName || len(r.JSON) != 3 {
		t.Fatalf("public: %s", r.Body)
	}

	r = admin.Do("PATCH", "/api/v1/admin/settings", map[string]any{"site_name": "Acme AI", "announcement": "Maintenance at 22:00",
		"registration": "invite", "default_group": "vip", "require_admin_2fa": true}).Expect(t, 200)
	if r.JSON["site_name"] != "Acme AI" || r.JSON["default_group"] != "vip" || r.JSON["new_user_credit_micros"] != float64(1_000_000) {
		t.Fatalf("after patch: %s", r.Body)
	}
	if got := e.settings.Current(); got.Registration != "invite" || !got.RequireAdmin2FA {
		t.Fatalf("in memory after patch: %+v", got)
	}
	r = user.Do("GET", "/api/v1/settings/public", nil).Expect(t, 200)
	if r.JSON["announcement"] != "Maintenance at 22:00" || r.JSON["registration"] != "invite" {
		t.Fatalf("public after patch: %s", r.Body)
	}

	const path = "/api/v1/admin/settings"
	for _, tc := range []struct {
		name        string
		c           *consoletest.Client
		body        any
		status      int
		code, field string
	}{
		{"no session", anon, `{}`, 401, "unauthenticated", ""},
		{"user", user, `{}`, 403, "forbidden", ""},
		{"cookie without origin", admin.With("Origin", ""), `{}`, 403, "csrf_failed", ""},
		{"unknown member", admin, `{"theme":"dark"}`, 422, "invalid", "theme"},
		{"empty site name", admin, `{"site_name":"  "}`, 422, "invalid", "site_name"},
		{"long site name", admin, map[string]any{"site_name": strings.Repeat("x", 101)}, 422, "invalid", "site_name"},
		{"long announcement", admin, map[string]any{"announcement": strings.Repeat("x", 4001)}, 422, "invalid", "announcement"},
		{"registration", admin, `{"registration":"closed"}`, 422, "invalid", "registration"},
		{"default group", admin, `{"default_group":"nope"}`, 422, "invalid", "default_group"},
		{"credit negative", admin, `{"new_user_credit_micros":-1}`, 422, "invalid", "new_user_credit_micros"},
		{"credit type", admin, `{"new_user_credit_micros":"5"}`, 422, "invalid", "new_user_credit_micros"},
		{"image format", admin, `{"image_response_format":"png"}`, 422, "invalid", "image_response_format"},
		{"2fa type", admin, `{"require_admin_2fa":"yes"}`, 422, "invalid", "require_admin_2fa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Do("PATCH", path, tc.body).ExpectError(t, tc.status, tc.code, tc.field)
		})
	}
	user.Do("GET", path, nil).ExpectError(t, 403, "forbidden", "")
	if got := e.settings.Current(); got.SiteName != "Acme AI" {
		t.Errorf("refused patches changed the settings: %+v", got)
	}
}
