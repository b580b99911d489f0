package topup

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/testenv"
)

type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// env is one fresh database seen by two nodes (a and b), each with its own
// pools, ledger and Service.
type env struct {
	a, b    *Service
	la, lb  *billing.Ledger
	users   *auth.Store
	clock   *clock
	url     string
	options func() Options
}

func eachDB(t *testing.T, opts func() Options, fn func(t *testing.T, e *env)) {
	t.Helper()
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		e := newEnv(t, url, opts)
		fn(t, e)
	})
}

func newEnv(t *testing.T, url string, opts func() Options) *env {
	t.Helper()
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	if opts == nil {
		opts = func() Options { return Options{Providers: []Provider{Manual{}}} }
	}
	e := &env{clock: c, url: url, options: opts}
	da, db := openDB(t, url), openDB(t, url)
	e.la, e.lb = billing.NewLedger(da, c.now), billing.NewLedger(db, c.now)
	oa, ob := opts(), opts()
	oa.Now, ob.Now = c.now, c.now
	e.a, e.b = New(da, e.la, oa), New(db, e.lb, ob)
	e.users = auth.NewStore(da, c.now)
	if err := e.users.EnsureGroups(t.Context(), []config.Group{{Name: config.DefaultGroup, Ratio: 1}}); err != nil {
		t.Fatal(err)
	}
	return e
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

func (e *env) balance(t *testing.T, uid int64) billing.Micros {
	t.Helper()
	b, err := e.la.Balance(t.Context(), uid)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pkg creates a $10 + $1 bonus package priced 7.00 CNY... in cny.
func (e *env) pkg(t *testing.T, limit int) Package {
	t.Helper()
	p, err := e.a.CreatePackage(t.Context(), Package{Name: "Ten", Price: 7000, Currency: "CNY", Credit: 10 * billing.MicrosPerUSD,
		Bonus: billing.MicrosPerUSD, PerUserLimit: limit, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) order(t *testing.T, uid int64, p Package, provider string) Order {
	t.Helper()
	o, err := e.a.CreateOrder(t.Context(), uid, OrderRequest{PackageID: p.ID, Provider: provider, ReturnURL: "https://sy.example/console/topup"})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (e *env) get(t *testing.T, ref string) Order {
	t.Helper()
	o, err := e.a.Order(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func paid(o Order) Payment {
	return Payment{OrderRef: o.Ref, Provider: o.Provider, Amount: o.Price, Currency: o.Currency, Raw: "test notification"}
}

const eleven = 11 * billing.MicrosPerUSD

func TestOrderCreditedOnce(t *testing.T) {
	eachDB(t, nil, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "u@example.com")
		p := e.pkg(t, 0)
		if p.Currency != "cny" {
			t.Fatalf("currency %q, want it lower-cased", p.Currency)
		}
		o := e.order(t, uid, p, ManualName)
		if o.Status != StatusPending || o.Price != 7000 || o.Total() != eleven || !o.ExpiresAt.Equal(e.clock.now().Add(DefaultTTL)) {
			t.Fatalf("order %+v", o)
		}
		for i := range 3 { // the notification, then two repeats, on both nodes
			got, err := []*Service{e.a, e.b}[i%2].Settle(ctx, paid(o))
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != StatusCredited {
				t.Fatalf("repeat %d: status %s", i, got.Status)
			}
		}
		if b := e.balance(t, uid); b != eleven {
			t.Fatalf("balance %s, want %s", b, eleven)
		}
		got := e.get(t, o.Ref)
		if got.Status != StatusCredited || got.CreditedAt == nil || got.PaidAt == nil || len(got.Flags) != 0 || *got.PaidAmount != 7000 {
			t.Fatalf("order after %+v", got)
		}
		if n := countNotifications(got.NotifyLog); n != 3 {
			t.Fatalf("%d notifications logged, want 3:\n%s", n, got.NotifyLog)
		}
		if _, err := e.a.Settle(ctx, Payment{OrderRef: "TUnope", Provider: ManualName}); !errors.Is(err, errUnknownOrder) {
			t.Fatalf("unknown order: %v", err)
		}
		if _, err := e.a.Settle(ctx, Payment{OrderRef: o.Ref, Provider: "stripe", Amount: 7000, Currency: "cny"}); !errors.Is(err, ErrBadNotify) {
			t.Fatalf("another provider's notification: %v", err)
		}
		if mm, err := e.la.Audit(ctx); err != nil || len(mm) != 0 {
			t.Fatalf("audit %v %v", mm, err)
		}
	})
}

func countNotifications(log string) int {
	n := 0
	for i := 0; i+len("test notification") <= len(log); i++ {
		if log[i:i+len("test notification")] == "test notification" {
			n++
		}
	}
	return n
}

// Two nodes receiving the same notification at once, many times over:
// one credit.
func TestConcurrentNotificationsCreditOnce(t *testing.T) {
	eachDB(t, nil, func(t *testing.T, e *env) {
		uid := e.user(t, "u@example.com")
		p := e.pkg(t, 0)
		orders := []Order{e.order(t, uid, p, ManualName), e.order(t, uid, p, ManualName)}
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := []*Service{e.a, e.b}[i%2]
				if _, err := s.Settle(t.Context(), paid(orders[i%4/2])); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if b := e.balance(t, uid); b != 2*eleven {
			t.Fatalf("balance %s, want %s", b, 2*eleven)
		}
		for _, o := range orders {
			if got := e.get(t, o.Ref); got.Status != StatusCredited {
				t.Fatalf("order %s %s", o.Ref, got.Status)
			}
		}
	})
}

// A crash after the payment was recorded and before the credit (or after
// the credit and before the order was marked): Recover finishes it, once.
func TestRecoverFinishesPaidOrders(t *testing.T) {
	eachDB(t, nil, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "u@example.com")
		p := e.pkg(t, 0)
		before := e.order(t, uid, p, ManualName) // crash before the ledger post
		if _, err := e.a.record(ctx, paid(before)); err != nil {
			t.Fatal(err)
		}
		after := e.order(t, uid, p, ManualName) // crash after the ledger post
		o, err := e.a.record(ctx, paid(after))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.la.Post(ctx, billing.Entry{UserID: uid, RequestID: ledgerID(o.Ref), Kind: billing.KindTopup, Amount: o.Total()}); err != nil {
			t.Fatal(err)
		}
		if b := e.balance(t, uid); b != eleven {
			t.Fatalf("balance before recovery %s", b)
		}
		// Both nodes recover at once, as both would at start.
		var wg sync.WaitGroup
		for _, s := range []*Service{e.a, e.b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := s.Recover(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if b := e.balance(t, uid); b != 2*eleven {
			t.Fatalf("balance after recovery %s, want %s", b, 2*eleven)
		}
		for _, ref := range []string{before.Ref, after.Ref} {
			if got := e.get(t, ref); got.Status != StatusCredited {
				t.Fatalf("order %s %s", ref, got.Status)
			}
		}
		if _, n, err := e.a.Recover(ctx); err != nil || n != 0 {
			t.Fatalf("second recovery credited %d (%v)", n, err)
		}
	})
}

func TestExpiredPaidLateAndMismatch(t *testing.T) {
	eachDB(t, nil, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "u@example.com")
		p := e.pkg(t, 0)
		late := e.order(t, uid, p, ManualName)
		short := e.order(t, uid, p, ManualName)
		cancelled := e.order(t, uid, p, ManualName)
		if _, err := e.a.Cancel(ctx, uid, cancelled.Ref); err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.Cancel(ctx, uid+1000, short.Ref); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cancel another's order: %v", err)
		}
		e.clock.advance(DefaultTTL + time.Second)
		if n, _, err := e.a.Recover(ctx); err != nil || n != 2 {
			t.Fatalf("expired %d (%v), want 2", n, err)
		}
		if got := e.get(t, late.Ref); got.Status != StatusExpired {
			t.Fatalf("status %s", got.Status)
		}
		for _, o := range []Order{late, cancelled} {
			got, err := e.b.Settle(ctx, paid(o))
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != StatusCredited || !got.HasFlag(FlagLate) {
				t.Fatalf("paid late: %+v", got)
			}
		}
		if b := e.balance(t, uid); b != 2*eleven {
			t.Fatalf("balance %s", b)
		}

		// Paid another amount: flagged, not credited, not by Recover either;
		// an admin accepting it credits it.
		odd := e.order(t, uid, p, ManualName)
		pay := paid(odd)
		pay.Amount = 100
		got, err := e.a.Settle(ctx, pay)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != StatusPaid || !got.HasFlag(FlagMismatch) {
			t.Fatalf("mismatch: %+v", got)
		}
		pay = paid(odd)
		pay.Currency = "usd"
		if got, err = e.a.Settle(ctx, pay); err != nil || got.Status != StatusPaid {
			t.Fatalf("repeat with another currency: %v %+v", err, got)
		}
		if _, n, err := e.a.Recover(ctx); err != nil || n != 0 {
			t.Fatalf("recover credited %d mismatched (%v)", n, err)
		}
		if b := e.balance(t, uid); b != 2*eleven {
			t.Fatalf("balance %s after a mismatch", b)
		}
		if _, err := e.a.MarkPaid(ctx, odd.Ref, ""); err == nil {
			t.Fatal("marked paid without a note")
		}
		got, err = e.a.MarkPaid(ctx, odd.Ref, "customer paid the rest by transfer")
		if err != nil || got.Status != StatusCredited || !got.HasFlag(FlagForced) {
			t.Fatalf("forced: %v %+v", err, got)
		}
		if b := e.balance(t, uid); b != 3*eleven {
			t.Fatalf("balance %s", b)
		}
		if _, err := e.a.MarkPaid(ctx, odd.Ref, "again"); !errors.Is(err, ErrState) {
			t.Fatalf("mark a credited order paid: %v", err)
		}
		flagged, _, err := e.a.Orders(ctx, Filter{Flag: FlagLate})
		if err != nil || len(flagged) != 2 {
			t.Fatalf("late orders %d (%v)", len(flagged), err)
		}
	})
}

func TestLimitsAndCustomAmounts(t *testing.T) {
	opts := func() Options {
		return Options{Providers: []Provider{Manual{}}, TTL: time.Hour,
			Custom: Custom{Enabled: true, Currency: "usd", PricePerUSD: 100, Min: billing.MicrosPerUSD, Max: 100 * billing.MicrosPerUSD}}
	}
	eachDB(t, opts, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "u@example.com")
		p := e.pkg(t, 2)
		a := e.order(t, uid, p, ManualName)
		e.order(t, uid, p, ManualName)
		if _, err := e.a.CreateOrder(ctx, uid, OrderRequest{PackageID: p.ID, Provider: ManualName}); !errors.Is(err, ErrLimit) {
			t.Fatalf("third order: %v", err)
		}
		if _, err := e.a.Cancel(ctx, uid, a.Ref); err != nil {
			t.Fatal(err)
		}
		e.order(t, uid, p, ManualName) // a cancelled order does not count
		if _, err := e.a.CreateOrder(ctx, uid, OrderRequest{PackageID: p.ID, Provider: "stripe"}); err == nil {
			t.Fatal("order through an unconfigured provider")
		}
		p.Enabled = false
		if _, err := e.a.UpdatePackage(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.CreateOrder(ctx, uid, OrderRequest{PackageID: p.ID, Provider: ManualName}); !errors.Is(err, ErrDisabled) {
			t.Fatalf("disabled package: %v", err)
		}
		if list, err := e.a.Packages(ctx, true); err != nil || len(list) != 0 {
			t.Fatalf("enabled packages %v %v", list, err)
		}

		o, err := e.a.CreateOrder(ctx, uid, OrderRequest{Credit: 2_500_001, Provider: ManualName})
		if err != nil {
			t.Fatal(err)
		}
		if o.Price != 251 || o.Currency != "usd" || o.Credit != 2_500_001 || o.PackageID != 0 || !o.ExpiresAt.Equal(e.clock.now().Add(time.Hour)) {
			t.Fatalf("custom order %+v", o)
		}
		var inv *InvalidError
		if _, err := e.a.CreateOrder(ctx, uid, OrderRequest{Credit: 101 * billing.MicrosPerUSD, Provider: ManualName}); !errors.As(err, &inv) {
			t.Fatalf("too large: %v", err)
		}
		mine, _, err := e.a.Orders(ctx, Filter{UserID: uid})
		if err != nil || len(mine) != 4 || mine[0].Ref != o.Ref {
			t.Fatalf("orders %d %v", len(mine), err)
		}
		page, next, err := e.a.Orders(ctx, Filter{UserID: uid, Limit: 3})
		if err != nil || len(page) != 3 || next == 0 {
			t.Fatalf("page %d next %d %v", len(page), next, err)
		}
		rest, next, err := e.a.Orders(ctx, Filter{UserID: uid, Limit: 3, Before: next})
		if err != nil || len(rest) != 1 || next != 0 {
			t.Fatalf("rest %d next %d %v", len(rest), next, err)
		}
	})
}

func TestRefund(t *testing.T) {
	eachDB(t, nil, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "u@example.com")
		p := e.pkg(t, 0)
		o := e.order(t, uid, p, ManualName)
		if _, err := e.a.Refund(ctx, o.Ref, "no", false); !errors.Is(err, ErrState) {
			t.Fatalf("refund a pending order: %v", err)
		}
		if _, err := e.a.Settle(ctx, paid(o)); err != nil {
			t.Fatal(err)
		}
		// Spend some: the refund would take the balance below zero.
		if _, err := e.la.Post(ctx, billing.Entry{UserID: uid, RequestID: "spend", Kind: billing.KindAdjust, Amount: -billing.MicrosPerUSD}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.Refund(ctx, o.Ref, "chargeback", false); !errors.Is(err, billing.ErrInsufficient) {
			t.Fatalf("refund below zero: %v", err)
		}
		if got := e.get(t, o.Ref); got.Status != StatusCredited {
			t.Fatalf("status %s after a refused refund", got.Status)
		}
		got, err := e.a.Refund(ctx, o.Ref, "chargeback", true)
		if err != nil || got.Status != StatusRefunded || got.RefundedAt == nil {
			t.Fatalf("refund: %v %+v", err, got)
		}
		if b := e.balance(t, uid); b != -billing.MicrosPerUSD {
			t.Fatalf("balance %s", b)
		}
		// A notification repeated after the refund credits nothing.
		if got, err := e.b.Settle(ctx, paid(o)); err != nil || got.Status != StatusRefunded {
			t.Fatalf("repeat after refund: %v %s", err, got.Status)
		}
		if b := e.balance(t, uid); b != -billing.MicrosPerUSD {
			t.Fatalf("balance %s", b)
		}
	})
}

