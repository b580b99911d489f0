package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
)

// Accounts is how people sign in to the console: passwords, sessions,
// two-factor codes, step-up, admin access tokens, first-run setup and
// registration. Users themselves (rows, groups, keys) belong to Store;
// Accounts adds the credentials.
type Accounts struct {
	db       *store.DB
	users    *Store
	sessions SessionStore
	lim      Throttler
	kr       *secret.Keyring
	credits  Credits
	now      func() time.Time
	log      *slog.Logger
	idle     time.Duration
	max      time.Duration
	issuer   string
	throttle Throttle
}

// AccountsOptions configure NewAccounts. DB is required; the rest have
// defaults.
type AccountsOptions struct {
	DB *store.DB
	// Sessions defaults to the database (NewSQLSessions); nodes with Redis
	// pass NewRedisSessions.
	Sessions SessionStore
	// Throttler counts sign-in attempts: limit.Attempts over the node's
	// limiter (Redis when configured, so that every node counts alike).
	// nil counts nothing.
	Throttler Throttler
	// Keyring seals TOTP secrets; without one two-factor cannot be enrolled.
	Keyring *secret.Keyring
	// Credits grants registration credit; nil grants none and refuses
	// invite codes.
	Credits Credits
	Now     func() time.Time
	Logger  *slog.Logger
	// SessionIdle and SessionMax are console.session_idle and
	// console.session_max (defaults 24 h and 30 days).
	SessionIdle, SessionMax time.Duration
	// Issuer names the service in authenticator apps (default "Switchyard").
	Issuer   string
	Throttle Throttle
}

// Throttle bounds failed sign-in attempts: at most PerAccount attempts for
// one email and PerIP from one client address within Window (a smooth
// rate: after the burst, one more every Window/limit). A successful attempt
// gives its unit back. Zero fields take the defaults (10, 30, 15 min).
type Throttle struct {
	PerAccount, PerIP int
	Window            time.Duration
}

// Budget is one attempt budget: at most Limit attempts per Window under
// Key (a smooth rate, as internal/limit's GCRA).
type Budget struct {
	Key    string
	Limit  int64
	Window time.Duration
}

// Throttler takes and gives back attempts (limit.Attempts).
type Throttler interface {
	// Take takes one attempt from every budget, all or nothing; when
	// refused, retryAfter says when the next attempt would pass.
	Take(ctx context.Context, budgets []Budget, now time.Time) (ok bool, retryAfter time.Duration, err error)
	// Refund gives one attempt back to every budget.
	Refund(ctx context.Context, budgets []Budget, now time.Time) error
}

// Credits is what registration needs from billing (billing.SignupCredits
// adapts its ledger; auth does not import billing, whose tests use auth).
type Credits interface {
	// GrantOnce credits amountMicros to the user once per reason.
	GrantOnce(ctx context.Context, userID int64, amountMicros int64, reason string) (bool, error)
	// RedeemInvite redeems a code for a new user; an error wrapping
	// ErrInvalidInvite when the code cannot be used.
	RedeemInvite(ctx context.Context, userID int64, code string) error
}

// StepUpWindow is how long a password or TOTP re-entry authorises
// high-risk actions in its session.
const StepUpWindow = 5 * time.Minute

// Errors of Accounts. Handlers map them to answers; they never say more
// than the message.
var (
	// ErrInvalidCredentials is every failed sign-in: unknown email, wrong
	// password, no password set, wrong or used two-factor code.
	ErrInvalidCredentials = errors.New("invalid email, password or code")
	// ErrTOTPRequired: the password was right, and the account needs a
	// TOTP or recovery code as well.
	ErrTOTPRequired    = errors.New("a two-factor code is required")
	ErrAccountDisabled = errors.New("this account is disabled")
	ErrInvalidSetup    = errors.New("invalid, used or expired setup token")
	ErrSetupDone       = errors.New("setup is done: an administrator exists")
	ErrRegistrationOff = errors.New("registration is closed")
	ErrInviteRequired  = errors.New("registration needs an invite code")
	ErrInvalidInvite   = errors.New("invalid invite code")
	ErrTOTPEnabled     = errors.New("two-factor authentication is already on")
	ErrTOTPNotStarted  = errors.New("start two-factor setup first")
	ErrTOTPUnavailable = errors.New("two-factor authentication needs the node's secret key")
	ErrInvalidCode     = errors.New("invalid or used code")
	ErrTokenNotFound   = errors.New("admin token not found")
)

// RateLimitedError is returned when too many attempts came from one
// account or address; RetryAfter says when the next may be made.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many attempts; try again in %s", e.RetryAfter.Round(time.Second))
}

