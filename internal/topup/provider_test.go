package topup

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/testenv"
)

// Signature vectors computed apart from this code, with
//
//	printf '%s' '1492774577.{"id":"evt_test","object":"event"}' | openssl dgst -sha256 -hmac whsec_test_secret
//	printf '%s' 'money=1.00&name=VIP&out_trade_no=…&type=alipay<key>' | md5sum
//
// following Stripe's "verify manually" steps and the EPay signing rule.
func TestSignatureVectors(t *testing.T) {
	got := hex.EncodeToString(StripeSignature("whsec_test_secret", 1492774577, []byte(`{"id":"evt_test","object":"event"}`)))
	if got != "691252e266ce41cb94d709c84e9580d4172b117a510bbc81723f657d2cd5d215" {
		t.Errorf("stripe v1 = %s", got)
	}
	q := url.Values{"money": {"1.00"}, "name": {"VIP"}, "out_trade_no": {"20160806151343349"}, "pid": {"1001"},
		"trade_no": {"2016080622555342651"}, "trade_status": {"TRADE_SUCCESS"}, "type": {"alipay"},
		"sign": {"ignored"}, "sign_type": {"MD5"}, "param": {""}}
	if got := EPaySign(q, "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i"); got != "7407abbcdc867e7195b8ce3109725104" {
		t.Errorf("epay sign = %s", got)
	}

	now := time.Unix(1492774577, 0)
	body := []byte(`{"id":"evt_test","object":"event"}`)
	sig := "691252e266ce41cb94d709c84e9580d4172b117a510bbc81723f657d2cd5d215"
	for _, tt := range []struct {
		name    string
		header  string
		secrets []string
		now     time.Time
		ok      bool
	}{
		{"one v1", "t=1492774577,v1=" + sig, []string{"whsec_test_secret"}, now, true},
		{"second v1 and v0", "t=1492774577,v1=00ff,v1=" + sig + ",v0=abcd", []string{"whsec_test_secret"}, now, true},
		{"rotated secret", "t=1492774577,v1=" + sig, []string{"whsec_new", "whsec_test_secret"}, now, true},
		{"wrong secret", "t=1492774577,v1=" + sig, []string{"whsec_other"}, now, false},
		{"v0 only", "t=1492774577,v0=" + sig, []string{"whsec_test_secret"}, now, false},
		{"no timestamp", "v1=" + sig, []string{"whsec_test_secret"}, now, false},
		{"too old", "t=1492774577,v1=" + sig, []string{"whsec_test_secret"}, now.Add(301 * time.Second), false},
		{"from the future", "t=1492774577,v1=" + sig, []string{"whsec_test_secret"}, now.Add(-301 * time.Second), false},
		{"empty", "", []string{"whsec_test_secret"}, now, false},
	} {
		err := VerifyStripeSignature(body, tt.header, tt.secrets, 5*time.Minute, tt.now)
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// fakeStripe is Stripe's API and webhook sender, as far as Checkout goes.
type fakeStripe struct {
	srv    *httptest.Server
	key    string
	secret string
	now    func() time.Time
	mu     sync.Mutex
	byKey  map[string]string // idempotency key → session id
	sess   map[string]url.Values
}

func newFakeStripe(t *testing.T, now func() time.Time) *fakeStripe {
	f := &fakeStripe{key: "sk_test_123", secret: "whsec_fake", now: now, byKey: map[string]string{}, sess: map[string]url.Values{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/checkout/sessions" {
			http.NotFound(w, r)
			return
		}
		if key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "); key != f.key {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: `+key+`"}}`)
			return
		}
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, `{"object":"list","data":[],"has_more":false,"url":"/v1/checkout/sessions"}`)
			return
		}
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		exp, _ := strconv.ParseInt(r.PostForm.Get("expires_at"), 10, 64)
		if d := time.Unix(exp, 0).Sub(f.now()); d < 30*time.Minute || d > 24*time.Hour || r.PostForm.Get("mode") != "payment" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"type":"invalid_request_error","message":"bad expires_at or mode"}}`)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		id, ok := f.byKey[r.Header.Get("Idempotency-Key")]
		if !ok {
			id = fmt.Sprintf("cs_test_%d", len(f.sess)+1)
			f.byKey[r.Header.Get("Idempotency-Key")] = id
			f.sess[id] = r.PostForm
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "object": "checkout.session", "url": "https://checkout.stripe.test/c/pay/" + id})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// event returns the checkout.session.completed event of session id,
// paid amount (the session's own when < 0).
func (f *fakeStripe) event(t *testing.T, id, typ string, amount int64) []byte {
	t.Helper()
	f.mu.Lock()
	form := f.sess[id]
	f.mu.Unlock()
	if form == nil {
		t.Fatalf("no session %s", id)
	}
	if amount < 0 {
		amount, _ = strconv.ParseInt(form.Get("line_items[0][price_data][unit_amount]"), 10, 64)
	}
	b, _ := json.Marshal(map[string]any{"id": "evt_" + id, "object": "event", "type": typ, "data": map[string]any{"object": map[string]any{
		"id": id, "object": "checkout.session", "client_reference_id": form.Get("client_reference_id"), "amount_total": amount,
		"currency": form.Get("line_items[0][price_data][currency]"), "payment_status": "paid",
		"metadata": map[string]string{"order_ref": form.Get("metadata[order_ref]")}}}})
	return b
}

