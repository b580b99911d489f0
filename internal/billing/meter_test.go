package billing

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/testenv"
	"github.com/switchyard/switchyard/internal/usage"
)

// hotKind is where a test's meters keep their hot state.
type hotKind struct {
	name  string
	redis bool
}

var hotKinds = []hotKind{{"memory", false}, {"redis", true}}

// meterEnv is a database with users, and a way to open meters on it the
// way gateway nodes would: the same journal directory for memory meters
// (one node restarted), one Redis prefix for Redis meters (several nodes).
type meterEnv struct {
	*env
	kind   hotKind
	dir    string
	redis  string // URL
	prefix string
}

func eachMeter(t *testing.T, fn func(t *testing.T, e *meterEnv)) {
	t.Helper()
	for _, k := range hotKinds {
		t.Run(k.name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, e *env) {
				me := &meterEnv{env: e, kind: k, dir: t.TempDir()}
				if k.redis {
					me.redis = testenv.RedisURL(t)
					me.prefix = testenv.RedisPrefix(t, me.redis)
				}
				fn(t, me)
			})
		})
	}
}

func (e *meterEnv) meter(t *testing.T, overdraft Micros) *Meter {
	t.Helper()
	o := MeterOptions{DB: e.da, JournalDir: e.dir, Overdraft: overdraft, Heartbeat: time.Second}
	if e.kind.redis {
		o.Redis, o.Prefix = testenv.RedisClient(t, e.redis), e.prefix+"bill:"
	}
	m, err := NewMeter(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func (e *meterEnv) key(t *testing.T, email string, quota *int64) int64 {
	t.Helper()
	_, info, err := e.users.CreateKey(t.Context(), auth.NewKey{User: email, Name: "k", QuotaMicros: quota})
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

func (e *meterEnv) keySpend(t *testing.T, id int64) Micros {
	t.Helper()
	var v int64
	if err := e.da.Read().QueryRowContext(t.Context(), e.da.Dialect().Rebind("SELECT used_micros FROM api_keys WHERE id = ?"), id).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return Micros(v)
}

// rows counts ledger rows of kind for user.
func (e *meterEnv) rows(t *testing.T, uid int64, kind Kind) (n int, sum Micros) {
	t.Helper()
	var s int64
	err := e.da.Read().QueryRowContext(t.Context(), e.da.Dialect().Rebind(
		"SELECT COUNT(*), COALESCE(SUM(amount_micros), 0) FROM ledger WHERE user_id = ? AND kind = ?"), uid, string(kind)).Scan(&n, &s)
	if err != nil {
		t.Fatal(err)
	}
	return n, Micros(s)
}

// unreleased counts reserve rows without their release: stranded holds.
func (e *meterEnv) unreleased(t *testing.T) int {
	t.Helper()
	var n int
	err := e.da.Read().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM ledger r WHERE r.kind = 'reserve'
		AND NOT EXISTS (SELECT 1 FROM ledger x WHERE x.request_id = r.request_id AND x.kind = 'release')`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func drain(t *testing.T, m *Meter) {
	t.Helper()
	for range 3 { // a file journal rotates once per round
		if err := m.Drain(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// Hundreds of concurrent requests against a wallet and a key quota too
// small for all of them, on two meters (two nodes for Redis; for memory,
// two meters would be two budgets, so one): no wallet and no quota is
// overspent, every charge is on the ledger, the ledger sums to the
// balance, and every hold is released.
func TestMeterConcurrentNoOverspend(t *testing.T) {
	eachMeter(t, func(t *testing.T, e *meterEnv) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		e.fund(t, uid, 1_000_000)
		quota := int64(600_000)
		kid := e.key(t, "a@example.com", &quota)
		meters := []*Meter{e.meter(t, 0)}
		if e.kind.redis {
			meters = append(meters, e.meter(t, 0))
		}
		var charged, refused, paid atomic.Int64
		var wg sync.WaitGroup
		for i := range 300 {
			wg.Go(func() {
				m := meters[i%len(meters)]
				h, err := m.Reserve(ctx, Reservation{UserID: uid, KeyID: kid, Quota: Micros(quota), Amount: 10_000, RequestID: "r"})
				var short *ShortError
				if errors.As(err, &short) {
					refused.Add(1)
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				// Some requests cost more than they reserved, some nothing.
				c, err := h.Settle(ctx, Micros(rand.IntN(15_000)))
				if err != nil {
					t.Error(err)
				}
				charged.Add(int64(c))
				if c > 0 {
					paid.Add(1)
				}
			})
			if i%50 == 0 {
				_ = meters[0].Drain(ctx) // drain while requests run
			}
		}
		wg.Wait()
		for _, m := range meters {
			drain(t, m)
		}
		if refused.Load() == 0 {
			t.Fatalf("no request was refused: the test does not exhaust the quota")
		}
		bal, spent := e.balance(t, uid), e.keySpend(t, kid)
		if bal != 1_000_000-Micros(charged.Load()) || spent != Micros(charged.Load()) {
			t.Fatalf("balance %d, key spend %d, charged %d", bal, spent, charged.Load())
		}
		if spent > Micros(quota) || bal < 0 {
			t.Fatalf("overspent: balance %d, key spend %d of %d", bal, spent, quota)
		}
		e.audit(t)
		if n := e.unreleased(t); n != 0 {
			t.Fatalf("%d holds were never released", n)
		}
		// A reservation settled within the journal file it was made in
		// folds into its settle row (entries); the others are a reserve
		// and a release each. Every charge of more than zero is one
		// settle row either way.
		nr, _ := e.rows(t, uid, KindReserve)
		nl, _ := e.rows(t, uid, KindRelease)
		ns, _ := e.rows(t, uid, KindSettle)
		if nr != nl || int64(nr)+refused.Load() > 300 || int64(ns) != paid.Load() {
			t.Fatalf("%d reserves, %d releases, %d settles of %d paid, %d refused", nr, nl, ns, paid.Load(), refused.Load())
		}
		// The hot state agrees with the ledger: what is left can be held,
		// one micro-USD more cannot.
		room := min(bal, Micros(quota)-spent)
		if room > 0 {
			h, err := meters[0].Reserve(ctx, Reservation{UserID: uid, KeyID: kid, Quota: Micros(quota), Amount: room})
			if err != nil {
				t.Fatalf("reserve the %d left: %v", room, err)
			}
			if _, err := h.Settle(ctx, 0); err != nil {
				t.Fatal(err)
			}
		}
		var short *ShortError
		if _, err := meters[0].Reserve(ctx, Reservation{UserID: uid, KeyID: kid, Quota: Micros(quota), Amount: room + 1}); !errors.As(err, &short) {
			t.Fatalf("reserve beyond what is left: %v", err)
		}
	})
}

// A charge above the reservation is capped by the overdraft bound.
func TestMeterOverdraftBound(t *testing.T) {
	eachMeter(t, func(t *testing.T, e *meterEnv) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		e.fund(t, uid, 100)
		m := e.meter(t, 50)
		h, err := m.Reserve(ctx, Reservation{UserID: uid, Amount: 100})
		if err != nil {
			t.Fatal(err)
		}
		c, err := h.Settle(ctx, 500)
		if err != nil || c != 150 {
			t.Fatalf("charged %d, %v; want 150 (100 + the 50 overdraft)", c, err)
		}
		if _, err := h.Settle(ctx, 500); err == nil {
			t.Fatal("a second settle was accepted")
		}
		drain(t, m)
		if b := e.balance(t, uid); b != -50 {
			t.Fatalf("balance %d, want -50", b)
		}
		e.audit(t)
	})
}

// Credits posted to the ledger elsewhere (a top-up, a redeemed code)
// become spendable once the meter refreshes.
func TestMeterSeesCredits(t *testing.T) {
	eachMeter(t, func(t *testing.T, e *meterEnv) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		m := e.meter(t, 0)
		var short *ShortError
		if _, err := m.Reserve(ctx, Reservation{UserID: uid, Amount: 10}); !errors.As(err, &short) || short.Available != 0 {
			t.Fatalf("reserve from an empty wallet: %v", err)
		}
		e.fund(t, uid, 25)
		if err := m.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		h, err := m.Reserve(ctx, Reservation{UserID: uid, Amount: 10})
		if err != nil {
			t.Fatalf("after the credit: %v", err)
		}
		if _, err := h.Settle(ctx, 10); err != nil {
			t.Fatal(err)
		}
		drain(t, m)
		if b := e.balance(t, uid); b != 15 {
			t.Fatalf("balance %d, want 15", b)
		}
	})
}

// A process killed with holds open and charges not yet posted: the next
// one posts every settled charge and releases every open hold.
func TestMeterRecoversAfterKill(t *testing.T) {
	eachMeter(t, func(t *testing.T, e *meterEnv) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		e.fund(t, uid, 1000)
		kid := e.key(t, "a@example.com", nil)
		o := MeterOptions{DB: e.da, JournalDir: e.dir, Heartbeat: 300 * time.Millisecond}
		if e.kind.redis {
			// Another node (another data dir): its holds are released by
			// the next node once its heartbeat has expired.
			o.Redis, o.Prefix, o.JournalDir = testenv.RedisClient(t, e.redis), e.prefix+"bill:", t.TempDir()
		}
		dead, err := NewMeter(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		var holds []*Hold
		for range 3 {
			h, err := dead.Reserve(ctx, Reservation{UserID: uid, KeyID: kid, Quota: NoCap, Amount: 100})
			if err != nil {
				t.Fatal(err)
			}
			holds = append(holds, h)
		}
		for i, h := range holds[:2] {
			if _, err := h.Settle(ctx, 40); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				// A usage row waits for the next settle (or drain) to reach
				// the journal file; this one has the second settle.
				if err := dead.LogUsage(ctx, usage.Row{ChargeID: h.Charge(), RequestID: "req-1", Time: e.clock.now(), UserID: uid, Model: "m", Status: 200, CostMicros: 40}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// "Killed": never closed, never drained; nothing reached the ledger.
		if n, _ := e.rows(t, uid, KindSettle); n != 0 {
			t.Fatalf("%d settles posted before any drain", n)
		}
		if e.kind.redis {
			time.Sleep(400 * time.Millisecond) // its heartbeat expires
		} else if err := dead.unlock(); err != nil { // the kernel drops a killed process's flock
			t.Fatal(err)
		}
		next := e.meter(t, 0)
		drain(t, next)
		if n, sum := e.rows(t, uid, KindSettle); n != 2 || sum != -80 {
			t.Fatalf("settles after restart: %d rows summing %d, want 2 and -80", n, sum)
		}
		if n := e.unreleased(t); n != 0 {
			t.Fatalf("%d holds stranded", n)
		}
		if b := e.balance(t, uid); b != 920 {
			t.Fatalf("balance %d, want 920", b)
		}
		if s := e.keySpend(t, kid); s != 80 {
			t.Fatalf("key spend %d, want 80", s)
		}
		e.audit(t)
		rows, err := usage.NewStore(e.da).Query(ctx, usage.Filter{RequestID: "req-1"})
		if err != nil || len(rows) != 1 || rows[0].CostMicros != 40 {
			t.Fatalf("usage rows %+v, %v", rows, err)
		}
		// The hold the dead process never settled is spendable again.
		h, err := next.Reserve(ctx, Reservation{UserID: uid, Amount: 920})
		if err != nil {
			t.Fatalf("reserve the whole balance after recovery: %v", err)
		}
		if _, err := h.Settle(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if e.kind.redis {
			// The dead node comes back after all and settles its last
			// hold: it is charged, not released a second time.
			if c, err := holds[2].Settle(ctx, 30); err != nil || c != 30 {
				t.Fatalf("late settle: %d, %v", c, err)
			}
			drain(t, next)
			if n, _ := e.rows(t, uid, KindRelease); n != 4 { // three of the dead node, one of the check above
				t.Fatalf("%d releases, want 4", n)
			}
			if b := e.balance(t, uid); b != 890 {
				t.Fatalf("balance %d, want 890", b)
			}
			e.audit(t)
		}
	})
}

// A torn last line (killed inside a write) is skipped; the rest posts.
func TestJournalTornLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, journalName(1))
	var b []byte
	b = appendRecord(b, &record{kind: recReserve, charge: "c1", user: 1, amount: 5, request: "x"})
	b = appendRecord(b, &record{kind: recSettle, charge: "c1", user: 1, released: 5, charged: 3})
	b = append(b, "S c2 1 0 5"...)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := readJournal(p, slog.New(slog.DiscardHandler))
	if err != nil || len(recs) != 2 || recs[1].charged != 3 || recs[0].request != "x" {
		t.Fatalf("records %+v, %v", recs, err)
	}
	if got := entries(recs); len(got) != 3 || got[0].Amount != -5 || got[1].Kind != KindRelease || got[2].Amount != -3 {
		t.Fatalf("entries %+v", got)
	}
}

// Zero amounts move nothing and break nothing: a hold of 0, a settle of 0,
// and a batch whose movements cancel out (Redis refuses "-0" as a number).
func TestMeterZeroAmounts(t *testing.T) {
	eachMeter(t, func(t *testing.T, e *meterEnv) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		e.fund(t, uid, 10)
		kid := e.key(t, "a@example.com", nil)
		m := e.meter(t, 0)
		for _, amount := range []Micros{0, 7} {
			h, err := m.Reserve(ctx, Reservation{UserID: uid, KeyID: kid, Quota: NoCap, Amount: amount})
			if err != nil {
				t.Fatal(err)
			}
			if c, err := h.Settle(ctx, 0); err != nil || c != 0 {
				t.Fatalf("settle: %d, %v", c, err)
			}
		}
		drain(t, m)
		if b := e.balance(t, uid); b != 10 {
			t.Fatalf("balance %d, want 10", b)
		}
		h, err := m.Reserve(ctx, Reservation{UserID: uid, Amount: 10})
		if err != nil {
			t.Fatalf("the whole balance after zero movements: %v", err)
		}
		if _, err := h.Settle(ctx, 10); err != nil {
			t.Fatal(err)
		}
		drain(t, m)
		e.audit(t)
		if b := e.balance(t, uid); b != 0 {
			t.Fatalf("balance %d, want 0", b)
		}
	})
}

// An operator's adjustment (the console's credit, the CLI's users credit)
// goes to the ledger while requests hold money in the hot state: after
// the refresh, what may be held is the adjusted balance less the holds.
func TestMeterSeesAdjustWithHoldsOpen(t *testing.T) {
	eachMeter(t, func(t *testing.T, e *meterEnv) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		e.fund(t, uid, 100)
		m := e.meter(t, 0)
		h, err := m.Reserve(ctx, Reservation{UserID: uid, Amount: 30})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.ledger.Adjust(ctx, uid, -50, "chargeback"); err != nil {
			t.Fatal(err)
		}
		if err := m.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		var short *ShortError
		if _, err := m.Reserve(ctx, Reservation{UserID: uid, Amount: 25}); !errors.As(err, &short) || short.Available != 20 {
			t.Fatalf("reserve after the adjustment: %v", err)
		}
		if _, err := h.Settle(ctx, 30); err != nil {
			t.Fatal(err)
		}
		drain(t, m)
		if b := e.balance(t, uid); b != 20 {
			t.Fatalf("balance %d, want 20", b)
		}
		e.audit(t)
	})
}

// A reservation and its settle read from one journal file post as one
// settle row; a reservation still open at the drain posts as a reserve row
// and its settle later as release and settle. Posting the same files again
// (a crash between post and ack, then recovery) adds nothing, including
// when recovery reads the open reservation's file and its settle's file
// together.
func TestMeterFoldsWithinOneFile(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		e.fund(t, uid, 1000)
		me := &meterEnv{env: e, kind: hotKinds[0], dir: t.TempDir()}
		kid := me.key(t, "a@example.com", nil)
		m := me.meter(t, 0)
		// File 1: a settled (folded), b open, z settled at zero (nothing).
		file1 := []record{
			{kind: recReserve, charge: "ca", user: uid, key: kid, amount: 100, request: "req-a", file: 1},
			{kind: recReserve, charge: "cb", user: uid, key: kid, amount: 100, file: 1},
			{kind: recReserve, charge: "cz", user: uid, key: kid, amount: 50, file: 1},
			{kind: recSettle, charge: "ca", user: uid, key: kid, released: 100, charged: 30, file: 1},
			{kind: recSettle, charge: "cz", user: uid, key: kid, released: 50, file: 1},
		}
		// File 2: b carried over, then settled.
		file2 := []record{
			{kind: recReserve, charge: "cb", user: uid, key: kid, amount: 100, carried: true, file: 2},
			{kind: recSettle, charge: "cb", user: uid, key: kid, released: 100, charged: 45, file: 2},
		}
		check := func(when string) {
			t.Helper()
			for _, c := range []struct {
				kind Kind
				n    int
				sum  Micros
			}{{KindReserve, 1, -100}, {KindRelease, 1, 100}, {KindSettle, 2, -75}} {
				if n, sum := me.rows(t, uid, c.kind); n != c.n || sum != c.sum {
					t.Fatalf("%s: %d %s rows summing %d, want %d and %d", when, n, c.kind, sum, c.n, c.sum)
				}
			}
			if b := me.balance(t, uid); b != 925 {
				t.Fatalf("%s: balance %d, want 925", when, b)
			}
			if s := me.keySpend(t, kid); s != 75 {
				t.Fatalf("%s: key spend %d, want 75", when, s)
			}
			me.audit(t)
		}
		if err := m.post(ctx, file1); err != nil {
			t.Fatal(err)
		}
		if err := m.post(ctx, file2); err != nil {
			t.Fatal(err)
		}
		check("drained")
		var note string
		if err := e.da.Read().QueryRowContext(ctx, "SELECT note FROM ledger WHERE request_id = 'ca'").Scan(&note); err != nil || note != "request req-a" {
			t.Fatalf("folded row's note %q, %v", note, err)
		}
		// Recovery reads both files, renumbered as it finds them.
		again := append(append([]record{}, file1...), file2...)
		if err := m.post(ctx, again); err != nil {
			t.Fatal(err)
		}
		check("posted again")
		// A reservation posted alone from its file (open at the drain),
		// then read by recovery beside its settle from the next file: not
		// folded across files, or the reserve row already posted would
		// never be released.
		cc := record{kind: recReserve, charge: "cc", user: uid, key: kid, amount: 100, file: 1}
		if err := m.post(ctx, []record{cc}); err != nil {
			t.Fatal(err)
		}
		late := []record{cc, {kind: recSettle, charge: "cc", user: uid, key: kid, released: 100, charged: 20, file: 2}}
		if err := m.post(ctx, late); err != nil {
			t.Fatal(err)
		}
		if n, sum := me.rows(t, uid, KindRelease); n != 2 || sum != 200 {
			t.Fatalf("across files: %d releases summing %d, want 2 and 200", n, sum)
		}
		if b := me.balance(t, uid); b != 905 {
			t.Fatalf("across files: balance %d, want 905", b)
		}
		if s := me.keySpend(t, kid); s != 95 {
			t.Fatalf("across files: key spend %d, want 95", s)
		}
		me.audit(t)
	})
}

// A live meter on the file journal folds what one drain round settles.
func TestMeterDrainFolds(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		e.fund(t, uid, 1000)
		me := &meterEnv{env: e, kind: hotKinds[0], dir: t.TempDir()}
		m := me.meter(t, 0)
		h, err := m.Reserve(ctx, Reservation{UserID: uid, Amount: 100, RequestID: "r1"})
		if err != nil {
			t.Fatal(err)
		}
		open, err := m.Reserve(ctx, Reservation{UserID: uid, Amount: 200, RequestID: "r2"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Settle(ctx, 40); err != nil {
			t.Fatal(err)
		}
		drain(t, m)
		if n, _ := me.rows(t, uid, KindReserve); n != 1 {
			t.Fatalf("%d reserve rows, want 1 (the open hold)", n)
		}
		if n, sum := me.rows(t, uid, KindSettle); n != 1 || sum != -40 {
			t.Fatalf("settles %d summing %d, want one of -40", n, sum)
		}
		if _, err := open.Settle(ctx, 70); err != nil {
			t.Fatal(err)
		}
		drain(t, m)
		if n, sum := me.rows(t, uid, KindRelease); n != 1 || sum != 200 {
			t.Fatalf("releases %d summing %d, want one of 200", n, sum)
		}
		if b := me.balance(t, uid); b != 890 {
			t.Fatalf("balance %d, want 890", b)
		}
		me.audit(t)
	})
}

// A journal file left by a version that wrote usage rows as JSON (U lines)
// is posted at start beside rows in the compact form (u lines); a torn
// compact line at the end is skipped.
func TestJournalUpgradeJSONRows(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		e.fund(t, uid, 1000)
		me := &meterEnv{env: e, kind: hotKinds[0], dir: t.TempDir()}
		kid := me.key(t, "a@example.com", nil)
		old, err := json.Marshal(usage.Row{ChargeID: "ca", RequestID: "req-json", Time: e.clock.now(), UserID: uid, KeyID: kid,
			Model: "m", Status: 200, CostMicros: 30})
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		b = appendRecord(b, &record{kind: recReserve, charge: "ca", user: uid, key: kid, amount: 100, request: "req-json"})
		b = appendRecord(b, &record{kind: recSettle, charge: "ca", user: uid, key: kid, released: 100, charged: 30})
		b = appendRecord(b, &record{kind: recUsage, usage: old})
		b = appendRecord(b, &record{kind: recReserve, charge: "cb", user: uid, key: kid, amount: 100, request: "req-compact"})
		b = appendRecord(b, &record{kind: recSettle, charge: "cb", user: uid, key: kid, released: 100, charged: 20})
		b = appendUsageRow(b, &usage.Row{ChargeID: "cb", RequestID: "req-compact", Time: e.clock.now(), UserID: uid, KeyID: kid,
			Model: "m", Status: 200, CostMicros: 20, Error: "two\nlines"})
		torn := appendUsageRow(nil, &usage.Row{ChargeID: "cc", RequestID: "req-torn", Time: e.clock.now(), UserID: uid})
		b = append(b, torn[:len(torn)-5]...)
		if err := os.MkdirAll(me.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(me.dir, journalName(1)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		m := me.meter(t, 0)
		if n, sum := me.rows(t, uid, KindSettle); n != 2 || sum != -50 {
			t.Fatalf("settles %d summing %d, want 2 and -50", n, sum)
		}
		if bal := me.balance(t, uid); bal != 950 {
			t.Fatalf("balance %d, want 950", bal)
		}
		me.audit(t)
		st := usage.NewStore(e.da)
		for _, c := range []struct {
			req  string
			cost int64
			err  string
		}{{"req-json", 30, ""}, {"req-compact", 20, "two\nlines"}} {
			rows, err := st.Query(ctx, usage.Filter{RequestID: c.req})
			if err != nil || len(rows) != 1 || rows[0].CostMicros != c.cost || rows[0].UserID != uid || rows[0].Error != c.err {
				t.Fatalf("usage rows of %s: %+v, %v", c.req, rows, err)
			}
		}
		if rows, err := st.Query(ctx, usage.Filter{RequestID: "req-torn"}); err != nil || len(rows) != 0 {
			t.Fatalf("torn row posted: %+v, %v", rows, err)
		}
		_ = m
	})
}

// A hold still open when its reserve row was posted is marked posted
// (recPosted) in the journal file that holds its carried copy: that file
// posts no reserve entry for it again (the ledger would drop it, but only after the drain's
// optimistic post met the repeat and started over), and its settle still
// posts release and settle.
func TestMeterCarriedPostedOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		e.fund(t, uid, 1000)
		me := &meterEnv{env: e, kind: hotKinds[0], dir: t.TempDir()}
		m := me.meter(t, 0)
		open, err := m.Reserve(ctx, Reservation{UserID: uid, Amount: 200, RequestID: "r-open"})
		if err != nil {
			t.Fatal(err)
		}
		drain(t, m) // the reserve row is posted; the hold stays open
		other, err := m.Reserve(ctx, Reservation{UserID: uid, Amount: 10})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Settle(ctx, 5); err != nil {
			t.Fatal(err)
		}
		b, err := m.hot.take(ctx, drainBatch)
		if err != nil || b == nil {
			t.Fatalf("take: %v, %v", b, err)
		}
		carried, posted := false, false
		for _, r := range b.recs {
			if r.charge == open.Charge() {
				carried = carried || (r.kind == recReserve && r.carried)
				posted = posted || r.kind == recPosted
			}
		}
		if !carried || !posted {
			t.Fatalf("records %+v: want the hold's carried copy and its posted mark", b.recs)
		}
		for _, en := range entries(b.recs) {
			if en.RequestID == open.Charge() {
				t.Fatalf("entry %+v for the posted hold", en)
			}
		}
		if err := m.post(ctx, b.recs); err != nil {
			t.Fatal(err)
		}
		fresh, err := m.durable(ctx, recordDeltas(b.recs))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.hot.ack(ctx, b, fresh); err != nil {
			t.Fatal(err)
		}
		if _, err := open.Settle(ctx, 70); err != nil {
			t.Fatal(err)
		}
		drain(t, m)
		for _, c := range []struct {
			kind Kind
			n    int
			sum  Micros
		}{{KindReserve, 1, -200}, {KindRelease, 1, 200}, {KindSettle, 2, -75}} {
			if n, sum := me.rows(t, uid, c.kind); n != c.n || sum != c.sum {
				t.Fatalf("%d %s rows summing %d, want %d and %d", n, c.kind, sum, c.n, c.sum)
			}
		}
		if bal := me.balance(t, uid); bal != 925 {
			t.Fatalf("balance %d, want 925", bal)
		}
		me.audit(t)
	})
}

// A drain round posts its usage rows without looking them up first; a
// batch posted again (a crash between post and ack), or one whose entries
// are new but whose usage rows are not, stores each row once and counts it
// once in the rollups.
func TestMeterPostsUsageRowsOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		e.fund(t, uid, 1000)
		me := &meterEnv{env: e, kind: hotKinds[0], dir: t.TempDir()}
		kid := me.key(t, "a@example.com", nil)
		m := me.meter(t, 0)
		charge := func(c string) []record {
			return []record{
				{kind: recReserve, charge: c, user: uid, key: kid, amount: 100, file: 1},
				{kind: recSettle, charge: c, user: uid, key: kid, released: 100, charged: 30, file: 1},
			}
		}
		usageRow := func(c string) record {
			var b []byte
			b = appendUsageRow(b, &usage.Row{ChargeID: c, RequestID: "req-" + c, Time: e.clock.now(), UserID: uid, KeyID: kid,
				Model: "m", Status: 200, CostMicros: 30})
			r, err := parseRecord(bytes.TrimSuffix(b, []byte("\n")))
			if err != nil {
				t.Fatalf("usage record %q: %v", b, err)
			}
			return r
		}
		counts := func() (logged, rolled int64) {
			t.Helper()
			if err := e.da.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM usage_logs").Scan(&logged); err != nil {
				t.Fatal(err)
			}
			if err := e.da.Read().QueryRowContext(ctx, "SELECT COALESCE(SUM(requests), 0) FROM usage_rollup_day").Scan(&rolled); err != nil {
				t.Fatal(err)
			}
			return logged, rolled
		}
		first := append(charge("ca"), usageRow("ca"))
		if err := m.post(ctx, first); err != nil {
			t.Fatal(err)
		}
		logged, one := counts()
		if logged != 1 || one == 0 {
			t.Fatalf("after the first post: %d rows logged, %d rolled up", logged, one)
		}
		if err := m.post(ctx, first); err != nil {
			t.Fatal(err)
		}
		if l, r := counts(); l != 1 || r != one {
			t.Fatalf("posted again: %d rows logged, %d rolled up; want 1 and %d", l, r, one)
		}
		// New entries, and a usage row posted before beside a new one.
		mixed := append(charge("cb"), usageRow("ca"), usageRow("cb"), usageRow("cb"))
		if err := m.post(ctx, mixed); err != nil {
			t.Fatal(err)
		}
		if l, r := counts(); l != 2 || r != 2*one {
			t.Fatalf("mixed batch: %d rows logged, %d rolled up; want 2 and %d", l, r, 2*one)
		}
		if n, sum := me.rows(t, uid, KindSettle); n != 2 || sum != -60 {
			t.Fatalf("%d settles summing %d, want 2 and -60", n, sum)
		}
		if b := me.balance(t, uid); b != 940 {
			t.Fatalf("balance %d, want 940", b)
		}
		me.audit(t)
	})
}

// Charge ids are unique, of one shape, and sort by the time they were made.
func TestChargeIDsSortByTime(t *testing.T) {
	prev := NewChargeID()
	seen := map[string]bool{prev: true}
	for i := range 2000 {
		if i%100 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
		id := NewChargeID()
		if len(id) != 27 || id[0] != 'c' || strings.Trim(id[1:], "234567abcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("charge id %q: want 'c' and 26 lower-case base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("charge id %q made twice", id)
		}
		seen[id] = true
		// Within one millisecond the random part orders them; across
		// milliseconds the time does.
		if i%100 == 0 && id <= prev {
			t.Fatalf("charge id %q made after %q sorts before it", id, prev)
		}
		prev = id
	}
}