// NewAccounts returns Accounts over o.DB.
func NewAccounts(o AccountsOptions) *Accounts {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sessions == nil {
		o.Sessions = NewSQLSessions(o.DB)
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = 24 * time.Hour
	}
	if o.SessionMax <= 0 {
		o.SessionMax = 30 * 24 * time.Hour
	}
	if o.Issuer == "" {
		o.Issuer = "Switchyard"
	}
	if o.Throttle.PerAccount <= 0 {
		o.Throttle.PerAccount = 10
	}
	if o.Throttle.PerIP <= 0 {
		o.Throttle.PerIP = 30
	}
	if o.Throttle.Window <= 0 {
		o.Throttle.Window = 15 * time.Minute
	}
	return &Accounts{db: o.DB, users: NewStore(o.DB, o.Now).WithKeyring(o.Keyring), sessions: o.Sessions, lim: o.Throttler,
		kr: o.Keyring, credits: o.Credits, now: o.Now, log: o.Logger, idle: o.SessionIdle, max: o.SessionMax,
		issuer: o.Issuer, throttle: o.Throttle}
}

// Account is a user as the console shows them to themselves.
type Account struct {
	User
	TOTPEnabled bool `json:"totp_enabled"`
	HasPassword bool `json:"has_password"`
}

// accountRow is an Account with its stored credentials.
type accountRow struct {
	Account
	passwordHash string
	totpSecret   string // sealed, base64; "" = none
	totpLastStep int64
}

const accountQuery = `SELECT u.id, u.email, u.name, g.name, u.role, u.status, u.managed_by_file, u.created_at,
	u.password_hash, u.totp_secret, u.totp_enabled, u.totp_last_step
	FROM users u JOIN user_groups g ON g.id = u.group_id WHERE `

func (a *Accounts) load(ctx context.Context, where string, arg any) (accountRow, error) {
	var r accountRow
	err := a.db.Read().QueryRowContext(ctx, a.db.Dialect().Rebind(accountQuery+where), arg).Scan(&r.ID, &r.Email, &r.Name,
		&r.Group, &r.Role, &r.Status, &r.ManagedByFile, &r.CreatedAt, &r.passwordHash, &r.totpSecret, &r.TOTPEnabled, &r.totpLastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return accountRow{}, ErrUserNotFound
	}
	if err != nil {
		return accountRow{}, fmt.Errorf("read user: %w", err)
	}
	r.CreatedAt = r.CreatedAt.UTC()
	r.HasPassword = r.passwordHash != ""
	return r, nil
}

func (a *Accounts) byEmail(ctx context.Context, email string) (accountRow, error) {
	return a.load(ctx, "u.email = ?", normEmail(email))
}

func (a *Accounts) byID(ctx context.Context, id int64) (accountRow, error) {
	return a.load(ctx, "u.id = ?", id)
}

// Account returns the user with id.
func (a *Accounts) Account(ctx context.Context, userID int64) (Account, error) {
	r, err := a.byID(ctx, userID)
	if err != nil {
		return Account{}, fmt.Errorf("user id %d: %w", userID, err)
	}
	return r.Account, nil
}

// AccountByEmail returns the user with email (any case).
func (a *Accounts) AccountByEmail(ctx context.Context, email string) (Account, error) {
	r, err := a.byEmail(ctx, email)
	if err != nil {
		return Account{}, fmt.Errorf("user %s: %w", normEmail(email), err)
	}
	return r.Account, nil
}

// UpdateProfile sets the user's display name.
func (a *Accounts) UpdateProfile(ctx context.Context, userID int64, name string) (Account, error) {
	if _, err := a.db.Write().ExecContext(ctx, a.db.Dialect().Rebind("UPDATE users SET name = ?, updated_at = ? WHERE id = ?"),
		name, a.now().UTC(), userID); err != nil {
		return Account{}, fmt.Errorf("update user id %d: %w", userID, err)
	}
	if err := a.users.bump(ctx); err != nil {
		return Account{}, err
	}
	return a.Account(ctx, userID)
}

// throttleRules are the budgets one sign-in attempt takes from.
func (a *Accounts) throttleRules(email string, ip netip.Addr) []Budget {
	t := a.throttle
	rules := []Budget{{Key: "login:acct:" + hashSecret(normEmail(email))[:32], Limit: int64(t.PerAccount), Window: t.Window}}
	return append(rules, a.addressBudget(ip)...)
}

// addressBudget is the client address's budget (none for an unknown
// address).
func (a *Accounts) addressBudget(ip netip.Addr) []Budget {
	if !ip.IsValid() {
		return nil
	}
	return []Budget{{Key: "login:ip:" + ip.Unmap().String(), Limit: int64(a.throttle.PerIP), Window: a.throttle.Window}}
}

