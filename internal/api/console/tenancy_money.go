package console

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
)

// Money routes of the tenancy slice: credit adjustments, ledger rows,
// redemption codes, invites and redeeming.

// MaxCodesPerRequest bounds one POST /api/v1/admin/codes: the codes travel
// in its JSON answer. The command line generates larger batches.
const MaxCodesPerRequest = 10_000

func (t *tenancy) mountMoney() {
	t.a.Add(
		Route{Method: "GET", Path: "/api/v1/admin/codes", Access: Admin, Handle: t.listCodes},
		Route{Method: "POST", Path: "/api/v1/admin/codes", Access: Admin, Handle: t.generateCodes},
		Route{Method: "POST", Path: "/api/v1/admin/codes/{id}/disable", Access: Admin, Handle: t.disableCode},
		Route{Method: "GET", Path: "/api/v1/admin/codes.csv", Access: Admin, Raw: t.exportCodes},
		Route{Method: "GET", Path: "/api/v1/admin/invites", Access: Admin, Handle: t.listInvites},
		Route{Method: "POST", Path: "/api/v1/admin/invites", Access: Admin, Handle: t.userInvite},

		Route{Method: "GET", Path: "/api/v1/me/ledger", Access: User, Handle: t.ownLedger},
		Route{Method: "POST", Path: "/api/v1/me/redeem", Access: User, Handle: t.redeem},
		Route{Method: "GET", Path: "/api/v1/me/invite", Access: User, Handle: t.ownInvite},
	)
}

// credit posts an adjust row. Above CreditStepUpMicros either way, the
// admin must have stepped up: a typo of units is the costly mistake here.
func (t *tenancy) credit(r *http.Request, p *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	var body struct {
		AmountMicros *int64 `json:"amount_micros"`
		Reason       string `json:"reason"`
	}
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	if body.AmountMicros == nil {
		return nil, Invalid("amount_micros", "The amount in micro-USD is required (negative takes credit away).")
	}
	amount := billing.Micros(*body.AmountMicros)
	if (amount > CreditStepUpMicros || amount < -CreditStepUpMicros) && !t.a.SteppedUp(p) {
		return nil, StepUpRequired()
	}
	rec, err := t.d.Wallets.Adjust(r.Context(), id, amount, body.Reason)
	if err != nil {
		return nil, tenancyError(err)
	}
	Audit(r, "user.credit", target("user", id), nil, rec)
	return Created(rec), nil
}

// ledgerPage is a page of ledger rows with the wallet's balance.
type ledgerPage struct {
	List[billing.Record]
	BalanceMicros int64 `json:"balance_micros"`
}

func (t *tenancy) ledger(r *http.Request, userID int64) (any, error) {
	p, err := PageOf(r)
	if err != nil {
		return nil, err
	}
	before, err := p.AfterID()
	if err != nil {
		return nil, err
	}
	kinds := make([]string, 0, 8)
	for _, k := range billing.Kinds() {
		kinds = append(kinds, string(k))
	}
	kind, err := queryEnum(r, "kind", kinds...)
	if err != nil {
		return nil, err
	}
	bal, err := t.d.Wallets.Balance(r.Context(), userID)
	if err != nil {
		return nil, tenancyError(err)
	}
	rows, next, err := t.d.Wallets.Entries(r.Context(), userID, billing.Kind(kind), before, p.Limit)
	if err != nil {
		return nil, tenancyError(err)
	}
	return ledgerPage{List: listOf(rows, next, func(r billing.Record) billing.Record { return r }), BalanceMicros: int64(bal)}, nil
}

func (t *tenancy) userLedger(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	return t.ledger(r, id)
}

func (t *tenancy) ownLedger(r *http.Request, p *Principal) (any, error) {
	return t.ledger(r, p.UserID)
}

// --- codes ---

type codeView struct {
	ID                 int64      `json:"id"`
	Prefix             string     `json:"prefix"`
	Kind               string     `json:"kind"`
	ValueMicros        int64      `json:"value_micros"`
	InviterBonusMicros int64      `json:"inviter_bonus_micros"`
	InviterUserID      *int64     `json:"inviter_user_id"`
	Batch              string     `json:"batch"`
	Note               string     `json:"note"`
	Uses               int64      `json:"uses"`
	MaxUses            *int64     `json:"max_uses"` // null: any number of invitees, each once
	Status             string     `json:"status"`
	ExpiresAt          *time.Time `json:"expires_at"`
	DisabledAt         *time.Time `json:"disabled_at"`
	CreatedAt          time.Time  `json:"created_at"`
}

