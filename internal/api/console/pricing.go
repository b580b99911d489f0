package console

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/live"
)

// The pricing slice: the price list, per model name or pattern. Entries of
// the file's pricing: are listed with managed_by "file" and refuse writes.
// A model name in the path is one segment: escape "/" as %2F and "?" as
// %3F ("*" may stay as it is).

// PriceList is what the slice needs of the price list (billing.PriceStore).
type PriceList interface {
	List(ctx context.Context) ([]billing.PriceEntry, error)
	Get(ctx context.Context, model string) (billing.PriceEntry, error)
	Put(ctx context.Context, model string, spec billing.PriceSpec) (billing.PriceEntry, bool, error)
	Delete(ctx context.Context, model string) error
}

// LivePublisher announces a change to every node (live.Bus); on this node
// it reloads before returning, so the next request already sees it.
type LivePublisher interface {
	Publish(ctx context.Context, t live.Topic) error
}

// PricingDeps wires the pricing slice.
type PricingDeps struct {
	Prices PriceList
	Live   LivePublisher
}

// PriceView is a price as the API shows it.
type PriceView struct {
	Model string `json:"model"`
	billing.PriceSpec
	ManagedBy string    `json:"managed_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

func priceView(e billing.PriceEntry) PriceView {
	v := PriceView{Model: e.Model, PriceSpec: e.PriceSpec, ManagedBy: "api", UpdatedAt: e.UpdatedAt.UTC()}
	if e.ManagedByFile {
		v.ManagedBy = "file"
	}
	if v.PerImageMicros == nil {
		v.PerImageMicros = map[string]int64{}
	}
	return v
}

// MountPricing adds the pricing routes.
func MountPricing(a *API, d PricingDeps) {
	const one = "/api/v1/admin/pricing/{model}"
	a.Add(
		Route{Method: "GET", Path: "/api/v1/admin/pricing", Access: Admin,
			Handle: func(r *http.Request, p *Principal) (any, error) { return d.list(r) }},
		Route{Method: "GET", Path: one, Access: Admin,
			Handle: func(r *http.Request, p *Principal) (any, error) {
				e, err := d.Prices.Get(r.Context(), r.PathValue("model"))
				if err != nil {
					return nil, priceError(r.PathValue("model"), err)
				}
				return priceView(e), nil
			}},
		Route{Method: "PUT", Path: one, Access: Admin,
			Handle: func(r *http.Request, p *Principal) (any, error) { return d.put(r) }},
		Route{Method: "DELETE", Path: one, Access: Admin,
			Handle: func(r *http.Request, p *Principal) (any, error) { return d.delete(r) }},
	)
}

// list pages through the list by model name; the list is small (one entry
// per priced model or pattern), so it is read whole.
func (d PricingDeps) list(r *http.Request) (any, error) {
	pg, err := PageOf(r)
	if err != nil {
		return nil, err
	}
	all, err := d.Prices.List(r.Context())
	if err != nil {
		return nil, err
	}
	items := []PriceView{}
	for _, e := range all {
		if pg.Cursor != "" && e.Model <= pg.Cursor {
			continue
		}
		items = append(items, priceView(e))
	}
	out := List[PriceView]{Items: items}
	if len(items) > pg.Limit {
		out.Items = items[:pg.Limit]
		out.NextCursor = Cursor(items[pg.Limit-1].Model)
	}
	return out, nil
}

func (d PricingDeps) put(r *http.Request) (any, error) {
	model := r.PathValue("model")
	var spec billing.PriceSpec
	if err := Decode(r, &spec); err != nil {
		return nil, err
	}
	before, err := d.Prices.Get(r.Context(), model)
	if err != nil && !errors.Is(err, billing.ErrPriceNotFound) {
		return nil, err
	}
	e, created, err := d.Prices.Put(r.Context(), model, spec)
	if err != nil {
		return nil, priceError(model, err)
	}
	if err := d.Live.Publish(r.Context(), live.Prices); err != nil {
		return nil, err
	}
	v := priceView(e)
	if created {
		Audit(r, "price.create", "price:"+model, nil, v)
		return Created(v), nil
	}
	Audit(r, "price.update", "price:"+model, priceView(before), v)
	return v, nil
}

func (d PricingDeps) delete(r *http.Request) (any, error) {
	model := r.PathValue("model")
	before, err := d.Prices.Get(r.Context(), model)
	if err != nil {
		return nil, priceError(model, err)
	}
	if err := d.Prices.Delete(r.Context(), model); err != nil {
		return nil, priceError(model, err)
	}
	if err := d.Live.Publish(r.Context(), live.Prices); err != nil {
		return nil, err
	}
	Audit(r, "price.delete", "price:"+model, priceView(before), nil)
	return NoContent(), nil
}

// priceError turns the price list's errors into the API's.
func priceError(model string, err error) error {
	var fe *billing.FieldError
	switch {
	case errors.As(err, &fe):
		return Invalid(fe.Field, fieldSentence(fe.Message)+".")
	case errors.Is(err, billing.ErrManagedByFile):
		return ManagedByFile(billing.PricingField(model))
	case errors.Is(err, billing.ErrPriceNotFound):
		return NotFound("price " + model)
	}
	return err
}

func fieldSentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
