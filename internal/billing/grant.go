package billing

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/internal/config"
)

// NewUserCredit grants the configured starting credit (billing.new_user_credit)
// to a new user, once: the reason is "new-user:<id>". It does nothing when
// the setting is zero.
func (l *Ledger) NewUserCredit(ctx context.Context, userID int64, b config.Billing) error {
	amount, err := FromUSD(b.NewUserCredit)
	if err != nil {
		return fmt.Errorf("billing.new_user_credit: %w", err)
	}
	if _, err := l.GrantOnce(ctx, userID, amount, "new-user:"+strconv.FormatInt(userID, 10)); err != nil {
		return err
	}
	return nil
}

// ApplyConfig grants the file's credit, after auth has stored the file's
// users: each user with credit gets it once ("file-credit:<email>"; raising
// it in the file later grants nothing more), and every user the file
// declares (under users:, or as the owner of a key under keys:) gets the
// new-user credit once. It runs at every start, on every node; GrantOnce
// makes each grant happen once in all.
func (l *Ledger) ApplyConfig(ctx context.Context, users []config.User, keys []config.Key, b config.Billing) error {
	seen := map[string]bool{}
	grant := func(email string, credit float64) error {
		email = strings.ToLower(strings.TrimSpace(email))
		if seen[email] {
			return nil
		}
		seen[email] = true
		id, err := l.UserID(ctx, email)
		if err != nil {
			return err
		}
		amount, err := FromUSD(credit)
		if err != nil {
			return fmt.Errorf("credit of user %s: %w", email, err)
		}
		if _, err := l.GrantOnce(ctx, id, amount, "file-credit:"+email); err != nil {
			return fmt.Errorf("credit of user %s: %w", email, err)
		}
		if err := l.NewUserCredit(ctx, id, b); err != nil {
			return fmt.Errorf("starting credit of user %s: %w", email, err)
		}
		return nil
	}
	for _, u := range users {
		if err := grant(u.Email, u.Credit); err != nil {
			return err
		}
	}
	for _, k := range keys {
		if err := grant(k.User, 0); err != nil {
			return err
		}
	}
	return nil
}
