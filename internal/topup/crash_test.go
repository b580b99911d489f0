package topup

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/billing"
)

// TestCrashHelper is the process killed in TestKilledBetweenPaidAndCredited:
// it records the payment of an order (and, at "posted", posts its credit
// too) and then kills itself with SIGKILL before the order is marked
// credited. It does nothing in a normal run.
func TestCrashHelper(t *testing.T) {
	url, ref, at := os.Getenv("SY_TOPUP_CRASH_URL"), os.Getenv("SY_TOPUP_CRASH_REF"), os.Getenv("SY_TOPUP_CRASH_AT")
	if url == "" {
		t.Skip("run by TestKilledBetweenPaidAndCredited")
	}
	db := openDB(t, url)
	s := New(db, billing.NewLedger(db, nil), Options{Providers: []Provider{Manual{}}})
	o, err := s.Order(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if o, err = s.record(t.Context(), Payment{OrderRef: ref, Provider: ManualName, Amount: o.Price, Currency: o.Currency, Raw: "before the crash"}); err != nil {
		t.Fatal(err)
	}
	if at == "posted" {
		if _, err := s.ledger.Post(t.Context(), billing.Entry{UserID: o.UserID, RequestID: ledgerID(o.Ref), Kind: billing.KindTopup, Amount: o.Total()}); err != nil {
			t.Fatal(err)
		}
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	time.Sleep(time.Minute)
}

// A node killed (kill -9) after recording a payment and before marking the
// order credited: at its restart Recover credits the order, once.
func TestKilledBetweenPaidAndCredited(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	eachDB(t, nil, func(t *testing.T, e *env) {
		e.clock.ns.Store(time.Now().UnixNano()) // the killed process runs on the real clock
		uid := e.user(t, "u@example.com")
		p := e.pkg(t, 0)
		for i, at := range []string{"paid", "posted"} {
			o := e.order(t, uid, p, ManualName)
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), "SY_TOPUP_CRASH_URL="+e.url, "SY_TOPUP_CRASH_REF="+o.Ref, "SY_TOPUP_CRASH_AT="+at)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("%s: the helper was not killed: %v\n%s", at, err, out)
			}
			if got := e.get(t, o.Ref); got.Status != StatusPaid {
				t.Fatalf("%s: after the kill the order is %s", at, got.Status)
			}
			want := billing.Micros(i) * eleven // the orders before
			if at == "posted" {
				want += eleven // the credit was posted before the kill
			}
			if b := e.balance(t, uid); b != want {
				t.Fatalf("%s: balance %s before recovery, want %s", at, b, want)
			}
			if _, n, err := e.b.Recover(t.Context()); err != nil || n != 1 {
				t.Fatalf("%s: recovery credited %d (%v)", at, n, err)
			}
			if got := e.get(t, o.Ref); got.Status != StatusCredited {
				t.Fatalf("%s: after recovery the order is %s", at, got.Status)
			}
			if b := e.balance(t, uid); b != billing.Micros(i+1)*eleven {
				t.Fatalf("%s: balance %s after recovery, want %s", at, b, billing.Micros(i+1)*eleven)
			}
		}
	})
}
