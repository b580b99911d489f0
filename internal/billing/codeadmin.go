package billing

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Codes as the console lists, exports and disables them, and each user's
// own invite code.

// ErrCodeNotFound is an unknown code id (the console's, never a redeemer's:
// redeeming says ErrCodeInvalid for every reason).
var ErrCodeNotFound = errors.New("code not found")

// Code statuses, derived from the row: disabled wins, then used up, then
// expired.
const (
	CodeActive   = "active"
	CodeUsed     = "used"
	CodeExpired  = "expired"
	CodeDisabled = "disabled"
)

// CodeStatuses are the values of CodeFilter.Status.
var CodeStatuses = []string{CodeActive, CodeUsed, CodeExpired, CodeDisabled}

// CodeFilter narrows code listings; empty fields do not filter.
type CodeFilter struct {
	Batch  string
	Kind   string // CodeCredit or CodeInvite
	Status string // one of CodeStatuses
	// Inviter is the inviting user of invite codes (0 = any).
	Inviter int64
}

const codeSelect = `SELECT id, prefix, kind, value_micros, inviter_bonus_micros, inviter_user_id, batch, note, uses, max_uses,
	expires_at, created_at, disabled_at FROM redemption_codes`

func scanCode(sc interface{ Scan(...any) error }, now time.Time) (CodeInfo, error) {
	var (
		c                 CodeInfo
		inviter           sql.NullInt64
		expires, disabled sql.NullTime
	)
	if err := sc.Scan(&c.ID, &c.Prefix, &c.Kind, &c.Value, &c.InviterBonus, &inviter, &c.Batch, &c.Note, &c.Uses,
		&c.MaxUses, &expires, &c.CreatedAt, &disabled); err != nil {
		return CodeInfo{}, err
	}
	c.InviterUserID = inviter.Int64
	if expires.Valid {
		t := expires.Time.UTC()
		c.ExpiresAt = &t
	}
	if disabled.Valid {
		t := disabled.Time.UTC()
		c.DisabledAt = &t
	}
	c.CreatedAt = c.CreatedAt.UTC()
	switch {
	case c.DisabledAt != nil:
		c.Status = CodeDisabled
	case c.Uses >= c.MaxUses:
		c.Status = CodeUsed
	case c.ExpiresAt != nil && !c.ExpiresAt.After(now):
		c.Status = CodeExpired
	default:
		c.Status = CodeActive
	}
	return c, nil
}

// where is f as SQL conditions, in the same terms as scanCode's status.
func (f CodeFilter) where(now time.Time) (string, []any, error) {
	var where []string
	var args []any
	if f.Batch != "" {
		where = append(where, "batch = ?")
		args = append(args, f.Batch)
	}
	switch f.Kind {
	case "":
	case CodeCredit, CodeInvite:
		where = append(where, "kind = ?")
		args = append(args, f.Kind)
	default:
		return "", nil, invalid("kind", "kind %q is not credit or invite", f.Kind)
	}
	if f.Inviter != 0 {
		where = append(where, "inviter_user_id = ?")
		args = append(args, f.Inviter)
	}
	switch f.Status {
	case "":
	case CodeDisabled:
		where = append(where, "disabled_at IS NOT NULL")
	case CodeUsed:
		where = append(where, "disabled_at IS NULL AND uses >= max_uses")
	case CodeExpired:
		where = append(where, "disabled_at IS NULL AND uses < max_uses AND expires_at <= ?")
		args = append(args, now)
	case CodeActive:
		where = append(where, "disabled_at IS NULL AND uses < max_uses AND (expires_at IS NULL OR expires_at > ?)")
		args = append(args, now)
	default:
		return "", nil, invalid("status", "status %q is not one of %s", f.Status, strings.Join(CodeStatuses, ", "))
	}
	if len(where) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(where, " AND "), args, nil
}

