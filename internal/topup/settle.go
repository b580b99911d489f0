package topup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/store"
)

// Payment is a payment a provider reported (or an admin recorded) for an
// order.
type Payment struct {
	OrderRef    string
	Provider    string // must be the order's provider, unless Forced
	ProviderRef string // the provider's id of the payment, kept on the order
	Amount      int64  // paid, in minor units of Currency
	Currency    string
	// Raw is the notification as received, secrets removed: appended to
	// the order's log for the admin.
	Raw string
	// Forced is an admin marking the order paid: the amount is taken as
	// the order's and a mismatch flagged before is accepted.
	Forced bool
	Note   string
}

// Settle records the payment on its order and credits the order once.
// It returns the order as it stands after. Repeating it (a duplicated
// notification, two nodes receiving the same one) records nothing new and
// credits nothing more. The order is durably marked paid before Settle
// tries to credit it; a failure after that leaves the order paid for
// Recover, and Settle's error says so, but the payment is not lost.
func (s *Service) Settle(ctx context.Context, p Payment) (Order, error) {
	o, err := s.record(ctx, p)
	if err != nil {
		return Order{}, err
	}
	if o.Status == StatusPaid && creditable(o) {
		if o, err = s.credit(ctx, o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// creditable reports whether a paid order may be credited: not when it
// was paid another amount, unless an admin accepted it.
func creditable(o Order) bool {
	return !o.HasFlag(FlagMismatch) || o.HasFlag(FlagForced)
}

// record is the first half of Settle: in one transaction holding the
// order's row, it appends the raw notification and moves a pending,
// expired or cancelled order to paid with the amount reported. An order
// already paid or beyond is left as it is (a repeat).
func (s *Service) record(ctx context.Context, p Payment) (Order, error) {
	var o Order
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		d := s.db.Dialect()
		var err error
		o, err = scanOrder(tx.QueryRowContext(ctx, d.Rebind("SELECT "+orderColumns+" FROM topup_orders WHERE ref = ?"+d.ForUpdate()), p.OrderRef))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("order %q: %w", p.OrderRef, errUnknownOrder)
		}
		if err != nil {
			return err
		}
		if !p.Forced && p.Provider != o.Provider {
			return fmt.Errorf("order %s is paid through %s, not %s: %w", o.Ref, o.Provider, p.Provider, ErrBadNotify)
		}
		now := s.now().UTC()
		log := o.NotifyLog
		if p.Raw != "" || p.Note != "" {
			entry := now.Format(time.RFC3339) + " " + p.Provider
			if p.Forced {
				entry += " (admin)"
			}
			if p.Note != "" {
				entry += " note: " + p.Note
			}
			if p.Raw != "" {
				entry += "\n" + p.Raw
			}
			log = appendLog(log, entry)
		}
		switch o.Status {
		case StatusPending, StatusExpired, StatusCancelled:
			flags := o.Flags
			if o.Status != StatusPending || now.After(o.ExpiresAt) {
				flags = addFlag(flags, FlagLate)
			}
			amount, currency := p.Amount, strings.ToLower(p.Currency)
			if p.Forced {
				amount, currency = o.Price, o.Currency
				flags = addFlag(flags, FlagForced)
			} else if amount != o.Price || currency != o.Currency {
				flags = addFlag(flags, FlagMismatch)
			}
			ref := o.ProviderRef
			if p.ProviderRef != "" {
				ref = p.ProviderRef
			}
			note := o.Note
			if p.Note != "" {
				note = store.Clip(p.Note, 255)
			}
			if _, err := tx.ExecContext(ctx, d.Rebind(`UPDATE topup_orders SET status = 'paid', flags = ?, provider_ref = ?, paid_minor = ?,
				paid_currency = ?, paid_at = ?, note = ?, notify_log = ?, updated_at = ? WHERE id = ?`),
				strings.Join(flags, ","), store.Clip(ref, 255), amount, store.Clip(currency, 3), now, note, log, now, o.ID); err != nil {
				return fmt.Errorf("record payment of order %s: %w", o.Ref, err)
			}
			o.Status, o.Flags, o.ProviderRef, o.PaidAmount, o.PaidCurrency, o.PaidAt, o.Note = StatusPaid, flags, ref, &amount, currency, &now, note
		case StatusPaid:
			// Paid another amount before; an admin accepting it is what
			// lets it be credited.
			if p.Forced && !o.HasFlag(FlagForced) {
				o.Flags = addFlag(o.Flags, FlagForced)
				if p.Note != "" {
					o.Note = store.Clip(p.Note, 255)
				}
			}
			if _, err := tx.ExecContext(ctx, d.Rebind(`UPDATE topup_orders SET flags = ?, note = ?, notify_log = ?, updated_at = ? WHERE id = ?`),
				strings.Join(o.Flags, ","), o.Note, log, now, o.ID); err != nil {
				return fmt.Errorf("record notification of order %s: %w", o.Ref, err)
			}
		default:
			if p.Forced {
				return fmt.Errorf("order %s is %s: %w", o.Ref, o.Status, ErrState)
			}
			// Credited or refunded: a repeat, kept in the log only.
			if _, err := tx.ExecContext(ctx, d.Rebind(`UPDATE topup_orders SET notify_log = ? WHERE id = ?`), log, o.ID); err != nil {
				return fmt.Errorf("record notification of order %s: %w", o.Ref, err)
			}
		}
		o.NotifyLog = log
		return nil
	})
	if err != nil {
		if errors.Is(err, errUnknownOrder) || errors.Is(err, ErrBadNotify) || errors.Is(err, ErrState) {
			return Order{}, err
		}
		return Order{}, fmt.Errorf("settle order %s: %w", p.OrderRef, err)
	}
	if o.HasFlag(FlagMismatch) && !o.HasFlag(FlagForced) {
		s.log.Warn("topup order paid another amount: not credited", "order", o.Ref, "provider", p.Provider,
			"price_minor", o.Price, "currency", o.Currency, "paid_minor", p.Amount, "paid_currency", p.Currency)
	}
	if o.HasFlag(FlagLate) {
		s.log.Warn("topup order paid late", "order", o.Ref, "provider", p.Provider)
	}
	return o, nil
}

