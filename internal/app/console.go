package app

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/switchyard/switchyard/internal/api/console"
	"github.com/switchyard/switchyard/internal/audit"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/backup"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/gallery"
	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/live"
	"github.com/switchyard/switchyard/internal/studio"
	"github.com/switchyard/switchyard/internal/usage"
)

// mountConsole builds the console API (/api/v1, /api/openapi.json) and
// mounts it on the router. Each slice of the API is wired in its own block
// below: its MountXxx gets the domain packages through the small interfaces
// it declares.
func (a *App) mountConsole(ctx context.Context) error {
	opts := console.Options{Logger: a.log, PublicURL: a.cfg.Server.PublicURL, Now: a.now,
		Auditor: consoleAuditor{audit.NewStore(a.db, a.now)}}
	// Accounts and sessions: the session cookie or an admin token
	// identifies every caller (a.accounts is built in New before this).
	requireAdminTOTP := func(context.Context) bool { return a.settings.Current().RequireAdmin2FA }
	opts.Auth = console.SessionAuth{Accounts: a.accounts, RequireAdminTOTP: requireAdminTOTP}
	c := console.New(opts)
	a.console = c

	// ── accounts and sessions [auth] ───────────────────────────────────
	console.MountAuth(c, console.AuthDeps{
		Accounts:  a.accounts,
		PublicURL: a.cfg.Server.PublicURL,
		// The operator's settings, as they are now (the bus reloads them).
		Registration: func(context.Context) (auth.RegistrationPolicy, error) {
			cur := a.settings.Current()
			return auth.RegistrationPolicy{Mode: cur.Registration, DefaultGroup: cur.DefaultGroup,
				NewUserCreditMicros: cur.NewUserCreditMicros}, nil
		},
		RequireAdminTOTP: requireAdminTOTP,
	})
	// ── end accounts and sessions ──────────────────────────────────────

	// ── usage log, audit log, backups, image tasks [logs] ───────────────
	// The audit store is also opts.Auditor above: every console write is
	// recorded there.
	console.MountLogs(c, console.LogsDeps{
		Usage:   usage.NewStore(a.db),
		Audit:   audit.NewStore(a.db, a.now),
		Backups: backup.NewDir(a.db, filepath.Join(a.cfg.Server.DataDir, "backups"), a.keyring.Fingerprint(), a.now),
		Images:  images.NewTasks(a.db, a.now),
	})
	// ── end logs ─────────────────────────────────────────────────────────

	// ── image gallery [studio] ──────────────────────────────────────────
	// a.gallery and a.imageStore are built with the image endpoints
	// (enableImages, in mountRelay).
	{
		ic := a.cfg.Images
		lim := images.DefaultLimits
		lim.MaxBytes, lim.MaxPixels, lim.MaxDecodeBytes = ic.MaxInputBytes, ic.MaxInputPixels, ic.MaxDecodeBytes
		console.MountGallery(c, console.GalleryDeps{Gallery: a.gallery, Files: a.imageStore,
			// The upload spool, emptied of leftovers at start.
			SpoolDir: filepath.Join(a.cfg.Server.DataDir, "tmp"), Import: gallery.ImportLimits{Images: lim}})
	}
	// ── end image gallery ───────────────────────────────────────────────

	// ── users, groups, keys, credit, codes, invites [tenancy] ──────────
	{
		as := auth.NewStore(a.db, a.now).WithKeyring(a.keyring)
		ledger := billing.NewLedger(a.db, a.now)
		d := console.TenancyDeps{Users: as, Groups: as, Keys: as, Wallets: ledger, Codes: ledger,
			// Role changes, disables and deletions end the user's sessions.
			Sessions: a.accounts,
			// An admin may give a user they create a password.
			Passwords: a.accounts,
			UserCreated: func(ctx context.Context, u auth.User) error {
				// The console setting (its default is the file's
				// billing.new_user_credit), as it is now.
				b := a.cfg.Billing
				b.NewUserCredit = float64(a.settings.Current().NewUserCreditMicros) / 1e6
				return ledger.NewUserCredit(ctx, u.ID, b)
			},
			Invite: func(context.Context) (console.InviteTerms, error) {
				credit, err := billing.FromUSD(a.cfg.Billing.InviteCredit)
				if err != nil {
					return console.InviteTerms{}, fmt.Errorf("billing.invite_credit: %w", err)
				}
				bonus, err := billing.FromUSD(a.cfg.Billing.InviterBonus)
				if err != nil {
					return console.InviteTerms{}, fmt.Errorf("billing.inviter_bonus: %w", err)
				}
				return console.InviteTerms{InviteeCredit: credit, InviterBonus: bonus}, nil
			},
			WebhookAllowHTTP: a.cfg.Images.WebhookAllowPrivate,
			// Publish reloads this node's keys before it returns, and
			// the other nodes' within a second.
			Changed: func(ctx context.Context) error { return a.bus.Publish(ctx, live.Tenancy) },
			Now:     a.now,
		}
		if a.keyring != nil {
			d.InviteKey = a.keyring.Subkey("invite-codes")
		}
		console.MountTenancy(c, d)
	}
	// ── end users, groups, keys, credit, codes, invites ────────────────

	// ── channels and credentials [config] ──────────────────────────────
	// Writes reload this node's pool at once; OnChange publishes on the
	// change bus, so the other nodes reload within a second.
	console.MountChannels(c, console.ChannelsDeps{
		Store: a.pool.Store(), Pool: a.pool, Logger: a.log,
		// The groups a channel may serve: the file's and the console's.
		Groups:   auth.NewStore(a.db, a.now).GroupNames,
		OnChange: func(ctx context.Context) error { return a.bus.Publish(ctx, live.Channels) },
	})
	// ── end channels and credentials ───────────────────────────────────

	// --- config slice (live): the price list and the site settings. Writes
	// publish on the change bus, so every node reloads within a second.
	console.MountPricing(c, console.PricingDeps{Prices: a.priceStore, Live: a.bus})
	console.MountSettings(c, console.SettingsDeps{Settings: a.settings, Live: a.bus})
	// --- end config slice (live)

	// ── chat playground ────────────────────────────────────────────────
	// A user chats as one of their keys through the node's whole /v1
	// pipeline (the router's root handler): limits, billing and the usage
	// log as for any API call.
	console.MountPlayground(c, console.PlaygroundDeps{
		Keys: a.keys, Models: a.pool.Models, Price: a.prices.Lookup,
		Relay: a.router.Handler(), AssumeKey: auth.WithAssumedKey,
	})
	// ── end chat playground ────────────────────────────────────────────

	// ── image studio [studio] ───────────────────────────────────────────
	console.MountStudio(c, console.StudioDeps{
		Keys: a.keys, Price: a.prices.Lookup, Relay: a.router.Handler(), AssumeKey: auth.WithAssumedKey,
		Tasks: images.NewTasks(a.db, a.now), Previews: a.previews,
	})
	console.MountStudioSaved(c, studio.New(a.db, a.now))
	// ── end image studio ────────────────────────────────────────────────

	// ── analytics: usage rollups and the live view [analytics] ──────────
	a.mountAnalytics(c) // analytics.go
	// ── end analytics ──────────────────────────────────────────────────

	// ── top-up: packages, orders, payment providers [topup] ────────────
	if err := a.mountTopup(ctx, c); err != nil { // topup.go
		return fmt.Errorf("topup: %w", err)
	}
	// ── end top-up ─────────────────────────────────────────────────────

	c.Mount(a.router)
	return nil
}

// Console is the node's console API (tests compare its routes with the
// OpenAPI document).
func (a *App) Console() *console.API { return a.console }

// consoleAuditor records the console's writes in the audit log.
type consoleAuditor struct{ s *audit.Store }

func (c consoleAuditor) Record(ctx context.Context, e console.AuditEntry) error {
	return c.s.Record(ctx, audit.Entry{Time: e.Time, ActorID: e.ActorID, ActorEmail: e.ActorEmail, Via: e.Via,
		IP: e.IP, Method: e.Method, Route: e.Route, Action: e.Action, Target: e.Target, Status: e.Status,
		Before: e.Before, After: e.After, RequestID: e.RequestID})
}
