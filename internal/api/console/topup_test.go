package console_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/api/console/consoletest"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/live"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/topup"
)

// Every top-up route against a real service on SQLite, each answer checked
// against the OpenAPI document.
func TestTopupRoutes(t *testing.T) {
	ctx := t.Context()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	as := auth.NewStore(db, nil)
	if err := as.EnsureGroups(ctx, []config.Group{{Name: config.DefaultGroup, Ratio: 1}}); err != nil {
		t.Fatal(err)
	}
	for _, nu := range []auth.NewUser{{Email: "admin@example.com", Role: "admin"}, {Email: "user@example.com"}} {
		if _, err := as.CreateUser(ctx, nu); err != nil {
			t.Fatal(err)
		}
	}
	ledger := billing.NewLedger(db, nil)
	epay := &topup.EPay{Gateway: "https://pay.example.test/", PID: "1001", Key: "merchant key", NotifyURL: "https://sy.example/api/v1/topup/notify/epay"}
	svc := topup.New(db, ledger, topup.Options{Providers: []topup.Provider{topup.Manual{}, epay},
		Custom: topup.Custom{Enabled: true, Currency: "cny", PricePerUSD: 700, Min: billing.MicrosPerUSD, Max: 100 * billing.MicrosPerUSD}})
	kr, err := secret.New(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	provStore := topup.NewProviderStore(db, kr, nil)
	bus, err := live.Open(ctx, live.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	// What the node does on live.Topup: the file's providers, then the
	// console's enabled ones.
	bus.On(live.Topup, func(ctx context.Context) error {
		ps := []topup.Provider{topup.Manual{}, epay}
		list, err := provStore.List(ctx)
		for _, p := range list {
			if p.Name == topup.StripeName && p.Enabled {
				ps = append(ps, &topup.Stripe{SecretKey: p.Secrets.SecretKey, WebhookSecrets: p.Secrets.WebhookSecrets, APIBase: p.APIBase})
			}
		}
		svc.SetProviders(ps)
		return err
	})
	var limited atomic.Bool
	srv := consoletest.New(t, func(a *console.API) {
		console.MountTopup(a, console.TopupDeps{Service: svc, ReturnURL: "https://sy.example/me/topup", PublicURL: "https://sy.example/",
			AllowNotify: func(*http.Request) (bool, time.Duration) { return !limited.Load(), 30 * time.Second },
			Settings:    provStore, FileProviders: map[string]string{"manual": "topup.manual", "epay": "topup.epay"}, Live: bus})
	})
	admin, user := srv.Admin(), srv.User()
	notStepped := srv.As(&console.Principal{UserID: 1, Email: "admin@example.com", Role: console.RoleAdmin})

	provs := admin.Do("GET", "/api/v1/admin/topup/providers", nil).Expect(t, 200).JSON["items"].([]any)
	if len(provs) != 3 || provs[0].(map[string]any)["notify_url"] != "https://sy.example/api/v1/topup/notify/epay" ||
		provs[0].(map[string]any)["file_field"] != "topup.epay" || provs[2].(map[string]any)["managed_by"] != "none" ||
		strings.Contains(fmt.Sprint(provs), "merchant key") {
		t.Fatalf("providers %v", provs)
	}

	// Provider settings: the file's are read-only; a secret needs a
	// step-up; a refused value names its field; secrets never come back.
	admin.Do("PUT", "/api/v1/admin/topup/providers/epay", map[string]any{"pid": "2"}).ExpectError(t, 409, "managed_by_file", "topup.epay")
	admin.Do("DELETE", "/api/v1/admin/topup/providers/manual", nil).ExpectError(t, 409, "managed_by_file", "topup.manual")
	admin.Do("PUT", "/api/v1/admin/topup/providers/paypal", map[string]any{}).ExpectError(t, 404, "not_found", "")
	user.Do("PUT", "/api/v1/admin/topup/providers/stripe", map[string]any{}).ExpectError(t, 403, "forbidden", "")
	stripeIn := map[string]any{"secret_key": "sk_test_routes_0123456789", "webhook_secrets_add": []string{"whsec_routes_0123456789"}}
	notStepped.Do("PUT", "/api/v1/admin/topup/providers/stripe", stripeIn).ExpectError(t, 403, "step_up_required", "")
	admin.Do("PUT", "/api/v1/admin/topup/providers/stripe", map[string]any{"secret_key": "pk_test_x"}).ExpectError(t, 422, "invalid", "secret_key")
	admin.Do("PUT", "/api/v1/admin/topup/providers/stripe", map[string]any{"secret_key": "sk_test_x"}).ExpectError(t, 422, "invalid", "webhook_secrets_add")
	got := admin.Do("PUT", "/api/v1/admin/topup/providers/stripe", stripeIn).Expect(t, 200)
	if cfg := got.JSON["config"].(map[string]any); got.JSON["active"] != true || got.JSON["managed_by"] != "api" ||
		cfg["secret_key"].(map[string]any)["last4"] != "6789" || strings.Contains(fmt.Sprint(got.JSON), "routes_0123") {
		t.Fatalf("saved stripe %v", got.JSON)
	}
	admin.Do("PUT", "/api/v1/admin/topup/providers/stripe", map[string]any{"webhook_secrets_keep": []int{3}}).ExpectError(t, 422, "invalid", "webhook_secrets_keep")
	// No secret changes: no step-up needed.
	if got := notStepped.Do("PUT", "/api/v1/admin/topup/providers/stripe", map[string]any{"enabled": false}).Expect(t, 200); got.JSON["active"] != false {
		t.Fatalf("disabled stripe %v", got.JSON)
	}
	admin.Do("DELETE", "/api/v1/admin/topup/providers/stripe", nil).Expect(t, 204)
	admin.Do("DELETE", "/api/v1/admin/topup/providers/stripe", nil).ExpectError(t, 404, "not_found", "")

	if got := admin.Do("POST", "/api/v1/admin/topup/providers/manual/test", nil).Expect(t, 200).JSON; got["ok"] != true {
		t.Fatalf("test manual %v", got)
	}
	admin.Do("POST", "/api/v1/admin/topup/providers/nope/test", nil).ExpectError(t, 404, "not_found", "")
	user.Do("POST", "/api/v1/admin/topup/providers/manual/test", nil).ExpectError(t, 403, "forbidden", "")

	// Packages.
	user.Do("POST", "/api/v1/admin/topup/packages", map[string]any{}).ExpectError(t, 403, "forbidden", "")
	admin.Do("POST", "/api/v1/admin/topup/packages", map[string]any{"name": "x", "price_minor": 0, "currency": "cny", "credit_micros": 1}).
		ExpectError(t, 422, "invalid", "price_minor")
	pkg := admin.Do("POST", "/api/v1/admin/topup/packages", map[string]any{"name": "Ten", "price_minor": 7000, "currency": "CNY",
		"credit_micros": 10_000_000, "bonus_micros": 1_000_000, "per_user_limit": 1}).Expect(t, 201).JSON
	id := int64(pkg["id"].(float64))
	idPath := "/api/v1/admin/topup/packages/" + strconv.FormatInt(id, 10)
	off := admin.Do("POST", "/api/v1/admin/topup/packages", map[string]any{"name": "Off", "price_minor": 100, "currency": "cny",
		"credit_micros": 1_000_000, "enabled": false}).Expect(t, 201).JSON
	if got := admin.Do("GET", "/api/v1/admin/topup/packages", nil).Expect(t, 200).JSON; len(got["items"].([]any)) != 2 {
		t.Fatalf("packages %v", got)
	}
	if got := admin.Do("PUT", idPath, map[string]any{"name": "Ten (bonus)", "price_minor": 7000, "currency": "cny",
		"credit_micros": 10_000_000, "bonus_micros": 1_000_000, "per_user_limit": 1}).Expect(t, 200).JSON; got["name"] != "Ten (bonus)" {
		t.Fatalf("update %v", got)
	}
	admin.Do("DELETE", "/api/v1/admin/topup/packages/"+strconv.FormatInt(int64(off["id"].(float64)), 10), nil).Expect(t, 204)
	admin.Do("DELETE", "/api/v1/admin/topup/packages/999", nil).ExpectError(t, 404, "not_found", "")

	usd := admin.Do("POST", "/api/v1/admin/topup/packages", map[string]any{"name": "USD", "price_minor": 100, "currency": "usd",
		"credit_micros": 1_000_000}).Expect(t, 201).JSON
	user.Do("POST", "/api/v1/me/topup/orders", map[string]any{"package_id": usd["id"], "provider": "epay"}).ExpectError(t, 422, "invalid", "provider")
	admin.Do("DELETE", "/api/v1/admin/topup/packages/"+strconv.FormatInt(int64(usd["id"].(float64)), 10), nil).Expect(t, 204)

	// The user's side.
	offer := user.Do("GET", "/api/v1/me/topup", nil).Expect(t, 200).JSON
	if len(offer["packages"].([]any)) != 1 || offer["custom"].(map[string]any)["enabled"] != true {
		t.Fatalf("offer %v", offer)
	}
	user.Do("POST", "/api/v1/me/topup/orders", map[string]any{"package_id": id}).ExpectError(t, 422, "invalid", "provider")
	user.Do("POST", "/api/v1/me/topup/orders", map[string]any{"package_id": id, "provider": "stripe"}).ExpectError(t, 422, "invalid", "provider")
	o := user.Do("POST", "/api/v1/me/topup/orders", map[string]any{"package_id": id, "provider": "epay"}).Expect(t, 201).JSON
	ref := o["ref"].(string)
	if pay, _ := url.Parse(o["pay_url"].(string)); pay.Query().Get("money") != "70.00" || pay.Query().Get("return_url") != "https://sy.example/me/topup" {
		t.Fatalf("pay url %v", o["pay_url"])
	}
	user.Do("POST", "/api/v1/me/topup/orders", map[string]any{"package_id": id, "provider": "manual"}).ExpectError(t, 409, "conflict", "")
	custom := user.Do("POST", "/api/v1/me/topup/orders", map[string]any{"credit_micros": 2_000_000, "provider": "manual"}).Expect(t, 201).JSON
	if custom["price_minor"] != float64(1400) || custom["pay_url"] != "" {
		t.Fatalf("custom order %v", custom)
	}
	user.Do("POST", "/api/v1/me/topup/orders", map[string]any{"credit_micros": 200_000_000, "provider": "manual"}).ExpectError(t, 422, "invalid", "credit_micros")
	if got := user.Do("GET", "/api/v1/me/topup/orders?status=pending", nil).Expect(t, 200).JSON; len(got["items"].([]any)) != 2 {
		t.Fatalf("own orders %v", got)
	}
	user.Do("GET", "/api/v1/me/topup/orders?status=nope", nil).ExpectError(t, 422, "invalid", "status")
	other := srv.As(&console.Principal{UserID: 1, Email: "admin@example.com", Role: console.RoleUser})
	other.Do("GET", "/api/v1/me/topup/orders/"+ref, nil).ExpectError(t, 404, "not_found", "")

	// The gateway's notify: rate-limited, then signature checked, then recorded.
	q := url.Values{"pid": {"1001"}, "trade_no": {"T1"}, "out_trade_no": {ref}, "money": {"70.00"}, "trade_status": {"TRADE_SUCCESS"}}
	q.Set("sign", topup.EPaySign(q, "merchant key"))
	limited.Store(true)
	srv.Anon().Do("GET", "/api/v1/topup/notify/epay?"+q.Encode(), nil).ExpectError(t, 429, "rate_limited", "")
	limited.Store(false)
	bad := url.Values{"pid": {"1001"}, "out_trade_no": {ref}, "money": {"70.00"}, "trade_status": {"TRADE_SUCCESS"}, "sign": {"0000"}}
	if r := srv.Anon().Do("GET", "/api/v1/topup/notify/epay?"+bad.Encode(), nil); r.Status != 400 {
		t.Fatalf("bad signature: %d", r.Status)
	}
	if r := srv.Anon().Do("GET", "/api/v1/topup/notify/epay?"+q.Encode(), nil); r.Status != 200 || string(r.Body) != "success" {
		t.Fatalf("notify: %d %s", r.Status, r.Body)
	}
	if got := user.Do("GET", "/api/v1/me/topup/orders/"+ref, nil).Expect(t, 200).JSON; got["status"] != "credited" || got["notify_log"] != nil {
		t.Fatalf("order %v", got)
	}
	srv.Anon().Do("POST", "/api/v1/topup/notify/stripe", "{}").ExpectError(t, 404, "not_found", "")

	// The admin's side.
	customRef := custom["ref"].(string)
	notStepped.Do("POST", "/api/v1/admin/topup/orders/"+customRef+"/mark-paid", map[string]any{"note": "cash"}).ExpectError(t, 403, "step_up_required", "")
	admin.Do("POST", "/api/v1/admin/topup/orders/"+customRef+"/mark-paid", map[string]any{"note": ""}).ExpectError(t, 422, "invalid", "note")
	if got := admin.Do("POST", "/api/v1/admin/topup/orders/"+customRef+"/mark-paid", map[string]any{"note": "cash"}).Expect(t, 200).JSON; got["status"] != "credited" {
		t.Fatalf("mark paid %v", got)
	}
	if got := admin.Do("GET", "/api/v1/admin/topup/orders?flag=forced&user_id=2&provider=manual", nil).Expect(t, 200).JSON; len(got["items"].([]any)) != 1 {
		t.Fatalf("forced orders %v", got)
	}
	if got := admin.Do("GET", "/api/v1/admin/topup/orders/"+ref, nil).Expect(t, 200).JSON; !strings.Contains(got["notify_log"].(string), "trade_no=T1") {
		t.Fatalf("admin order %v", got)
	}
	admin.Do("GET", "/api/v1/admin/topup/orders/TUNOPE", nil).ExpectError(t, 404, "not_found", "")
	// The user spends; a refund would go below zero.
	if _, err := ledger.Post(ctx, billing.Entry{UserID: 2, RequestID: "spend", Kind: billing.KindAdjust, Amount: -5 * billing.MicrosPerUSD}); err != nil {
		t.Fatal(err)
	}
	admin.Do("POST", "/api/v1/admin/topup/orders/"+ref+"/refund", map[string]any{"note": "chargeback"}).ExpectError(t, 409, "insufficient_balance", "allow_negative")
	if got := admin.Do("POST", "/api/v1/admin/topup/orders/"+ref+"/refund", map[string]any{"note": "chargeback", "allow_negative": true}).Expect(t, 200).JSON; got["status"] != "refunded" {
		t.Fatalf("refund %v", got)
	}
	admin.Do("POST", "/api/v1/admin/topup/orders/"+ref+"/refund", map[string]any{"note": "again"}).ExpectError(t, 409, "conflict", "")
	if b, _ := ledger.Balance(ctx, 2); b != -3*billing.MicrosPerUSD {
		t.Fatalf("balance %s", b)
	}

	// Cancel.
	user.Do("POST", "/api/v1/me/topup/orders/"+customRef+"/cancel", nil).ExpectError(t, 409, "conflict", "")
	last := user.Do("POST", "/api/v1/me/topup/orders", map[string]any{"credit_micros": 1_000_000, "provider": "manual"}).Expect(t, 201).JSON
	if got := user.Do("POST", "/api/v1/me/topup/orders/"+last["ref"].(string)+"/cancel", nil).Expect(t, 200).JSON; got["status"] != "cancelled" {
		t.Fatalf("cancel %v", got)
	}
	actions := map[string]int{}
	for _, a := range srv.Audits() {
		actions[a.Action]++
	}
	for _, a := range []string{"topup.package.create", "topup.package.update", "topup.package.delete", "topup.order.create",
		"topup.order.mark_paid", "topup.order.refund", "topup.order.cancel"} {
		if actions[a] == 0 {
			t.Errorf("no %s audit entry (%v)", a, actions)
		}
	}
}
