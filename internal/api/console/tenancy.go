package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
)

// The tenancy slice: users, groups and keys (admin), credit adjustments,
// ledger rows, redemption and invite codes, and the self-service side of
// keys, ledger, redeem and invite. The money routes are in
// tenancy_money.go.

// CreditStepUpMicros is the size of a credit adjustment (either way) above
// which the admin must have stepped up: $100.
const CreditStepUpMicros = 100 * billing.MicrosPerUSD

// UserStore is what the slice needs of users (auth.Store).
type UserStore interface {
	QueryUsers(ctx context.Context, f auth.UserFilter, p auth.Page) ([]auth.User, int64, error)
	GetUser(ctx context.Context, id int64) (auth.User, error)
	CreateUser(ctx context.Context, nu auth.NewUser) (auth.User, error)
	UpdateUser(ctx context.Context, id int64, p auth.UserPatch) (before, after auth.User, err error)
	DeleteUser(ctx context.Context, id int64) (auth.User, error)
}

// GroupStore is what the slice needs of groups (auth.Store).
type GroupStore interface {
	QueryGroups(ctx context.Context, p auth.Page) ([]auth.Group, int64, error)
	GetGroup(ctx context.Context, id int64) (auth.Group, error)
	CreateGroup(ctx context.Context, g auth.Group) (auth.Group, error)
	UpdateGroup(ctx context.Context, id int64, p auth.GroupPatch) (before, after auth.Group, err error)
	DeleteGroup(ctx context.Context, id int64) (auth.Group, error)
}

// KeyStore is what the slice needs of keys, any user's and one's own
// (auth.Store, with the keyring that seals webhook secrets).
type KeyStore interface {
	QueryKeys(ctx context.Context, f auth.KeyFilter, p auth.Page) ([]auth.KeyInfo, int64, error)
	GetKey(ctx context.Context, id int64) (auth.KeyInfo, error)
	CreateKey(ctx context.Context, nk auth.NewKey) (string, auth.KeyInfo, error)
	UpdateKey(ctx context.Context, id int64, p auth.KeyPatch) (before, after auth.KeyInfo, err error)
	RevokeKey(ctx context.Context, id int64) error
	SetKeyDisabled(ctx context.Context, id int64, disabled bool) (before, after auth.KeyInfo, err error)

	CreateOwnKey(ctx context.Context, userID int64, nk auth.NewKey) (string, auth.KeyInfo, error)
	UpdateOwnKey(ctx context.Context, owner, id int64, p auth.KeyPatch, rules auth.OwnKeyRules) (before, after auth.KeyInfo, err error)
	RevokeOwnKey(ctx context.Context, owner, id int64) (auth.KeyInfo, error)
	SetOwnKeyDisabled(ctx context.Context, owner, id int64, disabled bool) (before, after auth.KeyInfo, err error)
	OwnKeyRules(ctx context.Context, userID int64) (auth.OwnKeyRules, error)
}

// Passwords sets a user's console password (auth.Accounts): an admin may
// give a user they create a password, so that the user can sign in.
type Passwords interface {
	SetPassword(ctx context.Context, email, password string) (auth.Account, error)
}

// SessionRevoker ends a user's console sessions (the auth slice's
// accounts): a user whose role changes or who is disabled must sign in
// again, under the new role or not at all.
type SessionRevoker interface {
	RevokeUserSessions(ctx context.Context, userID int64) error
}

// Wallets is what the slice needs of the ledger (billing.Ledger).
type Wallets interface {
	Adjust(ctx context.Context, userID int64, amount billing.Micros, reason string) (billing.Record, error)
	Entries(ctx context.Context, userID int64, kind billing.Kind, before int64, limit int) ([]billing.Record, int64, error)
	Balance(ctx context.Context, userID int64) (billing.Micros, error)
}

