package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/config"
)

// First-run setup and self-registration.

// SetupTokenSetting is the settings row holding the pending setup token:
// "<sha256 hex> <unix expiry>".
const SetupTokenSetting = "setup_token"

// SetupTokenTTL is how long a setup token works.
const SetupTokenTTL = time.Hour

// SetupNeeded reports whether no administrator can sign in: no active
// admin has a password.
func (a *Accounts) SetupNeeded(ctx context.Context) (bool, error) {
	var n int
	err := a.db.Write().QueryRowContext(ctx, a.db.Dialect().Rebind(
		"SELECT COUNT(*) FROM users WHERE role = ? AND status = ? AND password_hash <> ''"), "admin", StatusActive).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("count administrators: %w", err)
	}
	return n == 0, nil
}

// SetupToken returns a new one-time setup token, valid SetupTokenTTL,
// replacing any earlier one; ErrSetupDone when an administrator exists.
// serve prints it as a link.
func (a *Accounts) SetupToken(ctx context.Context) (string, error) {
	needed, err := a.SetupNeeded(ctx)
	if err != nil {
		return "", err
	}
	if !needed {
		return "", ErrSetupDone
	}
	tok := randomToken(32)
	value := hashSecret(tok) + " " + strconv.FormatInt(a.now().Add(SetupTokenTTL).Unix(), 10)
	if err := a.db.SetSetting(ctx, SetupTokenSetting, value); err != nil {
		return "", err
	}
	return tok, nil
}

// consumeSetupToken deletes the stored token if tok is it and it has not
// expired. The delete is conditional on the value read, so of two
// requests with the same token only one succeeds.
func (a *Accounts) consumeSetupToken(ctx context.Context, tok string) error {
	stored, ok, err := a.db.GetSetting(ctx, SetupTokenSetting)
	if err != nil {
		return err
	}
	if !ok || tok == "" {
		return ErrInvalidSetup
	}
	hash, exp, _ := strings.Cut(stored, " ")
	until, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || subtle.ConstantTimeCompare([]byte(hash), []byte(hashSecret(tok))) != 1 || !a.now().Before(time.Unix(until, 0)) {
		return ErrInvalidSetup
	}
	res, err := a.db.Write().ExecContext(ctx, a.db.Dialect().Rebind("DELETE FROM settings WHERE name = ? AND value = ?"), SetupTokenSetting, stored)
	if err != nil {
		return fmt.Errorf("use setup token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return ErrInvalidSetup
	}
	return nil
}

// Setup uses the setup token once to make the first administrator (a new
// user, or an existing one given a password and the admin role).
func (a *Accounts) Setup(ctx context.Context, token, email, name, password string) (Account, error) {
	if err := checkEmail(email); err != nil {
		return Account{}, err
	}
	if err := CheckPassword(password); err != nil {
		return Account{}, err
	}
	needed, err := a.SetupNeeded(ctx)
	if err != nil {
		return Account{}, err
	}
	if !needed {
		return Account{}, ErrSetupDone
	}
	if err := a.consumeSetupToken(ctx, token); err != nil {
		return Account{}, err
	}
	r, err := a.byEmail(ctx, email)
	switch {
	case errors.Is(err, ErrUserNotFound):
		if err := a.createUser(ctx, NewUser{Email: email, Name: name, Role: "admin"}); err != nil {
			return Account{}, err
		}
	case err != nil:
		return Account{}, err
	default:
		if err := a.promote(ctx, r.ID); err != nil {
			return Account{}, err
		}
	}
	return a.SetPassword(ctx, email, password)
}

// ErrInvalidEmail is returned for an address that is not name@host.
var ErrInvalidEmail = errors.New("not an email address (name@example.com)")

func checkEmail(email string) error {
	e := normEmail(email)
	if a, err := mail.ParseAddress(e); err != nil || a.Address != e || !strings.Contains(e, "@") {
		return ErrInvalidEmail
	}
	return nil
}

// Registration modes.
const (
	RegistrationOff    = "off"
	RegistrationOpen   = "open"
	RegistrationInvite = "invite"
)

// RegistrationPolicy is the operator's registration setting, passed in by
// the caller (it lives in the console's settings).
type RegistrationPolicy struct {
	Mode                string // RegistrationOff, RegistrationOpen or RegistrationInvite
	DefaultGroup        string // "" = the default group
	NewUserCreditMicros int64  // granted once to each new user
}

// Register creates a user who signs up themselves: allowed by p.Mode, with
// an invite code when the mode is invite (optional when open). The invite
// credits the new user and pays its owner the bonus (billing's invite
// codes); a code that does not work undoes the registration. Attempts
// count against the client address's sign-in budget.
func (a *Accounts) Register(ctx context.Context, p RegistrationPolicy, email, password, inviteCode string, clientIP netip.Addr) (Account, error) {
	switch p.Mode {
	case RegistrationOpen:
	case RegistrationInvite:
		if strings.TrimSpace(inviteCode) == "" {
			return Account{}, ErrInviteRequired
		}
	default:
		return Account{}, ErrRegistrationOff
	}
	if err := checkEmail(email); err != nil {
		return Account{}, err
	}
	if err := CheckPassword(password); err != nil {
		return Account{}, err
	}
	if inviteCode != "" && a.credits == nil {
		return Account{}, ErrInvalidInvite
	}
	// Only the address's budget: there is no account yet to count for.
	if err := a.attempt(ctx, a.addressBudget(clientIP)); err != nil {
		return Account{}, err
	}
	group := p.DefaultGroup
	if group == "" {
		group = config.DefaultGroup
	}
	if err := a.createUser(ctx, NewUser{Email: email, Group: group, Role: "user"}); err != nil {
		return Account{}, err
	}
	u, err := a.byEmail(ctx, email)
	if err != nil {
		return Account{}, err
	}
	if err := a.storePassword(ctx, u.ID, password); err != nil {
		return Account{}, a.undoRegistration(ctx, u.ID, err)
	}
	if inviteCode != "" {
		if err := a.credits.RedeemInvite(ctx, u.ID, inviteCode); err != nil {
			if errors.Is(err, ErrInvalidInvite) {
				err = ErrInvalidInvite
			}
			return Account{}, a.undoRegistration(ctx, u.ID, err)
		}
	}
	if a.credits != nil && p.NewUserCreditMicros > 0 {
		// The reason NewUserCredit uses too, so a user is credited once
		// whichever way they came.
		if _, err := a.credits.GrantOnce(ctx, u.ID, p.NewUserCreditMicros, "new-user:"+strconv.FormatInt(u.ID, 10)); err != nil {
			a.log.Warn("new-user credit", "user_id", u.ID, "error", err.Error())
		}
	}
	return a.Account(ctx, u.ID)
}

// undoRegistration deletes a user whose registration failed half-way (no
// ledger row exists yet) and returns cause.
func (a *Accounts) undoRegistration(ctx context.Context, userID int64, cause error) error {
	if _, err := a.db.Write().ExecContext(ctx, a.db.Dialect().Rebind("DELETE FROM users WHERE id = ?"), userID); err != nil {
		a.log.Warn("undo registration", "user_id", userID, "error", err.Error())
	}
	_ = a.users.bump(ctx)
	return cause
}
