package app

import (
	"context"
	"fmt"
	"math"

	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/live"
	"github.com/switchyard/switchyard/internal/settings"
)

// loadPricesAndSettings writes the file's prices into the price list and
// loads it, and loads the console settings. Both then follow the bus.
func (a *App) loadPricesAndSettings(ctx context.Context) error {
	a.priceStore = billing.NewPriceStore(a.db, a.now, a.log)
	if err := a.priceStore.ApplyConfig(ctx, a.cfg.Pricing); err != nil {
		return err
	}
	prices, err := a.priceStore.Load(ctx)
	if err != nil {
		return fmt.Errorf("load prices: %w", err)
	}
	a.prices = billing.NewPriceTable(prices)
	// Nodes already running reload the file's prices as this one wrote
	// them; nothing here is subscribed yet, so this only bumps the version.
	if err := a.bus.Publish(ctx, live.Prices); err != nil {
		return err
	}
	credit := int64(math.Round(a.cfg.Billing.NewUserCredit * 1e6))
	a.settings, err = settings.NewStore(ctx, a.db, settings.Defaults(credit, a.cfg.Images.ResponseFormat), a.log)
	if err != nil {
		return fmt.Errorf("load console settings: %w", err)
	}
	return nil
}

// followChanges makes every live part of the node reload when its topic
// changes, on this node (within Publish) or on another.
func (a *App) followChanges() {
	a.bus.On(live.Tenancy, a.keys.Reload)
	a.bus.On(live.Channels, a.pool.Reload)
	a.bus.On(live.Prices, a.reloadPrices)
	a.bus.On(live.Settings, a.settings.Reload)
}

func (a *App) reloadPrices(ctx context.Context) error {
	p, err := a.priceStore.Load(ctx)
	if err != nil {
		return fmt.Errorf("reload prices: %w", err)
	}
	a.prices.Swap(p)
	return nil
}

// Live is the node's change bus: a writer publishes the topic it changed
// (after the write committed) and every node reloads it.
func (a *App) Live() *live.Bus { return a.bus }

// PriceStore is the price list in the database; publish live.Prices after
// changing it.
func (a *App) PriceStore() *billing.PriceStore { return a.priceStore }

// Settings is the console settings; publish live.Settings after Update.
func (a *App) Settings() *settings.Store { return a.settings }
