package billing

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/store"
)

// Kind is what a ledger row records.
type Kind string

// The kinds of ledger rows. reserve, settle, release and refund are posted
// by the request path; topup, redeem and adjust by operators and codes.
const (
	KindReserve Kind = "reserve"
	KindSettle  Kind = "settle"
	KindRelease Kind = "release"
	KindRefund  Kind = "refund"
	KindTopup   Kind = "topup"
	KindRedeem  Kind = "redeem"
	KindAdjust  Kind = "adjust"
)

var ledgerColumns = []string{"user_id", "key_id", "request_id", "kind", "amount_micros", "balance_after_micros", "note", "created_at"}

var kinds = []Kind{KindReserve, KindSettle, KindRelease, KindRefund, KindTopup, KindRedeem, KindAdjust}

// Limits of the ledger columns.
const (
	MaxRequestID = 64  // ledger.request_id VARCHAR(64)
	maxNote      = 255 // ledger.note VARCHAR(255), in characters
)

// Errors of the Ledger; wrapped with the user or request concerned.
var (
	// ErrInsufficient refuses a movement that would take a balance below
	// zero. Nothing was written.
	ErrInsufficient = errors.New("insufficient balance")
	ErrUserNotFound = errors.New("user not found")
	// ErrConflict means the (request id, kind) is already on the ledger
	// with another user or amount: a caller reused a request id, a bug.
	ErrConflict = errors.New("request id and kind already posted for another user or amount")
)

// Entry is one movement of a user's balance.
type Entry struct {
	UserID    int64
	KeyID     int64  // 0 = none
	RequestID string // required, at most MaxRequestID bytes; with Kind, the idempotency key
	Kind      Kind
	Amount    Micros // signed: positive credits the wallet, negative debits it
	Note      string // at most 255 characters are kept
	// AllowNegative lets this movement take the balance below zero (a
	// settle charging more than was reserved, say). Without it such a
	// movement is refused with ErrInsufficient.
	AllowNegative bool
}

func (e Entry) check() error {
	switch {
	case e.UserID <= 0:
		return fmt.Errorf("ledger entry %q: no user", e.RequestID)
	case e.KeyID < 0:
		return fmt.Errorf("ledger entry %q: bad key id %d", e.RequestID, e.KeyID)
	case e.RequestID == "":
		return errors.New("ledger entry: empty request id")
	case len(e.RequestID) > MaxRequestID:
		return fmt.Errorf("ledger entry %q: request id longer than %d bytes", e.RequestID, MaxRequestID)
	case !slices.Contains(kinds, e.Kind):
		return fmt.Errorf("ledger entry %q: unknown kind %q", e.RequestID, e.Kind)
	}
	return nil
}

// Result is what became of one Entry.
type Result struct {
	// Applied is false when the (request id, kind) was already on the
	// ledger: the repeat changed nothing. BalanceAfter is then the balance
	// recorded by the first post.
	Applied      bool
	BalanceAfter Micros
	// Err is set (to ErrInsufficient, wrapped) for an entry of PostBatch
	// that was refused while the others were applied. Post returns it as
	// its error.
	Err error
}

// Record is one ledger row as History reads it.
type Record struct {
	ID           int64     `json:"id"`
	UserID       int64     `json:"user_id"`
	KeyID        int64     `json:"key_id,omitempty"`
	RequestID    string    `json:"request_id"`
	Kind         Kind      `json:"kind"`
	Amount       Micros    `json:"amount_micros"`
	BalanceAfter Micros    `json:"balance_after_micros"`
	Note         string    `json:"note"`
	CreatedAt    time.Time `json:"created_at"`
}

// Mismatch is a user whose balance is not the sum of their ledger.
type Mismatch struct {
	UserID    int64  `json:"user_id"`
	Email     string `json:"email"`
	Balance   Micros `json:"balance_micros"`
	LedgerSum Micros `json:"ledger_sum_micros"`
}