func (f *fakeStripe) header(body []byte, secret string, at time.Time) string {
	return "t=" + strconv.FormatInt(at.Unix(), 10) + ",v1=" + hex.EncodeToString(StripeSignature(secret, at.Unix(), body))
}

// deliver posts a webhook delivery to url and returns its status.
func deliver(t *testing.T, url, method, contentType string, body []byte, sig string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", contentType)
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// fakeEPay is an EPay gateway: submit.php checks the order's signature,
// and pay calls the merchant's notify URL as the gateway would.
type fakeEPay struct {
	srv    *httptest.Server
	pid    string
	key    string
	mu     sync.Mutex
	orders map[string]url.Values // out_trade_no → submitted params
}

func newFakeEPay(t *testing.T) *fakeEPay {
	f := &fakeEPay{pid: "1001", key: "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i", orders: map[string]url.Values{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/submit.php" || q.Get("pid") != f.pid || q.Get("sign") != EPaySign(q, f.key) || q.Get("sign_type") != "MD5" {
			http.Error(w, "签名错误", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.orders[q.Get("out_trade_no")] = q
		f.mu.Unlock()
		_, _ = io.WriteString(w, "<html>pay</html>")
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// submit follows a pay URL as the user's browser would.
func (f *fakeEPay) submit(t *testing.T, payURL string) {
	t.Helper()
	resp, err := http.Get(payURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("submit.php: %d", resp.StatusCode)
	}
}

// pay sends the notify of ref (money as submitted when empty), signed
// with key, and returns the status and body.
func (f *fakeEPay) pay(t *testing.T, ref, money, key string) (int, string) {
	t.Helper()
	f.mu.Lock()
	sub := f.orders[ref]
	f.mu.Unlock()
	notify := sub.Get("notify_url")
	if sub == nil {
		sub = url.Values{"name": {"x"}, "money": {"1.00"}}
		notify = f.orders["*notify"].Get("notify_url")
	}
	if money == "" {
		money = sub.Get("money")
	}
	q := url.Values{"pid": {f.pid}, "trade_no": {"2026" + ref}, "out_trade_no": {ref}, "type": {"alipay"}, "name": {sub.Get("name")},
		"money": {money}, "trade_status": {"TRADE_SUCCESS"}, "sign_type": {"MD5"}}
	q.Set("sign", EPaySign(q, key))
	resp, err := http.Get(notify + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// node is a Service behind a real listener, as a node serves the notify
// endpoints.
func node(t *testing.T, s *Service) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/topup/notify/stripe", s.NotifyHandler(StripeName))
	mux.Handle("/api/v1/topup/notify/epay", s.NotifyHandler(EPayName))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestStripeEndToEnd(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, dbURL string) {
		var c *clock
		now := func() time.Time { return c.now() }
		fake := newFakeStripe(t, now)
		e := newEnv(t, dbURL, func() Options {
			return Options{Providers: []Provider{&Stripe{SecretKey: fake.key, WebhookSecrets: []string{"whsec_next", fake.secret},
				APIBase: fake.srv.URL, Now: now}}}
		})
		c = e.clock
		na, nb := node(t, e.a), node(t, e.b)
		hookA, hookB := na.URL+"/api/v1/topup/notify/stripe", nb.URL+"/api/v1/topup/notify/stripe"
		ctx := t.Context()
		uid := e.user(t, "u@example.com")
		p, err := e.a.CreatePackage(ctx, Package{Name: "Ten", Price: 1000, Currency: "usd", Credit: 10 * billing.MicrosPerUSD, Bonus: billing.MicrosPerUSD, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		o := e.order(t, uid, p, StripeName)
		if !strings.HasPrefix(o.PayURL, "https://checkout.stripe.test/") || !strings.HasPrefix(o.ProviderRef, "cs_test_") {
			t.Fatalf("checkout %+v", o)
		}

		body := fake.event(t, o.ProviderRef, "checkout.session.completed", -1)
		good := fake.header(body, fake.secret, c.now())
		if code := deliver(t, hookA, http.MethodPost, "application/json", body, fake.header(body, "whsec_wrong", c.now())); code != http.StatusBadRequest {
			t.Fatalf("bad signature: %d", code)
		}
		if code := deliver(t, hookA, http.MethodGet, "application/json", body, good); code != http.StatusMethodNotAllowed {
			t.Fatalf("GET: %d", code)
		}
		if code := deliver(t, hookA, http.MethodPost, "application/x-www-form-urlencoded", body, good); code != http.StatusUnsupportedMediaType {
			t.Fatalf("form: %d", code)
		}
		if got := e.get(t, o.Ref); got.Status != StatusPending {
			t.Fatalf("refused notifications moved the order to %s", got.Status)
		}
		// Two nodes receive the same delivery at once, then Stripe retries it.
		var wg sync.WaitGroup
		for _, hook := range []string{hookA, hookB, hookA, hookB} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code := deliver(t, hook, http.MethodPost, "application/json; charset=utf-8", body, good); code != http.StatusOK {
					t.Errorf("delivery: %d", code)
				}
			}()
		}
		wg.Wait()
		if b := e.balance(t, uid); b != eleven {
			t.Fatalf("balance %s, want %s", b, eleven)
		}
		got := e.get(t, o.Ref)
		if got.Status != StatusCredited || !strings.Contains(got.NotifyLog, "checkout.session.completed") || strings.Contains(got.NotifyLog, fake.key) {
			t.Fatalf("order %+v", got)
		}
		// A replay within the tolerance is a repeat; after it, refused.
		c.advance(4 * time.Minute)
		if code := deliver(t, hookB, http.MethodPost, "application/json", body, good); code != http.StatusOK {
			t.Fatalf("replay within tolerance: %d", code)
		}
		c.advance(2 * time.Minute)
		if code := deliver(t, hookB, http.MethodPost, "application/json", body, good); code != http.StatusBadRequest {
			t.Fatalf("replay after tolerance: %d", code)
		}
		if b := e.balance(t, uid); b != eleven {
			t.Fatalf("balance %s after replays", b)
		}

		// Another event type is acknowledged and ignored.
		other := fake.event(t, o.ProviderRef, "checkout.session.expired", -1)
		if code := deliver(t, hookA, http.MethodPost, "application/json", other, fake.header(other, fake.secret, c.now())); code != http.StatusOK {
			t.Fatalf("other event: %d", code)
		}

		// Amount mismatch: acknowledged, flagged, not credited.
		odd := e.order(t, uid, p, StripeName)
		body = fake.event(t, odd.ProviderRef, "checkout.session.completed", 999)
		if code := deliver(t, hookA, http.MethodPost, "application/json", body, fake.header(body, fake.secret, c.now())); code != http.StatusOK {
			t.Fatalf("mismatch: %d", code)
		}
		if got := e.get(t, odd.Ref); got.Status != StatusPaid || !got.HasFlag(FlagMismatch) {
			t.Fatalf("mismatch: %+v", got)
		}

		// Expired, then paid: credited, flagged late.
		late := e.order(t, uid, p, StripeName)
		c.advance(time.Hour)
		if _, _, err := e.a.Recover(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.get(t, late.Ref); got.Status != StatusExpired {
			t.Fatalf("late order %s", got.Status)
		}
		body = fake.event(t, late.ProviderRef, "checkout.session.async_payment_succeeded", -1)
		if code := deliver(t, hookB, http.MethodPost, "application/json", body, fake.header(body, "whsec_next", c.now())); code != http.StatusOK {
			t.Fatalf("late payment (signed with the next secret): %d", code)
		}
		if got := e.get(t, late.Ref); got.Status != StatusCredited || !got.HasFlag(FlagLate) {
			t.Fatalf("late order %+v", got)
		}
		if b := e.balance(t, uid); b != 2*eleven {
			t.Fatalf("balance %s", b)
		}

		// Unknown order: refused, so that it shows in Stripe's dashboard.
		body = []byte(`{"id":"evt_x","type":"checkout.session.completed","data":{"object":{"id":"cs_x","client_reference_id":"TUNOPE","amount_total":1000,"currency":"usd","payment_status":"paid"}}}`)
		if code := deliver(t, hookA, http.MethodPost, "application/json", body, fake.header(body, fake.secret, c.now())); code != http.StatusNotFound {
			t.Fatalf("unknown order: %d", code)
		}

		if err := e.a.TestProvider(ctx, StripeName); err != nil {
			t.Fatalf("test the settings: %v", err)
		}
		// A bad API key fails the test and the checkout, which cancels the order.
		p0, _ := e.a.Provider(StripeName)
		p0.(*Stripe).SecretKey = "sk_wrong"
		if err := e.a.TestProvider(ctx, StripeName); err == nil || strings.Contains(err.Error(), "sk_wrong") || !strings.Contains(err.Error(), "401") {
			t.Fatalf("test a bad key: %v", err)
		}
		if _, err := e.a.CreateOrder(ctx, uid, OrderRequest{PackageID: p.ID, Provider: StripeName}); err == nil || !strings.Contains(err.Error(), "Invalid API Key") {
			t.Fatalf("bad key: %v", err)
		}
	})
}

func TestEPayEndToEnd(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, dbURL string) {
		fake := newFakeEPay(t)
		var notify string
		mux := http.NewServeMux()
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		notify = srv.URL + "/api/v1/topup/notify/epay"
		opts := func() Options {
			return Options{Providers: []Provider{&EPay{Gateway: fake.srv.URL, PID: fake.pid, Key: fake.key, Type: "alipay", NotifyURL: notify}}}
		}
		e := newEnv(t, dbURL, opts)
		mux.Handle("/api/v1/topup/notify/epay", e.a.NotifyHandler(EPayName))
		ctx := t.Context()
		uid := e.user(t, "u@example.com")
		p := e.pkg(t, 0) // 70.00 CNY
		o := e.order(t, uid, p, EPayName)
		fake.submit(t, o.PayURL)
		if q := fake.orders[o.Ref]; q.Get("money") != "70.00" || q.Get("notify_url") != notify || q.Get("type") != "alipay" {
			t.Fatalf("submitted %v", q)
		}

		if code, _ := fake.pay(t, o.Ref, "", "wrong key"); code != http.StatusBadRequest {
			t.Fatalf("bad signature: %d", code)
		}
		for i := range 3 { // the gateway notifies, and again
			if code, body := fake.pay(t, o.Ref, "", fake.key); code != http.StatusOK || body != "success" {
				t.Fatalf("notify %d: %d %q", i, code, body)
			}
		}
		if b := e.balance(t, uid); b != eleven {
			t.Fatalf("balance %s", b)
		}
		got := e.get(t, o.Ref)
		if got.Status != StatusCredited || got.ProviderRef != "2026"+o.Ref || strings.Contains(got.NotifyLog, fake.key) {
			t.Fatalf("order %+v", got)
		}
		// POST is not how the protocol notifies.
		if code := deliver(t, notify, http.MethodPost, "application/x-www-form-urlencoded", nil, ""); code != http.StatusMethodNotAllowed {
			t.Fatalf("POST: %d", code)
		}

		odd := e.order(t, uid, p, EPayName)
		fake.submit(t, odd.PayURL)
		if code, body := fake.pay(t, odd.Ref, "0.01", fake.key); code != http.StatusOK || body != "success" {
			t.Fatalf("mismatch: %d %q", code, body)
		}
		if got := e.get(t, odd.Ref); got.Status != StatusPaid || !got.HasFlag(FlagMismatch) {
			t.Fatalf("mismatch %+v", got)
		}

		late := e.order(t, uid, p, EPayName)
		fake.submit(t, late.PayURL)
		e.clock.advance(time.Hour)
		if _, _, err := e.a.Recover(ctx); err != nil {
			t.Fatal(err)
		}
		if code, body := fake.pay(t, late.Ref, "", fake.key); code != http.StatusOK || body != "success" {
			t.Fatalf("late: %d %q", code, body)
		}
		if got := e.get(t, late.Ref); got.Status != StatusCredited || !got.HasFlag(FlagLate) {
			t.Fatalf("late %+v", got)
		}
		if b := e.balance(t, uid); b != 2*eleven {
			t.Fatalf("balance %s", b)
		}

		fake.orders["*notify"] = url.Values{"notify_url": {notify}}
		if code, body := fake.pay(t, "TUNOPE", "", fake.key); code != http.StatusNotFound || body == "success" {
			t.Fatalf("unknown order: %d %q", code, body)
		}

		if err := e.a.TestProvider(ctx, EPayName); err != nil {
			t.Fatalf("test the gateway: %v", err)
		}
		p0, _ := e.a.Provider(EPayName)
		p0.(*EPay).Gateway = srv.URL + "/nowhere/"
		if err := e.a.TestProvider(ctx, EPayName); err == nil {
			t.Fatal("a gateway without submit.php passed the test")
		}

		// A package in another currency cannot be paid through the gateway.
		usd, err := e.a.CreatePackage(ctx, Package{Name: "USD", Price: 100, Currency: "usd", Credit: 1, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.CreateOrder(ctx, uid, OrderRequest{PackageID: usd.ID, Provider: EPayName}); err == nil {
			t.Fatal("USD order through an EPay gateway")
		}
	})
}

// A notification that echoes the merchant key keeps it off the order.
func TestNotificationScrubsSecrets(t *testing.T) {
	e := &EPay{Gateway: "https://pay.example.test/", PID: "1001", Key: "merchant-key-123"}
	q := url.Values{"pid": {"1001"}, "out_trade_no": {"TU1"}, "money": {"1.00"}, "trade_status": {"TRADE_SUCCESS"}, "param": {e.Key}}
	q.Set("sign", EPaySign(q, e.Key))
	r := httptest.NewRequest(http.MethodGet, "/api/v1/topup/notify/epay?"+q.Encode(), nil)
	p, err := e.Notification(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Raw, e.Key) || !strings.Contains(p.Raw, "[redacted]") || p.Amount != 100 || p.OrderRef != "TU1" {
		t.Fatalf("payment %+v", p)
	}
	s := &Stripe{SecretKey: "sk_test_abcdef", WebhookSecrets: []string{"whsec_abcdef"}, Now: func() time.Time { return time.Unix(1700000000, 0) }}
	body := []byte(`{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"id":"cs_1","client_reference_id":"TU1",` +
		`"amount_total":100,"currency":"usd","payment_status":"paid","metadata":{"echo":"sk_test_abcdef"}}}}`)
	r = httptest.NewRequest(http.MethodPost, "/api/v1/topup/notify/stripe", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Stripe-Signature", "t=1700000000,v1="+hex.EncodeToString(StripeSignature("whsec_abcdef", 1700000000, body)))
	if p, err = s.Notification(r, body); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Raw, "sk_test_abcdef") || p.Amount != 100 || p.Currency != "usd" || p.ProviderRef != "cs_1" {
		t.Fatalf("payment %+v", p)
	}
}

func TestDescribeShowsNoSecret(t *testing.T) {
	s := &Stripe{SecretKey: "sk_live_secretvalue", WebhookSecrets: []string{"whsec_a", "whsec_b"}}
	d := s.Describe()
	if d["mode"] != "live" || d["webhook_secrets"] != "2" || d["api_base"] != "https://api.stripe.com" || strings.Contains(fmt.Sprint(d), "secretvalue") {
		t.Fatalf("stripe %v", d)
	}
	e := &EPay{Gateway: "https://pay.example.test/", PID: "1001", Key: "the key"}
	if d := e.Describe(); d["currency"] != "cny" || strings.Contains(fmt.Sprint(d), "the key") {
		t.Fatalf("epay %v", d)
	}
}
