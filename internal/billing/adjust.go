package billing

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// What an operator does to a wallet through the console, and what a user
// reads of theirs.

// MaxAdjust bounds one adjustment either way ($1,000,000): a larger one is
// surely a typo of units (USD for micro-USD).
const MaxAdjust = 1_000_000 * MicrosPerUSD

// InvalidError is a value refused by a check, naming the field.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return e.Reason }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Adjust credits amount to the user (or takes it away when negative,
// never below zero: ErrInsufficient) as one adjust row with reason as its
// note, and returns the row. Each call is its own adjustment (a random
// request id), exactly as 'switchyard users credit'.
//
// The row goes straight to the ledger, like every credit: the meter's hot
// state re-reads the balances it holds every second (Meter.refresh), so
// the adjustment is spendable, or withheld, on every node within about a
// second.
func (l *Ledger) Adjust(ctx context.Context, userID int64, amount Micros, reason string) (Record, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case amount == 0:
		return Record{}, invalid("amount_micros", "amount must not be zero")
	case amount > MaxAdjust || amount < -MaxAdjust:
		return Record{}, invalid("amount_micros", "amount is beyond %s either way", MaxAdjust)
	case reason == "":
		return Record{}, invalid("reason", "a reason is required: it is recorded on the ledger row")
	case utf8.RuneCountInString(reason) > maxNote:
		return Record{}, invalid("reason", "reason is longer than %d characters", maxNote)
	}
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	id := "adjust:" + hex.EncodeToString(b[:])
	if _, err := l.Post(ctx, Entry{UserID: userID, RequestID: id, Kind: KindAdjust, Amount: amount, Note: reason}); err != nil {
		return Record{}, err
	}
	r, err := scanRecord(l.db.Write().QueryRowContext(ctx, l.db.Dialect().Rebind(recordSelect+" WHERE request_id = ? AND kind = ?"),
		id, string(KindAdjust)))
	if err != nil {
		return Record{}, fmt.Errorf("read back adjustment %s: %w", id, err)
	}
	return r, nil
}

const recordSelect = `SELECT id, user_id, key_id, request_id, kind, amount_micros, balance_after_micros, note, created_at FROM ledger`

func scanRecord(sc interface{ Scan(...any) error }) (Record, error) {
	var (
		r     Record
		key   sql.NullInt64
		reqID sql.NullString
	)
	if err := sc.Scan(&r.ID, &r.UserID, &key, &reqID, &r.Kind, &r.Amount, &r.BalanceAfter, &r.Note, &r.CreatedAt); err != nil {
		return Record{}, err
	}
	r.KeyID, r.RequestID, r.CreatedAt = key.Int64, reqID.String, r.CreatedAt.UTC()
	return r, nil
}

// Kinds are the kinds of ledger rows, for filters.
func Kinds() []Kind { return slices.Clone(kinds) }

// Entries returns one keyset page of the user's ledger rows, newest first:
// rows with an id below before (0 = from the newest), at most limit, of
// kind when not empty; and the before of the next page (0 on the last).
func (l *Ledger) Entries(ctx context.Context, userID int64, kind Kind, before int64, limit int) ([]Record, int64, error) {
	if limit < 1 || limit > 1000 {
		limit = 50
	}
	q := recordSelect + " WHERE user_id = ?"
	args := []any{userID}
	if kind != "" {
		if !slices.Contains(kinds, kind) {
			return nil, 0, invalid("kind", "kind %q is not a ledger row kind", kind)
		}
		q += " AND kind = ?"
		args = append(args, string(kind))
	}
	if before > 0 {
		q += " AND id < ?"
		args = append(args, before)
	}
	q += " ORDER BY id DESC LIMIT " + strconv.Itoa(limit+1)
	rows, err := l.db.Read().QueryContext(ctx, l.db.Dialect().Rebind(q), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("read ledger of user id %d: %w", userID, err)
	}
	defer rows.Close()
	out := []Record{}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("read ledger of user id %d: %w", userID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read ledger of user id %d: %w", userID, err)
	}
	if len(out) <= limit {
		return out, 0, nil
	}
	out = out[:limit]
	return out, out[limit-1].ID, nil
}