// appendLog appends entry to log, keeping the newest maxNotifyLog bytes.
func appendLog(log, entry string) string {
	if log != "" {
		log += "\n\n"
	}
	log += entry
	if len(log) > maxNotifyLog {
		log = log[len(log)-maxNotifyLog:]
	}
	return store.Clip(log, maxNotifyLog)
}

// credit posts the paid order's credit to the ledger (once: its request id
// is the order's) and then marks it credited.
func (s *Service) credit(ctx context.Context, o Order) (Order, error) {
	res, err := s.ledger.Post(ctx, billing.Entry{UserID: o.UserID, RequestID: ledgerID(o.Ref), Kind: billing.KindTopup,
		Amount: o.Total(), Note: "top-up order " + o.Ref + " (" + o.Provider + ")"})
	if err != nil {
		return o, fmt.Errorf("credit order %s (paid; Recover will credit it): %w", o.Ref, err)
	}
	now := s.now().UTC()
	if _, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(`UPDATE topup_orders SET status = 'credited', credited_at = ?,
		updated_at = ? WHERE id = ? AND status = 'paid'`), now, now, o.ID); err != nil {
		return o, fmt.Errorf("mark order %s credited (its credit is on the ledger): %w", o.Ref, err)
	}
	if res.Applied {
		s.log.Info("topup order credited", "order", o.Ref, "user_id", o.UserID, "amount_micros", int64(o.Total()))
	}
	o.Status, o.CreditedAt = StatusCredited, &now
	return o, nil
}

