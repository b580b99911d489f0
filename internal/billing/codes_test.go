package billing

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var codeShape = regexp.MustCompile(`^SYR-[0-9A-HJKMNP-TV-Z]{20}$`)

func TestCanonicalCode(t *testing.T) {
	c := newCode()
	if !codeShape.MatchString(c) {
		t.Fatalf("code %q", c)
	}
	body := c[len(CodePrefix):]
	typed := "  syr-" + strings.ToLower(body[:5]) + "-" + body[5:10] + " " + body[10:] + " "
	if got := canonicalCode(typed); got != c {
		t.Fatalf("canonicalCode(%q) = %q, want %q", typed, got, c)
	}
	if got := canonicalCode("SYR-O0IL1" + strings.Repeat("2", 15)); got != "SYR-00111"+strings.Repeat("2", 15) {
		t.Fatalf("Crockford aliases: %q", got)
	}
	for _, bad := range []string{"", "SYR-", c[:len(c)-1], c + "2", "XYZ-" + body, "SYR-" + body[:19] + "U"} {
		if got := canonicalCode(bad); got != "" {
			t.Errorf("canonicalCode(%q) = %q", bad, got)
		}
	}
}

func TestRedeemCode(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		alice, bob := e.user(t, "alice@example.com"), e.user(t, "bob@example.com")
		codes, err := e.a.GenerateCodes(ctx, 3, 2*MicrosPerUSD, time.Time{}, "spring", "promo")
		if err != nil || len(codes) != 3 {
			t.Fatalf("GenerateCodes = %v, %v", codes, err)
		}
		got, err := e.b.Redeem(ctx, alice, strings.ToLower(codes[0]))
		if err != nil || got != 2*MicrosPerUSD {
			t.Fatalf("Redeem = %s, %v", got, err)
		}
		if _, err := e.a.Redeem(ctx, alice, codes[0]); !errors.Is(err, ErrAlreadyRedeemed) {
			t.Fatalf("redeem again: %v", err)
		}
		if _, err := e.a.Redeem(ctx, bob, codes[0]); !errors.Is(err, ErrCodeInvalid) {
			t.Fatalf("redeem a used code: %v", err)
		}
		if _, err := e.a.Redeem(ctx, bob, "SYR-"+strings.Repeat("0", 20)); !errors.Is(err, ErrCodeInvalid) {
			t.Fatalf("redeem an unknown code: %v", err)
		}
		if _, err := e.a.Redeem(ctx, bob, "hello"); !errors.Is(err, ErrCodeInvalid) {
			t.Fatalf("redeem garbage: %v", err)
		}
		if e.balance(t, alice) != 2*MicrosPerUSD || e.balance(t, bob) != 0 {
			t.Fatal("balances")
		}
		h, _ := e.a.History(ctx, alice, 1)
		list, err := e.a.ListCodes(ctx, "spring")
		if err != nil || len(list) != 3 {
			t.Fatalf("ListCodes = %+v, %v", list, err)
		}
		if h[0].Kind != KindRedeem || h[0].RequestID != fmt.Sprintf("redeem:%d:%d", list[0].ID, alice) {
			t.Fatalf("ledger row %+v", h[0])
		}
		if l := list[0]; l.Uses != 1 || l.MaxUses != 1 || l.Value != 2*MicrosPerUSD || l.Kind != CodeCredit || l.Note != "promo" ||
			l.Prefix != codes[0][:8] || l.ExpiresAt != nil || list[1].Uses != 0 {
			t.Fatalf("ListCodes = %+v", list)
		}
		if other, _ := e.a.ListCodes(ctx, "autumn"); len(other) != 0 {
			t.Fatalf("another batch lists %+v", other)
		}
		e.audit(t)
	})
}

// The database never holds a code in clear: only its hash and a prefix.
func TestCodesStoredHashed(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		codes, err := e.a.GenerateCodes(ctx, 5, 1, time.Time{}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		rows, err := e.da.Read().QueryContext(ctx, "SELECT hash, prefix, kind, batch, note FROM redemption_codes")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var stored []string
		for rows.Next() {
			var a, b, c, d, f string
			if err := rows.Scan(&a, &b, &c, &d, &f); err != nil {
				t.Fatal(err)
			}
			stored = append(stored, a, b, c, d, f)
		}
		all := strings.Join(stored, "\n")
		for _, c := range codes {
			if strings.Contains(all, c[len(CodePrefix):]) || strings.Contains(all, c[8:]) || !strings.Contains(all, hashCode(c)) {
				t.Fatalf("code %s stored in clear or not hashed:\n%s", c, all)
			}
		}
	})
}