func viewCode(c billing.CodeInfo) codeView {
	v := codeView{ID: c.ID, Prefix: c.Prefix, Kind: c.Kind, ValueMicros: int64(c.Value), InviterBonusMicros: int64(c.InviterBonus),
		Batch: c.Batch, Note: c.Note, Uses: c.Uses, Status: c.Status, ExpiresAt: c.ExpiresAt, DisabledAt: c.DisabledAt,
		CreatedAt: c.CreatedAt}
	if c.InviterUserID != 0 {
		v.InviterUserID = &c.InviterUserID
	}
	if c.Kind != billing.CodeInvite {
		v.MaxUses = &c.MaxUses
	}
	return v
}

func codeFilter(r *http.Request) (billing.CodeFilter, error) {
	var f billing.CodeFilter
	var err error
	f.Batch = r.URL.Query().Get("batch")
	if f.Kind, err = queryEnum(r, "kind", billing.CodeCredit, billing.CodeInvite); err != nil {
		return f, err
	}
	if f.Status, err = queryEnum(r, "status", billing.CodeStatuses...); err != nil {
		return f, err
	}
	return f, nil
}

func (t *tenancy) codeList(r *http.Request, f billing.CodeFilter) (any, error) {
	p, err := PageOf(r)
	if err != nil {
		return nil, err
	}
	before, err := p.AfterID()
	if err != nil {
		return nil, err
	}
	codes, next, err := t.d.Codes.QueryCodes(r.Context(), f, before, p.Limit)
	if err != nil {
		return nil, tenancyError(err)
	}
	return listOf(codes, next, viewCode), nil
}

func (t *tenancy) listCodes(r *http.Request, _ *Principal) (any, error) {
	f, err := codeFilter(r)
	if err != nil {
		return nil, err
	}
	return t.codeList(r, f)
}

func (t *tenancy) generateCodes(r *http.Request, _ *Principal) (any, error) {
	var body struct {
		Count       int             `json:"count"`
		ValueMicros int64           `json:"value_micros"`
		ExpiresAt   json.RawMessage `json:"expires_at"`
		Batch       string          `json:"batch"`
		Note        string          `json:"note"`
	}
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	_, _, exp, err := rawTime("expires_at", body.ExpiresAt)
	if err != nil {
		return nil, err
	}
	if body.Count > MaxCodesPerRequest {
		return nil, Invalidf("count", "At most %d codes per request; the command line makes larger batches.", MaxCodesPerRequest)
	}
	value := billing.Micros(body.ValueMicros)
	if err := billing.CheckCodeBatch(body.Count, value, exp, t.d.Now(), body.Batch, body.Note); err != nil {
		return nil, tenancyError(err)
	}
	codes, err := t.d.Codes.GenerateCodes(r.Context(), body.Count, value, exp, body.Batch, body.Note)
	if err != nil {
		return nil, tenancyError(err)
	}
	out := struct {
		Codes       []string   `json:"codes"`
		Count       int        `json:"count"`
		ValueMicros int64      `json:"value_micros"`
		Batch       string     `json:"batch"`
		ExpiresAt   *time.Time `json:"expires_at"`
	}{Codes: codes, Count: len(codes), ValueMicros: body.ValueMicros, Batch: body.Batch}
	if !exp.IsZero() {
		out.ExpiresAt = &exp
	}
	Audit(r, "codes.generate", "batch:"+body.Batch, nil,
		map[string]any{"count": len(codes), "value_micros": body.ValueMicros, "batch": body.Batch, "expires_at": out.ExpiresAt})
	return Created(out), nil
}

func (t *tenancy) disableCode(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	before, after, err := t.d.Codes.DisableCode(r.Context(), id)
	if err != nil {
		return nil, tenancyError(err)
	}
	Audit(r, "code.disable", target("code", id), viewCode(before), viewCode(after))
	return viewCode(after), nil
}

