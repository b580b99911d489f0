package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/topup"
)

// The top-up slice: packages and orders for users, their administration,
// and the payment providers' public notify endpoints (docs/payments.md).

// TopupService is what the slice needs of top-up (topup.Service).
type TopupService interface {
	Packages(ctx context.Context, enabledOnly bool) ([]topup.Package, error)
	Package(ctx context.Context, id int64) (topup.Package, error)
	CreatePackage(ctx context.Context, p topup.Package) (topup.Package, error)
	UpdatePackage(ctx context.Context, p topup.Package) (topup.Package, error)
	DeletePackage(ctx context.Context, id int64) error
	CreateOrder(ctx context.Context, userID int64, req topup.OrderRequest) (topup.Order, error)
	Order(ctx context.Context, ref string) (topup.Order, error)
	Orders(ctx context.Context, f topup.Filter) ([]topup.Order, int64, error)
	Cancel(ctx context.Context, userID int64, ref string) (topup.Order, error)
	MarkPaid(ctx context.Context, ref, note string) (topup.Order, error)
	Refund(ctx context.Context, ref, note string, allowNegative bool) (topup.Order, error)
	ProviderNames() []string
	Providers() []topup.ProviderInfo
	TestProvider(ctx context.Context, name string) error
	CustomBounds() topup.Custom
	ManualInstructions() string
	NotifyHandler(name string) http.Handler
}

// TopupDeps wires the top-up slice.
type TopupDeps struct {
	Service TopupService
	// ReturnURL is where a provider sends the user back after paying (the
	// console's top-up page); it credits nothing.
	ReturnURL string
	// PublicURL is the node's public base, for the notify URLs shown to
	// the admin.
	PublicURL string
	// AllowNotify rate-limits the public notify endpoints by client
	// address; nil allows every notification.
	AllowNotify func(r *http.Request) (bool, time.Duration)
	// Settings keeps the providers configured in the console; nil makes
	// them read-only.
	Settings TopupProviderStore
	// FileProviders names, for each provider the file declares, its field
	// there ("topup.stripe"): the console does not change those.
	FileProviders map[string]string
	// Live announces a change of the console's providers to every node.
	Live LivePublisher
}

type topupSlice struct {
	a *API
	d TopupDeps
}

// MountTopup adds the top-up routes.
func MountTopup(a *API, d TopupDeps) {
	t := &topupSlice{a: a, d: d}
	a.Add(
		Route{Method: "GET", Path: "/api/v1/me/topup", Access: User, Handle: t.offer},
		Route{Method: "GET", Path: "/api/v1/me/topup/orders", Access: User, Handle: t.ownOrders},
		Route{Method: "POST", Path: "/api/v1/me/topup/orders", Access: User, Handle: t.createOrder},
		Route{Method: "GET", Path: "/api/v1/me/topup/orders/{ref}", Access: User, Handle: t.ownOrder},
		Route{Method: "POST", Path: "/api/v1/me/topup/orders/{ref}/cancel", Access: User, Handle: t.cancel},

		Route{Method: "GET", Path: "/api/v1/admin/topup/providers", Access: Admin, Handle: t.providers},
		Route{Method: "POST", Path: "/api/v1/admin/topup/providers/{name}/test", Access: Admin, Handle: t.testProvider},
		Route{Method: "PUT", Path: "/api/v1/admin/topup/providers/{name}", Access: Admin, Handle: t.saveProvider},
		Route{Method: "DELETE", Path: "/api/v1/admin/topup/providers/{name}", Access: Admin, Handle: t.deleteProvider},
		Route{Method: "GET", Path: "/api/v1/admin/topup/packages", Access: Admin, Handle: t.listPackages},
		Route{Method: "POST", Path: "/api/v1/admin/topup/packages", Access: Admin, Handle: t.createPackage},
		Route{Method: "PUT", Path: "/api/v1/admin/topup/packages/{id}", Access: Admin, Handle: t.updatePackage},
		Route{Method: "DELETE", Path: "/api/v1/admin/topup/packages/{id}", Access: Admin, Handle: t.deletePackage},
		Route{Method: "GET", Path: "/api/v1/admin/topup/orders", Access: Admin, Handle: t.listOrders},
		Route{Method: "GET", Path: "/api/v1/admin/topup/orders/{ref}", Access: Admin, Handle: t.adminOrder},
		Route{Method: "POST", Path: "/api/v1/admin/topup/orders/{ref}/mark-paid", Access: Admin, StepUp: true, Handle: t.markPaid},
		Route{Method: "POST", Path: "/api/v1/admin/topup/orders/{ref}/refund", Access: Admin, StepUp: true, Handle: t.refund},

		Route{Method: "POST", Path: "/api/v1/topup/notify/stripe", Access: Public, Raw: t.notify(topup.StripeName)},
		Route{Method: "GET", Path: "/api/v1/topup/notify/epay", Access: Public, Raw: t.notify(topup.EPayName)},
	)
}