// Codes is what the slice needs of redemption and invite codes
// (billing.Ledger).
type Codes interface {
	GenerateCodes(ctx context.Context, n int, value billing.Micros, expires time.Time, batch, note string) ([]string, error)
	QueryCodes(ctx context.Context, f billing.CodeFilter, before int64, limit int) ([]billing.CodeInfo, int64, error)
	EachCode(ctx context.Context, f billing.CodeFilter, fn func(billing.CodeInfo) error) error
	DisableCode(ctx context.Context, id int64) (before, after billing.CodeInfo, err error)
	Redeem(ctx context.Context, userID int64, code string) (billing.Micros, error)
	UserInvite(ctx context.Context, key []byte, inviterUserID int64, inviteeCredit, inviterBonus billing.Micros) (string, billing.CodeInfo, error)
}

// InviteTerms are what an invite pays: the invitee's credit and the
// inviter's bonus.
type InviteTerms struct {
	InviteeCredit, InviterBonus billing.Micros
}

// TenancyDeps wires the tenancy slice.
type TenancyDeps struct {
	Users    UserStore
	Groups   GroupStore
	Keys     KeyStore
	Sessions SessionRevoker
	// Passwords sets the initial password of a user an admin creates; nil
	// refuses a password in POST /api/v1/admin/users (422 on password).
	Passwords Passwords
	Wallets   Wallets
	Codes     Codes
	// UserCreated runs after an admin creates a user (the starting credit);
	// nil does nothing.
	UserCreated func(ctx context.Context, u auth.User) error
	// Invite returns the current invite terms; nil pays nothing.
	Invite func(ctx context.Context) (InviteTerms, error)
	// InviteKey derives users' invite codes (a secret subkey); without it
	// GET /api/v1/me/invite answers 404.
	InviteKey []byte
	// WebhookAllowHTTP accepts http:// key webhooks
	// (images.webhook_allow_private).
	WebhookAllowHTTP bool
	// Changed runs after a write to users, groups or keys, so that this
	// node's key directory reloads at once (other nodes follow the
	// tenancy version); nil does nothing.
	Changed func(ctx context.Context) error
	Now     func() time.Time
}

type tenancy struct {
	a *API
	d TenancyDeps
}

