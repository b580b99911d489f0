package billing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/store"
)

// Redemption codes are shown once and stored as the hex SHA-256 of their
// canonical text with a short visible prefix. Redeeming one is a single
// transaction: claim a use with a conditional UPDATE (so of many concurrent
// attempts on a single-use code exactly one wins), record the redemption
// (unique per code and user, and per user for invites), and post the
// credit to the ledger.

// Code kinds.
const (
	CodeCredit = "credit" // credits its value to whoever redeems it
	CodeInvite = "invite" // credits the invitee and pays the inviter a bonus
)

// CodePrefix starts every code.
const CodePrefix = "SYR-"

const (
	codeRandomLen  = 20 // 100 bits
	codeVisibleLen = len(CodePrefix) + 4
	crockford      = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	// inviteUses is "unlimited" for an invite code: each invitee still
	// redeems it once, and at most one invite ever.
	inviteUses = 1 << 30
	// MaxCodesPerBatch bounds one GenerateCodes call (one transaction).
	MaxCodesPerBatch = 100_000
	maxBatch         = 64
)

// Errors of redemption.
var (
	// ErrCodeInvalid is every reason a code does not work — unknown, used
	// up or expired — so that probing codes learns nothing.
	ErrCodeInvalid     = errors.New("invalid or used redemption code")
	ErrAlreadyRedeemed = errors.New("this user already redeemed this code")
	ErrOwnInvite       = errors.New("a user cannot redeem their own invite code")
	ErrInviteUsed      = errors.New("this user already redeemed an invite code")
)

// CodeInfo is a stored code as listings show it: never the code or its hash.
type CodeInfo struct {
	ID            int64      `json:"id"`
	Prefix        string     `json:"prefix"`
	Kind          string     `json:"kind"`
	Value         Micros     `json:"value_micros"`
	InviterBonus  Micros     `json:"inviter_bonus_micros,omitempty"`
	InviterUserID int64      `json:"inviter_user_id,omitempty"`
	Batch         string     `json:"batch"`
	Note          string     `json:"note"`
	Uses          int64      `json:"uses"`
	MaxUses       int64      `json:"max_uses"`
	ExpiresAt     *time.Time `json:"expires_at"`
	CreatedAt     time.Time  `json:"created_at"`
	// Status is active, used, expired or disabled (see CodeStatuses).
	Status     string     `json:"status"`
	DisabledAt *time.Time `json:"disabled_at"`
}

// newCode returns CodePrefix and 20 Crockford base32 characters from
// crypto/rand. 32 divides 256, so the low 5 bits of a byte are uniform.
func newCode() string {
	var buf [codeRandomLen]byte
	_, _ = rand.Read(buf[:]) // never fails (crypto/rand panics instead)
	out := make([]byte, 0, len(CodePrefix)+codeRandomLen)
	out = append(out, CodePrefix...)
	for _, b := range buf {
		out = append(out, crockford[b&31])
	}
	return string(out)
}

// canonicalCode reads a code as a person may type it: any case, with
// spaces or dashes inside, O for 0 and I or L for 1 (Crockford's rules).
// It returns "" when the text cannot be a code.
func canonicalCode(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	body, ok := strings.CutPrefix(s, CodePrefix)
	if !ok {
		body, ok = strings.CutPrefix(s, strings.TrimSuffix(CodePrefix, "-"))
		if !ok {
			return ""
		}
	}
	out := make([]byte, 0, len(CodePrefix)+codeRandomLen)
	out = append(out, CodePrefix...)
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch c {
		case '-', ' ':
			continue
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		if strings.IndexByte(crockford, c) < 0 {
			return ""
		}
		out = append(out, c)
	}
	if len(out) != len(CodePrefix)+codeRandomLen {
		return ""
	}
	return string(out)
}

func hashCode(code string) string {
	h := sha256.Sum256([]byte(code))
	return hex.EncodeToString(h[:])
}

var codeColumns = []string{"hash", "prefix", "kind", "value_micros", "inviter_bonus_micros", "inviter_user_id",
	"batch", "note", "expires_at", "max_uses", "uses", "created_at"}

