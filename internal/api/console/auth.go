package console

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/auth"
)

// Accounts and sessions: sign-in, sign-out, step-up, first-run setup,
// registration, the signed-in user's profile, password, sessions and
// two-factor, and admin access tokens. The work is internal/auth's; these
// handlers decode, call it, and set or clear the session cookie.

// SessionCookie names the console's session cookie.
const SessionCookie = "sy_session"

// Accounts is what the auth routes and SessionAuth need (*auth.Accounts).
type Accounts interface {
	Login(ctx context.Context, email, password, totp, recoveryCode string, clientIP netip.Addr) (auth.Account, error)
	CreateSession(ctx context.Context, userID int64, clientIP netip.Addr, userAgent string) (auth.SessionToken, error)
	Authenticate(ctx context.Context, token string) (auth.Account, auth.Session, error)
	AuthenticateToken(ctx context.Context, value string) (auth.Account, auth.AdminToken, error)
	Logout(ctx context.Context, token string) error
	StepUp(ctx context.Context, s auth.Session, password, totp string, clientIP netip.Addr) (time.Time, error)

	SetupNeeded(ctx context.Context) (bool, error)
	Setup(ctx context.Context, token, email, name, password string) (auth.Account, error)
	Register(ctx context.Context, p auth.RegistrationPolicy, email, password, inviteCode string, clientIP netip.Addr) (auth.Account, error)

	Account(ctx context.Context, userID int64) (auth.Account, error)
	UpdateProfile(ctx context.Context, userID int64, name string) (auth.Account, error)
	ChangePassword(ctx context.Context, userID int64, current, next string, clientIP netip.Addr) error
	Sessions(ctx context.Context, userID int64) ([]auth.Session, error)
	RevokeSession(ctx context.Context, userID int64, id string) error

	BeginTOTP(ctx context.Context, userID int64) (auth.TOTPEnrolment, error)
	EnableTOTP(ctx context.Context, userID int64, code string) ([]string, error)
	DisableTOTP(ctx context.Context, userID int64, password string, clientIP netip.Addr) error

	CreateAdminToken(ctx context.Context, userID int64, nt auth.NewAdminToken) (string, auth.AdminToken, error)
	ListAdminTokens(ctx context.Context, before int64, limit int) ([]auth.AdminToken, error)
	DeleteAdminToken(ctx context.Context, id int64) error
}

var _ Accounts = (*auth.Accounts)(nil)

// AuthDeps are what MountAuth needs.
type AuthDeps struct {
	Accounts Accounts
	// Registration returns the operator's registration setting; nil means
	// registration is off.
	Registration func(ctx context.Context) (auth.RegistrationPolicy, error)
	// PublicURL decides the cookie's Secure flag (set when https).
	PublicURL string
	// RequireAdminTOTP is the operator's "administrators must use
	// two-factor" setting (nil: not required); /me then says when the
	// caller must turn it on. Give SessionAuth the same function.
	RequireAdminTOTP func(ctx context.Context) bool
}

// SessionAuth is the console's Authenticator: an admin access token in
// Authorization: Bearer, or the session cookie.
type SessionAuth struct {
	Accounts Accounts
	// RequireAdminTOTP, when it answers true, makes an administrator
	// without two-factor act as a plain user in their sessions until they
	// turn it on (the /me/totp routes are open to users), so that the
	// setting cannot lock anyone out. nil: not required.
	RequireAdminTOTP func(ctx context.Context) bool
}

var _ Authenticator = SessionAuth{}