// topupError maps the domain's errors to the console's.
func topupError(err error) error {
	var inv *topup.InvalidError
	switch {
	case errors.As(err, &inv):
		return Invalid(inv.Field, inv.Reason)
	case errors.Is(err, topup.ErrNotFound):
		return NotFound("top-up order or package")
	case errors.Is(err, topup.ErrLimit):
		return Conflict("You have reached this package's limit of orders.")
	case errors.Is(err, topup.ErrDisabled):
		return Invalid("package_id", "This package is not on offer.")
	case errors.Is(err, topup.ErrCustomAmount):
		return Invalid("credit_micros", "Free amounts are not accepted; choose a package.")
	case errors.Is(err, topup.ErrState):
		return Conflict("The order is not in a state that allows this.")
	case errors.Is(err, topup.ErrCheckout):
		return &Error{Status: http.StatusBadGateway, Code: "provider_unavailable",
			Message: "The payment provider could not start the payment; try again later."}
	case errors.Is(err, billing.ErrInsufficient):
		return &Error{Status: http.StatusConflict, Code: "insufficient_balance", Field: "allow_negative",
			Message: "The refund would take the user's balance below zero; set allow_negative to do it anyway."}
	}
	return err
}

// orderView is an order as its user sees it: no raw notifications.
func orderView(o topup.Order) topup.Order {
	o.NotifyLog = ""
	return o
}

type topupOffer struct {
	Providers []string `json:"providers"`
	// ManualInstructions tell a user paying by hand what to do.
	ManualInstructions string          `json:"manual_instructions"`
	Packages           []topup.Package `json:"packages"`
	Custom             customView      `json:"custom"`
}

type customView struct {
	Enabled     bool   `json:"enabled"`
	Currency    string `json:"currency"`
	PricePerUSD int64  `json:"price_per_usd_minor"`
	MinMicros   int64  `json:"min_micros"`
	MaxMicros   int64  `json:"max_micros"`
}

func (t *topupSlice) offer(r *http.Request, _ *Principal) (any, error) {
	pkgs, err := t.d.Service.Packages(r.Context(), true)
	if err != nil {
		return nil, err
	}
	c := t.d.Service.CustomBounds()
	out := topupOffer{Providers: t.d.Service.ProviderNames(), Packages: pkgs, ManualInstructions: t.d.Service.ManualInstructions()}
	if c.Enabled {
		out.Custom = customView{Enabled: true, Currency: c.Currency, PricePerUSD: c.PricePerUSD, MinMicros: int64(c.Min), MaxMicros: int64(c.Max)}
	}
	return out, nil
}

func (t *topupSlice) createOrder(r *http.Request, p *Principal) (any, error) {
	var body struct {
		PackageID    int64  `json:"package_id"`
		CreditMicros int64  `json:"credit_micros"`
		Provider     string `json:"provider"`
	}
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	if body.Provider == "" {
		return nil, Invalid("provider", "Choose how to pay.")
	}
	if (body.PackageID == 0) == (body.CreditMicros == 0) {
		return nil, Invalid("package_id", "Give a package_id or a credit_micros amount, not both.")
	}
	o, err := t.d.Service.CreateOrder(r.Context(), p.UserID, topup.OrderRequest{PackageID: body.PackageID,
		Credit: billing.Micros(body.CreditMicros), Provider: body.Provider, ReturnURL: t.d.ReturnURL})
	if err != nil {
		return nil, topupError(err)
	}
	Audit(r, "topup.order.create", "topup_order:"+o.Ref, nil, orderView(o))
	return Created(orderView(o)), nil
}