// Ledger posts movements to users' balances and reads them back.
type Ledger struct {
	db   *store.DB
	now  func() time.Time
	rows *store.BatchInsert // the request path's runs of entries (applyRun)
}

// NewLedger returns a Ledger over db. now may be nil (time.Now).
func NewLedger(db *store.DB, now func() time.Time) *Ledger {
	if now == nil {
		now = time.Now
	}
	return &Ledger{db: db, now: now, rows: db.NewBatchInsert("ledger", ledgerColumns, []string{"request_id", "kind"})}
}

// Post applies one entry in its own transaction. A repeat of a posted
// (request id, kind) returns Applied false and changes nothing; a movement
// that would take the balance below zero without AllowNegative returns
// ErrInsufficient and changes nothing.
func (l *Ledger) Post(ctx context.Context, e Entry) (Result, error) {
	res, err := l.PostBatch(ctx, []Entry{e})
	if err != nil {
		return Result{}, err
	}
	return res[0], res[0].Err
}

// PostBatch applies entries in one transaction, in order, and returns one
// Result per entry. A refused entry (ErrInsufficient in its Result.Err)
// does not stop the others; any other failure rolls the whole batch back
// and is returned, and the batch may simply be posted again: entries that
// made it the first time are recognised by their (request id, kind).
func (l *Ledger) PostBatch(ctx context.Context, entries []Entry) ([]Result, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	for _, e := range entries {
		if err := e.check(); err != nil {
			return nil, err
		}
	}
	return l.postBatch(ctx, entries, nil)
}

// errRepeat ends an optimistic post (see apply) that met an entry already
// on the ledger; the batch is posted again the careful way.
var errRepeat = errors.New("ledger: batch holds entries posted before")

// postBatch is PostBatch, running also (when not nil) in the same
// transaction after the entries, so that the drainer commits its ledger
// entries and its usage rows at once; also may return errRepeat when it
// was optimistic.
//
// It first posts optimistically, assuming no entry is a repeat: that is
// the drainer's steady state (repeats follow only a crash between posting
// and acknowledging a batch, or two nodes draining the same records), and
// it saves reading the ledger for the batch's request ids before writing.
// An insert that writes fewer rows than it was given rolls the
// transaction back, and the batch is posted again reading first.
func (l *Ledger) postBatch(ctx context.Context, entries []Entry, also func(tx *sql.Tx, optimistic bool) error) ([]Result, error) {
	if err := l.rows.Prepare(ctx); err != nil {
		return nil, err
	}
	var out []Result
	run := func(optimistic bool) error {
		return l.inTx(ctx, func(tx *sql.Tx) error {
			bal, err := l.lockUsers(ctx, tx, userIDs(entries))
			if err != nil {
				return err
			}
			if out, err = l.apply(ctx, tx, bal, entries, optimistic); err != nil {
				return err
			}
			if also != nil {
				return also(tx, optimistic)
			}
			return nil
		})
	}
	err := run(true)
	if errors.Is(err, errRepeat) {
		err = run(false)
	}
	if err != nil {
		return nil, fmt.Errorf("post %d ledger entries: %w", len(entries), err)
	}
	return out, nil
}

func userIDs(entries []Entry) []int64 {
	ids := make([]int64, 0, len(entries))
	for _, e := range entries {
		ids = append(ids, e.UserID)
	}
	return ids
}