// Authenticate implements Authenticator. A stale or unknown cookie counts
// as no credentials, so that public routes (sign-in above all) still work
// for a browser holding an expired one; a bad bearer token is refused.
func (s SessionAuth) Authenticate(r *http.Request) (*Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, errors.New("authorization is not a bearer token")
		}
		a, t, err := s.Accounts.AuthenticateToken(r.Context(), strings.TrimSpace(tok))
		if err != nil {
			return nil, err
		}
		return &Principal{UserID: a.ID, Email: a.Email, Role: a.Role, Via: ViaToken, TokenID: t.ID,
			ReadOnly: t.Scope != auth.ScopeFull}, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	a, sess, err := s.Accounts.Authenticate(r.Context(), c.Value)
	if errors.Is(err, auth.ErrSessionNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p := &Principal{UserID: a.ID, Email: a.Email, Role: a.Role, Via: ViaSession, SessionID: sess.ID}
	if mustEnrol(r.Context(), a, s.RequireAdminTOTP) {
		p.Role = RoleUser
	}
	if sess.StepUpAt != nil {
		p.StepUpAt = *sess.StepUpAt
	}
	return p, nil
}

// MountAuth adds the accounts and sessions routes.
func MountAuth(a *API, d AuthDeps) {
	h := authHandlers{d: d, secure: strings.HasPrefix(strings.ToLower(d.PublicURL), "https://"), now: a.opts.Now}
	a.Add(
		Route{Method: "POST", Path: "/api/v1/auth/login", Access: Public, Raw: h.login},
		Route{Method: "POST", Path: "/api/v1/auth/logout", Access: Public, Raw: h.logout},
		Route{Method: "POST", Path: "/api/v1/auth/step-up", Access: User, Handle: h.stepUp},
		Route{Method: "POST", Path: "/api/v1/auth/register", Access: Public, Raw: h.register},
		Route{Method: "GET", Path: "/api/v1/setup", Access: Public, Handle: h.setupStatus},
		Route{Method: "POST", Path: "/api/v1/setup", Access: Public, Raw: h.setup},

		Route{Method: "GET", Path: "/api/v1/me", Access: User, Handle: h.me},
		Route{Method: "PATCH", Path: "/api/v1/me", Access: User, Handle: h.updateMe},
		Route{Method: "POST", Path: "/api/v1/me/password", Access: User, Raw: h.changePassword},
		Route{Method: "GET", Path: "/api/v1/me/sessions", Access: User, Handle: h.sessions},
		Route{Method: "DELETE", Path: "/api/v1/me/sessions/{id}", Access: User, Handle: h.revokeSession},
		Route{Method: "POST", Path: "/api/v1/me/totp/setup", Access: User, Handle: h.totpSetup},
		Route{Method: "POST", Path: "/api/v1/me/totp/enable", Access: User, Handle: h.totpEnable},
		Route{Method: "POST", Path: "/api/v1/me/totp/disable", Access: User, Handle: h.totpDisable},

		Route{Method: "GET", Path: "/api/v1/admin/tokens", Access: Admin, Handle: h.listTokens},
		// A token outlives the session that made it: creating one needs a
		// fresh password or TOTP.
		Route{Method: "POST", Path: "/api/v1/admin/tokens", Access: Admin, StepUp: true, Handle: h.createToken},
		Route{Method: "DELETE", Path: "/api/v1/admin/tokens/{id}", Access: Admin, Handle: h.deleteToken},
	)
}

// mustEnrol reports whether a is an administrator who must turn two-factor
// on before acting as one.
func mustEnrol(ctx context.Context, a auth.Account, required func(context.Context) bool) bool {
	return a.Role == RoleAdmin && !a.TOTPEnabled && required != nil && required(ctx)
}

type authHandlers struct {
	d      AuthDeps
	secure bool
	now    func() time.Time
}

// meUser is the signed-in user as /me shows them.
type meUser struct {
	ID          int64  `json:"id"`
	Email       string `json:"email"`
	Name        string `json:"name"`
	Group       string `json:"group"`
	Role        string `json:"role"`
	Status      string `json:"status"`
	TOTPEnabled bool   `json:"totp_enabled"`
	// TOTPRequired: an administrator who must turn two-factor on before
	// the admin routes open to them.
	TOTPRequired bool      `json:"totp_required"`
	HasPassword  bool      `json:"has_password"`
	ManagedBy    string    `json:"managed_by"`
	CreatedAt    time.Time `json:"created_at"`
}

