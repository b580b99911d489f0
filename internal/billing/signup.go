package billing

import (
	"context"
	"errors"
	"fmt"
)

// SignupCredits adapts a Ledger to what account registration needs
// (auth.Credits) without either package importing the other.
type SignupCredits struct {
	Ledger *Ledger
	// Invalid is wrapped into the error of a code that cannot be used
	// (auth.ErrInvalidInvite).
	Invalid error
}

// GrantOnce credits amountMicros once per reason.
func (c SignupCredits) GrantOnce(ctx context.Context, userID, amountMicros int64, reason string) (bool, error) {
	return c.Ledger.GrantOnce(ctx, userID, Micros(amountMicros), reason)
}

// RedeemInvite redeems code for userID.
func (c SignupCredits) RedeemInvite(ctx context.Context, userID int64, code string) error {
	_, err := c.Ledger.Redeem(ctx, userID, code)
	if errors.Is(err, ErrCodeInvalid) || errors.Is(err, ErrInviteUsed) || errors.Is(err, ErrAlreadyRedeemed) {
		return fmt.Errorf("%w: %w", c.Invalid, err)
	}
	return err
}