// QueryCodes returns one keyset page of codes, newest first: ids below
// before (0 = from the newest), at most limit; and the before of the next
// page (0 on the last).
func (l *Ledger) QueryCodes(ctx context.Context, f CodeFilter, before int64, limit int) ([]CodeInfo, int64, error) {
	if limit < 1 || limit > 1000 {
		limit = 50
	}
	now := l.now().UTC()
	where, args, err := f.where(now)
	if err != nil {
		return nil, 0, err
	}
	if before > 0 {
		if where == "" {
			where = " WHERE id < ?"
		} else {
			where += " AND id < ?"
		}
		args = append(args, before)
	}
	out := []CodeInfo{}
	err = l.eachCode(ctx, codeSelect+where+" ORDER BY id DESC LIMIT "+strconv.Itoa(limit+1), args, now, func(c CodeInfo) error {
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if len(out) <= limit {
		return out, 0, nil
	}
	out = out[:limit]
	return out, out[limit-1].ID, nil
}

// EachCode calls fn for every code f selects, oldest first, reading them
// as it goes (an export of a million codes holds one at a time). An error
// from fn stops it and is returned.
func (l *Ledger) EachCode(ctx context.Context, f CodeFilter, fn func(CodeInfo) error) error {
	now := l.now().UTC()
	where, args, err := f.where(now)
	if err != nil {
		return err
	}
	return l.eachCode(ctx, codeSelect+where+" ORDER BY id", args, now, fn)
}

func (l *Ledger) eachCode(ctx context.Context, q string, args []any, now time.Time, fn func(CodeInfo) error) error {
	rows, err := l.db.Read().QueryContext(ctx, l.db.Dialect().Rebind(q), args...)
	if err != nil {
		return fmt.Errorf("list codes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCode(rows, now)
		if err != nil {
			return fmt.Errorf("list codes: %w", err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list codes: %w", err)
	}
	return nil
}

// GetCode returns the code with id (ErrCodeNotFound).
func (l *Ledger) GetCode(ctx context.Context, id int64) (CodeInfo, error) {
	c, err := scanCode(l.db.Write().QueryRowContext(ctx, l.db.Dialect().Rebind(codeSelect+" WHERE id = ?"), id), l.now().UTC())
	if errors.Is(err, sql.ErrNoRows) {
		return CodeInfo{}, fmt.Errorf("code id %d: %w", id, ErrCodeNotFound)
	}
	if err != nil {
		return CodeInfo{}, fmt.Errorf("read code id %d: %w", id, err)
	}
	return c, nil
}

// DisableCode stops the code with id from being redeemed from now on and
// returns it before and after; disabling a disabled code changes nothing.
// Redemptions made before stay: their credit is on the ledger.
func (l *Ledger) DisableCode(ctx context.Context, id int64) (before, after CodeInfo, err error) {
	if before, err = l.GetCode(ctx, id); err != nil {
		return CodeInfo{}, CodeInfo{}, err
	}
	if _, err := l.db.Write().ExecContext(ctx, l.db.Dialect().Rebind("UPDATE redemption_codes SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL"),
		l.now().UTC(), id); err != nil {
		return before, before, fmt.Errorf("disable code id %d: %w", id, err)
	}
	after, err = l.GetCode(ctx, id)
	return before, after, err
}

// CheckCodeBatch checks GenerateCodes' arguments, naming the field.
func CheckCodeBatch(n int, value Micros, expires, now time.Time, batch, note string) error {
	switch {
	case n < 1 || n > MaxCodesPerBatch:
		return invalid("count", "count %d is not between 1 and %d", n, MaxCodesPerBatch)
	case value <= 0:
		return invalid("value_micros", "value must be positive")
	case value > MaxAdjust:
		return invalid("value_micros", "value is above %s", MaxAdjust)
	case len(batch) > maxBatch:
		return invalid("batch", "batch name is longer than %d bytes", maxBatch)
	case strings.HasPrefix(batch, "invite:"):
		return invalid("batch", "batch names starting with invite: are the invite codes'")
	case len([]rune(note)) > maxNote:
		return invalid("note", "note is longer than %d characters", maxNote)
	case !expires.IsZero() && !expires.After(now):
		return invalid("expires_at", "expiry is in the past")
	}
	return nil
}

// UserInvite returns the user's own invite code, creating it at first
// use: each invitee redeeming it gets inviteeCredit and the inviter
// inviterBonus (the stored code follows the amounts given, so a change of
// the settings applies to codes already handed out).
//
// The code is not stored in clear, yet can be shown again: it is derived
// from key (a secret subkey) and the user's id, HMAC-SHA256, and only its
// hash is stored, like every code. When an operator disables it, the next
// call derives the user's next one (the derivation counts the user's
// disabled invite codes), so a leaked invite link can be replaced.
func (l *Ledger) UserInvite(ctx context.Context, key []byte, inviterUserID int64, inviteeCredit, inviterBonus Micros) (string, CodeInfo, error) {
	if len(key) < 16 {
		return "", CodeInfo{}, errors.New("invite code: no secret key to derive it from")
	}
	if inviteeCredit < 0 || inviterBonus < 0 {
		return "", CodeInfo{}, errors.New("invite code: negative credit")
	}
	if _, err := l.Balance(ctx, inviterUserID); err != nil {
		return "", CodeInfo{}, fmt.Errorf("invite code: %w", err)
	}
	d, w := l.db.Dialect(), l.db.Write()
	var disabled int64
	if err := w.QueryRowContext(ctx, d.Rebind(`SELECT COUNT(*) FROM redemption_codes
		WHERE kind = ? AND inviter_user_id = ? AND disabled_at IS NOT NULL`), CodeInvite, inviterUserID).Scan(&disabled); err != nil {
		return "", CodeInfo{}, fmt.Errorf("invite code of user id %d: %w", inviterUserID, err)
	}
	code := inviteCode(key, inviterUserID, disabled)
	hash := hashCode(code)
	now := l.now().UTC()
	// Two first calls at once insert the same hash: one wins, both go on.
	if _, err := w.ExecContext(ctx, d.InsertIgnore("redemption_codes", codeColumns, []string{"hash"}), hash, code[:codeVisibleLen],
		CodeInvite, int64(inviteeCredit), int64(inviterBonus), inviterUserID, "invite:"+strconv.FormatInt(inviterUserID, 10), "", nil,
		inviteUses, 0, now); err != nil {
		return "", CodeInfo{}, fmt.Errorf("invite code of user id %d: %w", inviterUserID, err)
	}
	if _, err := w.ExecContext(ctx, d.Rebind(`UPDATE redemption_codes SET value_micros = ?, inviter_bonus_micros = ?
		WHERE hash = ? AND disabled_at IS NULL`), int64(inviteeCredit), int64(inviterBonus), hash); err != nil {
		return "", CodeInfo{}, fmt.Errorf("invite code of user id %d: %w", inviterUserID, err)
	}
	c, err := scanCode(w.QueryRowContext(ctx, d.Rebind(codeSelect+" WHERE hash = ?"), hash), now)
	if err != nil {
		return "", CodeInfo{}, fmt.Errorf("invite code of user id %d: %w", inviterUserID, err)
	}
	return code, c, nil
}

// inviteCode derives the n-th invite code of a user: CodePrefix and 20
// Crockford characters of HMAC-SHA256(key, "invite:<user>:<n>").
func inviteCode(key []byte, userID, n int64) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("invite:" + strconv.FormatInt(userID, 10) + ":" + strconv.FormatInt(n, 10)))
	sum := m.Sum(nil)
	out := make([]byte, 0, len(CodePrefix)+codeRandomLen)
	out = append(out, CodePrefix...)
	for _, b := range sum[:codeRandomLen] {
		out = append(out, crockford[b&31])
	}
	return string(out)
}
