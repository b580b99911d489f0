package billing

import (
	"errors"
	"testing"
	"time"
)

func TestAdjust(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		u := e.user(t, "u@example.com")
		r, err := e.a.Adjust(ctx, u, 150*MicrosPerUSD+1, "  goodwill  ")
		if err != nil || r.Kind != KindAdjust || r.Amount != 150*MicrosPerUSD+1 || r.BalanceAfter != r.Amount || r.Note != "goodwill" || r.ID == 0 {
			t.Fatalf("Adjust = %+v, %v", r, err)
		}
		if _, err := e.b.Adjust(ctx, u, -200*MicrosPerUSD, "too much"); !errors.Is(err, ErrInsufficient) {
			t.Fatalf("below zero: %v", err)
		}
		if r, err := e.b.Adjust(ctx, u, -1, "one micro"); err != nil || r.BalanceAfter != 150*MicrosPerUSD {
			t.Fatalf("take one: %+v %v", r, err)
		}
		var inv *InvalidError
		for field, c := range map[string]struct {
			amount Micros
			reason string
		}{
			"amount_micros": {0, "x"},
			"reason":        {1, " "},
		} {
			if _, err := e.a.Adjust(ctx, u, c.amount, c.reason); !errors.As(err, &inv) || inv.Field != field {
				t.Errorf("%s: %v", field, err)
			}
		}
		if _, err := e.a.Adjust(ctx, u, MaxAdjust+1, "x"); !errors.As(err, &inv) || inv.Field != "amount_micros" {
			t.Errorf("huge: %v", err)
		}
		if _, err := e.a.Adjust(ctx, 99999, 1, "x"); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("unknown user: %v", err)
		}
		// Pages of the ledger, newest first, filtered by kind.
		for range 3 {
			e.a.Adjust(ctx, u, 1, "more")
		}
		var all []Record
		before := int64(0)
		for {
			page, next, err := e.b.Entries(ctx, u, "", before, 2)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if next == 0 {
				break
			}
			before = next
		}
		if len(all) != 5 || all[0].Note != "more" || all[4].Note != "goodwill" {
			t.Fatalf("ledger pages %+v", all)
		}
		if got, _, err := e.b.Entries(ctx, u, KindTopup, 0, 10); err != nil || len(got) != 0 {
			t.Fatalf("topups %+v %v", got, err)
		}
		if _, _, err := e.b.Entries(ctx, u, "bogus", 0, 10); !errors.As(err, &inv) || inv.Field != "kind" {
			t.Fatalf("bad kind: %v", err)
		}
		e.audit(t)
	})
}

func TestCodesConsole(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		alice := e.user(t, "alice@example.com")
		codes, err := e.a.GenerateCodes(ctx, 3, MicrosPerUSD, e.clock.now().Add(time.Hour), "b1", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.GenerateCodes(ctx, 2, MicrosPerUSD, time.Time{}, "b2", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.Redeem(ctx, alice, codes[0]); err != nil {
			t.Fatal(err)
		}
		list, _, err := e.a.QueryCodes(ctx, CodeFilter{Batch: "b1"}, 0, 10)
		if err != nil || len(list) != 3 {
			t.Fatalf("b1 %+v %v", list, err)
		}
		_, after, err := e.a.DisableCode(ctx, list[0].ID) // the newest: codes[2]
		if err != nil || after.Status != CodeDisabled || after.DisabledAt == nil {
			t.Fatalf("disable %+v %v", after, err)
		}
		if _, err := e.b.Redeem(ctx, alice, codes[2]); !errors.Is(err, ErrCodeInvalid) {
			t.Fatalf("disabled code redeemed: %v", err)
		}
		if _, _, err := e.a.DisableCode(ctx, 99999); !errors.Is(err, ErrCodeNotFound) {
			t.Fatalf("unknown code: %v", err)
		}
		e.clock.advance(2 * time.Hour) // b1 expires
		want := map[string]int{CodeUsed: 1, CodeDisabled: 1, CodeExpired: 1, CodeActive: 2}
		for status, n := range want {
			got, _, err := e.a.QueryCodes(ctx, CodeFilter{Status: status, Kind: CodeCredit}, 0, 10)
			if err != nil || len(got) != n {
				t.Errorf("%s: %d codes, want %d (%v)", status, len(got), n, err)
			}
			for _, c := range got {
				if c.Status != status {
					t.Errorf("filtered %s, listed %+v", status, c)
				}
			}
		}
		var seen int
		if err := e.a.EachCode(ctx, CodeFilter{}, func(CodeInfo) error { seen++; return nil }); err != nil || seen != 5 {
			t.Fatalf("EachCode saw %d, %v", seen, err)
		}
		// Pages: 2 + 2 + 1.
		page, next, err := e.a.QueryCodes(ctx, CodeFilter{}, 0, 2)
		if err != nil || len(page) != 2 || next == 0 {
			t.Fatal(page, next, err)
		}
		page, next, _ = e.a.QueryCodes(ctx, CodeFilter{}, next, 2)
		page2, next2, _ := e.a.QueryCodes(ctx, CodeFilter{}, next, 2)
		if len(page) != 2 || len(page2) != 1 || next2 != 0 {
			t.Fatal(page, page2, next2)
		}
		var inv *InvalidError
		if _, _, err := e.a.QueryCodes(ctx, CodeFilter{Status: "lost"}, 0, 2); !errors.As(err, &inv) || inv.Field != "status" {
			t.Fatal(err)
		}
	})
}

func TestUserInvite(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		key := []byte("0123456789abcdef0123456789abcdef")
		inviter, a, b := e.user(t, "i@example.com"), e.user(t, "a@example.com"), e.user(t, "b@example.com")
		code, info, err := e.a.UserInvite(ctx, key, inviter, 2*MicrosPerUSD, MicrosPerUSD)
		if err != nil || info.Kind != CodeInvite || info.InviterUserID != inviter || info.Value != 2*MicrosPerUSD {
			t.Fatalf("UserInvite = %q %+v %v", code, info, err)
		}
		// Shown again: the same code, with the amounts of now.
		again, info2, err := e.b.UserInvite(ctx, key, inviter, 3*MicrosPerUSD, MicrosPerUSD)
		if err != nil || again != code || info2.ID != info.ID || info2.Value != 3*MicrosPerUSD {
			t.Fatalf("again = %q %+v %v", again, info2, err)
		}
		if got, err := e.a.Redeem(ctx, a, code); err != nil || got != 3*MicrosPerUSD {
			t.Fatalf("redeem invite: %s %v", got, err)
		}
		// Disabled, the link is replaced by the next one.
		if _, _, err := e.a.DisableCode(ctx, info.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.Redeem(ctx, b, code); !errors.Is(err, ErrCodeInvalid) {
			t.Fatalf("disabled invite: %v", err)
		}
		next, info3, err := e.a.UserInvite(ctx, key, inviter, 3*MicrosPerUSD, MicrosPerUSD)
		if err != nil || next == code || info3.ID == info.ID || info3.Status != CodeActive {
			t.Fatalf("next invite %q %+v %v", next, info3, err)
		}
		if _, err := e.a.Redeem(ctx, b, next); err != nil {
			t.Fatal(err)
		}
		if e.balance(t, inviter) != 2*MicrosPerUSD {
			t.Fatalf("inviter balance %s", e.balance(t, inviter))
		}
		if _, _, err := e.a.UserInvite(ctx, key, 99999, 1, 1); !errors.Is(err, ErrUserNotFound) {
			t.Fatal(err)
		}
		e.audit(t)
	})
}