func (h authHandlers) view(ctx context.Context, a auth.Account) meUser {
	m := meUser{ID: a.ID, Email: a.Email, Name: a.Name, Group: a.Group, Role: a.Role, Status: a.Status,
		TOTPEnabled: a.TOTPEnabled, TOTPRequired: mustEnrol(ctx, a, h.d.RequireAdminTOTP), HasPassword: a.HasPassword,
		ManagedBy: "api", CreatedAt: a.CreatedAt.UTC()}
	if a.ManagedByFile {
		m.ManagedBy = "file"
	}
	return m
}

type userBody struct {
	User meUser `json:"user"`
}

// clientIP is the caller's address as the router resolved it (trusted
// proxies applied), else the connection's.
func clientIP(r *http.Request) netip.Addr {
	if ip := api.ClientIP(r.Context()); ip.IsValid() {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip, _ := netip.ParseAddr(host)
	return ip
}

// authError maps internal/auth's errors to answers.
func authError(err error, passwordField string) error {
	var rl *auth.RateLimitedError
	switch {
	case errors.As(err, &rl):
		return RateLimited(rl.RetryAfter)
	case errors.Is(err, auth.ErrInvalidCredentials):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_credentials", Message: "Wrong email, password or code."}
	case errors.Is(err, auth.ErrTOTPRequired):
		return &Error{Status: http.StatusUnauthorized, Code: "totp_required", Field: "totp",
			Message: "Enter the code from your authenticator app, or a recovery code."}
	case errors.Is(err, auth.ErrAccountDisabled):
		return &Error{Status: http.StatusForbidden, Code: "account_disabled", Message: "This account is disabled."}
	case errors.Is(err, auth.ErrWeakPassword):
		return Invalidf(passwordField, "Use at least %d characters.", auth.MinPasswordLength)
	case errors.Is(err, auth.ErrInvalidEmail):
		return Invalid("email", "Not an email address (name@example.com).")
	case errors.Is(err, auth.ErrUserExists):
		return Conflict("A user with this email exists.")
	case errors.Is(err, auth.ErrInvalidSetup):
		return Invalid("token", "This setup link is invalid, used or expired; restart the server for a new one.")
	case errors.Is(err, auth.ErrSetupDone):
		return Conflict("Setup is done: an administrator exists.")
	case errors.Is(err, auth.ErrRegistrationOff):
		return Forbidden("Registration is closed.")
	case errors.Is(err, auth.ErrInviteRequired):
		return Invalid("invite_code", "Registration needs an invite code.")
	case errors.Is(err, auth.ErrInvalidInvite):
		return Invalid("invite_code", "This invite code does not work.")
	case errors.Is(err, auth.ErrTOTPEnabled):
		return Conflict("Two-factor authentication is already on.")
	case errors.Is(err, auth.ErrTOTPNotStarted):
		return Conflict("Start two-factor setup first (POST /api/v1/me/totp/setup).")
	case errors.Is(err, auth.ErrTOTPUnavailable):
		return Conflict("Two-factor authentication needs the server's secret key.")
	case errors.Is(err, auth.ErrInvalidCode):
		return Invalid("code", "Wrong or already used code.")
	}
	return err
}

func (h authHandlers) setCookie(w http.ResponseWriter, st auth.SessionToken) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: st.Token, Path: "/", Expires: st.Session.ExpiresAt,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})
}

func (h authHandlers) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})
}

// signIn starts a session for a and answers {user} with its cookie.
func (h authHandlers) signIn(w http.ResponseWriter, r *http.Request, a auth.Account, status int) error {
	st, err := h.d.Accounts.CreateSession(r.Context(), a.ID, clientIP(r), r.UserAgent())
	if err != nil {
		return err
	}
	h.setCookie(w, st)
	WriteJSON(w, status, userBody{User: h.view(r.Context(), a)})
	return nil
}

func required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return Invalid(field, "Required.")
	}
	return nil
}

