package topup

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/store"
)

// DefaultTTL is how long an order waits for its payment.
const DefaultTTL = 30 * time.Minute

// maxNotifyLog bounds the notifications kept on one order (the newest).
const maxNotifyLog = 32 << 10

// Service keeps packages and orders and moves orders through their life.
type Service struct {
	db     *store.DB
	ledger *billing.Ledger
	now    func() time.Time
	log    *slog.Logger
	ttl    time.Duration
	custom Custom
	// providers is swapped whole when the console changes a provider
	// (SetProviders), so a request sees one consistent set.
	providers atomic.Pointer[map[string]Provider]
}

// Options are a Service's settings; the zero value is usable.
type Options struct {
	TTL       time.Duration // how long an order waits for payment; 0 = DefaultTTL
	Custom    Custom        // free amounts; the zero value refuses them
	Now       func() time.Time
	Log       *slog.Logger
	Providers []Provider
}

// New returns a Service over db, crediting through ledger.
func New(db *store.DB, ledger *billing.Ledger, o Options) *Service {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Custom.Currency = strings.ToLower(o.Custom.Currency)
	s := &Service{db: db, ledger: ledger, now: o.Now, log: o.Log, ttl: o.TTL, custom: o.Custom}
	s.SetProviders(o.Providers)
	return s
}

// SetProviders replaces the providers in use: orders already created keep
// their provider's name, and a notification for a provider no longer in
// use is refused until it is configured again.
func (s *Service) SetProviders(ps []Provider) {
	m := make(map[string]Provider, len(ps))
	for _, p := range ps {
		m[p.Name()] = p
	}
	s.providers.Store(&m)
}

// Provider returns the provider named name.
func (s *Service) Provider(name string) (Provider, bool) {
	p, ok := (*s.providers.Load())[name]
	return p, ok
}

// ManualInstructions is what a user paying by hand is told to do; empty
// when the manual provider is not in use or has none.
func (s *Service) ManualInstructions() string {
	if m, ok := (*s.providers.Load())[ManualName].(Manual); ok {
		return m.Instructions
	}
	return ""
}

// ProviderNames lists the configured providers, sorted.
func (s *Service) ProviderNames() []string {
	return slices.Sorted(maps.Keys(*s.providers.Load()))
}

// ProviderInfo is a configured provider as an admin sees it.
type ProviderInfo struct {
	Name     string            `json:"name"`
	Settings map[string]string `json:"settings"` // never a secret
}

// Providers describes the configured providers, by name.
func (s *Service) Providers() []ProviderInfo {
	ps := *s.providers.Load()
	out := []ProviderInfo{}
	for _, n := range slices.Sorted(maps.Keys(ps)) {
		info := ProviderInfo{Name: n, Settings: map[string]string{}}
		if d, ok := ps[n].(Describer); ok {
			info.Settings = d.Describe()
		}
		out = append(out, info)
	}
	return out
}

// TestProvider runs the provider's own check of its settings; a provider
// with none passes.
func (s *Service) TestProvider(ctx context.Context, name string) error {
	p, ok := s.Provider(name)
	if !ok {
		return fmt.Errorf("provider %q: %w", name, ErrNotFound)
	}
	if t, ok := p.(Tester); ok {
		return t.Test(ctx)
	}
	return nil
}

// CustomBounds returns the bounds of free amounts.
func (s *Service) CustomBounds() Custom { return s.custom }

// OrderRequest is what a user asks to buy.
type OrderRequest struct {
	PackageID int64          // or
	Credit    billing.Micros // a free amount of credit, when PackageID is 0
	Provider  string
	ReturnURL string // where the provider sends the user back; never trusted for crediting
}

const orderColumns = `id, ref, user_id, package_id, provider, status, flags, currency, price_minor, credit_micros, bonus_micros,
	provider_ref, pay_url, paid_minor, paid_currency, note, created_at, expires_at, paid_at, credited_at, refunded_at, updated_at, notify_log`

