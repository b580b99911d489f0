package billing

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

// env is one fresh database seen through two handles, as two gateway nodes
// would see it (for SQLite, two processes' worth of pools on one file).
type env struct {
	a, b   *Ledger
	da, db *store.DB
	users  *auth.Store
	clock  *clock
}

type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func newClock(t time.Time) *clock        { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (e *env) ledgers() [2]*Ledger       { return [2]*Ledger{e.a, e.b} }
func (e *env) ledger(i int) *Ledger      { return e.ledgers()[i%2] }

// eachDB runs fn on a fresh SQLite file and a fresh PostgreSQL and MySQL
// database (skipped when their URL is not set).
func eachDB(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		da, db := openDB(t, url), openDB(t, url)
		c := newClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		e := &env{da: da, db: db, a: NewLedger(da, c.now), b: NewLedger(db, c.now), users: auth.NewStore(da, c.now), clock: c}
		if err := e.users.EnsureGroups(t.Context(), []config.Group{{Name: config.DefaultGroup, Ratio: 1}}); err != nil {
			t.Fatal(err)
		}
		fn(t, e)
	})
}

func openDB(t testing.TB, url string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

func (e *env) user(t *testing.T, email string) int64 {
	t.Helper()
	u, err := e.users.CreateUser(t.Context(), auth.NewUser{Email: email})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func (e *env) fund(t *testing.T, uid int64, m Micros) {
	t.Helper()
	if _, err := e.a.Post(t.Context(), Entry{UserID: uid, RequestID: fmt.Sprintf("fund-%d-%d", uid, m), Kind: KindTopup, Amount: m}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) balance(t *testing.T, uid int64) Micros {
	t.Helper()
	b, err := e.b.Balance(t.Context(), uid)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) audit(t *testing.T) {
	t.Helper()
	m, err := e.a.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 0 {
		t.Fatalf("audit found mismatches: %+v", m)
	}
}

func TestPostIdempotent(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		entry := Entry{UserID: uid, RequestID: "req-1", Kind: KindTopup, Amount: 5 * MicrosPerUSD, Note: "first"}
		r, err := e.a.Post(ctx, entry)
		if err != nil || !r.Applied || r.BalanceAfter != 5*MicrosPerUSD {
			t.Fatalf("first post = %+v, %v", r, err)
		}
		// The same (request id, kind) again, from the other node: a no-op.
		r, err = e.b.Post(ctx, entry)
		if err != nil || r.Applied || r.BalanceAfter != 5*MicrosPerUSD {
			t.Fatalf("repeat = %+v, %v", r, err)
		}
		// The same request id with another kind is another movement.
		r, err = e.a.Post(ctx, Entry{UserID: uid, RequestID: "req-1", Kind: KindSettle, Amount: -2 * MicrosPerUSD})
		if err != nil || !r.Applied || r.BalanceAfter != 3*MicrosPerUSD {
			t.Fatalf("settle = %+v, %v", r, err)
		}
		// Reusing a (request id, kind) for another amount is a bug, reported.
		if _, err := e.a.Post(ctx, Entry{UserID: uid, RequestID: "req-1", Kind: KindSettle, Amount: -1}); !errors.Is(err, ErrConflict) {
			t.Fatalf("conflicting repeat: %v", err)
		}
		if b := e.balance(t, uid); b != 3*MicrosPerUSD {
			t.Fatalf("balance = %s", b)
		}
		h, err := e.a.History(ctx, uid, 10)
		if err != nil || len(h) != 2 || h[0].Kind != KindSettle || h[0].BalanceAfter != 3*MicrosPerUSD ||
			h[1].Note != "first" || h[1].RequestID != "req-1" || h[1].Amount != 5*MicrosPerUSD || !h[1].CreatedAt.Equal(e.clock.now()) {
			t.Fatalf("history = %+v, %v", h, err)
		}
		e.audit(t)

		for _, bad := range []Entry{
			{UserID: uid, Kind: KindTopup, Amount: 1},
			{UserID: uid, RequestID: string(make([]byte, 65)), Kind: KindTopup, Amount: 1},
			{UserID: uid, RequestID: "x", Kind: "gift", Amount: 1},
			{RequestID: "x", Kind: KindTopup, Amount: 1},
		} {
			if _, err := e.a.Post(ctx, bad); err == nil {
				t.Errorf("Post(%+v) accepted", bad)
			}
		}
		if _, err := e.a.Post(ctx, Entry{UserID: 999999, RequestID: "x", Kind: KindTopup, Amount: 1}); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("unknown user: %v", err)
		}
	})
}

