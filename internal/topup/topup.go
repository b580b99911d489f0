// Package topup lets users buy credit: packages an operator defines,
// orders a user creates from one (or for a free amount within bounds), and
// the payment providers that take the money (Stripe, EPay-compatible
// gateways, or an admin marking an order paid by hand).
//
// An order moves pending → paid → credited, or ends expired, cancelled or
// refunded. Its credit reaches the ledger exactly once whatever the
// providers do: a payment is first recorded on the order (a conditional
// UPDATE, so of two nodes receiving the same notification one records it
// and the other sees it recorded), then the credit is posted as the ledger
// row ('topup:<ref>', topup), which the ledger's unique (request_id, kind)
// makes idempotent, and only then is the order marked credited. A crash
// between the two leaves a paid order that Recover (run at start and
// periodically) credits; posting it again changes nothing when the first
// post had made it.
package topup

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/billing"
)

// Status is where an order is in its life.
type Status string

// The states of an order.
const (
	StatusPending   Status = "pending"   // created, waiting for the payment
	StatusPaid      Status = "paid"      // payment recorded, credit not yet on the ledger
	StatusCredited  Status = "credited"  // credit on the ledger: done
	StatusExpired   Status = "expired"   // not paid in time
	StatusCancelled Status = "cancelled" // cancelled by the user before paying
	StatusRefunded  Status = "refunded"  // money returned, credit taken back
)

// Statuses lists every state, for filters.
var Statuses = []Status{StatusPending, StatusPaid, StatusCredited, StatusExpired, StatusCancelled, StatusRefunded}

// Flags an order may carry for the admin.
const (
	FlagLate     = "late"            // paid after it expired or was cancelled (credited all the same)
	FlagMismatch = "amount_mismatch" // paid another amount or currency: not credited
	FlagForced   = "forced"          // marked paid by an admin
)

// Errors of the package; wrapped with the order or package concerned.
var (
	ErrNotFound      = errors.New("not found")
	ErrLimit         = errors.New("per-user limit of this package reached")
	ErrDisabled      = errors.New("package is disabled")
	ErrState         = errors.New("order is not in a state that allows this")
	ErrNoProvider    = errors.New("payment provider not configured")
	ErrBadSignature  = errors.New("notification signature does not verify")
	ErrBadNotify     = errors.New("malformed notification")
	ErrCustomAmount  = errors.New("free amounts are not accepted")
	ErrInsufficient  = billing.ErrInsufficient
	errUnknownOrder  = errors.New("unknown order")
	errIgnoredNotify = errors.New("notification reports nothing to act on")
)