// GenerateCodes creates n single-use credit codes worth value each, valid
// until expires (zero = never), and returns them. This is the only time
// the codes exist in clear.
func (l *Ledger) GenerateCodes(ctx context.Context, n int, value Micros, expires time.Time, batch, note string) ([]string, error) {
	switch {
	case n < 1 || n > MaxCodesPerBatch:
		return nil, fmt.Errorf("generate codes: count %d is not between 1 and %d", n, MaxCodesPerBatch)
	case value <= 0:
		return nil, fmt.Errorf("generate codes: value %s is not positive", value)
	case len(batch) > maxBatch:
		return nil, fmt.Errorf("generate codes: batch name longer than %d bytes", maxBatch)
	}
	now := l.now().UTC()
	var exp any
	if !expires.IsZero() {
		if !expires.After(now) {
			return nil, fmt.Errorf("generate codes: expiry %s is in the past", expires.Format(time.RFC3339))
		}
		exp = expires.UTC()
	}
	q := l.db.Dialect().Rebind("INSERT INTO redemption_codes (" + strings.Join(codeColumns, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(codeColumns)), ", ") + ")")
	codes := make([]string, n)
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range codes {
			codes[i] = newCode()
			// A collision of 100 random bits does not happen; if it did,
			// the unique hash refuses it and the batch is rolled back.
			if _, err := stmt.ExecContext(ctx, hashCode(codes[i]), codes[i][:codeVisibleLen], CodeCredit, int64(value), 0, nil,
				batch, clip(note, maxNote), exp, 1, 0, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("generate %d codes: %w", n, err)
	}
	return codes, nil
}

// InviteCode creates an invite code of the inviter: each user who redeems
// it gets inviteeCredit and the inviter inviterBonus. It has no expiry and
// any number of invitees may use it, each once.
func (l *Ledger) InviteCode(ctx context.Context, inviterUserID int64, inviteeCredit, inviterBonus Micros) (string, error) {
	if inviteeCredit < 0 || inviterBonus < 0 {
		return "", errors.New("invite code: negative credit")
	}
	if _, err := l.Balance(ctx, inviterUserID); err != nil {
		return "", fmt.Errorf("invite code: %w", err)
	}
	code := newCode()
	q := "INSERT INTO redemption_codes (" + strings.Join(codeColumns, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(codeColumns)), ", ") + ")"
	_, err := l.db.Write().ExecContext(ctx, l.db.Dialect().Rebind(q), hashCode(code), code[:codeVisibleLen], CodeInvite,
		int64(inviteeCredit), int64(inviterBonus), inviterUserID, "invite:"+strconv.FormatInt(inviterUserID, 10), "", nil,
		inviteUses, 0, l.now().UTC())
	if err != nil {
		return "", fmt.Errorf("invite code of user id %d: %w", inviterUserID, err)
	}
	return code, nil
}

// Redeem credits the code to the user and returns the amount credited to
// them. See ErrCodeInvalid, ErrAlreadyRedeemed, ErrOwnInvite, ErrInviteUsed.
func (l *Ledger) Redeem(ctx context.Context, userID int64, code string) (Micros, error) {
	canon := canonicalCode(code)
	if canon == "" {
		return 0, ErrCodeInvalid
	}
	hash := hashCode(canon)
	var credited Micros
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		credited, err = l.redeemTx(ctx, tx, userID, hash)
		return err
	})
	if err == nil {
		return credited, nil
	}
	if store.IsUniqueViolation(err) {
		// Which unique index refused it? The transaction is gone (PostgreSQL
		// aborts it at the violation), so look again outside it.
		var one int
		qerr := l.db.Write().QueryRowContext(ctx, l.db.Dialect().Rebind(`SELECT 1 FROM redemptions r
			JOIN redemption_codes c ON c.id = r.code_id WHERE c.hash = ? AND r.user_id = ?`), hash, userID).Scan(&one)
		switch {
		case qerr == nil:
			return 0, ErrAlreadyRedeemed
		case errors.Is(qerr, sql.ErrNoRows):
			return 0, ErrInviteUsed
		default:
			return 0, fmt.Errorf("redeem code: %w", qerr)
		}
	}
	if errors.Is(err, ErrCodeInvalid) || errors.Is(err, ErrAlreadyRedeemed) || errors.Is(err, ErrOwnInvite) || errors.Is(err, ErrInviteUsed) {
		return 0, err
	}
	return 0, fmt.Errorf("redeem code for user id %d: %w", userID, err)
}