func TestPackagesValidate(t *testing.T) {
	eachDB(t, nil, func(t *testing.T, e *env) {
		ctx := context.Background()
		var inv *InvalidError
		for _, p := range []Package{
			{Name: "", Price: 1, Currency: "usd", Credit: 1},
			{Name: "x", Price: 0, Currency: "usd", Credit: 1},
			{Name: "x", Price: 1, Currency: "dollars", Credit: 1},
			{Name: "x", Price: 1, Currency: "usd", Credit: 0},
			{Name: "x", Price: 1, Currency: "usd", Credit: 1, Bonus: -1},
			{Name: "x", Price: 1, Currency: "usd", Credit: 1, PerUserLimit: -1},
		} {
			if _, err := e.a.CreatePackage(ctx, p); !errors.As(err, &inv) {
				t.Errorf("%+v: %v", p, err)
			}
		}
		p := e.pkg(t, 0)
		if err := e.a.DeletePackage(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.a.DeletePackage(ctx, p.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestMinorUnits(t *testing.T) {
	for _, tt := range []struct {
		s        string
		currency string
		want     int64
		ok       bool
	}{
		{"10.50", "cny", 1050, true}, {"10.5", "cny", 1050, true}, {"10", "cny", 1000, true}, {"0.01", "usd", 1, true},
		{"500", "jpy", 500, true}, {"500.0", "jpy", 500, true}, {"500.5", "jpy", 0, false}, {"1.001", "cny", 0, false},
		{"-1", "cny", 0, false}, {"", "cny", 0, false}, {"1e3", "cny", 0, false},
	} {
		got, err := ParseMinor(tt.s, tt.currency)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMinor(%q, %s) = %d, %v", tt.s, tt.currency, got, err)
		}
	}
	if FormatMinor(1050, "cny") != "10.50" || FormatMinor(5, "usd") != "0.05" || FormatMinor(500, "JPY") != "500" {
		t.Error("FormatMinor")
	}
}