// MountTenancy adds the tenancy routes.
func MountTenancy(a *API, d TenancyDeps) {
	if d.Now == nil {
		d.Now = time.Now
	}
	t := &tenancy{a: a, d: d}
	a.Add(
		Route{Method: "GET", Path: "/api/v1/admin/users", Access: Admin, Handle: t.listUsers},
		Route{Method: "POST", Path: "/api/v1/admin/users", Access: Admin, Handle: t.createUser},
		Route{Method: "GET", Path: "/api/v1/admin/users/{id}", Access: Admin, Handle: t.getUser},
		Route{Method: "PATCH", Path: "/api/v1/admin/users/{id}", Access: Admin, Handle: t.updateUser},
		Route{Method: "DELETE", Path: "/api/v1/admin/users/{id}", Access: Admin, Handle: t.deleteUser},
		Route{Method: "DELETE", Path: "/api/v1/admin/users/{id}/sessions", Access: Admin, Handle: t.revokeSessions},
		Route{Method: "POST", Path: "/api/v1/admin/users/{id}/credit", Access: Admin, Handle: t.credit},
		Route{Method: "GET", Path: "/api/v1/admin/users/{id}/ledger", Access: Admin, Handle: t.userLedger},

		Route{Method: "GET", Path: "/api/v1/admin/groups", Access: Admin, Handle: t.listGroups},
		Route{Method: "POST", Path: "/api/v1/admin/groups", Access: Admin, Handle: t.createGroup},
		Route{Method: "GET", Path: "/api/v1/admin/groups/{id}", Access: Admin, Handle: t.getGroup},
		Route{Method: "PATCH", Path: "/api/v1/admin/groups/{id}", Access: Admin, Handle: t.updateGroup},
		Route{Method: "DELETE", Path: "/api/v1/admin/groups/{id}", Access: Admin, Handle: t.deleteGroup},

		Route{Method: "GET", Path: "/api/v1/admin/keys", Access: Admin, Handle: t.listKeys},
		Route{Method: "POST", Path: "/api/v1/admin/keys", Access: Admin, Handle: t.createKey},
		Route{Method: "GET", Path: "/api/v1/admin/keys/{id}", Access: Admin, Handle: t.getKey},
		Route{Method: "PATCH", Path: "/api/v1/admin/keys/{id}", Access: Admin, Handle: t.updateKey},
		Route{Method: "DELETE", Path: "/api/v1/admin/keys/{id}", Access: Admin, Handle: t.revokeKey},
		Route{Method: "POST", Path: "/api/v1/admin/keys/{id}/disable", Access: Admin, Handle: t.setKeyDisabled(true, false)},
		Route{Method: "POST", Path: "/api/v1/admin/keys/{id}/enable", Access: Admin, Handle: t.setKeyDisabled(false, false)},

		Route{Method: "GET", Path: "/api/v1/me/keys", Access: User, Handle: t.listOwnKeys},
		Route{Method: "POST", Path: "/api/v1/me/keys", Access: User, Handle: t.createOwnKey},
		Route{Method: "GET", Path: "/api/v1/me/keys/{id}", Access: User, Handle: t.getOwnKey},
		Route{Method: "PATCH", Path: "/api/v1/me/keys/{id}", Access: User, Handle: t.updateOwnKey},
		Route{Method: "DELETE", Path: "/api/v1/me/keys/{id}", Access: User, Handle: t.revokeOwnKey},
		Route{Method: "POST", Path: "/api/v1/me/keys/{id}/disable", Access: User, Handle: t.setKeyDisabled(true, true)},
		Route{Method: "POST", Path: "/api/v1/me/keys/{id}/enable", Access: User, Handle: t.setKeyDisabled(false, true)},
	)
	t.mountMoney()
}

// tenancyError turns the domain's errors into console errors; others pass
// through (500).
func tenancyError(err error) error {
	var (
		ai *auth.InvalidError
		bi *billing.InvalidError
		mf *auth.ManagedByFileError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ai):
		return Invalid(ai.Field, ai.Reason)
	case errors.As(err, &bi):
		return Invalid(bi.Field, bi.Reason)
	case errors.As(err, &mf):
		return ManagedByFile(mf.Field)
	case errors.Is(err, auth.ErrUserNotFound), errors.Is(err, billing.ErrUserNotFound):
		return NotFound("user")
	case errors.Is(err, auth.ErrGroupNotFound):
		return NotFound("group")
	case errors.Is(err, auth.ErrKeyNotFound):
		return NotFound("key")
	case errors.Is(err, billing.ErrCodeNotFound):
		return NotFound("code")
	case errors.Is(err, auth.ErrUserExists), errors.Is(err, auth.ErrGroupExists), errors.Is(err, auth.ErrGroupInUse),
		errors.Is(err, auth.ErrUserHasLedger), errors.Is(err, auth.ErrKeyExists), errors.Is(err, auth.ErrTooManyKeys):
		return Conflict(sentence(err))
	case errors.Is(err, billing.ErrInsufficient):
		return Invalid("amount_micros", "This would take the balance below zero.")
	}
	return err
}

// sentence is a domain error as a message: its text, capitalised.
func sentence(err error) string {
	s := err.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

func managedBy(file bool) string {
	if file {
		return "file"
	}
	return "api"
}

// authPage turns the console's page into the domain's.
func authPage(r *http.Request) (auth.Page, error) {
	p, err := PageOf(r)
	if err != nil {
		return auth.Page{}, err
	}
	before, err := p.AfterID()
	if err != nil {
		return auth.Page{}, err
	}
	return auth.Page{Before: before, Limit: p.Limit}, nil
}

func listOf[T, V any](items []T, next int64, view func(T) V) List[V] {
	out := List[V]{Items: make([]V, 0, len(items))}
	for _, it := range items {
		out.Items = append(out.Items, view(it))
	}
	if next != 0 {
		out.NextCursor = Cursor(strconv.FormatInt(next, 10))
	}
	return out
}

// queryID reads an optional positive integer query parameter.
func queryID(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, Invalidf(name, "Must be a positive integer id.")
	}
	return id, nil
}