// attempt takes one attempt from rules, or returns a RateLimitedError. A
// throttle that cannot be reached lets the attempt through: locking every
// operator out because Redis is down is worse than a slower brute force
// (each attempt still costs an argon2 run).
func (a *Accounts) attempt(ctx context.Context, rules []Budget) error {
	if a.lim == nil || len(rules) == 0 {
		return nil
	}
	ok, wait, err := a.lim.Take(ctx, rules, a.now())
	if err != nil {
		a.log.Warn("login throttle unavailable; attempt allowed", "error", err.Error())
		return nil
	}
	if !ok {
		if wait <= 0 {
			wait = a.throttle.Window
		}
		return &RateLimitedError{RetryAfter: wait}
	}
	return nil
}

// refund gives back the unit a successful attempt took.
func (a *Accounts) refund(ctx context.Context, rules []Budget) {
	if a.lim == nil {
		return
	}
	if err := a.lim.Refund(ctx, rules, a.now()); err != nil {
		a.log.Warn("login throttle refund failed", "error", err.Error())
	}
}

// Login checks an email and password, and the second factor when the
// account has one (totp, or else recoveryCode), counting the attempt
// against the email and the client address. Unknown email, missing
// password and wrong password all give ErrInvalidCredentials after the
// same argon2 work. The caller then calls CreateSession.
func (a *Accounts) Login(ctx context.Context, email, password, totp, recoveryCode string, clientIP netip.Addr) (Account, error) {
	rules := a.throttleRules(email, clientIP)
	if err := a.attempt(ctx, rules); err != nil {
		return Account{}, err
	}
	r, err := a.byEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrUserNotFound) {
		return Account{}, err
	}
	stored := r.passwordHash
	if stored == "" {
		stored = dummyHash()
	}
	if !VerifyPassword(stored, password) || r.passwordHash == "" {
		return Account{}, ErrInvalidCredentials
	}
	if r.Status != StatusActive {
		return Account{}, ErrAccountDisabled
	}
	if r.TOTPEnabled {
		if totp == "" && recoveryCode == "" {
			a.refund(ctx, rules) // the password was right: not a failed guess
			return Account{}, ErrTOTPRequired
		}
		if err := a.secondFactor(ctx, r, totp, recoveryCode); err != nil {
			return Account{}, err
		}
	}
	a.refund(ctx, rules)
	if NeedsRehash(r.passwordHash) {
		if err := a.storePassword(ctx, r.ID, password); err != nil {
			a.log.Warn("rehash password", "user_id", r.ID, "error", err.Error())
		}
	}
	return r.Account, nil
}

// secondFactor accepts a TOTP code (if given) or a recovery code.
func (a *Accounts) secondFactor(ctx context.Context, r accountRow, totp, recoveryCode string) error {
	if totp != "" {
		return a.checkTOTP(ctx, r, totp)
	}
	return a.useRecoveryCode(ctx, r.ID, recoveryCode)
}