// lockUsers locks the users rows of ids, in ascending id order so that two
// transactions touching the same users can never wait on each other in a
// cycle, and returns their balances. Every later change in the transaction
// is to rows it holds, so the balances stay exact until commit. Taking the
// row lock first also matters on MySQL: inserting a ledger row takes a
// shared lock on its user (the foreign key), and two transactions that
// each held that shared lock and then both wanted the exclusive one would
// deadlock.
func (l *Ledger) lockUsers(ctx context.Context, tx *sql.Tx, ids []int64) (map[int64]Micros, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	d := l.db.Dialect()
	q := d.Rebind("SELECT balance_micros FROM users WHERE id = ?" + d.ForUpdate())
	bal := make(map[int64]Micros, len(ids))
	for _, id := range ids {
		var b int64
		err := tx.QueryRowContext(ctx, q, id).Scan(&b)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("user id %d: %w", id, ErrUserNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("lock user id %d: %w", id, err)
		}
		bal[id] = Micros(b)
	}
	return bal, nil
}

// apply posts entries inside tx, whose users lockUsers holds (bal).
//
// Each entry first inserts its ledger row: the unique (request_id, kind)
// turns a repeat into a no-op before anything else moves. An entry that
// may be refused (a debit without AllowNegative) then moves the balance
// with one conditional UPDATE, refusing in the database (not by a check
// before) to go below zero; a refusal deletes the row just inserted, which
// no other transaction can have seen. Entries that cannot be refused (the
// request path's, and credits) know their balance after from the locked
// balance, so a run of them is one SELECT (for repeats; none when
// optimistic, see postBatch) and one multi-row INSERT (applyRun), and
// their balance moves are summed per user into one UPDATE, made before any
// refusable entry of that user and at the end.
//
// Request-path entries with a key also move api_keys.used_micros, the
// key's spend against its quota: by the negated amount, summed per key.
func (l *Ledger) apply(ctx context.Context, tx *sql.Tx, bal map[int64]Micros, entries []Entry, optimistic bool) ([]Result, error) {
	d := l.db.Dialect()
	insert := d.InsertIgnore("ledger", ledgerColumns, []string{"request_id", "kind"})
	existing := d.Rebind("SELECT user_id, amount_micros, balance_after_micros FROM ledger WHERE request_id = ? AND kind = ?" + d.ForUpdate())
	move := d.Rebind("UPDATE users SET balance_micros = balance_micros + ? WHERE id = ?")
	moveFloor := d.Rebind("UPDATE users SET balance_micros = balance_micros + ? WHERE id = ? AND balance_micros + ? >= 0")
	undo := d.Rebind("DELETE FROM ledger WHERE request_id = ? AND kind = ?")
	after := d.Rebind("UPDATE ledger SET balance_after_micros = ? WHERE request_id = ? AND kind = ?")
	spend := d.Rebind("UPDATE api_keys SET used_micros = used_micros - ? WHERE id = ?")
	now := l.now().UTC()

	deferred := map[int64]Micros{} // balance moves not yet written, per user
	flush := func(user int64) error {
		m := deferred[user]
		if m == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, move, int64(m), user); err != nil {
			return fmt.Errorf("move balance of user id %d: %w", user, err)
		}
		delete(deferred, user)
		return nil
	}
	keySpend := map[int64]Micros{}

	out := make([]Result, len(entries))
	for i := 0; i < len(entries); i++ {
		// A run of entries that cannot be refused goes in a few
		// statements (applyRun); it stops short of an entry it cannot
		// take, which the general path below then handles.
		if n, err := l.applyRun(ctx, tx, bal, entries[i:], out[i:], deferred, keySpend, now, optimistic); err != nil {
			return nil, err
		} else if n > 0 {
			i += n - 1
			continue
		}
		e := entries[i]
		var key any
		if e.KeyID != 0 {
			key = e.KeyID
		}
		sure := e.Amount >= 0 || e.AllowNegative // cannot be refused for funds
		newBal, overflow := add(bal[e.UserID], e.Amount)
		recorded := bal[e.UserID]
		if sure && overflow == nil {
			recorded = newBal
		}
		res, err := tx.ExecContext(ctx, insert, e.UserID, key, e.RequestID, string(e.Kind), int64(e.Amount), int64(recorded), clip(e.Note, maxNote), now)
		if err != nil {
			return nil, fmt.Errorf("%s %s: insert ledger row: %w", e.Kind, e.RequestID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("%s %s: insert ledger row: %w", e.Kind, e.RequestID, err)
		} else if n == 0 {
			var uid, amount, balAfter int64
			if err := tx.QueryRowContext(ctx, existing, e.RequestID, string(e.Kind)).Scan(&uid, &amount, &balAfter); err != nil {
				return nil, fmt.Errorf("%s %s: read the posted row: %w", e.Kind, e.RequestID, err)
			}
			out[i] = Result{BalanceAfter: Micros(balAfter)}
			if uid != e.UserID || Micros(amount) != e.Amount {
				out[i].Err = fmt.Errorf("%s %s: %w", e.Kind, e.RequestID, ErrConflict)
			}
			continue
		}

		if sure && overflow == nil {
			deferred[e.UserID] += e.Amount
		} else {
			if err := flush(e.UserID); err != nil {
				return nil, fmt.Errorf("%s %s: %w", e.Kind, e.RequestID, err)
			}
			refused := overflow != nil
			// A zero amount moves nothing (and MySQL would report no row
			// changed), so it is only recorded.
			if !refused && e.Amount != 0 {
				res, err := tx.ExecContext(ctx, moveFloor, int64(e.Amount), e.UserID, int64(e.Amount))
				if err != nil {
					return nil, fmt.Errorf("%s %s: move balance of user id %d: %w", e.Kind, e.RequestID, e.UserID, err)
				}
				n, err := res.RowsAffected()
				if err != nil {
					return nil, fmt.Errorf("%s %s: move balance of user id %d: %w", e.Kind, e.RequestID, e.UserID, err)
				}
				refused = n == 0
			}
			if refused {
				if _, err := tx.ExecContext(ctx, undo, e.RequestID, string(e.Kind)); err != nil {
					return nil, fmt.Errorf("%s %s: withdraw refused row: %w", e.Kind, e.RequestID, err)
				}
				out[i] = Result{BalanceAfter: bal[e.UserID],
					Err: fmt.Errorf("%s %s of %s for user id %d (balance %s): %w", e.Kind, e.RequestID, e.Amount, e.UserID, bal[e.UserID], ErrInsufficient)}
				continue
			}
			if _, err := tx.ExecContext(ctx, after, int64(newBal), e.RequestID, string(e.Kind)); err != nil {
				return nil, fmt.Errorf("%s %s: record balance after: %w", e.Kind, e.RequestID, err)
			}
		}
		bal[e.UserID] = newBal
		out[i] = Result{Applied: true, BalanceAfter: newBal}
		if e.KeyID != 0 && requestKind(e.Kind) {
			keySpend[e.KeyID] -= e.Amount
		}
	}
	for user := range deferred {
		if err := flush(user); err != nil {
			return nil, err
		}
	}
	for id, m := range keySpend {
		if m == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, spend, -int64(m), id); err != nil {
			return nil, fmt.Errorf("move spend of key id %d: %w", id, err)
		}
	}
	return out, nil
}

