package topup

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Stripe takes payments with Stripe Checkout: a Checkout Session created
// over Stripe's HTTP API, paid on Stripe's page, reported by the
// checkout.session.completed (or, for delayed methods,
// checkout.session.async_payment_succeeded) webhook event.
type Stripe struct {
	// SecretKey is the API key (sk_live_…, or a restricted key allowed to
	// write Checkout Sessions).
	SecretKey string
	// WebhookSecrets are the endpoint's signing secrets (whsec_…): more
	// than one while a secret is being rolled.
	WebhookSecrets []string
	// APIBase is Stripe's API; empty means https://api.stripe.com.
	APIBase string
	// Tolerance is how old a signed notification may be; 0 means 5 min.
	Tolerance time.Duration
	Client    *http.Client
	Now       func() time.Time
}

var _ Provider = (*Stripe)(nil)

// StripeName is the Stripe provider's name.
const StripeName = "stripe"

// Name implements Provider.
func (*Stripe) Name() string { return StripeName }

func (s *Stripe) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Test implements Tester: it lists one Checkout Session, which needs the
// key to be valid and allowed to read (write includes read) them.
func (s *Stripe) Test(ctx context.Context) error {
	base := s.APIBase
	if base == "" {
		base = "https://api.stripe.com"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/v1/checkout/sessions?limit=1", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.SecretKey)
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("reach Stripe: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var out struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out)
	return fmt.Errorf("Stripe answered HTTP %d: %s", resp.StatusCode, scrub(out.Error.Type+" "+out.Error.Message, s.SecretKey))
}

// Describe implements Describer: the API base, whether the key is a live
// or a test one, and how many signing secrets are set.
func (s *Stripe) Describe() map[string]string {
	base := s.APIBase
	if base == "" {
		base = "https://api.stripe.com"
	}
	mode := "unknown"
	switch {
	case strings.Contains(s.SecretKey, "_live_"):
		mode = "live"
	case strings.Contains(s.SecretKey, "_test_"):
		mode = "test"
	}
	return map[string]string{"api_base": base, "mode": mode, "webhook_secrets": strconv.Itoa(len(s.WebhookSecrets))}
}

// Checkout implements Provider: it creates a Checkout Session for the
// order (idempotently: the order's ref is the idempotency key).
func (s *Stripe) Checkout(ctx context.Context, o Order, returnURL string) (Checkout, error) {
	base := s.APIBase
	if base == "" {
		base = "https://api.stripe.com"
	}
	// A session lives between 30 minutes and 24 hours; an order may be
	// shorter, and a payment made after it expired is credited, flagged.
	now := s.now()
	exp := o.ExpiresAt
	if min := now.Add(31 * time.Minute); exp.Before(min) {
		exp = min
	}
	if max := now.Add(23 * time.Hour); exp.After(max) {
		exp = max
	}
	f := url.Values{}
	f.Set("mode", "payment")
	f.Set("client_reference_id", o.Ref)
	f.Set("metadata[order_ref]", o.Ref)
	f.Set("line_items[0][quantity]", "1")
	f.Set("line_items[0][price_data][currency]", o.Currency)
	f.Set("line_items[0][price_data][unit_amount]", strconv.FormatInt(o.Price, 10))
	f.Set("line_items[0][price_data][product_data][name]", "Switchyard credit "+o.Total().String())
	f.Set("success_url", returnURL)
	f.Set("cancel_url", returnURL)
	f.Set("expires_at", strconv.FormatInt(exp.Unix(), 10))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/v1/checkout/sessions", strings.NewReader(f.Encode()))
	if err != nil {
		return Checkout{}, err
	}
	req.Header.Set("Authorization", "Bearer "+s.SecretKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Idempotency-Key", "switchyard-"+o.Ref)
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Checkout{}, fmt.Errorf("create checkout session: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Checkout{}, fmt.Errorf("create checkout session: %w", err)
	}
	var out struct {
		ID    string `json:"id"`
		URL   string `json:"url"`
		Error *struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return Checkout{}, fmt.Errorf("create checkout session: HTTP %d, unreadable answer", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK || out.Error != nil || out.URL == "" {
		msg := ""
		if out.Error != nil {
			msg = out.Error.Type + ": " + out.Error.Message
		}
		return Checkout{}, fmt.Errorf("create checkout session: HTTP %d %s", resp.StatusCode, msg)
	}
	return Checkout{PayURL: out.URL, ProviderRef: out.ID}, nil
}

// Notification implements Provider for Stripe's webhook events.
func (s *Stripe) Notification(r *http.Request, body []byte) (Payment, error) {
	if r.Method != http.MethodPost {
		return Payment{}, methodError{allow: http.MethodPost}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return Payment{}, errContentType
	}
	tol := s.Tolerance
	if tol <= 0 {
		tol = 5 * time.Minute
	}
	if err := VerifyStripeSignature(body, r.Header.Get("Stripe-Signature"), s.WebhookSecrets, tol, s.now()); err != nil {
		return Payment{}, err
	}
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			Object struct {
				ID                string            `json:"id"`
				ClientReferenceID string            `json:"client_reference_id"`
				AmountTotal       *int64            `json:"amount_total"`
				Currency          string            `json:"currency"`
				PaymentStatus     string            `json:"payment_status"`
				Metadata          map[string]string `json:"metadata"`
			} `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return Payment{}, fmt.Errorf("stripe event: %w: %v", ErrBadNotify, err)
	}
	obj := ev.Data.Object
	switch {
	case ev.Type == "checkout.session.completed" && obj.PaymentStatus == "paid":
	case ev.Type == "checkout.session.async_payment_succeeded":
	default:
		// Another event, or a session completed whose payment is still
		// processing (async_payment_succeeded follows).
		return Payment{}, ErrIgnored
	}
	ref := obj.ClientReferenceID
	if ref == "" {
		ref = obj.Metadata["order_ref"]
	}
	if ref == "" || obj.AmountTotal == nil {
		return Payment{}, fmt.Errorf("stripe event %s: no order reference or amount: %w", ev.ID, ErrBadNotify)
	}
	return Payment{OrderRef: ref, ProviderRef: obj.ID, Amount: *obj.AmountTotal, Currency: obj.Currency,
		Raw: scrub("stripe event "+ev.ID+" "+ev.Type+"\n"+string(body), append([]string{s.SecretKey}, s.WebhookSecrets...)...)}, nil
}

// Acknowledge implements Provider: Stripe wants any 2xx.
func (*Stripe) Acknowledge(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"received":true}`)
}

// VerifyStripeSignature checks a Stripe-Signature header
// ("t=<unix>,v1=<hex>,v1=<hex>,v0=…") against payload: one of its v1
// values must be the hex HMAC-SHA256 of "<t>.<payload>" under one of
// secrets, and t must be within tolerance of now (either way), which
// bounds how long a captured notification can be replayed.
func VerifyStripeSignature(payload []byte, header string, secrets []string, tolerance time.Duration, now time.Time) error {
	var (
		ts   int64
		seen bool
		sigs [][]byte
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("stripe signature: bad timestamp: %w", ErrBadSignature)
			}
			ts, seen = n, true
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if !seen || len(sigs) == 0 {
		return fmt.Errorf("stripe signature: no timestamp or v1 signature: %w", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("stripe signature: timestamp %d outside the tolerance: %w", ts, ErrBadSignature)
	}
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		want := StripeSignature(secret, ts, payload)
		for _, sig := range sigs {
			if hmac.Equal(want, sig) {
				return nil
			}
		}
	}
	return fmt.Errorf("stripe signature: %w", ErrBadSignature)
}

// StripeSignature is the v1 signature of payload sent at t under secret.
func StripeSignature(secret string, t int64, payload []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(t, 10)))
	m.Write([]byte{'.'})
	m.Write(payload)
	return m.Sum(nil)
}