func (h authHandlers) login(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	var in struct {
		Email        string `json:"email"`
		Password     string `json:"password"`
		TOTP         string `json:"totp"`
		RecoveryCode string `json:"recovery_code"`
	}
	if err := Decode(r, &in); err != nil {
		return err
	}
	if err := errors.Join(required("email", in.Email), required("password", in.Password)); err != nil {
		return asError(err)
	}
	AuditActor(r, in.Email)
	Audit(r, "auth.login", "", nil, nil)
	a, err := h.d.Accounts.Login(r.Context(), in.Email, in.Password, in.TOTP, in.RecoveryCode, clientIP(r))
	if err != nil {
		return authError(err, "password")
	}
	return h.signIn(w, r, a, http.StatusOK)
}

func (h authHandlers) logout(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		if err := h.d.Accounts.Logout(r.Context(), c.Value); err != nil {
			return err
		}
	}
	h.clearCookie(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h authHandlers) stepUp(r *http.Request, p *Principal) (any, error) {
	var in struct {
		Password string `json:"password"`
		TOTP     string `json:"totp"`
	}
	if err := Decode(r, &in); err != nil {
		return nil, err
	}
	if in.Password == "" && in.TOTP == "" {
		return nil, Invalid("password", "Enter your password or a two-factor code.")
	}
	if p.Via != ViaSession {
		return nil, Forbidden("Step-up is for console sessions; a full-scope token needs none.")
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, Unauthenticated()
	}
	_, sess, err := h.d.Accounts.Authenticate(r.Context(), c.Value)
	if err != nil {
		return nil, Unauthenticated()
	}
	until, err := h.d.Accounts.StepUp(r.Context(), sess, in.Password, in.TOTP, clientIP(r))
	if err != nil {
		return nil, authError(err, "password")
	}
	return map[string]time.Time{"until": until.UTC()}, nil
}

func (h authHandlers) register(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	var in struct {
		Email      string `json:"email"`
		Password   string `json:"password"`
		InviteCode string `json:"invite_code"`
	}
	if err := Decode(r, &in); err != nil {
		return err
	}
	if err := errors.Join(required("email", in.Email), required("password", in.Password)); err != nil {
		return asError(err)
	}
	policy := auth.RegistrationPolicy{Mode: auth.RegistrationOff}
	if h.d.Registration != nil {
		var err error
		if policy, err = h.d.Registration(r.Context()); err != nil {
			return err
		}
	}
	AuditActor(r, in.Email)
	a, err := h.d.Accounts.Register(r.Context(), policy, in.Email, in.Password, in.InviteCode, clientIP(r))
	if err != nil {
		return authError(err, "password")
	}
	Audit(r, "user.register", "user:"+strconv.FormatInt(a.ID, 10), nil, h.view(r.Context(), a))
	return h.signIn(w, r, a, http.StatusCreated)
}

func (h authHandlers) setupStatus(r *http.Request, _ *Principal) (any, error) {
	needed, err := h.d.Accounts.SetupNeeded(r.Context())
	if err != nil {
		return nil, err
	}
	return map[string]bool{"needed": needed}, nil
}

