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
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/internal/topup"
)

// stripeDouble answers Checkout Session creation as Stripe does.
type stripeDouble struct {
	srv  *httptest.Server
	mu   sync.Mutex
	sess map[string]url.Values
}

const (
	stripeKey    = "sk_test_switchyard"
	stripeSecret = "whsec_switchyard"
	epayPID      = "1001"
	epayKey      = "epay merchant key"
)

func newStripeDouble(t *testing.T) *stripeDouble { return newStripeDoubleKey(t, stripeKey) }

// newStripeDoubleKey is a Stripe double that takes only the API key key.
func newStripeDoubleKey(t *testing.T, key string) *stripeDouble {
	d := &stripeDouble{sess: map[string]url.Values{}}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/checkout/sessions" || r.Header.Get("Authorization") != "Bearer "+key || r.ParseForm() != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"type":"invalid_request_error","message":"bad request"}}`)
			return
		}
		d.mu.Lock()
		id := fmt.Sprintf("cs_test_%d", len(d.sess)+1)
		d.sess[id] = r.PostForm
		d.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id, "url": "https://checkout.stripe.test/" + id})
	}))
	t.Cleanup(d.srv.Close)
	return d
}

// completed is the signed checkout.session.completed event of session id.
func (d *stripeDouble) completed(id string) ([]byte, string) {
	d.mu.Lock()
	f := d.sess[id]
	d.mu.Unlock()
	amount, _ := strconv.ParseInt(f.Get("line_items[0][price_data][unit_amount]"), 10, 64)
	body, _ := json.Marshal(map[string]any{"id": "evt_" + id, "type": "checkout.session.completed", "data": map[string]any{"object": map[string]any{
		"id": id, "client_reference_id": f.Get("client_reference_id"), "amount_total": amount,
		"currency": f.Get("line_items[0][price_data][currency]"), "payment_status": "paid"}}})
	now := time.Now().Unix()
	return body, "t=" + strconv.FormatInt(now, 10) + ",v1=" + hex.EncodeToString(topup.StripeSignature(stripeSecret, now, body))
}

