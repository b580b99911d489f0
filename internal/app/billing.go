package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/luabatch"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/usage"
)

// relayMeter prices the relay's requests and charges them through the
// billing Meter: the relay knows requests, billing knows money, and this
// adapter is the only place that knows both (and the caller's key).
type relayMeter struct {
	m          *billing.Meter
	prices     *billing.PriceTable
	defaultMax int64
	log        *slog.Logger
}

var _ relay.PipelineMeter = (*relayMeter)(nil)

func (a *relayMeter) Reserve(ctx context.Context, call *relay.ExchangeCall) (relay.Hold, error) {
	r, h, err := a.reservation(ctx, call)
	if r == nil {
		return nil, err
	}
	if h.h, err = a.m.Reserve(ctx, *r); err != nil {
		return nil, a.reserveError(ctx, call, err)
	}
	return h, nil
}

// Pipelines reports whether QueueReserve can be used (billing on Redis).
func (a *relayMeter) Pipelines() bool { return a.m.Pipelines() }

// QueueReserve implements relay.PipelineMeter: the relayHold reads the
// reservation once the batch ran.
func (a *relayMeter) QueueReserve(ctx context.Context, b *luabatch.Batch, call *relay.ExchangeCall) (relay.PendingHold, error) {
	r, h, err := a.reservation(ctx, call)
	if r == nil {
		return nil, err
	}
	if h.h, err = a.m.QueueReserve(b, *r); err != nil {
		return nil, a.reserveError(ctx, call, err)
	}
	h.call = call
	return h, nil
}

// Hold implements relay.PendingHold.
func (h *relayHold) Hold(ctx context.Context) (relay.Hold, error) {
	if err := h.h.Reserved(ctx); err != nil {
		return nil, h.a.reserveError(ctx, h.call, err)
	}
	h.call = nil
	return h, nil
}

// reservation prices call for its key: nil with a nil error when there is
// nothing to charge (no key, a free model).
func (a *relayMeter) reservation(ctx context.Context, call *relay.ExchangeCall) (*billing.Reservation, *relayHold, error) {
	k := auth.FromContext(ctx)
	if k == nil {
		return nil, nil, nil // not an authenticated request: nobody to charge
	}
	p, ok := a.prices.Lookup(call.Model)
	if !ok {
		return nil, nil, apierror.ModelNotPriced(call.Model)
	}
	if p.Free {
		return nil, nil, nil
	}
	e := call.Estimate
	est := p.Estimate(int64(e.PromptTokens), e.OutputTokens(a.defaultMax), int64(e.Images), e.ImageSize, e.ImageQuality, k.GroupRatioPPM)
	quota := billing.NoCap
	if k.QuotaMicros != auth.NoQuota {
		quota = billing.Micros(k.QuotaMicros)
	}
	h := &relayHold{a: a, price: p, ratio: k.GroupRatioPPM, size: e.ImageSize, quality: e.ImageQuality,
		r: billing.Reservation{UserID: k.UserID, KeyID: k.ID, Quota: quota, Amount: est, RequestID: call.RequestID}}
	return &h.r, h, nil
}

// reserveError is the client's error for a reservation that failed.
func (a *relayMeter) reserveError(ctx context.Context, call *relay.ExchangeCall, err error) error {
	// Only here: errors.As's target escapes, an allocation per request
	// if declared on the success path.
	var short *billing.ShortError
	switch {
	case errors.As(err, &short):
		what := "Your balance"
		if short.Quota {
			what = "This API key's remaining quota"
		}
		return fmt.Errorf("%w: %w", apierror.QuotaShort(fmt.Sprintf(
			"%s (%s USD) is below what this request may cost (%s USD); top up or raise the key's quota.", what, short.Available, short.Need)), err)
	default:
		a.log.LogAttrs(ctx, slog.LevelError, "billing reserve failed",
			slog.String("request_id", call.RequestID), slog.String("error", err.Error()))
		return fmt.Errorf("%w: %w", apierror.BillingUnavailable(), err)
	}
}

type relayHold struct {
	a             *relayMeter
	h             *billing.Hold
	r             billing.Reservation // what was asked
	call          *relay.ExchangeCall // until a queued reservation is read
	price         billing.Price
	ratio         int64
	size, quality string // of the images asked for, for per-image prices
}

