package billing

import (
	"testing"

	"github.com/switchyard/switchyard/internal/config"
)

// The file's credit and the starting credit are granted once, however
// many times (and on however many nodes) the file is applied.
func TestApplyConfigGrantsOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		users := []config.User{{Email: "Ann@Example.com", Credit: 2.5}, {Email: "bob@example.com"}}
		keys := []config.Key{{Name: "k", User: "carl@example.com"}, {Name: "k2", User: "ann@example.com"}}
		ann, bob, carl := e.user(t, "ann@example.com"), e.user(t, "bob@example.com"), e.user(t, "carl@example.com")
		for i := range 3 {
			if err := e.ledger(i).ApplyConfig(ctx, users, keys, config.Billing{NewUserCredit: 0.5}); err != nil {
				t.Fatal(err)
			}
		}
		// Raising the file's credit later grants nothing more.
		users[0].Credit = 10
		if err := e.a.ApplyConfig(ctx, users, keys, config.Billing{NewUserCredit: 0.5}); err != nil {
			t.Fatal(err)
		}
		if e.balance(t, ann) != 3*MicrosPerUSD || e.balance(t, bob) != MicrosPerUSD/2 || e.balance(t, carl) != MicrosPerUSD/2 {
			t.Fatalf("balances %s %s %s", e.balance(t, ann), e.balance(t, bob), e.balance(t, carl))
		}
		e.audit(t)
	})
}