func scanOrder(sc interface{ Scan(...any) error }) (Order, error) {
	var (
		o                     Order
		pkg, paid             sql.NullInt64
		flags                 string
		paidAt, credAt, refAt sql.NullTime
		notify                sql.NullString
		status                string
	)
	if err := sc.Scan(&o.ID, &o.Ref, &o.UserID, &pkg, &o.Provider, &status, &flags, &o.Currency, &o.Price, &o.Credit, &o.Bonus,
		&o.ProviderRef, &o.PayURL, &paid, &o.PaidCurrency, &o.Note, &o.CreatedAt, &o.ExpiresAt, &paidAt, &credAt, &refAt, &o.UpdatedAt, &notify); err != nil {
		return Order{}, err
	}
	o.Status, o.PackageID, o.NotifyLog = Status(status), pkg.Int64, notify.String
	o.Flags = splitFlags(flags)
	if paid.Valid {
		o.PaidAmount = &paid.Int64
	}
	o.PaidAt, o.CreditedAt, o.RefundedAt = nullTime(paidAt), nullTime(credAt), nullTime(refAt)
	o.CreatedAt, o.ExpiresAt, o.UpdatedAt = o.CreatedAt.UTC(), o.ExpiresAt.UTC(), o.UpdatedAt.UTC()
	return o, nil
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func splitFlags(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func addFlag(flags []string, f string) []string {
	if slices.Contains(flags, f) {
		return flags
	}
	return append(slices.Clone(flags), f)
}

func newRef() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return "TU" + strings.ToUpper(hex.EncodeToString(b[:]))
}

// CreateOrder creates a pending order for the user and starts its payment
// with the provider; the order returned carries the URL to pay at.
func (s *Service) CreateOrder(ctx context.Context, userID int64, req OrderRequest) (Order, error) {
	prov, ok := s.Provider(req.Provider)
	if !ok {
		return Order{}, invalid("provider", "payment provider %q is not configured", req.Provider)
	}
	o := Order{UserID: userID, Provider: req.Provider, Ref: newRef(), Status: StatusPending}
	var limit int
	if req.PackageID != 0 {
		p, err := s.Package(ctx, req.PackageID)
		if errors.Is(err, ErrNotFound) {
			return Order{}, invalid("package_id", "no such package")
		}
		if err != nil {
			return Order{}, err
		}
		if !p.Enabled {
			return Order{}, fmt.Errorf("package %d: %w", p.ID, ErrDisabled)
		}
		o.PackageID, o.Currency, o.Price, o.Credit, o.Bonus, limit = p.ID, p.Currency, p.Price, p.Credit, p.Bonus, p.PerUserLimit
	} else {
		c := s.custom
		switch {
		case !c.Enabled:
			return Order{}, ErrCustomAmount
		case req.Credit < c.Min || req.Credit > c.Max:
			return Order{}, invalid("credit_micros", "the amount must be between %s and %s", c.Min, c.Max)
		}
		o.Currency, o.Credit, o.Price = c.Currency, req.Credit, c.price(req.Credit)
	}
	if cl, ok := prov.(CurrencyLimited); ok && !cl.Accepts(o.Currency) {
		return Order{}, invalid("provider", "%s does not take payments in %s", req.Provider, strings.ToUpper(o.Currency))
	}
	now := s.now().UTC()
	o.CreatedAt, o.UpdatedAt, o.ExpiresAt = now, now, now.Add(s.ttl)
	o.Flags = []string{}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		d := s.db.Dialect()
		// The user's row is locked so that two orders created at once
		// cannot both pass the per-user limit.
		var one int64
		err := tx.QueryRowContext(ctx, d.Rebind("SELECT id FROM users WHERE id = ?"+d.ForUpdate()), userID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %d: %w", userID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if limit > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, d.Rebind(`SELECT COUNT(*) FROM topup_orders WHERE package_id = ? AND user_id = ?
				AND status IN ('pending', 'paid', 'credited')`), o.PackageID, userID).Scan(&n); err != nil {
				return err
			}
			if n >= limit {
				return ErrLimit
			}
		}
		var pkg any
		if o.PackageID != 0 {
			pkg = o.PackageID
		}
		o.ID, err = d.InsertID(ctx, tx, d.Rebind(`INSERT INTO topup_orders (ref, user_id, package_id, provider, status, flags, currency,
			price_minor, credit_micros, bonus_micros, created_at, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?)`),
			o.Ref, userID, pkg, o.Provider, string(StatusPending), o.Currency, o.Price, int64(o.Credit), int64(o.Bonus), now, o.ExpiresAt, now)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrLimit) || errors.Is(err, ErrNotFound) {
			return Order{}, err
		}
		return Order{}, fmt.Errorf("create order for user %d: %w", userID, err)
	}
	co, err := prov.Checkout(ctx, o, req.ReturnURL)
	if err != nil {
		// The order never reached a payment page: it can never be paid.
		_, _ = s.db.Write().ExecContext(context.WithoutCancel(ctx), s.db.Dialect().Rebind(`UPDATE topup_orders SET status = 'cancelled',
			note = ?, updated_at = ? WHERE id = ? AND status = 'pending'`), "checkout failed", s.now().UTC(), o.ID)
		s.log.Warn("topup checkout failed", "order", o.Ref, "provider", o.Provider, "err", err)
		return Order{}, fmt.Errorf("order %s: checkout with %s: %w: %w", o.Ref, o.Provider, ErrCheckout, err)
	}
	o.PayURL, o.ProviderRef = co.PayURL, co.ProviderRef
	if _, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(`UPDATE topup_orders SET pay_url = ?, provider_ref = ?
		WHERE id = ?`), store.Clip(o.PayURL, 2048), store.Clip(o.ProviderRef, 255), o.ID); err != nil {
		return Order{}, fmt.Errorf("order %s: record checkout: %w", o.Ref, err)
	}
	s.log.Info("topup order created", "order", o.Ref, "user_id", userID, "provider", o.Provider, "price_minor", o.Price, "currency", o.Currency)
	return o, nil
}

// Order returns the order with ref.
func (s *Service) Order(ctx context.Context, ref string) (Order, error) {
	o, err := scanOrder(s.db.Write().QueryRowContext(ctx, s.db.Dialect().Rebind("SELECT "+orderColumns+" FROM topup_orders WHERE ref = ?"), ref))
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, fmt.Errorf("order %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return Order{}, fmt.Errorf("read order %s: %w", ref, err)
	}
	return o, nil
}

// Filter selects orders for Orders.
type Filter struct {
	UserID   int64
	Status   Status
	Provider string
	Flag     string
	Before   int64 // keyset: orders with an id below; 0 = from the newest
	Limit    int   // 1..500, default 50
}

// Orders returns one page of orders, newest first, and the Before of the
// next page (0 on the last).
func (s *Service) Orders(ctx context.Context, f Filter) ([]Order, int64, error) {
	if f.Limit < 1 || f.Limit > 500 {
		f.Limit = 50
	}
	q := "SELECT " + orderColumns + " FROM topup_orders WHERE 1 = 1"
	var args []any
	if f.UserID != 0 {
		q += " AND user_id = ?"
		args = append(args, f.UserID)
	}
	if f.Status != "" {
		if !slices.Contains(Statuses, f.Status) {
			return nil, 0, invalid("status", "status %q is not an order status", f.Status)
		}
		q += " AND status = ?"
		args = append(args, string(f.Status))
	}
	if f.Provider != "" {
		q += " AND provider = ?"
		args = append(args, f.Provider)
	}
	if f.Flag != "" {
		if f.Flag != FlagLate && f.Flag != FlagMismatch && f.Flag != FlagForced {
			return nil, 0, invalid("flag", "flag %q is not an order flag", f.Flag)
		}
		q += " AND flags LIKE ?"
		args = append(args, "%"+f.Flag+"%")
	}
	if f.Before > 0 {
		q += " AND id < ?"
		args = append(args, f.Before)
	}
	q += " ORDER BY id DESC LIMIT " + strconv.Itoa(f.Limit+1)
	rows, err := s.db.Read().QueryContext(ctx, s.db.Dialect().Rebind(q), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	out := []Order{}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list orders: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list orders: %w", err)
	}
	if len(out) <= f.Limit {
		return out, 0, nil
	}
	out = out[:f.Limit]
	return out, out[f.Limit-1].ID, nil
}

// Cancel cancels the user's pending order. A payment arriving later is
// still credited, flagged late.
func (s *Service) Cancel(ctx context.Context, userID int64, ref string) (Order, error) {
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(`UPDATE topup_orders SET status = 'cancelled', updated_at = ?
		WHERE ref = ? AND user_id = ? AND status = 'pending'`), s.now().UTC(), ref, userID)
	if err != nil {
		return Order{}, fmt.Errorf("cancel order %s: %w", ref, err)
	}
	o, err := s.Order(ctx, ref)
	if err != nil || o.UserID != userID {
		return Order{}, fmt.Errorf("order %s: %w", ref, ErrNotFound)
	}
	if n, _ := res.RowsAffected(); n == 0 && o.Status != StatusCancelled {
		return o, fmt.Errorf("cancel order %s (%s): %w", ref, o.Status, ErrState)
	}
	return o, nil
}

// txAttempts bounds how often a transaction aborted for a deadlock or a
// serialisation failure is run again.
const txAttempts = 5

func (s *Service) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for range txAttempts {
		if err = s.tryTx(ctx, fn); err == nil || !store.IsRetryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (s *Service) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.Write().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