func TestExpiredCodeRefused(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		uid := e.user(t, "a@example.com")
		codes, err := e.a.GenerateCodes(ctx, 2, 5, e.clock.now().Add(time.Hour), "b", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.Redeem(ctx, uid, codes[0]); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
		e.clock.advance(time.Hour + time.Second)
		if _, err := e.a.Redeem(ctx, uid, codes[1]); !errors.Is(err, ErrCodeInvalid) {
			t.Fatalf("after expiry: %v", err)
		}
		list, _ := e.a.ListCodes(ctx, "b")
		if list[1].Uses != 0 || list[1].ExpiresAt == nil || !list[1].ExpiresAt.Equal(e.clock.now().Add(-time.Second)) {
			t.Fatalf("list %+v", list)
		}
		if _, err := e.a.GenerateCodes(ctx, 1, 5, e.clock.now().Add(-time.Minute), "", ""); err == nil {
			t.Fatal("generated codes that expired already")
		}
		if e.balance(t, uid) != 5 {
			t.Fatal("balance")
		}
	})
}

// 50 users redeem one single-use code at once, from two nodes: exactly one
// is credited.
func TestConcurrentRedemption(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		users := make([]int64, 50)
		for i := range users {
			users[i] = e.user(t, fmt.Sprintf("u%d@example.com", i))
		}
		codes, err := e.a.GenerateCodes(ctx, 1, 7*MicrosPerUSD, time.Time{}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		var won, lost atomic.Int64
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Go(func() {
				_, err := e.ledger(i).Redeem(ctx, u, codes[0])
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, ErrCodeInvalid):
					lost.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 || lost.Load() != 49 {
			t.Fatalf("%d won, %d lost", won.Load(), lost.Load())
		}
		var total Micros
		for _, u := range users {
			total += e.balance(t, u)
		}
		if total != 7*MicrosPerUSD {
			t.Fatalf("credited %s in total", total)
		}
		e.audit(t)
	})
}

func TestInviteCodes(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		inviter, other := e.user(t, "inviter@example.com"), e.user(t, "other@example.com")
		a, b := e.user(t, "a@example.com"), e.user(t, "b@example.com")
		code, err := e.a.InviteCode(ctx, inviter, 3*MicrosPerUSD, 1*MicrosPerUSD)
		if err != nil {
			t.Fatal(err)
		}
		code2, err := e.a.InviteCode(ctx, other, 10, 10)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.Redeem(ctx, inviter, code); !errors.Is(err, ErrOwnInvite) {
			t.Fatalf("self invite: %v", err)
		}
		if got, err := e.a.Redeem(ctx, a, code); err != nil || got != 3*MicrosPerUSD {
			t.Fatalf("invite: %s, %v", got, err)
		}
		if got, err := e.b.Redeem(ctx, b, code); err != nil || got != 3*MicrosPerUSD {
			t.Fatalf("second invitee: %s, %v", got, err)
		}
		if _, err := e.a.Redeem(ctx, a, code); !errors.Is(err, ErrAlreadyRedeemed) {
			t.Fatalf("same invite twice: %v", err)
		}
		if _, err := e.a.Redeem(ctx, a, code2); !errors.Is(err, ErrInviteUsed) {
			t.Fatalf("second invite code: %v", err)
		}
		if e.balance(t, a) != 3*MicrosPerUSD || e.balance(t, b) != 3*MicrosPerUSD || e.balance(t, inviter) != 2*MicrosPerUSD ||
			e.balance(t, other) != 0 {
			t.Fatalf("balances %s %s %s %s", e.balance(t, a), e.balance(t, b), e.balance(t, inviter), e.balance(t, other))
		}
		list, _ := e.a.ListCodes(ctx, "")
		if len(list) != 2 || list[0].Kind != CodeInvite || list[0].Uses != 2 || list[0].InviterUserID != inviter ||
			list[0].InviterBonus != MicrosPerUSD || list[1].Uses != 0 {
			t.Fatalf("list %+v", list)
		}

		// One user racing two invite codes (from two nodes): one wins.
		c := e.user(t, "c@example.com")
		var won, refused atomic.Int64
		var wg sync.WaitGroup
		for i, k := range []string{code, code2, code, code2} {
			wg.Go(func() {
				_, err := e.ledger(i).Redeem(ctx, c, k)
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, ErrInviteUsed), errors.Is(err, ErrAlreadyRedeemed):
					refused.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 || refused.Load() != 3 {
			t.Fatalf("%d won, %d refused", won.Load(), refused.Load())
		}
		if b := e.balance(t, c); b != 3*MicrosPerUSD && b != 10 {
			t.Fatalf("c's balance %s", b)
		}
		if got := e.balance(t, inviter) + e.balance(t, other); got != 3*MicrosPerUSD && got != 2*MicrosPerUSD+10 {
			t.Fatalf("inviters got %s", got)
		}
		e.audit(t)
	})
}