func post(t *testing.T, u, contentType string, body []byte, header ...string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func topupConfig(t *testing.T, stripe *stripeDouble, gateway string) *config.Config {
	cfg := apptest.Config(t)
	cfg.Admin = config.Admin{Email: "ops@example.com", Password: filePassword}
	cfg.Topup.Manual = true
	cfg.Topup.NotifyRate = 30
	cfg.Topup.Stripe = &config.TopupStripe{SecretKey: stripeKey, WebhookSecrets: []config.Secret{stripeSecret}, APIBase: stripe.srv.URL}
	cfg.Topup.EPay = &config.TopupEPay{Gateway: gateway, PID: epayPID, Key: epayKey, Type: "alipay"}
	return cfg
}

// A user tops up through Stripe, EPay and a manual payment against a
// node (or two, sharing PostgreSQL and Redis); the admin refunds one.
func topupScenario(t *testing.T, nodes []*app.App, stripe *stripeDouble) {
	a := nodes[0]
	base := nodeBase(a)
	res, _ := call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": "ops@example.com", "password": filePassword})
	admin := sessionCookie(res)
	if res, out := call(t, base, "POST", "/api/v1/admin/users", admin, map[string]string{"email": "buyer@example.com"}); res.StatusCode != 201 {
		t.Fatalf("create user: %d %v", res.StatusCode, out)
	}
	if _, err := a.Accounts().SetPassword(t.Context(), "buyer@example.com", filePassword); err != nil {
		t.Fatal(err)
	}
	res, _ = call(t, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": "buyer@example.com", "password": filePassword})
	buyer := sessionCookie(res)
	balance := apptest.Balance(t, a, "buyer@example.com")

	pkg := func(name string, price int64, currency string) float64 {
		res, out := call(t, base, "POST", "/api/v1/admin/topup/packages", admin, map[string]any{"name": name, "price_minor": price,
			"currency": currency, "credit_micros": 10_000_000, "bonus_micros": 1_000_000})
		if res.StatusCode != 201 {
			t.Fatalf("create package: %d %v", res.StatusCode, out)
		}
		return out["id"].(float64)
	}
	usd, cny := pkg("Ten dollars", 1000, "usd"), pkg("七十元", 7000, "CNY")
	res, out := call(t, base, "GET", "/api/v1/me/topup", buyer, nil)
	if res.StatusCode != 200 || fmt.Sprint(out["providers"]) != "[epay manual stripe]" || len(out["packages"].([]any)) != 2 {
		t.Fatalf("offer: %d %v", res.StatusCode, out)
	}
	order := func(pkg float64, provider string) map[string]any {
		res, out := call(t, base, "POST", "/api/v1/me/topup/orders", buyer, map[string]any{"package_id": pkg, "provider": provider})
		if res.StatusCode != 201 {
			t.Fatalf("order through %s: %d %v", provider, res.StatusCode, out)
		}
		return out
	}
	status := func(ref string) string {
		res, out := call(t, base, "GET", "/api/v1/me/topup/orders/"+ref, buyer, nil)
		if res.StatusCode != 200 {
			t.Fatalf("order %s: %d %v", ref, res.StatusCode, out)
		}
		if _, ok := out["notify_log"]; ok {
			t.Fatal("the user sees the raw notifications")
		}
		return out["status"].(string)
	}

	// Stripe: every node receives the same delivery at once; one credit.
	so := order(usd, "stripe")
	body, sig := stripe.completed(so["provider_ref"].(string))
	var wg sync.WaitGroup
	for _, n := range append(nodes, nodes...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code := post(t, nodeBase(n)+"/api/v1/topup/notify/stripe", "application/json", body, "Stripe-Signature", sig); code != 200 {
				t.Errorf("stripe notify: %d", code)
			}
		}()
	}
	wg.Wait()
	if st := status(so["ref"].(string)); st != "credited" {
		t.Fatalf("stripe order %s", st)
	}
	if b := balance(); b != 11*billing.MicrosPerUSD {
		t.Fatalf("balance %s", b)
	}

	// EPay: the pay URL is signed; the gateway's notify reaches the node.
	eo := order(cny, "epay")
	pay, err := url.Parse(eo["pay_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	q := pay.Query()
	if q.Get("sign") != topup.EPaySign(q, epayKey) || q.Get("money") != "70.00" || !strings.HasSuffix(q.Get("notify_url"), "/api/v1/topup/notify/epay") {
		t.Fatalf("pay url %s", pay)
	}
	n := url.Values{"pid": {epayPID}, "trade_no": {"T1"}, "out_trade_no": {eo["ref"].(string)}, "type": {"alipay"},
		"name": {q.Get("name")}, "money": {"70.00"}, "trade_status": {"TRADE_SUCCESS"}, "sign_type": {"MD5"}}
	n.Set("sign", topup.EPaySign(n, epayKey))
	resp, err := http.Get(nodeBase(nodes[len(nodes)-1]) + "/api/v1/topup/notify/epay?" + n.Encode())
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

	// Manual: the admin marks it paid, after a step-up.
	mo := order(usd, "manual")
	if mo["pay_url"] != "" {
		t.Fatalf("manual pay url %v", mo["pay_url"])
	}
	markPaid := "/api/v1/admin/topup/orders/" + mo["ref"].(string) + "/mark-paid"
	if res, out := call(t, base, "POST", markPaid, admin, map[string]string{"note": "bank transfer 42"}); res.StatusCode != 403 || out["error"].(map[string]any)["code"] != "step_up_required" {
		t.Fatalf("mark paid without a step-up: %d %v", res.StatusCode, out)
	}
	if res, out := call(t, base, "POST", "/api/v1/auth/step-up", admin, map[string]string{"password": filePassword}); res.StatusCode != 200 {
		t.Fatalf("step-up: %d %v", res.StatusCode, out)
	}
	if res, out := call(t, base, "POST", markPaid, admin, map[string]string{"note": "bank transfer 42"}); res.StatusCode != 200 || out["status"] != "credited" {
		t.Fatalf("mark paid: %d %v", res.StatusCode, out)
	}
	if b := balance(); b != 33*billing.MicrosPerUSD {
		t.Fatalf("balance %s", b)
	}

	// Refund the Stripe order: the credit leaves the wallet.
	if res, out := call(t, base, "POST", "/api/v1/admin/topup/orders/"+so["ref"].(string)+"/refund", admin,
		map[string]any{"note": "customer asked"}); res.StatusCode != 200 || out["status"] != "refunded" {
		t.Fatalf("refund: %d %v", res.StatusCode, out)
	}
	if b := balance(); b != 22*billing.MicrosPerUSD {
		t.Fatalf("balance %s after the refund", b)
	}
	res, out = call(t, base, "GET", "/api/v1/admin/topup/orders?flag=forced", admin, nil)
	if items := out["items"].([]any); res.StatusCode != 200 || len(items) != 1 {
		t.Fatalf("forced orders: %d %v", res.StatusCode, out)
	}
	res, out = call(t, base, "GET", "/api/v1/admin/topup/orders/"+so["ref"].(string), admin, nil)
	if res.StatusCode != 200 || !strings.Contains(out["notify_log"].(string), "checkout.session.completed") {
		t.Fatalf("admin order: %d %v", res.StatusCode, out)
	}
	res, out = call(t, base, "GET", "/api/v1/me/topup/orders?limit=2", buyer, nil)
	if res.StatusCode != 200 || len(out["items"].([]any)) != 2 || out["next_cursor"] == nil {
		t.Fatalf("own orders: %d %v", res.StatusCode, out)
	}

	// Wrong content type, then too many notifications from one address.
	notify := base + "/api/v1/topup/notify/stripe"
	if code := post(t, notify, "text/plain", body, "Stripe-Signature", sig); code != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d", code)
	}
	limited := false
	for range 40 {
		if code := post(t, notify, "application/json", []byte(`{}`), "Stripe-Signature", "t=1,v1=00"); code == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("notifications are not rate-limited")
	}
}

func TestTopupThroughTheNodeSQLite(t *testing.T) {
	stripe := newStripeDouble(t)
	a := apptest.Start(t, topupConfig(t, stripe, "https://pay.example.test/"))
	topupScenario(t, []*app.App{a}, stripe)
}

func TestTopupThroughTheNodesPostgres(t *testing.T) {
	dbURL := testenv.FreshPostgresURL(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t, redisURL)
	stripe := newStripeDouble(t)
	node := func(name string) *app.App {
		cfg := topupConfig(t, stripe, "https://pay.example.test/")
		cfg.Database.URL = config.Secret(dbURL)
		cfg.Redis.URL = config.Secret(redisURL)
		cfg.Redis.Prefix = prefix
		cfg.SecretKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
		cfg.Server.DataDir = filepath.Join(t.TempDir(), name)
		return apptest.Start(t, cfg)
	}
	topupScenario(t, []*app.App{node("a"), node("b")}, stripe)
}