// queryEnum reads an optional query parameter that must be one of allowed.
func queryEnum(r *http.Request, name string, allowed ...string) (string, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return "", nil
	}
	for _, a := range allowed {
		if s == a {
			return s, nil
		}
	}
	return "", Invalidf(name, "Must be one of %s.", strings.Join(allowed, ", "))
}

// rawInt64 reads a body member that may be absent, null or an integer.
func rawInt64(field string, raw json.RawMessage) (set, null bool, v int64, err error) {
	if len(raw) == 0 {
		return false, false, 0, nil
	}
	if string(raw) == "null" {
		return true, true, 0, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, false, 0, Invalid(field, "Expected an integer or null.")
	}
	return true, false, v, nil
}

// rawTime reads a body member that may be absent, null or an RFC 3339
// time.
func rawTime(field string, raw json.RawMessage) (set, null bool, t time.Time, err error) {
	if len(raw) == 0 {
		return false, false, time.Time{}, nil
	}
	if string(raw) == "null" {
		return true, true, time.Time{}, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return false, false, time.Time{}, Invalid(field, "Expected an RFC 3339 time such as 2027-01-01T00:00:00Z, or null.")
	}
	t, err = time.Parse(time.RFC3339, s)
	if err != nil {
		return false, false, time.Time{}, Invalid(field, "Expected an RFC 3339 time such as 2027-01-01T00:00:00Z, or null.")
	}
	return true, false, t.UTC(), nil
}

// --- users ---

type userView struct {
	ID            int64     `json:"id"`
	Email         string    `json:"email"`
	Name          string    `json:"name"`
	Group         string    `json:"group"`
	Role          string    `json:"role"`
	Status        string    `json:"status"`
	BalanceMicros int64     `json:"balance_micros"`
	ManagedBy     string    `json:"managed_by"`
	CreatedAt     time.Time `json:"created_at"`
}

func viewUser(u auth.User) userView {
	return userView{ID: u.ID, Email: u.Email, Name: u.Name, Group: u.Group, Role: u.Role, Status: u.Status,
		BalanceMicros: u.BalanceMicros, ManagedBy: managedBy(u.ManagedByFile), CreatedAt: u.CreatedAt}
}

func target(kind string, id int64) string { return kind + ":" + strconv.FormatInt(id, 10) }