// redeemTx is one attempt at Redeem. Locks are taken in a fixed order —
// the code's row, then the users' rows by id — so redemptions and ledger
// posts never wait on each other in a cycle.
func (l *Ledger) redeemTx(ctx context.Context, tx *sql.Tx, userID int64, hash string) (Micros, error) {
	d := l.db.Dialect()
	now := l.now().UTC()
	res, err := tx.ExecContext(ctx, d.Rebind(`UPDATE redemption_codes SET uses = uses + 1
		WHERE hash = ? AND uses < max_uses AND (expires_at IS NULL OR expires_at > ?) AND disabled_at IS NULL`), hash, now)
	if err != nil {
		return 0, fmt.Errorf("claim a use: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, fmt.Errorf("claim a use: %w", err)
	} else if n == 0 {
		// Used up may mean used by this very user: say so to them (it
		// tells nothing to someone who never had the code).
		var one int
		err := tx.QueryRowContext(ctx, d.Rebind(`SELECT 1 FROM redemptions r JOIN redemption_codes c ON c.id = r.code_id
			WHERE c.hash = ? AND r.user_id = ?`), hash, userID).Scan(&one)
		if err == nil {
			return 0, ErrAlreadyRedeemed
		}
		return 0, ErrCodeInvalid
	}
	var (
		codeID         int64
		kind           string
		value, bonus   int64
		inviter        sql.NullInt64
		inviteUserCell any
	)
	if err := tx.QueryRowContext(ctx, d.Rebind(`SELECT id, kind, value_micros, inviter_bonus_micros, inviter_user_id
		FROM redemption_codes WHERE hash = ?`), hash).Scan(&codeID, &kind, &value, &bonus, &inviter); err != nil {
		return 0, fmt.Errorf("read code: %w", err)
	}
	users := []int64{userID}
	if kind == CodeInvite {
		if inviter.Valid && inviter.Int64 == userID {
			return 0, ErrOwnInvite
		}
		inviteUserCell = userID
		if inviter.Valid && bonus > 0 {
			users = append(users, inviter.Int64)
		}
	}
	// The users are locked before the redemptions row is inserted: that
	// insert takes a shared lock on the user (foreign key) on MySQL, and
	// upgrading it to the ledger's exclusive lock could deadlock.
	bal, err := l.lockUsers(ctx, tx, users)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO redemptions (code_id, user_id, invite_user_id, created_at) VALUES (?, ?, ?, ?)"),
		codeID, userID, inviteUserCell, now); err != nil {
		return 0, fmt.Errorf("record redemption: %w", err)
	}
	entries := []Entry{{UserID: userID, RequestID: "redeem:" + strconv.FormatInt(codeID, 10) + ":" + strconv.FormatInt(userID, 10),
		Kind: KindRedeem, Amount: Micros(value), Note: kind + " code " + strconv.FormatInt(codeID, 10)}}
	if len(users) == 2 {
		entries = append(entries, Entry{UserID: inviter.Int64,
			RequestID: "invite:" + strconv.FormatInt(codeID, 10) + ":" + strconv.FormatInt(userID, 10),
			Kind:      KindRedeem, Amount: Micros(bonus), Note: "invite bonus for user id " + strconv.FormatInt(userID, 10)})
	}
	results, err := l.apply(ctx, tx, bal, entries, false)
	if err != nil {
		return 0, err
	}
	for _, r := range results {
		if r.Err != nil {
			return 0, r.Err
		}
	}
	return Micros(value), nil
}

// ListCodes lists the codes of batch ("" = every code), oldest first.
func (l *Ledger) ListCodes(ctx context.Context, batch string) ([]CodeInfo, error) {
	out := []CodeInfo{}
	err := l.EachCode(ctx, CodeFilter{Batch: batch}, func(c CodeInfo) error {
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