// exportCodes streams the codes as CSV, oldest first, one row at a time:
// an export of a large batch never sits in memory. The codes themselves
// are not in it (only their hashes are stored).
func (t *tenancy) exportCodes(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	f, err := codeFilter(r)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	started := false
	start := func() {
		started = true
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="codes.csv"`)
		_ = cw.Write([]string{"id", "prefix", "kind", "value_usd", "inviter_bonus_usd", "inviter_user_id", "batch", "note",
			"uses", "max_uses", "status", "expires_at", "disabled_at", "created_at"})
	}
	n := 0
	err = t.d.Codes.EachCode(r.Context(), f, func(c billing.CodeInfo) error {
		if !started {
			start()
		}
		v := viewCode(c)
		maxUses, inviter := "", ""
		if v.MaxUses != nil {
			maxUses = strconv.FormatInt(*v.MaxUses, 10)
		}
		if v.InviterUserID != nil {
			inviter = strconv.FormatInt(*v.InviterUserID, 10)
		}
		if err := cw.Write([]string{strconv.FormatInt(c.ID, 10), c.Prefix, c.Kind, usd(c.Value), usd(c.InviterBonus), inviter,
			cell(c.Batch), cell(c.Note), strconv.FormatInt(c.Uses, 10), maxUses, c.Status, csvTime(c.ExpiresAt), csvTime(c.DisabledAt),
			c.CreatedAt.Format(time.RFC3339)}); err != nil {
			return err
		}
		if n++; n%500 == 0 {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err // the client went away
			}
		}
		return nil
	})
	if err != nil {
		return tenancyError(err)
	}
	if !started {
		start()
	}
	cw.Flush()
	return cw.Error()
}

// usd is an exact decimal USD amount, as a spreadsheet reads it.
func usd(m billing.Micros) string {
	s := m.String()
	if len(s) > 0 && s[0] == '$' {
		return s[1:]
	}
	if len(s) > 1 && s[0] == '-' && s[1] == '$' {
		return "-" + s[2:]
	}
	return s
}

// cell keeps free text from being read as a formula by a spreadsheet
// (a note starting with = or @, say): such a cell is prefixed with '.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func csvTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.RFC3339)
}

// --- invites and redeeming ---

type inviteView struct {
	Code string `json:"code"`
	codeView
}

func (t *tenancy) invite(r *http.Request, userID int64) (inviteView, error) {
	if len(t.d.InviteKey) == 0 {
		return inviteView{}, NotFound("invite code (no secret key configured)")
	}
	var terms InviteTerms
	if t.d.Invite != nil {
		var err error
		if terms, err = t.d.Invite(r.Context()); err != nil {
			return inviteView{}, err
		}
	}
	code, info, err := t.d.Codes.UserInvite(r.Context(), t.d.InviteKey, userID, terms.InviteeCredit, terms.InviterBonus)
	if err != nil {
		return inviteView{}, tenancyError(err)
	}
	return inviteView{Code: code, codeView: viewCode(info)}, nil
}

func (t *tenancy) ownInvite(r *http.Request, p *Principal) (any, error) {
	return t.invite(r, p.UserID)
}

func (t *tenancy) listInvites(r *http.Request, _ *Principal) (any, error) {
	f, err := codeFilter(r)
	if err != nil {
		return nil, err
	}
	if f.Kind == billing.CodeCredit {
		return nil, Invalid("kind", "Invites are invite codes; list credit codes at /api/v1/admin/codes.")
	}
	f.Kind = billing.CodeInvite
	if f.Inviter, err = queryID(r, "user_id"); err != nil {
		return nil, err
	}
	return t.codeList(r, f)
}

// userInvite answers a user's invite code (making it at first use), for
// an admin handing out an invite link on the user's behalf.
func (t *tenancy) userInvite(r *http.Request, _ *Principal) (any, error) {
	var body struct {
		UserID int64 `json:"user_id"`
	}
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	if body.UserID <= 0 {
		return nil, Invalid("user_id", "The inviting user's id is required.")
	}
	_, err := t.d.Users.GetUser(r.Context(), body.UserID)
	if errors.Is(err, auth.ErrUserNotFound) {
		return nil, Invalid("user_id", "No user has this id.")
	}
	if err != nil {
		return nil, err
	}
	v, err := t.invite(r, body.UserID)
	if err != nil {
		return nil, err
	}
	Audit(r, "invite.show", target("code", v.ID), nil, v.codeView)
	return v, nil
}

func (t *tenancy) redeem(r *http.Request, p *Principal) (any, error) {
	var body struct {
		Code string `json:"code"`
	}
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	got, err := t.d.Codes.Redeem(r.Context(), p.UserID, body.Code)
	switch {
	case errors.Is(err, billing.ErrCodeInvalid), errors.Is(err, billing.ErrOwnInvite):
		return nil, Invalid("code", sentence(err))
	case errors.Is(err, billing.ErrAlreadyRedeemed), errors.Is(err, billing.ErrInviteUsed):
		return nil, Conflict(sentence(err))
	case err != nil:
		return nil, tenancyError(err)
	}
	bal, err := t.d.Wallets.Balance(r.Context(), p.UserID)
	if err != nil {
		return nil, tenancyError(err)
	}
	out := map[string]int64{"credited_micros": int64(got), "balance_micros": int64(bal)}
	Audit(r, "code.redeem", target("user", p.UserID), nil, out)
	return out, nil
}