// checkTOTP accepts code if it is the account's current code and its step
// was not used before; it records the step, so the code works once.
func (a *Accounts) checkTOTP(ctx context.Context, r accountRow, code string) error {
	secret, err := a.openTOTP(r.ID, r.totpSecret)
	if err != nil {
		return err
	}
	step := matchTOTP(secret, code, a.now(), r.totpLastStep)
	if step == 0 {
		return ErrInvalidCredentials
	}
	// Conditional, so that two requests racing with one code cannot both
	// pass.
	res, err := a.db.Write().ExecContext(ctx, a.db.Dialect().Rebind("UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?"),
		step, r.ID, step)
	if err != nil {
		return fmt.Errorf("record totp step: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return ErrInvalidCredentials
	}
	return nil
}

func (a *Accounts) useRecoveryCode(ctx context.Context, userID int64, code string) error {
	c := canonicalRecovery(code)
	if c == "" {
		return ErrInvalidCredentials
	}
	res, err := a.db.Write().ExecContext(ctx, a.db.Dialect().Rebind("UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL"),
		a.now().UTC(), userID, hashSecret(c))
	if err != nil {
		return fmt.Errorf("use recovery code: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return ErrInvalidCredentials
	}
	return nil
}

// storePassword hashes and stores a password; it does not check it.
func (a *Accounts) storePassword(ctx context.Context, userID int64, password string) error {
	_, err := a.db.Write().ExecContext(ctx, a.db.Dialect().Rebind("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?"),
		HashPassword(password), a.now().UTC(), userID)
	if err != nil {
		return fmt.Errorf("store password of user id %d: %w", userID, err)
	}
	return nil
}

// ChangePassword replaces the user's password after checking the current
// one, and ends every session of the user (the caller signs the current
// client in again with CreateSession).
func (a *Accounts) ChangePassword(ctx context.Context, userID int64, current, next string, clientIP netip.Addr) error {
	r, err := a.byID(ctx, userID)
	if err != nil {
		return fmt.Errorf("user id %d: %w", userID, err)
	}
	rules := a.throttleRules(r.Email, clientIP)
	if err := a.attempt(ctx, rules); err != nil {
		return err
	}
	if !VerifyPassword(r.passwordHash, current) {
		return ErrInvalidCredentials
	}
	a.refund(ctx, rules)
	if err := CheckPassword(next); err != nil {
		return err
	}
	if err := a.storePassword(ctx, userID, next); err != nil {
		return err
	}
	return a.RevokeUserSessions(ctx, userID)
}

// SetPassword sets the password of the user with email without knowing
// the old one (the command line; file-declared users included, as the file
// declares no passwords) and ends their sessions.
func (a *Accounts) SetPassword(ctx context.Context, email, password string) (Account, error) {
	if err := CheckPassword(password); err != nil {
		return Account{}, err
	}
	r, err := a.byEmail(ctx, email)
	if err != nil {
		return Account{}, fmt.Errorf("user %s: %w", normEmail(email), err)
	}
	if err := a.storePassword(ctx, r.ID, password); err != nil {
		return Account{}, err
	}
	r.HasPassword = true
	return r.Account, a.RevokeUserSessions(ctx, r.ID)
}

// ResetTOTP turns two-factor off for the user and deletes their recovery
// codes (an operator's reset for someone who lost both).
func (a *Accounts) ResetTOTP(ctx context.Context, userID int64) error {
	if _, err := a.db.Write().ExecContext(ctx, a.db.Dialect().Rebind("UPDATE users SET totp_secret = '', totp_enabled = ?, updated_at = ? WHERE id = ?"),
		false, a.now().UTC(), userID); err != nil {
		return fmt.Errorf("turn off two-factor of user id %d: %w", userID, err)
	}
	if _, err := a.db.Write().ExecContext(ctx, a.db.Dialect().Rebind("DELETE FROM recovery_codes WHERE user_id = ?"), userID); err != nil {
		return fmt.Errorf("delete recovery codes of user id %d: %w", userID, err)
	}
	return nil
}

// CreateAdmin makes email an administrator with password: a new user in
// the default group, or an existing one that has no password yet (declared
// in the file, say). A user who has a password is refused with
// ErrUserExists: use SetPassword.
func (a *Accounts) CreateAdmin(ctx context.Context, email, name, password string) (Account, error) {
	if err := CheckPassword(password); err != nil {
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
	case r.passwordHash != "":
		return Account{}, fmt.Errorf("user %s already has a password: %w", r.Email, ErrUserExists)
	default:
		if err := a.promote(ctx, r.ID); err != nil {
			return Account{}, err
		}
	}
	acct, err := a.SetPassword(ctx, email, password)
	if err != nil {
		return Account{}, err
	}
	return acct, nil
}

// createUser is Store.CreateUser that first creates the default group if
// the user goes there and no configuration was ever applied (a first
// `admin create` before any `serve`).
func (a *Accounts) createUser(ctx context.Context, nu NewUser) error {
	if nu.Group == "" || nu.Group == config.DefaultGroup {
		if _, err := a.users.ensureGroup(ctx, config.DefaultGroup, a.now().UTC()); err != nil {
			return err
		}
	}
	_, err := a.users.CreateUser(ctx, nu)
	return err
}

func (a *Accounts) promote(ctx context.Context, userID int64) error {
	if _, err := a.db.Write().ExecContext(ctx, a.db.Dialect().Rebind("UPDATE users SET role = ?, status = ?, updated_at = ? WHERE id = ?"),
		"admin", StatusActive, a.now().UTC(), userID); err != nil {
		return fmt.Errorf("make user id %d an admin: %w", userID, err)
	}
	return a.users.bump(ctx)
}

// ApplyAdmin is the file's admin.email and admin.password, applied at each
// start: the user exists, is an admin, and has that password. The stored
// hash is kept while it still verifies (and is strong enough), so starts
// do not rehash, and nodes starting together agree. Changing the password
// in the file replaces the stored one and ends the admin's sessions. An
// empty password only makes sure the user is an admin.
func (a *Accounts) ApplyAdmin(ctx context.Context, email, password string) error {
	if email == "" {
		return nil
	}
	gid, err := a.users.ensureGroup(ctx, config.DefaultGroup, a.now().UTC())
	if err != nil {
		return err
	}
	id, err := a.users.ensureUser(ctx, normEmail(email), gid, a.now().UTC())
	if err != nil {
		return err
	}
	r, err := a.byID(ctx, id)
	if err != nil {
		return err
	}
	if r.Role != "admin" {
		if err := a.promote(ctx, id); err != nil {
			return err
		}
	}
	if password == "" || (VerifyPassword(r.passwordHash, password) && !NeedsRehash(r.passwordHash)) {
		return nil
	}
	if err := a.storePassword(ctx, id, password); err != nil {
		return err
	}
	return a.RevokeUserSessions(ctx, id)
}

// randomToken returns n random bytes as unpadded base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
