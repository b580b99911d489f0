package topup

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// EPay takes payments through an EPay-compatible gateway (易支付, the
// protocol of many Alipay/WeChat Pay aggregators): the user is sent to the
// gateway's submit.php with the order signed, and the gateway calls the
// notify URL (GET) with the result signed the same way.
//
// A signature is the lower-case hex MD5 of the parameters other than sign
// and sign_type whose value is not empty, sorted by name, written
// "a=1&b=2", followed directly by the merchant key.
type EPay struct {
	// Gateway is the gateway's base URL (https://pay.example.com/); the
	// user is sent to its submit.php.
	Gateway string
	PID     string // merchant id
	Key     string // merchant key
	// Type is the payment method asked for (alipay, wxpay, qqpay); empty
	// lets the gateway ask the user.
	Type string
	// NotifyURL is this node's public notify endpoint for the provider.
	NotifyURL string
	// Currency is what the gateway's money is in; empty means cny.
	Currency string
	// ProviderName is the name of this provider; empty means "epay".
	ProviderName string
	// Client reaches the gateway for Test; nil means http.DefaultClient.
	Client *http.Client
}

var _ Provider = (*EPay)(nil)

// EPayName is the EPay provider's default name.
const EPayName = "epay"

// Name implements Provider.
func (e *EPay) Name() string {
	if e.ProviderName != "" {
		return e.ProviderName
	}
	return EPayName
}

func (e *EPay) currency() string {
	if e.Currency == "" {
		return "cny"
	}
	return strings.ToLower(e.Currency)
}

// Test implements Tester: the protocol has no call that checks the key,
// so this checks that the gateway's submit.php answers.
func (e *EPay) Test(ctx context.Context) error {
	base := e.Gateway
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"submit.php", nil)
	if err != nil {
		return err
	}
	client := e.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("reach the gateway: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("the gateway's submit.php answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// Describe implements Describer: everything but the key.
func (e *EPay) Describe() map[string]string {
	return map[string]string{"gateway": e.Gateway, "pid": e.PID, "type": e.Type, "currency": e.currency(), "notify_url": e.NotifyURL}
}

// Accepts reports whether the gateway takes payments in currency.
func (e *EPay) Accepts(currency string) bool { return strings.EqualFold(currency, e.currency()) }

// EPaySign returns the signature of params under key.
func EPaySign(params url.Values, key string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		if k == "sign" || k == "sign_type" || params.Get(k) == "" {
			continue
		}
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params.Get(k))
	}
	b.WriteString(key)
	sum := md5.Sum([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// Checkout implements Provider: the pay URL is the gateway's submit.php
// with the order signed; nothing is sent until the user follows it.
func (e *EPay) Checkout(_ context.Context, o Order, returnURL string) (Checkout, error) {
	if o.Currency != e.currency() {
		return Checkout{}, fmt.Errorf("epay gateway takes %s, the order is in %s", strings.ToUpper(e.currency()), strings.ToUpper(o.Currency))
	}
	p := url.Values{}
	p.Set("pid", e.PID)
	if e.Type != "" {
		p.Set("type", e.Type)
	}
	p.Set("out_trade_no", o.Ref)
	p.Set("notify_url", e.NotifyURL)
	p.Set("return_url", returnURL)
	p.Set("name", "Switchyard credit "+o.Total().String())
	p.Set("money", FormatMinor(o.Price, o.Currency))
	p.Set("sign", EPaySign(p, e.Key))
	p.Set("sign_type", "MD5")
	base := e.Gateway
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return Checkout{PayURL: base + "submit.php?" + p.Encode()}, nil
}

// Notification implements Provider for the gateway's asynchronous notify.
func (e *EPay) Notification(r *http.Request, _ []byte) (Payment, error) {
	if r.Method != http.MethodGet {
		return Payment{}, methodError{allow: http.MethodGet}
	}
	q := r.URL.Query()
	want := EPaySign(q, e.Key)
	if got := strings.ToLower(q.Get("sign")); got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return Payment{}, fmt.Errorf("epay notify: %w", ErrBadSignature)
	}
	if st := q.Get("sign_type"); st != "" && !strings.EqualFold(st, "MD5") {
		return Payment{}, fmt.Errorf("epay notify: sign_type %q: %w", st, ErrBadSignature)
	}
	if q.Get("pid") != e.PID {
		return Payment{}, fmt.Errorf("epay notify: pid %q is not this merchant: %w", q.Get("pid"), ErrBadNotify)
	}
	if q.Get("trade_status") != "TRADE_SUCCESS" {
		return Payment{}, ErrIgnored
	}
	amount, err := ParseMinor(q.Get("money"), e.currency())
	if err != nil {
		return Payment{}, fmt.Errorf("epay notify: %w: %v", ErrBadNotify, err)
	}
	ref := q.Get("out_trade_no")
	if ref == "" {
		return Payment{}, fmt.Errorf("epay notify: no out_trade_no: %w", ErrBadNotify)
	}
	return Payment{OrderRef: ref, ProviderRef: q.Get("trade_no"), Amount: amount, Currency: e.currency(),
		Raw: scrub("GET ?"+r.URL.RawQuery, e.Key, url.QueryEscape(e.Key))}, nil
}

// Acknowledge implements Provider: the gateway retries until it reads
// "success".
func (*EPay) Acknowledge(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "success")
}