// MarkPaid is an admin recording that an order was paid outside any
// provider (or accepting a payment of another amount); note says why.
func (s *Service) MarkPaid(ctx context.Context, ref, note string) (Order, error) {
	note = strings.TrimSpace(note)
	if note == "" {
		return Order{}, invalid("note", "a note is required: it is recorded on the order")
	}
	o, err := s.Settle(ctx, Payment{OrderRef: ref, Provider: ManualName, Forced: true, Note: note})
	if errors.Is(err, errUnknownOrder) {
		return Order{}, fmt.Errorf("order %s: %w", ref, ErrNotFound)
	}
	return o, err
}

// Refund takes a credited order's credit back from the user (an adjust
// row on the ledger, refused with ErrInsufficient when it would take the
// balance below zero, unless allowNegative) and marks it refunded. A paid
// order never credited is only marked refunded. The money itself is
// returned through the provider's own dashboard.
func (s *Service) Refund(ctx context.Context, ref, note string, allowNegative bool) (Order, error) {
	note = strings.TrimSpace(note)
	if note == "" {
		return Order{}, invalid("note", "a note is required: it is recorded on the ledger")
	}
	o, err := s.Order(ctx, ref)
	if err != nil {
		return Order{}, err
	}
	switch o.Status {
	case StatusCredited:
		if _, err := s.ledger.Post(ctx, billing.Entry{UserID: o.UserID, RequestID: refundID(o.Ref), Kind: billing.KindAdjust,
			Amount: -o.Total(), Note: "refund of top-up order " + o.Ref + ": " + note, AllowNegative: allowNegative}); err != nil {
			return o, fmt.Errorf("refund order %s: %w", o.Ref, err)
		}
	case StatusPaid:
	default:
		return o, fmt.Errorf("refund order %s (%s): %w", o.Ref, o.Status, ErrState)
	}
	now := s.now().UTC()
	if _, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(`UPDATE topup_orders SET status = 'refunded', refunded_at = ?,
		note = ?, updated_at = ? WHERE id = ? AND status IN ('paid', 'credited')`), now, store.Clip(note, 255), now, o.ID); err != nil {
		return o, fmt.Errorf("mark order %s refunded: %w", o.Ref, err)
	}
	return s.Order(ctx, ref)
}

// Recover expires pending orders past their time and credits every paid
// order that may be credited and is not yet: those a crash (or a failed
// ledger write) left between paid and credited. It is run at start and
// periodically (Run), and on several nodes at once safely.
func (s *Service) Recover(ctx context.Context) (expired, credited int, err error) {
	now := s.now().UTC()
	res, err := s.db.Write().ExecContext(ctx, s.db.Dialect().Rebind(`UPDATE topup_orders SET status = 'expired', updated_at = ?
		WHERE status = 'pending' AND expires_at < ?`), now, now)
	if err != nil {
		return 0, 0, fmt.Errorf("expire orders: %w", err)
	}
	n, _ := res.RowsAffected()
	expired = int(n)
	rows, err := s.db.Read().QueryContext(ctx, s.db.Dialect().Rebind("SELECT "+orderColumns+" FROM topup_orders WHERE status = 'paid' ORDER BY id LIMIT 500"))
	if err != nil {
		return expired, 0, fmt.Errorf("find paid orders: %w", err)
	}
	var paid []Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			rows.Close()
			return expired, 0, fmt.Errorf("find paid orders: %w", err)
		}
		paid = append(paid, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return expired, 0, fmt.Errorf("find paid orders: %w", err)
	}
	var errs []error
	for _, o := range paid {
		if !creditable(o) {
			continue
		}
		if _, err := s.credit(ctx, o); err != nil {
			errs = append(errs, err)
			continue
		}
		credited++
	}
	if credited > 0 {
		s.log.Info("topup recovery credited paid orders", "count", credited)
	}
	return expired, credited, errors.Join(errs...)
}

// Run calls Recover now and every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, _, err := s.Recover(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("topup recovery", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
