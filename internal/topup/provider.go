package topup

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
)

// Provider is a way to take a payment.
type Provider interface {
	// Name is the provider's name in configuration, URLs and orders.
	Name() string
	// Checkout starts paying the order and says where to send the user.
	// returnURL is where the user comes back to; it proves nothing.
	Checkout(ctx context.Context, o Order, returnURL string) (Checkout, error)
	// Notification verifies an asynchronous notification (method, content
	// type, signature) and returns the payment it reports. It returns
	// errIgnored (errors.Is(err, ErrIgnored)) for a genuine notification
	// of something else, which is acknowledged and otherwise dropped.
	Notification(r *http.Request, body []byte) (Payment, error)
	// Acknowledge answers a notification that was durably recorded.
	Acknowledge(w http.ResponseWriter)
}

// CurrencyLimited is a Provider that takes only some currencies; an order
// in another is refused before it is created.
type CurrencyLimited interface {
	Accepts(currency string) bool
}

// Describer is a Provider that can show its settings to an admin: never
// a secret.
type Describer interface {
	Describe() map[string]string
}

// Tester is a Provider that can check its settings against the provider
// (the admin's "test" action): nil when they work.
type Tester interface {
	Test(ctx context.Context) error
}

// ErrCheckout wraps a provider's failure to start a payment: the order is
// cancelled and the user may try again.
var ErrCheckout = errors.New("the payment provider could not start the payment")

// Checkout is where a user pays an order.
type Checkout struct {
	PayURL      string // empty for a manual payment
	ProviderRef string // the provider's id of the payment, when it has one at once
}

// ErrIgnored is a verified notification that reports no payment.
var ErrIgnored = errIgnoredNotify

// ManualName is the name of the manual provider.
const ManualName = "manual"

// Manual is payment arranged outside Switchyard (a bank transfer, cash):
// the order waits until an admin marks it paid (MarkPaid).
type Manual struct {
	// Instructions tell the user how to pay (bank details, who to contact).
	Instructions string
}

var _ Provider = Manual{}

// Name implements Provider.
func (Manual) Name() string { return ManualName }

// Checkout implements Provider: there is nothing to pay at.
func (Manual) Checkout(context.Context, Order, string) (Checkout, error) { return Checkout{}, nil }

// Notification implements Provider: a manual payment has none.
func (Manual) Notification(*http.Request, []byte) (Payment, error) {
	return Payment{}, ErrBadNotify
}

// Acknowledge implements Provider.
func (Manual) Acknowledge(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

// maxNotifyBody bounds a notification's body.
const maxNotifyBody = 64 << 10

// NotifyHandler serves the public notification endpoint of the provider
// named name. A notification is acknowledged only once its payment is
// recorded on the order, so a provider retries one that was not; one that
// does not verify, or names an order that does not exist, is refused.
// The handler does not rate-limit: the caller wraps it.
func (s *Service) NotifyHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.Provider(name)
		if !ok || name == ManualName {
			http.NotFound(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNotifyBody))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		pay, err := p.Notification(r, body)
		switch {
		case errors.Is(err, ErrIgnored):
			p.Acknowledge(w)
			return
		case errors.Is(err, errMethod):
			w.Header().Set("Allow", allowOf(err))
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		case errors.Is(err, errContentType):
			http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
			return
		case err != nil:
			s.log.Warn("topup notification refused", "provider", name, "err", err)
			http.Error(w, "notification refused", http.StatusBadRequest)
			return
		}
		pay.Provider = name
		o, err := s.Settle(r.Context(), pay)
		switch {
		case errors.Is(err, errUnknownOrder):
			s.log.Warn("topup notification for an unknown order", "provider", name, "order", pay.OrderRef)
			http.Error(w, "unknown order", http.StatusNotFound)
			return
		case errors.Is(err, ErrBadNotify):
			s.log.Warn("topup notification refused", "provider", name, "order", pay.OrderRef, "err", err)
			http.Error(w, "notification refused", http.StatusBadRequest)
			return
		case err != nil && o.Ref == "":
			// Not recorded: the provider should send it again.
			s.log.Error("topup notification not recorded", "provider", name, "order", pay.OrderRef, "err", err)
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		case err != nil:
			// Recorded as paid; the credit failed and Recover finishes it.
			s.log.Error("topup order paid but not yet credited", "provider", name, "order", o.Ref, "err", err)
		}
		p.Acknowledge(w)
	})
}

// errMethod and errContentType are a notification sent the wrong way.
var (
	errMethod      = errors.New("method not allowed")
	errContentType = errors.New("unsupported content type")
)

type methodError struct{ allow string }

func (e methodError) Error() string { return "method not allowed (allowed: " + e.allow + ")" }
func (e methodError) Unwrap() error { return errMethod }

func allowOf(err error) string {
	var m methodError
	if errors.As(err, &m) {
		return m.allow
	}
	return ""
}

// scrub removes secrets from a raw notification before it is kept on the
// order: a provider never sends its keys back, but a misconfigured or
// hostile sender could echo them.
func scrub(raw string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			raw = strings.ReplaceAll(raw, sec, "[redacted]")
		}
	}
	return raw
}
