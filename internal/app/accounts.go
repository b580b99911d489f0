package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/limit"
)

// NewAccounts makes the console's sign-in (auth.Accounts) over st:
// sessions and sign-in attempts in Redis when configured, so every node
// (and the command line) sees the same, else in the database and in
// memory. now may be nil.
func NewAccounts(cfg *config.Config, st *Storage, log *slog.Logger, now func() time.Time) *auth.Accounts {
	var sessions auth.SessionStore = auth.NewSQLSessions(st.DB)
	var lim limit.Limiter = limit.NewMemory()
	if st.Redis != nil {
		sessions = auth.NewRedisSessions(st.Redis, cfg.Redis.Prefix+"sess:", now)
		lim = limit.NewRedis(st.Redis, cfg.Redis.Prefix+"limit:")
	}
	return auth.NewAccounts(auth.AccountsOptions{
		DB: st.DB, Sessions: sessions, Throttler: limit.Attempts(lim), Keyring: st.Keyring,
		Credits: billing.SignupCredits{Ledger: billing.NewLedger(st.DB, now), Invalid: auth.ErrInvalidInvite}, Now: now, Logger: log.With("component", "accounts"),
		SessionIdle: cfg.Console.SessionIdle, SessionMax: cfg.Console.SessionMax,
	})
}

// buildAccounts makes the node's Accounts and applies admin.email and
// admin.password.
func (a *App) buildAccounts(ctx context.Context) error {
	a.accounts = NewAccounts(a.cfg, a.storage, a.log, a.now)
	if err := a.accounts.ApplyAdmin(ctx, a.cfg.Admin.Email, a.cfg.Admin.Password.Value()); err != nil {
		return fmt.Errorf("apply admin.email and admin.password: %w", err)
	}
	return nil
}

// Accounts is the node's console sign-in.
func (a *App) Accounts() *auth.Accounts { return a.accounts }

// sweepSessions deletes expired database sessions every hour until ctx
// ends (Redis expires its own).
func (a *App) sweepSessions(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := a.accounts.SweepSessions(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("sweep expired sessions", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
