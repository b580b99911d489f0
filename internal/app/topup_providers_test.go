package app_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/live"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/internal/topup"
)

// Secrets typed into the console in these tests: none may come back in
// an answer, an audit entry or a database row.
const (
	consoleStripeKey = "sk_test_console_0123456789"
	consoleWhsecOld  = "whsec_console_old_0123456789"
	consoleWhsecNew  = "whsec_console_new_9876543210"
	consoleEPayKey   = "console epay merchant key 42"
)

// consoleTopupConfig declares only the manual provider in the file: Stripe
// and EPay are configured in the console.
func consoleTopupConfig(t *testing.T) *config.Config {
	cfg := apptest.Config(t)
	cfg.Admin = config.Admin{Email: "ops@example.com", Password: filePassword}
	cfg.Topup.Manual = true
	cfg.Topup.NotifyRate = 1000
	return cfg
}

// epayGateway answers submit.php, for the "test" action.
func epayGateway(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/submit.php" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "missing parameters")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func errCode(out map[string]any) (code, field string) {
	e, _ := out["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

func rawJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The admin configures Stripe and EPay in the console of the first node
// (the file declares only the manual provider, which stays read-only);
// a user then pays through both on the last node, which took the change
// without a restart. Secrets are never answered, changing one needs a
// step-up, and each change is audited.
func consoleProvidersScenario(t *testing.T, nodes []*app.App, stripe *stripeDouble) {
	a, last := nodes[0], nodes[len(nodes)-1]
	base, lastBase := nodeBase(a), nodeBase(last)
	res, _ := call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": "ops@example.com", "password": filePassword})
	admin := sessionCookie(res)
	gateway := epayGateway(t)

	res, out := call(t, base, "GET", "/api/v1/admin/topup/providers", admin, nil)
	items, _ := out["items"].([]any)
	if res.StatusCode != 200 || len(items) != 3 {
		t.Fatalf("providers: %d %v", res.StatusCode, out)
	}
	for _, it := range items {
		p := it.(map[string]any)
		want := map[string]string{"epay": "none", "manual": "file", "stripe": "none"}[p["name"].(string)]
		if p["managed_by"] != want || (want == "file") != (p["file_field"] == "topup.manual") || (want == "file") != (p["active"] == true) {
			t.Fatalf("provider %v", p)
		}
	}
	// The file's provider is read-only, naming its field.
	res, out = call(t, base, "PUT", "/api/v1/admin/topup/providers/manual", admin, map[string]any{"instructions": "x"})
	if code, field := errCode(out); res.StatusCode != 409 || code != "managed_by_file" || field != "topup.manual" {
		t.Fatalf("save the file's provider: %d %v", res.StatusCode, out)
	}
	if res, _ := call(t, base, "PUT", "/api/v1/admin/topup/providers/paypal", admin, map[string]any{}); res.StatusCode != 404 {
		t.Fatalf("unknown provider: %d", res.StatusCode)
	}

	epay := map[string]any{"enabled": true, "gateway": gateway.URL + "/", "pid": epayPID, "type": "alipay", "key": consoleEPayKey}
	// A secret needs a step-up.
	res, out = call(t, base, "PUT", "/api/v1/admin/topup/providers/epay", admin, epay)
	if code, _ := errCode(out); res.StatusCode != 403 || code != "step_up_required" {
		t.Fatalf("epay key without a step-up: %d %v", res.StatusCode, out)
	}
	if res, out := call(t, base, "POST", "/api/v1/auth/step-up", admin, map[string]string{"password": filePassword}); res.StatusCode != 200 {
		t.Fatalf("step-up: %d %v", res.StatusCode, out)
	}
	// A refused value names its field.
	res, out = call(t, base, "PUT", "/api/v1/admin/topup/providers/epay", admin, map[string]any{"enabled": true, "gateway": "pay.example", "key": consoleEPayKey})
	if code, field := errCode(out); res.StatusCode != 422 || code != "invalid" || field != "gateway" {
		t.Fatalf("bad gateway: %d %v", res.StatusCode, out)
	}
	res, out = call(t, base, "PUT", "/api/v1/admin/topup/providers/epay", admin, epay)
	if res.StatusCode != 200 || out["managed_by"] != "api" || out["active"] != true {
		t.Fatalf("save epay: %d %v", res.StatusCode, out)
	}
	if k := out["config"].(map[string]any)["key"].(map[string]any); k["set"] != true || k["last4"] != "y 42" {
		t.Fatalf("epay key hint %v", k)
	}
	stripeBody := map[string]any{"api_base": stripe.srv.URL, "secret_key": consoleStripeKey, "webhook_secrets_add": []string{consoleWhsecOld}}
	res, out = call(t, base, "PUT", "/api/v1/admin/topup/providers/stripe", admin, stripeBody)
	if res.StatusCode != 200 || out["active"] != true || len(out["config"].(map[string]any)["webhook_secrets"].([]any)) != 1 {
		t.Fatalf("save stripe: %d %v", res.StatusCode, out)
	}
	res, out = call(t, base, "GET", "/api/v1/admin/topup/providers", admin, nil)
	for _, sec := range []string{consoleStripeKey, consoleWhsecOld, consoleEPayKey} {
		if strings.Contains(rawJSON(out), sec) {
			t.Fatalf("the providers listing shows a secret: %v", out)
		}
	}
	// At rest: the rows hold no secret in the clear.
	var rows string
	r, err := a.DB().Read().QueryContext(t.Context(), "SELECT name, settings, sealed FROM topup_providers")
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var name, settings string
		var sealed []byte
		if err := r.Scan(&name, &settings, &sealed); err != nil {
			t.Fatal(err)
		}
		rows += name + settings + string(sealed)
	}
	r.Close()
	if !strings.Contains(rows, gateway.URL) {
		t.Fatalf("rows %q lack the gateway", rows)
	}
	for _, sec := range []string{consoleStripeKey, consoleWhsecOld, consoleEPayKey, "console_0123"} {
		if strings.Contains(rows, sec) {
			t.Fatalf("a row holds %q in the clear", sec)
		}
	}

	// The "test" action works for providers configured here.
	res, out = call(t, base, "POST", "/api/v1/admin/topup/providers/epay/test", admin, nil)
	if res.StatusCode != 200 || out["ok"] != true {
		t.Fatalf("test epay: %d %v", res.StatusCode, out)
	}

	// The user pays on the last node, which reloaded the providers.
	if res, out := call(t, base, "POST", "/api/v1/admin/users", admin, map[string]string{"email": "payer@example.com"}); res.StatusCode != 201 {
		t.Fatalf("create user: %d %v", res.StatusCode, out)
	}
	if _, err := a.Accounts().SetPassword(t.Context(), "payer@example.com", filePassword); err != nil {
		t.Fatal(err)
	}
	res, _ = call(t, lastBase, "POST", "/api/v1/auth/login", "", map[string]string{"email": "payer@example.com", "password": filePassword})
	buyer := sessionCookie(res)
	balance := apptest.Balance(t, last, "payer@example.com")
	offered := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, out := call(t, lastBase, "GET", "/api/v1/me/topup", buyer, nil)
			if got := fmt.Sprint(out["providers"]); got == want {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("providers offered %s, want %s", got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	offered("[epay manual stripe]")
	pkg := func(price int64, currency string) float64 {
		res, out := call(t, base, "POST", "/api/v1/admin/topup/packages", admin, map[string]any{"name": "P " + currency, "price_minor": price,
			"currency": currency, "credit_micros": 5_000_000})
		if res.StatusCode != 201 {
			t.Fatalf("create package: %d %v", res.StatusCode, out)
		}
		return out["id"].(float64)
	}
	usd, cny := pkg(500, "usd"), pkg(3500, "cny")
	order := func(pkg float64, provider string) map[string]any {
		t.Helper()
		res, out := call(t, lastBase, "POST", "/api/v1/me/topup/orders", buyer, map[string]any{"package_id": pkg, "provider": provider})
		if res.StatusCode != 201 {
			t.Fatalf("order through %s: %d %v", provider, res.StatusCode, out)
		}
		return out
	}
	status := func(ref string) string {
		_, out := call(t, lastBase, "GET", "/api/v1/me/topup/orders/"+ref, buyer, nil)
		return fmt.Sprint(out["status"])
	}
	signed := func(id, secret string) ([]byte, string) {
		body, _ := stripe.completed(id)
		now := time.Now().Unix()
		return body, "t=" + strconv.FormatInt(now, 10) + ",v1=" + hex.EncodeToString(topup.StripeSignature(secret, now, body))
	}

	// Stripe, with the console's key (the double checks it) and secret.
	so := order(usd, "stripe")
	body, sig := signed(so["provider_ref"].(string), consoleWhsecOld)
	if code := post(t, lastBase+"/api/v1/topup/notify/stripe", "application/json", body, "Stripe-Signature", sig); code != 200 {
		t.Fatalf("stripe notify: %d", code)
	}
	if st := status(so["ref"].(string)); st != "credited" {
		t.Fatalf("stripe order %s", st)
	}

	// Roll the signing secret: add the new one, then drop the old one.
	res, out = call(t, base, "PUT", "/api/v1/admin/topup/providers/stripe", admin, map[string]any{"webhook_secrets_add": []string{consoleWhsecNew}})
	if res.StatusCode != 200 || len(out["config"].(map[string]any)["webhook_secrets"].([]any)) != 2 {
		t.Fatalf("add a signing secret: %d %v", res.StatusCode, out)
	}
	so2 := order(usd, "stripe")
	body, sig = signed(so2["provider_ref"].(string), consoleWhsecNew)
	if code := post(t, lastBase+"/api/v1/topup/notify/stripe", "application/json", body, "Stripe-Signature", sig); code != 200 {
		t.Fatalf("stripe notify under the new secret: %d", code)
	}
	res, out = call(t, base, "PUT", "/api/v1/admin/topup/providers/stripe", admin, map[string]any{"webhook_secrets_keep": []int{1}})
	if res.StatusCode != 200 || len(out["config"].(map[string]any)["webhook_secrets"].([]any)) != 1 {
		t.Fatalf("drop the old signing secret: %d %v", res.StatusCode, out)
	}
	so3 := order(usd, "stripe")
	body, sig = signed(so3["provider_ref"].(string), consoleWhsecOld)
	deadline := time.Now().Add(5 * time.Second)
	for code := 0; code != 400; {
		if code = post(t, lastBase+"/api/v1/topup/notify/stripe", "application/json", body, "Stripe-Signature", sig); code != 400 && time.Now().After(deadline) {
			t.Fatalf("the dropped secret still verifies: %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// EPay, signed with the console's merchant key.
	eo := order(cny, "epay")
	pay, err := url.Parse(eo["pay_url"].(string))
	if err != nil || !strings.HasPrefix(eo["pay_url"].(string), gateway.URL+"/submit.php?") || pay.Query().Get("sign") != topup.EPaySign(pay.Query(), consoleEPayKey) {
		t.Fatalf("epay pay url %v", eo["pay_url"])
	}
	n := url.Values{"pid": {epayPID}, "trade_no": {"T9"}, "out_trade_no": {eo["ref"].(string)}, "type": {"alipay"},
		"money": {"35.00"}, "trade_status": {"TRADE_SUCCESS"}, "sign_type": {"MD5"}}
	n.Set("sign", topup.EPaySign(n, consoleEPayKey))
	resp, err := http.Get(lastBase + "/api/v1/topup/notify/epay?" + n.Encode())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "success" {
		t.Fatalf("epay notify: %d %q", resp.StatusCode, got)
	}
	if st := status(eo["ref"].(string)); st != "credited" {
		t.Fatalf("epay order %s", st)
	}
	if b := balance(); b != 15*billing.MicrosPerUSD {
		t.Fatalf("balance %s", b)
	}

	// Disabling EPay needs no step-up (no secret changes) and takes it
	// off every node; its settings stay for later.
	res, _ = call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": "ops@example.com", "password": filePassword})
	fresh := sessionCookie(res)
	res, out = call(t, base, "PUT", "/api/v1/admin/topup/providers/epay", fresh, map[string]any{"enabled": false})
	if res.StatusCode != 200 || out["active"] != false || out["config"].(map[string]any)["key"].(map[string]any)["set"] != true {
		t.Fatalf("disable epay: %d %v", res.StatusCode, out)
	}
	offered("[manual stripe]")
	if res, _ := http.Get(lastBase + "/api/v1/topup/notify/epay?" + n.Encode()); res.StatusCode != 404 {
		t.Fatalf("notify to a disabled provider: %d", res.StatusCode)
	}
	// Changing a key without a step-up is refused even when disabled.
	res, out = call(t, base, "PUT", "/api/v1/admin/topup/providers/epay", fresh, map[string]any{"key": "another merchant key"})
	if code, _ := errCode(out); res.StatusCode != 403 || code != "step_up_required" {
		t.Fatalf("key change without a step-up: %d %v", res.StatusCode, out)
	}

	// Audited, without the secrets.
	res, out = call(t, base, "GET", "/api/v1/admin/audit?action=topup.provider.*", admin, nil)
	entries, _ := out["items"].([]any)
	if res.StatusCode != 200 || len(entries) != 5 {
		t.Fatalf("audit: %d %d entries %v", res.StatusCode, len(entries), out)
	}
	for _, sec := range []string{consoleStripeKey, consoleWhsecOld, consoleWhsecNew, consoleEPayKey} {
		if strings.Contains(rawJSON(out), sec) {
			t.Fatalf("the audit shows %q", sec)
		}
	}

	// Deleting the console's Stripe settings takes it off too.
	if res, _ := call(t, base, "DELETE", "/api/v1/admin/topup/providers/stripe", admin, nil); res.StatusCode != 204 {
		t.Fatalf("delete stripe: %d", res.StatusCode)
	}
	offered("[manual]")
}

func TestTopupConsoleProvidersSQLite(t *testing.T) {
	stripe := newStripeDoubleKey(t, consoleStripeKey)
	consoleProvidersScenario(t, []*app.App{apptest.Start(t, consoleTopupConfig(t))}, stripe)
}

func TestTopupConsoleProvidersPostgres(t *testing.T) {
	dbURL := testenv.FreshPostgresURL(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, redisURL)
	stripe := newStripeDoubleKey(t, consoleStripeKey)
	node := func(name string) *app.App {
		cfg := consoleTopupConfig(t)
		cfg.Database.URL = config.Secret(dbURL)
		cfg.Redis.URL = config.Secret(redisURL)
		cfg.Redis.Prefix = prefix
		cfg.SecretKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
		cfg.Server.DataDir = filepath.Join(t.TempDir(), name)
		return apptest.Start(t, cfg)
	}
	consoleProvidersScenario(t, []*app.App{node("a"), node("b")}, stripe)
}

// A provider the file declares wins over console settings stored for the
// same name (left from before the file declared it): they are ignored
// when the node reloads, and the listing names the file's field.
func TestTopupFileProviderWinsOverStoredSettings(t *testing.T) {
	stripe := newStripeDouble(t)
	a := apptest.Start(t, topupConfig(t, stripe, "https://pay.example.test/"))
	ps := topup.NewProviderStore(a.DB(), a.Keyring(), nil)
	if _, err := ps.Save(t.Context(), topup.ProviderSettings{Name: topup.StripeName, Enabled: true, APIBase: "https://stale.example",
		Secrets: topup.ProviderSecrets{SecretKey: "sk_live_stale_0123456789", WebhookSecrets: []string{"whsec_stale"}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Live().Publish(t.Context(), live.Topup); err != nil {
		t.Fatal(err)
	}
	base := nodeBase(a)
	res, _ := call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": "ops@example.com", "password": filePassword})
	admin := sessionCookie(res)
	_, out := call(t, base, "GET", "/api/v1/admin/topup/providers", admin, nil)
	for _, it := range out["items"].([]any) {
		p := it.(map[string]any)
		if p["name"] != "stripe" {
			continue
		}
		s := p["settings"].(map[string]any)
		if p["managed_by"] != "file" || p["file_field"] != "topup.stripe" || p["config"] != nil || s["api_base"] != stripe.srv.URL || s["mode"] != "test" {
			t.Fatalf("stripe %v", p)
		}
		return
	}
	t.Fatal("stripe is not listed")
}