func (t *topupSlice) orders(r *http.Request, f topup.Filter, view func(topup.Order) topup.Order) (any, error) {
	pg, err := PageOf(r)
	if err != nil {
		return nil, err
	}
	if f.Before, err = pg.AfterID(); err != nil {
		return nil, err
	}
	f.Limit = pg.Limit
	list, next, err := t.d.Service.Orders(r.Context(), f)
	if err != nil {
		return nil, topupError(err)
	}
	return listOf(list, next, view), nil
}

func (t *topupSlice) ownOrders(r *http.Request, p *Principal) (any, error) {
	st, err := queryEnum(r, "status", statusNames()...)
	if err != nil {
		return nil, err
	}
	return t.orders(r, topup.Filter{UserID: p.UserID, Status: topup.Status(st)}, orderView)
}

func (t *topupSlice) ownOrder(r *http.Request, p *Principal) (any, error) {
	o, err := t.d.Service.Order(r.Context(), r.PathValue("ref"))
	if err != nil || o.UserID != p.UserID {
		return nil, NotFound("order " + strconv.Quote(r.PathValue("ref")))
	}
	return orderView(o), nil
}

func (t *topupSlice) cancel(r *http.Request, p *Principal) (any, error) {
	o, err := t.d.Service.Cancel(r.Context(), p.UserID, r.PathValue("ref"))
	if err != nil {
		return nil, topupError(err)
	}
	Audit(r, "topup.order.cancel", "topup_order:"+o.Ref, nil, orderView(o))
	return orderView(o), nil
}

func statusNames() []string {
	out := make([]string, len(topup.Statuses))
	for i, s := range topup.Statuses {
		out[i] = string(s)
	}
	return out
}

// --- admin ---