// runMax bounds the rows of one multi-row INSERT (8 parameters each).
const runMax = 500

// applyRun posts the leading entries of entries that cannot be refused
// (credits, and debits allowed below zero: every entry of the request
// path) in a few statements instead of several per entry: one SELECT for
// those already on the ledger, one multi-row INSERT for the rest, the
// balance moves summed per user into deferred. It returns how many
// entries it took, 0 when the first is not such an entry.
func (l *Ledger) applyRun(ctx context.Context, tx *sql.Tx, bal map[int64]Micros, entries []Entry, out []Result,
	deferred, keySpend map[int64]Micros, now time.Time, optimistic bool) (int, error) {
	n := 0
	for n < len(entries) && n < runMax && (entries[n].Amount >= 0 || entries[n].AllowNegative) {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	entries = entries[:n]
	d := l.db.Dialect()

	type rowKey struct {
		id   string
		kind Kind
	}
	seen := make(map[rowKey]posted, n)
	if !optimistic {
		if err := readPosted(ctx, tx, d, entries, func(id string, kind Kind, p posted) { seen[rowKey{id, kind}] = p }); err != nil {
			return 0, err
		}
	}

	args := make([]any, 0, 8*n)
	boxes := store.NewArgBoxes(len(ledgerColumns))
	inserted := 0
	took := 0
	for i, e := range entries {
		k := rowKey{e.RequestID, e.Kind}
		if p, ok := seen[k]; ok {
			// On the ledger already, or earlier in this run: a repeat.
			out[i] = Result{BalanceAfter: Micros(p.balAfter)}
			if p.user != e.UserID || Micros(p.amount) != e.Amount {
				out[i].Err = fmt.Errorf("%s %s: %w", e.Kind, e.RequestID, ErrConflict)
			}
			took++
			continue
		}
		newBal, err := add(bal[e.UserID], e.Amount)
		if err != nil {
			break // an overflow: the general path refuses it
		}
		var key any
		if e.KeyID != 0 {
			key = boxes.Int64(1, e.KeyID)
		}
		args = append(args, boxes.Int64(0, e.UserID), key, boxes.String(2, e.RequestID), boxes.String(3, string(e.Kind)),
			boxes.Int64(4, int64(e.Amount)), boxes.Int64(5, int64(newBal)), boxes.String(6, clip(e.Note, maxNote)), boxes.Time(7, now))
		inserted++
		seen[k] = posted{user: e.UserID, amount: int64(e.Amount), balAfter: int64(newBal)}
		bal[e.UserID] = newBal
		deferred[e.UserID] += e.Amount
		if e.KeyID != 0 && requestKind(e.Kind) {
			keySpend[e.KeyID] -= e.Amount
		}
		out[i] = Result{Applied: true, BalanceAfter: newBal}
		took++
	}
	if inserted > 0 {
		got, err := l.rows.Exec(ctx, tx, args)
		switch {
		case err == nil && got == int64(inserted):
		case optimistic:
			return 0, errRepeat
		default:
			// Another transaction posting the same entries since the
			// SELECT would make this fewer: the whole batch fails and is
			// posted again, when the SELECT sees them.
			return 0, fmt.Errorf("insert %d ledger rows: %d inserted (%v): posted concurrently, post again", inserted, got, err)
		}
	}
	return took, nil
}

// posted is a ledger row as readPosted reads it.
type posted struct {
	user, amount, balAfter int64
}

// readPosted calls fn for each ledger row with the request id of one of
// entries.
func readPosted(ctx context.Context, tx *sql.Tx, d store.Dialect, entries []Entry, fn func(id string, kind Kind, p posted)) error {
	ids := make([]any, 0, len(entries))
	for _, e := range entries {
		ids = append(ids, e.RequestID)
	}
	rows, err := tx.QueryContext(ctx, d.Rebind("SELECT request_id, kind, user_id, amount_micros, balance_after_micros FROM ledger WHERE request_id IN ("+
		strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+")"), ids...)
	if err != nil {
		return fmt.Errorf("read posted ledger rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   string
			kind Kind
			p    posted
		)
		if err := rows.Scan(&id, &kind, &p.user, &p.amount, &p.balAfter); err != nil {
			return fmt.Errorf("read posted ledger rows: %w", err)
		}
		fn(id, kind, p)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read posted ledger rows: %w", err)
	}
	return nil
}

// requestKind reports whether k is posted by the request path, and so
// counts against a key's quota.
func requestKind(k Kind) bool {
	return k == KindReserve || k == KindSettle || k == KindRelease || k == KindRefund
}

// clip keeps the first n characters of s.
func clip(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// GrantOnce credits amount to the user as a topup, once for all time per
// reason: the row's request id is "grant:"+reason (hashed when that would
// be too long), so a second call with the same reason changes nothing and
// reports false, even when the amount has changed since. A zero or
// negative amount grants nothing.
func (l *Ledger) GrantOnce(ctx context.Context, userID int64, amount Micros, reason string) (bool, error) {
	if amount <= 0 {
		return false, nil
	}
	res, err := l.Post(ctx, Entry{UserID: userID, RequestID: grantID(reason), Kind: KindTopup, Amount: amount, Note: reason})
	if errors.Is(err, ErrConflict) {
		return false, nil // granted before, with another amount: still once
	}
	if err != nil {
		return false, fmt.Errorf("grant %s: %w", reason, err)
	}
	return res.Applied, nil
}

func grantID(reason string) string {
	id := "grant:" + reason
	if len(id) <= MaxRequestID {
		return id
	}
	sum := sha256.Sum256([]byte(reason))
	return ("grant:sha256:" + hex.EncodeToString(sum[:]))[:MaxRequestID]
}

// Balance returns the user's balance.
func (l *Ledger) Balance(ctx context.Context, userID int64) (Micros, error) {
	var b int64
	err := l.db.Read().QueryRowContext(ctx, l.db.Dialect().Rebind("SELECT balance_micros FROM users WHERE id = ?"), userID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("user id %d: %w", userID, ErrUserNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("read balance of user id %d: %w", userID, err)
	}
	return Micros(b), nil
}

// UserID returns the id of the user with email (any case).
func (l *Ledger) UserID(ctx context.Context, email string) (int64, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	var id int64
	err := l.db.Read().QueryRowContext(ctx, l.db.Dialect().Rebind("SELECT id FROM users WHERE email = ?"), email).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("user %s: %w", email, ErrUserNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("read user %s: %w", email, err)
	}
	return id, nil
}

// History returns the user's latest ledger rows, newest first; limit <= 0
// means 100.
func (l *Ledger) History(ctx context.Context, userID int64, limit int) ([]Record, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := l.db.Read().QueryContext(ctx, l.db.Dialect().Rebind(recordSelect+" WHERE user_id = ? ORDER BY id DESC LIMIT "+strconv.Itoa(limit)), userID)
	if err != nil {
		return nil, fmt.Errorf("read ledger of user id %d: %w", userID, err)
	}
	defer rows.Close()
	out := []Record{}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("read ledger of user id %d: %w", userID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read ledger of user id %d: %w", userID, err)
	}
	return out, nil
}

// Audit returns every user whose balance is not the sum of their ledger
// rows; none when the books are sound. It is one statement, so it reads
// one consistent snapshot even while posts go on.
func (l *Ledger) Audit(ctx context.Context) ([]Mismatch, error) {
	// SUM of BIGINT is NUMERIC on PostgreSQL and DECIMAL on MySQL; it is
	// read as text and parsed, exactly.
	rows, err := l.db.Read().QueryContext(ctx, `SELECT u.id, u.email, u.balance_micros, COALESCE(SUM(l.amount_micros), 0)
		FROM users u LEFT JOIN ledger l ON l.user_id = u.id
		GROUP BY u.id, u.email, u.balance_micros
		HAVING u.balance_micros <> COALESCE(SUM(l.amount_micros), 0)
		ORDER BY u.id`)
	if err != nil {
		return nil, fmt.Errorf("audit ledger: %w", err)
	}
	defer rows.Close()
	var out []Mismatch
	for rows.Next() {
		var (
			m   Mismatch
			sum string
		)
		if err := rows.Scan(&m.UserID, &m.Email, &m.Balance, &sum); err != nil {
			return nil, fmt.Errorf("audit ledger: %w", err)
		}
		s, err := strconv.ParseInt(sum, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("audit ledger: sum %q of user id %d: %w", sum, m.UserID, err)
		}
		m.LedgerSum = Micros(s)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit ledger: %w", err)
	}
	return out, nil
}