func (t *tenancy) listUsers(r *http.Request, _ *Principal) (any, error) {
	p, err := authPage(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	role, err := queryEnum(r, "role", RoleAdmin, RoleUser)
	if err != nil {
		return nil, err
	}
	status, err := queryEnum(r, "status", auth.StatusActive, auth.StatusDisabled)
	if err != nil {
		return nil, err
	}
	users, next, err := t.d.Users.QueryUsers(r.Context(), auth.UserFilter{Email: q.Get("email"), Group: q.Get("group"),
		Role: role, Status: status}, p)
	if err != nil {
		return nil, tenancyError(err)
	}
	return listOf(users, next, viewUser), nil
}

func (t *tenancy) getUser(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	u, err := t.d.Users.GetUser(r.Context(), id)
	if err != nil {
		return nil, tenancyError(err)
	}
	return viewUser(u), nil
}

func (t *tenancy) createUser(r *http.Request, p *Principal) (any, error) {
	var body struct {
		Email    string `json:"email"`
		Name     string `json:"name"`
		Group    string `json:"group"`
		Role     string `json:"role"`
		Password string `json:"password"`
	}
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	nu := auth.NewUser{Email: body.Email, Name: body.Name, Group: body.Group, Role: body.Role}
	if err := auth.CheckNewUser(nu); err != nil {
		return nil, tenancyError(err)
	}
	// An initial password is checked before the user exists, so a weak one
	// leaves nothing behind.
	if body.Password != "" {
		if t.d.Passwords == nil {
			return nil, Invalid("password", "This node cannot set passwords.")
		}
		if err := auth.CheckPassword(body.Password); err != nil {
			return nil, Invalid("password", sentence(err))
		}
	}
	// Making an administrator is a role change like any other.
	if nu.Role == RoleAdmin && !t.a.SteppedUp(p) {
		return nil, StepUpRequired()
	}
	u, err := t.d.Users.CreateUser(r.Context(), nu)
	if errors.Is(err, auth.ErrGroupNotFound) {
		return nil, Invalidf("group", "Group %q does not exist.", body.Group)
	}
	if errors.Is(err, auth.ErrUserExists) {
		return nil, ConflictField("email", "A user with this email already exists.")
	}
	if err != nil {
		return nil, tenancyError(err)
	}
	if body.Password != "" {
		if _, err := t.d.Passwords.SetPassword(r.Context(), u.Email, body.Password); err != nil {
			return nil, err
		}
	}
	if t.d.UserCreated != nil {
		if err := t.d.UserCreated(r.Context(), u); err != nil {
			return nil, err
		}
		if u, err = t.d.Users.GetUser(r.Context(), u.ID); err != nil { // the starting credit
			return nil, err
		}
	}
	t.changed(r.Context())
	Audit(r, "user.create", target("user", u.ID), nil, viewUser(u))
	return Created(viewUser(u)), nil
}

func (t *tenancy) updateUser(r *http.Request, p *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	var body struct {
		Name   *string `json:"name"`
		Group  *string `json:"group"`
		Role   *string `json:"role"`
		Status *string `json:"status"`
	}
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	ctx := r.Context()
	if body.Role != nil {
		cur, err := t.d.Users.GetUser(ctx, id)
		if err != nil {
			return nil, tenancyError(err)
		}
		if cur.Role != *body.Role && !t.a.SteppedUp(p) {
			return nil, StepUpRequired()
		}
		if cur.Role != *body.Role && id == p.UserID {
			return nil, Invalid("role", "You cannot change your own role; ask another administrator.")
		}
	}
	if body.Status != nil && *body.Status == auth.StatusDisabled && id == p.UserID {
		return nil, Invalid("status", "You cannot disable yourself.")
	}
	before, after, err := t.d.Users.UpdateUser(ctx, id, auth.UserPatch{Name: body.Name, Group: body.Group, Role: body.Role, Status: body.Status})
	if err != nil {
		return nil, tenancyError(err)
	}
	if before.Role != after.Role || (after.Status == auth.StatusDisabled && before.Status != auth.StatusDisabled) {
		if err := t.revoke(ctx, id); err != nil {
			return nil, err
		}
	}
	t.changed(r.Context())
	Audit(r, "user.update", target("user", id), viewUser(before), viewUser(after))
	return viewUser(after), nil
}

// changed tells the node that users, groups or keys changed. The write is
// committed: a failed reload is logged, and the directory's poll catches up.
func (t *tenancy) changed(ctx context.Context) {
	if t.d.Changed == nil {
		return
	}
	if err := t.d.Changed(ctx); err != nil {
		t.a.log.WarnContext(ctx, "reload keys after a console change", "error", err.Error())
	}
}

func (t *tenancy) revoke(ctx context.Context, userID int64) error {
	if t.d.Sessions == nil {
		return nil
	}
	return t.d.Sessions.RevokeUserSessions(ctx, userID)
}

func (t *tenancy) deleteUser(r *http.Request, p *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	if id == p.UserID {
		return nil, Conflict("You cannot delete yourself.")
	}
	u, err := t.d.Users.DeleteUser(r.Context(), id)
	if err != nil {
		return nil, tenancyError(err)
	}
	if err := t.revoke(r.Context(), id); err != nil {
		return nil, err
	}
	t.changed(r.Context())
	Audit(r, "user.delete", target("user", id), viewUser(u), nil)
	return NoContent(), nil
}

func (t *tenancy) revokeSessions(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	if _, err := t.d.Users.GetUser(r.Context(), id); err != nil {
		return nil, tenancyError(err)
	}
	if err := t.revoke(r.Context(), id); err != nil {
		return nil, err
	}
	Audit(r, "user.sessions.revoke", target("user", id), nil, nil)
	return NoContent(), nil
}

// --- groups ---

type groupView struct {
	ID                  int64   `json:"id"`
	Name                string  `json:"name"`
	Ratio               float64 `json:"ratio"`
	RPM                 int     `json:"rpm"`
	TPM                 int64   `json:"tpm"`
	DailyRequests       int     `json:"daily_requests"`
	ImageResponseFormat string  `json:"image_response_format"`
	Users               int64   `json:"users"`
	ManagedBy           string  `json:"managed_by"`
}

func viewGroup(g auth.Group) groupView {
	return groupView{ID: g.ID, Name: g.Name, Ratio: g.Ratio, RPM: g.RPM, TPM: g.TPM, DailyRequests: g.DailyRequests,
		ImageResponseFormat: g.ImageResponseFormat, Users: g.Users, ManagedBy: managedBy(g.ManagedByFile)}
}

func (t *tenancy) listGroups(r *http.Request, _ *Principal) (any, error) {
	p, err := authPage(r)
	if err != nil {
		return nil, err
	}
	groups, next, err := t.d.Groups.QueryGroups(r.Context(), p)
	if err != nil {
		return nil, tenancyError(err)
	}
	return listOf(groups, next, viewGroup), nil
}

func (t *tenancy) getGroup(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	g, err := t.d.Groups.GetGroup(r.Context(), id)
	if err != nil {
		return nil, tenancyError(err)
	}
	return viewGroup(g), nil
}

type groupBody struct {
	Name                *string  `json:"name"`
	Ratio               *float64 `json:"ratio"`
	RPM                 *int     `json:"rpm"`
	TPM                 *int64   `json:"tpm"`
	DailyRequests       *int     `json:"daily_requests"`
	ImageResponseFormat *string  `json:"image_response_format"`
}

func (t *tenancy) createGroup(r *http.Request, _ *Principal) (any, error) {
	var body groupBody
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	g := auth.Group{Ratio: 1}
	setIf(&g.Name, body.Name)
	setIf(&g.Ratio, body.Ratio)
	setIf(&g.RPM, body.RPM)
	setIf(&g.TPM, body.TPM)
	setIf(&g.DailyRequests, body.DailyRequests)
	setIf(&g.ImageResponseFormat, body.ImageResponseFormat)
	g, err := t.d.Groups.CreateGroup(r.Context(), g)
	if err != nil {
		return nil, tenancyError(err)
	}
	t.changed(r.Context())
	Audit(r, "group.create", target("group", g.ID), nil, viewGroup(g))
	return Created(viewGroup(g)), nil
}

func (t *tenancy) updateGroup(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	var body groupBody
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	before, after, err := t.d.Groups.UpdateGroup(r.Context(), id, auth.GroupPatch{Name: body.Name, Ratio: body.Ratio, RPM: body.RPM,
		TPM: body.TPM, DailyRequests: body.DailyRequests, ImageResponseFormat: body.ImageResponseFormat})
	if err != nil {
		return nil, tenancyError(err)
	}
	t.changed(r.Context())
	Audit(r, "group.update", target("group", id), viewGroup(before), viewGroup(after))
	return viewGroup(after), nil
}

func (t *tenancy) deleteGroup(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	g, err := t.d.Groups.DeleteGroup(r.Context(), id)
	if err != nil {
		return nil, tenancyError(err)
	}
	t.changed(r.Context())
	Audit(r, "group.delete", target("group", id), viewGroup(g), nil)
	return NoContent(), nil
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