func TestPostBatch(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		u1, u2 := e.user(t, "a@example.com"), e.user(t, "b@example.com")
		e.fund(t, u1, 100)
		batch := []Entry{
			{UserID: u2, RequestID: "r1", Kind: KindReserve, Amount: -10},                     // refused: u2 has 0
			{UserID: u1, RequestID: "r2", Kind: KindReserve, Amount: -60},                     // 40 left
			{UserID: u1, RequestID: "r3", Kind: KindReserve, Amount: -60},                     // refused
			{UserID: u1, RequestID: "r2", Kind: KindSettle, Amount: -70, AllowNegative: true}, // may go below zero
			{UserID: u2, RequestID: "r4", Kind: KindTopup, Amount: 5},
			{UserID: u1, RequestID: "r5", Kind: KindRefund, Amount: 10}, // a credit to a negative balance is never refused
		}
		res, err := e.a.PostBatch(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			applied bool
			after   Micros
			refused bool
		}{{false, 0, true}, {true, 40, false}, {false, 40, true}, {true, -30, false}, {true, 5, false}, {true, -20, false}}
		for i, w := range want {
			if res[i].Applied != w.applied || res[i].BalanceAfter != w.after || errors.Is(res[i].Err, ErrInsufficient) != w.refused {
				t.Errorf("entry %d: %+v, want %+v", i, res[i], w)
			}
		}
		// The whole batch again (a writer retrying after a crash): nothing
		// moves, and the refused entries are refused again.
		res, err = e.b.PostBatch(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Applied {
				t.Errorf("retry entry %d applied again", i)
			}
		}
		if e.balance(t, u1) != -20 || e.balance(t, u2) != 5 {
			t.Fatalf("balances %s %s", e.balance(t, u1), e.balance(t, u2))
		}
		e.audit(t)
	})
}

// A batch of request-path entries of which some are on the ledger already
// (a drain cut off between posting and acknowledging, then posting a longer
// batch) and one is in it twice: the new entries apply once each, with
// balances after that skip the repeats, and the ledger still adds up. The
// first, optimistic post of the batch meets the repeats and gives way to
// the careful one.
func TestPostBatchPartlyPosted(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		u := e.user(t, "a@example.com")
		e.fund(t, u, 1000)
		batch := make([]Entry, 0, 8)
		for i := range 6 {
			batch = append(batch, Entry{UserID: u, RequestID: fmt.Sprintf("c%d", i), Kind: KindReserve, Amount: -Micros(10 + i), AllowNegative: true})
		}
		if _, err := e.a.PostBatch(ctx, batch[:3]); err != nil {
			t.Fatal(err)
		}
		if got := e.balance(t, u); got != 1000-10-11-12 {
			t.Fatalf("balance after the first half %s", got)
		}
		batch = append(batch, batch[4]) // c4 twice
		res, err := e.b.PostBatch(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			applied bool
			after   Micros
		}{{false, 990}, {false, 979}, {false, 967}, {true, 954}, {true, 940}, {true, 925}, {false, 940}}
		for i, w := range want {
			if res[i].Applied != w.applied || res[i].BalanceAfter != w.after || res[i].Err != nil {
				t.Errorf("entry %d: %+v, want %+v", i, res[i], w)
			}
		}
		if got := e.balance(t, u); got != 925 {
			t.Errorf("balance %s, want 925", got)
		}
		var rows int
		if err := e.da.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM ledger WHERE kind = 'reserve'").Scan(&rows); err != nil || rows != 6 {
			t.Errorf("%d reserve rows (%v), want 6", rows, err)
		}
		e.audit(t)
	})
}