type providerTest struct {
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// testProvider checks a provider's settings against it: Stripe's key by
// listing a Checkout Session, an EPay gateway by reaching submit.php.
func (t *topupSlice) testProvider(r *http.Request, _ *Principal) (any, error) {
	name := r.PathValue("name")
	if !slices.Contains(t.d.Service.ProviderNames(), name) {
		return nil, NotFound("payment provider " + strconv.Quote(name))
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	if err := t.d.Service.TestProvider(ctx, name); err != nil {
		return providerTest{Message: err.Error()}, nil
	}
	return providerTest{OK: true, Message: "The provider accepted the settings."}, nil
}

func (t *topupSlice) listPackages(r *http.Request, _ *Principal) (any, error) {
	pkgs, err := t.d.Service.Packages(r.Context(), false)
	if err != nil {
		return nil, err
	}
	return List[topup.Package]{Items: pkgs}, nil
}

type packageBody struct {
	Name         string `json:"name"`
	PriceMinor   int64  `json:"price_minor"`
	Currency     string `json:"currency"`
	CreditMicros int64  `json:"credit_micros"`
	BonusMicros  int64  `json:"bonus_micros"`
	PerUserLimit int    `json:"per_user_limit"`
	Enabled      *bool  `json:"enabled"`
}

func (b packageBody) pkg() topup.Package {
	p := topup.Package{Name: b.Name, Price: b.PriceMinor, Currency: b.Currency, Credit: billing.Micros(b.CreditMicros),
		Bonus: billing.Micros(b.BonusMicros), PerUserLimit: b.PerUserLimit, Enabled: true}
	if b.Enabled != nil {
		p.Enabled = *b.Enabled
	}
	return p
}

func (t *topupSlice) createPackage(r *http.Request, _ *Principal) (any, error) {
	var body packageBody
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	p, err := t.d.Service.CreatePackage(r.Context(), body.pkg())
	if err != nil {
		return nil, topupError(err)
	}
	Audit(r, "topup.package.create", target("topup_package", p.ID), nil, p)
	return Created(p), nil
}

func (t *topupSlice) updatePackage(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	var body packageBody
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	before, err := t.d.Service.Package(r.Context(), id)
	if err != nil {
		return nil, topupError(err)
	}
	p := body.pkg()
	p.ID = id
	after, err := t.d.Service.UpdatePackage(r.Context(), p)
	if err != nil {
		return nil, topupError(err)
	}
	Audit(r, "topup.package.update", target("topup_package", id), before, after)
	return after, nil
}

func (t *topupSlice) deletePackage(r *http.Request, _ *Principal) (any, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return nil, err
	}
	before, err := t.d.Service.Package(r.Context(), id)
	if err != nil {
		return nil, topupError(err)
	}
	if err := t.d.Service.DeletePackage(r.Context(), id); err != nil {
		return nil, topupError(err)
	}
	Audit(r, "topup.package.delete", target("topup_package", id), before, nil)
	return NoContent(), nil
}

func (t *topupSlice) listOrders(r *http.Request, _ *Principal) (any, error) {
	q := r.URL.Query()
	st, err := queryEnum(r, "status", statusNames()...)
	if err != nil {
		return nil, err
	}
	flag, err := queryEnum(r, "flag", topup.FlagLate, topup.FlagMismatch, topup.FlagForced)
	if err != nil {
		return nil, err
	}
	f := topup.Filter{Status: topup.Status(st), Provider: q.Get("provider"), Flag: flag}
	if s := q.Get("user_id"); s != "" {
		if f.UserID, err = strconv.ParseInt(s, 10, 64); err != nil || f.UserID <= 0 {
			return nil, Invalid("user_id", "Must be a user id.")
		}
	}
	return t.orders(r, f, func(o topup.Order) topup.Order { return o })
}

func (t *topupSlice) adminOrder(r *http.Request, _ *Principal) (any, error) {
	o, err := t.d.Service.Order(r.Context(), r.PathValue("ref"))
	if err != nil {
		return nil, topupError(err)
	}
	return o, nil
}

func (t *topupSlice) markPaid(r *http.Request, _ *Principal) (any, error) {
	var body struct {
		Note string `json:"note"`
	}
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	ref := r.PathValue("ref")
	before, err := t.d.Service.Order(r.Context(), ref)
	if err != nil {
		return nil, topupError(err)
	}
	after, err := t.d.Service.MarkPaid(r.Context(), ref, body.Note)
	if err != nil {
		return nil, topupError(err)
	}
	Audit(r, "topup.order.mark_paid", "topup_order:"+ref, orderView(before), orderView(after))
	return after, nil
}

func (t *topupSlice) refund(r *http.Request, _ *Principal) (any, error) {
	var body struct {
		Note          string `json:"note"`
		AllowNegative bool   `json:"allow_negative"`
	}
	if err := Decode(r, &body); err != nil {
		return nil, err
	}
	ref := r.PathValue("ref")
	before, err := t.d.Service.Order(r.Context(), ref)
	if err != nil {
		return nil, topupError(err)
	}
	after, err := t.d.Service.Refund(r.Context(), ref, body.Note, body.AllowNegative)
	if err != nil {
		return nil, topupError(err)
	}
	Audit(r, "topup.order.refund", "topup_order:"+ref, orderView(before), orderView(after))
	return after, nil
}

// notify serves a provider's notify endpoint: rate-limited by address,
// then the provider checks method, content type and signature.
func (t *topupSlice) notify(name string) func(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, _ *Principal) error {
		if t.d.AllowNotify != nil {
			if ok, wait := t.d.AllowNotify(r); !ok {
				return RateLimited(wait)
			}
		}
		if !slices.Contains(t.d.Service.ProviderNames(), name) {
			return NotFound("payment provider " + name)
		}
		t.d.Service.NotifyHandler(name).ServeHTTP(w, r)
		return nil
	}
}
