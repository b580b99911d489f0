package auth

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
)

// Two-factor enrolment of Accounts: BeginTOTP stores a new secret (sealed
// with the node's keyring, bound to the user's row) without turning it
// on; EnableTOTP turns it on once the user proves their app has it, and
// hands out the recovery codes; DisableTOTP needs the password.

func totpAAD(userID int64) []byte {
	return []byte("users.totp_secret:" + strconv.FormatInt(userID, 10))
}

func (a *Accounts) sealTOTP(userID int64, secret string) (string, error) {
	if a.kr == nil {
		return "", ErrTOTPUnavailable
	}
	sealed, err := a.kr.Seal([]byte(secret), totpAAD(userID))
	if err != nil {
		return "", fmt.Errorf("seal totp secret: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sealed), nil
}

func (a *Accounts) openTOTP(userID int64, stored string) (string, error) {
	if stored == "" {
		return "", ErrTOTPNotStarted
	}
	if a.kr == nil {
		return "", ErrTOTPUnavailable
	}
	sealed, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return "", fmt.Errorf("totp secret of user id %d is not base64", userID)
	}
	plain, err := a.kr.Open(sealed, totpAAD(userID))
	if err != nil {
		return "", fmt.Errorf("open totp secret of user id %d: %w", userID, err)
	}
	return string(plain), nil
}

// TOTPEnrolment is what an authenticator app needs: the secret (base32)
// and the otpauth:// URL a QR code carries.
type TOTPEnrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

// BeginTOTP stores a new pending secret for the user, replacing any
// earlier pending one. ErrTOTPEnabled when two-factor is already on.
func (a *Accounts) BeginTOTP(ctx context.Context, userID int64) (TOTPEnrolment, error) {
	r, err := a.byID(ctx, userID)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("user id %d: %w", userID, err)
	}
	if r.TOTPEnabled {
		return TOTPEnrolment{}, ErrTOTPEnabled
	}
	secret := newTOTPSecret()
	sealed, err := a.sealTOTP(userID, secret)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if _, err := a.db.Write().ExecContext(ctx, a.db.Dialect().Rebind("UPDATE users SET totp_secret = ?, totp_enabled = ?, updated_at = ? WHERE id = ?"),
		sealed, false, a.now().UTC(), userID); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("store totp secret: %w", err)
	}
	return TOTPEnrolment{Secret: secret, OTPAuthURL: otpauthURL(a.issuer, r.Email, secret)}, nil
}

// EnableTOTP turns two-factor on when code is the pending secret's current
// code, and returns 10 new recovery codes (shown once; stored hashed).
func (a *Accounts) EnableTOTP(ctx context.Context, userID int64, code string) ([]string, error) {
	r, err := a.byID(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("user id %d: %w", userID, err)
	}
	if r.TOTPEnabled {
		return nil, ErrTOTPEnabled
	}
	if err := a.checkTOTP(ctx, r, code); err == ErrInvalidCredentials {
		return nil, ErrInvalidCode
	} else if err != nil {
		return nil, err
	}
	codes := make([]string, recoveryCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
	}
	tx, err := a.db.Write().BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	d := a.db.Dialect()
	if _, err := tx.ExecContext(ctx, d.Rebind("DELETE FROM recovery_codes WHERE user_id = ?"), userID); err != nil {
		return nil, fmt.Errorf("delete old recovery codes: %w", err)
	}
	for _, c := range codes {
		if _, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)"), userID, hashSecret(c)); err != nil {
			return nil, fmt.Errorf("store recovery code: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.Rebind("UPDATE users SET totp_enabled = ?, updated_at = ? WHERE id = ?"), true, a.now().UTC(), userID); err != nil {
		return nil, fmt.Errorf("turn on two-factor: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return codes, nil
}

// DisableTOTP turns two-factor off after checking the password.
func (a *Accounts) DisableTOTP(ctx context.Context, userID int64, password string, clientIP netip.Addr) error {
	r, err := a.byID(ctx, userID)
	if err != nil {
		return fmt.Errorf("user id %d: %w", userID, err)
	}
	rules := a.throttleRules(r.Email, clientIP)
	if err := a.attempt(ctx, rules); err != nil {
		return err
	}
	if !VerifyPassword(r.passwordHash, password) {
		return ErrInvalidCredentials
	}
	a.refund(ctx, rules)
	return a.ResetTOTP(ctx, userID)
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (a *Accounts) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := a.db.Read().QueryRowContext(ctx, a.db.Dialect().Rebind("SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL"),
		userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}