func (h authHandlers) setup(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	var in struct {
		Token    string `json:"token"`
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	if err := Decode(r, &in); err != nil {
		return err
	}
	if err := errors.Join(required("token", in.Token), required("email", in.Email), required("password", in.Password)); err != nil {
		return asError(err)
	}
	AuditActor(r, in.Email)
	a, err := h.d.Accounts.Setup(r.Context(), in.Token, in.Email, in.Name, in.Password)
	if err != nil {
		return authError(err, "password")
	}
	Audit(r, "setup.admin", "user:"+strconv.FormatInt(a.ID, 10), nil, h.view(r.Context(), a))
	return h.signIn(w, r, a, http.StatusOK)
}

func (h authHandlers) me(r *http.Request, p *Principal) (any, error) {
	a, err := h.d.Accounts.Account(r.Context(), p.UserID)
	if err != nil {
		return nil, err
	}
	return h.view(r.Context(), a), nil
}

func (h authHandlers) updateMe(r *http.Request, p *Principal) (any, error) {
	var in struct {
		Name *string `json:"name"`
	}
	if err := Decode(r, &in); err != nil {
		return nil, err
	}
	before, err := h.d.Accounts.Account(r.Context(), p.UserID)
	if err != nil {
		return nil, err
	}
	if in.Name == nil {
		return h.view(r.Context(), before), nil
	}
	if len(*in.Name) > 191 {
		return nil, Invalid("name", "At most 191 characters.")
	}
	a, err := h.d.Accounts.UpdateProfile(r.Context(), p.UserID, strings.TrimSpace(*in.Name))
	if err != nil {
		return nil, err
	}
	Audit(r, "me.update", "user:"+strconv.FormatInt(a.ID, 10), h.view(r.Context(), before), h.view(r.Context(), a))
	return h.view(r.Context(), a), nil
}

// changePassword ends every session of the user, then signs this client
// in again when it came with a session.
func (h authHandlers) changePassword(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if err := Decode(r, &in); err != nil {
		return err
	}
	if err := errors.Join(required("current", in.Current), required("new", in.New)); err != nil {
		return asError(err)
	}
	if len([]rune(in.New)) < auth.MinPasswordLength {
		return Invalidf("new", "Use at least %d characters.", auth.MinPasswordLength)
	}
	err := h.d.Accounts.ChangePassword(r.Context(), p.UserID, in.Current, in.New, clientIP(r))
	if errors.Is(err, auth.ErrInvalidCredentials) {
		return Invalid("current", "This is not your current password.")
	}
	if err != nil {
		return authError(err, "new")
	}
	Audit(r, "me.password", "user:"+strconv.FormatInt(p.UserID, 10), nil, nil)
	if p.Via == ViaSession {
		st, err := h.d.Accounts.CreateSession(r.Context(), p.UserID, clientIP(r), r.UserAgent())
		if err != nil {
			return err
		}
		h.setCookie(w, st)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// sessionView is a session as its owner sees it.
type sessionView struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
}

func (h authHandlers) sessions(r *http.Request, p *Principal) (any, error) {
	list, err := h.d.Accounts.Sessions(r.Context(), p.UserID)
	if err != nil {
		return nil, err
	}
	// A user has a handful of sessions: one page, newest first.
	out := List[sessionView]{Items: make([]sessionView, 0, len(list))}
	for _, s := range list {
		out.Items = append(out.Items, sessionView{ID: s.ID, CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt,
			ExpiresAt: s.ExpiresAt, IP: s.IP, UserAgent: s.UserAgent, Current: p.Via == ViaSession && s.ID == p.SessionID})
	}
	return out, nil
}

func (h authHandlers) revokeSession(r *http.Request, p *Principal) (any, error) {
	id := r.PathValue("id")
	err := h.d.Accounts.RevokeSession(r.Context(), p.UserID, id)
	if errors.Is(err, auth.ErrSessionNotFound) {
		return nil, NotFound("session " + strconv.Quote(id))
	}
	if err != nil {
		return nil, err
	}
	Audit(r, "session.revoke", "session:"+id, nil, nil)
	return NoContent(), nil
}

func (h authHandlers) totpSetup(r *http.Request, p *Principal) (any, error) {
	en, err := h.d.Accounts.BeginTOTP(r.Context(), p.UserID)
	if err != nil {
		return nil, authError(err, "")
	}
	return en, nil
}

func (h authHandlers) totpEnable(r *http.Request, p *Principal) (any, error) {
	var in struct {
		Code string `json:"code"`
	}
	if err := Decode(r, &in); err != nil {
		return nil, err
	}
	if err := required("code", in.Code); err != nil {
		return nil, err
	}
	codes, err := h.d.Accounts.EnableTOTP(r.Context(), p.UserID, in.Code)
	if err != nil {
		return nil, authError(err, "")
	}
	Audit(r, "me.totp.enable", "user:"+strconv.FormatInt(p.UserID, 10), nil, nil)
	return map[string][]string{"recovery_codes": codes}, nil
}

func (h authHandlers) totpDisable(r *http.Request, p *Principal) (any, error) {
	var in struct {
		Password string `json:"password"`
	}
	if err := Decode(r, &in); err != nil {
		return nil, err
	}
	if err := required("password", in.Password); err != nil {
		return nil, err
	}
	err := h.d.Accounts.DisableTOTP(r.Context(), p.UserID, in.Password, clientIP(r))
	if errors.Is(err, auth.ErrInvalidCredentials) {
		return nil, Invalid("password", "This is not your password.")
	}
	if err != nil {
		return nil, authError(err, "password")
	}
	Audit(r, "me.totp.disable", "user:"+strconv.FormatInt(p.UserID, 10), nil, nil)
	return NoContent(), nil
}

// tokenView is an admin token in listings; Token is set only in the answer
// to its creation.
type tokenView struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scope      string     `json:"scope"`
	UserID     int64      `json:"user_id"`
	User       string     `json:"user"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	CreatedAt  time.Time  `json:"created_at"`
	Token      string     `json:"token,omitempty"`
}

func tokenOf(t auth.AdminToken) tokenView {
	return tokenView{ID: t.ID, Name: t.Name, Prefix: t.Prefix, Scope: t.Scope, UserID: t.UserID, User: t.User,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, CreatedAt: t.CreatedAt}
}

func (h authHandlers) listTokens(r *http.Request, _ *Principal) (any, error) {
	page, err := PageOf(r)
	if err != nil {
		return nil, err
	}
	before, err := page.AfterID()
	if err != nil {
		return nil, err
	}
	list, err := h.d.Accounts.ListAdminTokens(r.Context(), before, page.Limit+1)
	if err != nil {
		return nil, err
	}
	views := make([]tokenView, len(list))
	for i, t := range list {
		views[i] = tokenOf(t)
	}
	return PageByID(views, page.Limit, func(t tokenView) int64 { return t.ID }), nil
}

func (h authHandlers) createToken(r *http.Request, p *Principal) (any, error) {
	var in struct {
		Name  string `json:"name"`
		Scope string `json:"scope"`
		// A string parsed here: a time.Time member would make Decode's
		// answer to a wrong type a 500 instead of a 422.
		ExpiresAt *string `json:"expires_at"`
	}
	if err := Decode(r, &in); err != nil {
		return nil, err
	}
	in.Name = strings.TrimSpace(in.Name)
	var expires time.Time
	if in.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *in.ExpiresAt)
		if err != nil {
			return nil, Invalid("expires_at", "Expected an RFC 3339 time, like 2027-01-31T00:00:00Z.")
		}
		expires = t
	}
	switch {
	case in.Name == "" || len(in.Name) > 191:
		return nil, Invalid("name", "Give the token a name of 1 to 191 characters.")
	case in.Scope != auth.ScopeRead && in.Scope != auth.ScopeFull:
		return nil, Invalid("scope", "Must be read or full.")
	case !expires.IsZero() && !expires.After(h.now()):
		return nil, Invalid("expires_at", "Must be in the future.")
	}
	nt := auth.NewAdminToken{Name: in.Name, Scope: in.Scope, ExpiresAt: expires}
	value, t, err := h.d.Accounts.CreateAdminToken(r.Context(), p.UserID, nt)
	if err != nil {
		return nil, err
	}
	v := tokenOf(t)
	Audit(r, "admin_token.create", "admin_token:"+strconv.FormatInt(t.ID, 10), nil, v)
	v.Token = value
	return Created(v), nil
}

func (h authHandlers) deleteToken(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	err = h.d.Accounts.DeleteAdminToken(r.Context(), id)
	if errors.Is(err, auth.ErrTokenNotFound) {
		return nil, NotFound("admin token " + strconv.FormatInt(id, 10))
	}
	if err != nil {
		return nil, err
	}
	Audit(r, "admin_token.delete", "admin_token:"+strconv.FormatInt(id, 10), nil, nil)
	return NoContent(), nil
}