// InvalidError is a value refused by a check, naming the field.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return e.Reason }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Package is something a user can buy.
type Package struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Price    int64  `json:"price_minor"` // in the currency's smallest unit
	Currency string `json:"currency"`    // ISO 4217, lower case
	// Credit and Bonus are both credited; they are apart to show the bonus.
	Credit       billing.Micros `json:"credit_micros"`
	Bonus        billing.Micros `json:"bonus_micros"`
	PerUserLimit int            `json:"per_user_limit"` // orders per user pending, paid or credited; 0 = no limit
	Enabled      bool           `json:"enabled"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
}

func (p *Package) normalize() error {
	p.Name = strings.TrimSpace(p.Name)
	p.Currency = strings.ToLower(strings.TrimSpace(p.Currency))
	switch {
	case p.Name == "" || len([]rune(p.Name)) > 64:
		return invalid("name", "a name of 1 to 64 characters is required")
	case p.Price <= 0:
		return invalid("price_minor", "price must be positive (in the currency's smallest unit)")
	case !validCurrency(p.Currency):
		return invalid("currency", "currency %q is not a three-letter ISO 4217 code", p.Currency)
	case p.Credit <= 0 || p.Credit > billing.MaxAdjust:
		return invalid("credit_micros", "credit must be positive and at most %s", billing.MaxAdjust)
	case p.Bonus < 0 || p.Bonus > billing.MaxAdjust:
		return invalid("bonus_micros", "bonus must be between 0 and %s", billing.MaxAdjust)
	case p.PerUserLimit < 0:
		return invalid("per_user_limit", "per-user limit must not be negative (0 = none)")
	}
	return nil
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'a' || c[i] > 'z' {
			return false
		}
	}
	return true
}

// zeroDecimal are the currencies without minor units, as Stripe lists
// them: their amounts are whole units.
var zeroDecimal = map[string]bool{"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true, "krw": true,
	"mga": true, "pyg": true, "rwf": true, "ugx": true, "vnd": true, "vuv": true, "xaf": true, "xof": true, "xpf": true}

// FormatMinor writes an amount of minor units as a decimal of the
// currency's major unit: 1050 cny → "10.50", 500 jpy → "500".
func FormatMinor(amount int64, currency string) string {
	if zeroDecimal[strings.ToLower(currency)] {
		return fmt.Sprintf("%d", amount)
	}
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	return fmt.Sprintf("%s%d.%02d", sign, amount/100, amount%100)
}

// ParseMinor reads a decimal amount of the currency's major unit ("10.5",
// "10.50") into minor units; more decimals than the currency has are an
// error, not rounded.
func ParseMinor(s, currency string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	places := 2
	if zeroDecimal[strings.ToLower(currency)] {
		places = 0
	}
	frac = strings.TrimRight(frac, "0")
	if whole == "" || len(frac) > places || !digits(whole) || !digits(frac) || len(whole) > 15 {
		return 0, fmt.Errorf("amount %q is not a %s amount", s, strings.ToUpper(currency))
	}
	var n int64
	for _, c := range whole {
		n = n*10 + int64(c-'0')
	}
	for i := 0; i < places; i++ {
		n *= 10
		if i < len(frac) {
			n += int64(frac[i] - '0')
		}
	}
	return n, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Order is one purchase of credit.
type Order struct {
	ID          int64          `json:"id"`
	Ref         string         `json:"ref"` // sent to the provider as the merchant's order number
	UserID      int64          `json:"user_id"`
	PackageID   int64          `json:"package_id,omitempty"` // 0 = a free amount
	Provider    string         `json:"provider"`
	Status      Status         `json:"status"`
	Flags       []string       `json:"flags"`
	Currency    string         `json:"currency"`
	Price       int64          `json:"price_minor"`
	Credit      billing.Micros `json:"credit_micros"`
	Bonus       billing.Micros `json:"bonus_micros"`
	ProviderRef string         `json:"provider_ref"`
	PayURL      string         `json:"pay_url"`
	// PaidAmount and PaidCurrency are what the provider reported paid.
	PaidAmount   *int64     `json:"paid_minor"`
	PaidCurrency string     `json:"paid_currency"`
	Note         string     `json:"note"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    time.Time  `json:"expires_at"`
	PaidAt       *time.Time `json:"paid_at"`
	CreditedAt   *time.Time `json:"credited_at"`
	RefundedAt   *time.Time `json:"refunded_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	// NotifyLog is the raw notifications received, secrets removed; only
	// admin listings fill it.
	NotifyLog string `json:"notify_log,omitempty"`
}

// Total is what the order credits: credit and bonus.
func (o *Order) Total() billing.Micros { return o.Credit + o.Bonus }

// HasFlag reports whether the order carries flag.
func (o *Order) HasFlag(flag string) bool {
	for _, f := range o.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// ledgerID is the request id of the order's credit on the ledger.
func ledgerID(ref string) string { return "topup:" + ref }

// refundID is the request id of the order's refund debit.
func refundID(ref string) string { return "topup-refund:" + ref }

// Custom bounds the free amounts a user may pay: credit between Min and
// Max, priced at PricePerUSD minor units of Currency per dollar of credit.
// The zero value accepts none.
type Custom struct {
	Enabled     bool
	Currency    string
	PricePerUSD int64 // minor units of Currency for one USD of credit
	Min, Max    billing.Micros
}

// price is what credit costs, rounded up to a whole minor unit.
func (c Custom) price(credit billing.Micros) int64 {
	n := int64(credit) * c.PricePerUSD
	d := int64(billing.MicrosPerUSD)
	return (n + d - 1) / d
}