// 200 posts, half credits and half debits, each sent twice (once from each
// node) at the same time: every one applies exactly once.
func TestConcurrentPosts(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		users := []int64{e.user(t, "a@example.com"), e.user(t, "b@example.com"), e.user(t, "c@example.com")}
		for _, u := range users {
			e.fund(t, u, 1_000_000)
		}
		const n = 200
		want := map[int64]Micros{}
		for _, u := range users {
			want[u] = 1_000_000
		}
		entries := make([]Entry, n)
		for i := range entries {
			u := users[i%len(users)]
			amount := Micros(1000 + i)
			kind := KindTopup
			if i%2 == 1 {
				amount, kind = -Micros(500+i), KindSettle
			}
			entries[i] = Entry{UserID: u, RequestID: fmt.Sprintf("c-%d", i), Kind: kind, Amount: amount}
			want[u] += amount
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		applied := atomic.Int64{}
		for i := range 2 * n {
			wg.Go(func() {
				r, err := e.ledger(i).Post(ctx, entries[i/2])
				if err != nil {
					errs <- err
				}
				if r.Applied {
					applied.Add(1)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if applied.Load() != n {
			t.Errorf("%d posts applied, want %d", applied.Load(), n)
		}
		for _, u := range users {
			if b := e.balance(t, u); b != want[u] {
				t.Errorf("user %d balance %s, want %s", u, b, want[u])
			}
		}
		e.audit(t)
	})
}

// Balance 100, 50 concurrent debits of 10 from two nodes: exactly 10 win.
func TestNegativeRefusedUnderConcurrency(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		e.fund(t, uid, 100)
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				_, err := e.ledger(i).Post(ctx, Entry{UserID: uid, RequestID: fmt.Sprintf("d-%d", i), Kind: KindReserve, Amount: -10})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrInsufficient):
					refused.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 10 || refused.Load() != 40 {
			t.Fatalf("%d succeeded, %d refused; want 10 and 40", ok.Load(), refused.Load())
		}
		if b := e.balance(t, uid); b != 0 {
			t.Fatalf("balance %s", b)
		}
		e.audit(t)
	})
}

func TestAuditFindsTamperedBalance(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		u1, u2 := e.user(t, "a@example.com"), e.user(t, "b@example.com")
		e.fund(t, u1, 500)
		e.fund(t, u2, 700)
		e.audit(t)
		if _, err := e.da.Write().ExecContext(ctx, e.da.Dialect().Rebind("UPDATE users SET balance_micros = balance_micros + 1 WHERE id = ?"), u2); err != nil {
			t.Fatal(err)
		}
		m, err := e.a.Audit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 1 || m[0].UserID != u2 || m[0].Email != "b@example.com" || m[0].Balance != 701 || m[0].LedgerSum != 700 {
			t.Fatalf("audit = %+v", m)
		}
	})
}

func TestGrantOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		long := "file-credit:someone-with-a-very-long-address@a-very-long-domain.example.com"
		for _, reason := range []string{"new-user:1", long} {
			for i := range 2 {
				got, err := e.ledger(i).GrantOnce(ctx, uid, 3*MicrosPerUSD, reason)
				if err != nil || got != (i == 0) {
					t.Fatalf("GrantOnce %q #%d = %v, %v", reason, i, got, err)
				}
			}
		}
		if got, err := e.a.GrantOnce(ctx, uid, 0, "nothing"); got || err != nil {
			t.Fatalf("GrantOnce of zero = %v, %v", got, err)
		}
		if b := e.balance(t, uid); b != 6*MicrosPerUSD {
			t.Fatalf("balance %s", b)
		}
		e.audit(t)
	})
}