// Settle charges what the client got: a complete answer in full; a stream
// cut short (the client left, the upstream broke) for what was relayed, if
// it produced anything; a failed request nothing.
func (h *relayHold) Settle(ctx context.Context, res *relay.Result) {
	charged, err := h.h.Settle(ctx, h.cost(res))
	h.settled(ctx, res, charged, err)
}

// QueueSettle implements relay.PipelineHold: Settle's script queued on b,
// read by Settled.
func (h *relayHold) QueueSettle(_ context.Context, b *luabatch.Batch, res *relay.Result) {
	h.h.QueueSettle(b, h.cost(res))
}

// Settled reads the settle QueueSettle queued.
func (h *relayHold) Settled(ctx context.Context, res *relay.Result) {
	charged, err := h.h.Settled()
	h.settled(ctx, res, charged, err)
}

func (h *relayHold) cost(res *relay.Result) billing.Micros {
	produced := res.Usage.CompletionTokens > 0 || res.Images > 0
	if res.Status == 200 || (res.Relayed && produced) {
		return h.price.Cost(billing.Usage{
			PromptTokens: int64(res.Usage.PromptTokens), CachedTokens: int64(res.Usage.CachedTokens),
			CompletionTokens: int64(res.Usage.CompletionTokens), Images: h.billedImages(res),
			ImageSize: h.size, ImageQuality: h.quality, WebSearches: int64(res.Usage.WebSearches),
		}, h.ratio)
	}
	return 0
}

func (h *relayHold) settled(ctx context.Context, res *relay.Result, charged billing.Micros, err error) {
	if err != nil {
		h.a.log.LogAttrs(ctx, slog.LevelError, "billing settle failed",
			slog.String("request_id", res.RequestID), slog.String("charge", h.h.Charge()), slog.String("error", err.Error()))
	}
	res.Cost, res.Charge = int64(charged), h.h.Charge()
}

// billedImages is the number of images to charge at the per-image price.
// A model priced both ways (per image and per token, as gpt-image models
// are listed) pays by tokens when the upstream reported them, since they
// measure the actual work, and per image otherwise; never both.
func (h *relayHold) billedImages(res *relay.Result) int64 {
	tokens := res.Usage.PromptTokens > 0 || res.Usage.CompletionTokens > 0
	if tokens && !res.Usage.Estimated && (h.price.Input > 0 || h.price.Output > 0) {
		return 0
	}
	return int64(res.Images)
}

// logUsage journals the request's usage row (written to the database in
// batches by the meter's drainer).
func (a *relayMeter) logUsage(ctx context.Context, res relay.Result) {
	row := usage.Row{
		ChargeID: res.Charge, RequestID: res.RequestID, Time: time.Now().Add(-res.Duration).UTC(),
		Model: res.Model, ServedModel: res.Upstream, Channel: res.Channel, CredentialID: res.Credential,
		Attempts: res.Attempts, Stream: res.Stream, Status: res.Status,
		PromptTokens: int64(res.Usage.PromptTokens), CompletionTokens: int64(res.Usage.CompletionTokens),
		CachedTokens: int64(res.Usage.CachedTokens), ReasoningTokens: int64(res.Usage.ReasoningTokens),
		Images: res.Images, Estimated: res.Usage.Estimated, CostMicros: res.Cost,
		TTFB: res.TTFB, Duration: res.Duration,
	}
	if len(res.Failovers) > 0 {
		// Only a request that failed over stores its route: for the
		// others the row's channel, credential and status are the story.
		route := res.Route()
		attempts := make([]usage.Attempt, len(route))
		for i, a := range route {
			attempts[i] = usage.Attempt{Channel: a.Channel, CredentialID: a.Credential, Status: a.Status,
				LatencyMs: a.Latency.Milliseconds(), Error: a.Reason}
		}
		row.Route = usage.EncodeRoute(attempts)
	}
	if row.ChargeID == "" {
		row.ChargeID = billing.NewChargeID()
	}
	if res.Err != nil {
		row.Error = res.Err.Error()
	}
	if k := auth.FromContext(ctx); k != nil {
		row.UserID, row.KeyID = k.UserID, k.ID
	}
	if ip := api.ClientIP(ctx); ip.IsValid() {
		row.ClientIP = ip.String()
	}
	if err := a.m.LogUsage(ctx, row); err != nil {
		a.log.LogAttrs(ctx, slog.LevelWarn, "usage log write failed",
			slog.String("request_id", res.RequestID), slog.String("error", err.Error()))
	}
}
