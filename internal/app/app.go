// Package app builds every part of a gateway node from its configuration and
// runs it: open the database and migrate it, connect Redis, load the secret
// keyring, build the HTTP handler, serve, and stop gracefully.
//
// New does everything that can fail because of configuration or a
// dependency, so a bad setup is reported before the node accepts traffic.
// Run only listens and serves. On shutdown the node first reports itself
// draining on /readyz, then lets in-flight requests and streams finish within
// server.shutdown_timeout, and only then cuts what is left.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/api"
	anthropicapi "github.com/switchyard/switchyard/internal/api/anthropic"
	openaiapi "github.com/switchyard/switchyard/internal/api/openai"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/metrics"
	"github.com/switchyard/switchyard/internal/provider/anthropic"
	"github.com/switchyard/switchyard/internal/provider/azure"
	"github.com/switchyard/switchyard/internal/provider/gemini"
	openaiup "github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
)

// FingerprintSetting is the settings row that pins the secret key a database
// was initialised with.
const FingerprintSetting = "secret_key_fingerprint"

// ErrSecretKeyMismatch is returned by New when secret_key is not the key the
// database was initialised with. Starting anyway would make every sealed
// credential unreadable and every signed URL invalid.
var ErrSecretKeyMismatch = errors.New("secret_key differs from the one this database was initialised with; every node must use the same key")

// App is one gateway node.
type App struct {
	cfg          *config.Config
	log          *slog.Logger
	db           *store.DB
	redis        *redis.Client // nil when not configured
	keyring      *secret.Keyring
	metrics      *metrics.Metrics
	router       *api.Router
	relayMetrics *relay.Metrics
	srv          *http.Server

	ready     chan struct{} // closed once Run is listening
	addr      string        // bound address, set before ready is closed
	closeOnce sync.Once
	closeErr  error
}

// New builds a node. Its error is fit for the operator: it names what failed
// and never contains a secret (database and Redis URLs are redacted by store).
// On success the caller must Run or Close the App.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (a *App, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	trusted, err := api.ParsePrefixes(cfg.Server.TrustedProxies)
	if err != nil {
		return nil, err
	}
	// The data dir holds the SQLite file, the generated key and images:
	// nobody else on the machine needs to read it.
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.Server.DataDir, err)
	}

	a = &App{cfg: cfg, log: log, ready: make(chan struct{})}
	defer func() {
		if err != nil {
			a.Close()
			a = nil
		}
	}()

	if a.db, err = store.Open(ctx, cfg.Database.URL.Value(), log); err != nil {
		return a, err
	}
	a.db.SetPoolLimits(cfg.Database.MaxOpenConns, cfg.Database.ConnMaxIdle)
	// store logs each migration it applies.
	if _, err = a.db.Migrate(ctx); err != nil {
		return a, err
	}

	if cfg.Redis.URL != "" {
		store.SetRedisLogger(log)
		if a.redis, err = store.OpenRedis(ctx, cfg.Redis.URL.Value()); err != nil {
			return a, err
		}
	}

	if err = a.loadKeyring(ctx); err != nil {
		return a, err
	}

	a.metrics = metrics.New()
	checks := map[string]func(context.Context) error{"database": a.db.Ping}
	if a.redis != nil {
		rdb := a.redis
		checks["redis"] = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	}
	a.router = api.New(api.Options{
		Logger:         log,
		Metrics:        a.metrics,
		Checks:         checks,
		MaxBodyBytes:   cfg.Server.MaxBodyBytes,
		MaxUploadBytes: cfg.Server.MaxUploadBytes,
		TrustedProxies: trusted,
	})
	if err = a.mountRelay(); err != nil {
		return a, err
	}
	a.srv = &http.Server{
		Handler:           a.router.Handler(),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		// No ReadTimeout or WriteTimeout: they bound the whole request and
		// response, and would cut a legitimate chat stream or a large upload
		// after a fixed time. Slow clients are bounded by ReadHeaderTimeout
		// and the body limits; streams by the upstream idle timeouts.
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
	}
	return a, nil
}

// mountRelay builds the key index, the relay over the configured channels
// and the /v1 handlers.
func (a *App) mountRelay() error {
	keys, err := auth.New(a.cfg.Keys, nil)
	if err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	rm, err := relay.NewMetrics(a.metrics.Registry())
	if err != nil {
		return fmt.Errorf("register relay metrics: %w", err)
	}
	a.relayMetrics = rm
	rl, err := relay.New(relay.Options{
		Logger:    a.log,
		Channels:  a.cfg.Channels,
		Scheduler: a.cfg.Scheduler,
		Upstream:  a.cfg.Upstream,
		Adapters: map[string]relay.ChatAdapter{
			"openai":    openaiup.NewUpstream(),
			"azure":     azure.NewUpstream(),
			"anthropic": anthropic.NewUpstream(),
			"gemini":    gemini.NewUpstream(),
		},
		Metrics: rm,
	})
	if err != nil {
		return fmt.Errorf("build relay: %w", err)
	}
	openaiapi.New(a.log, keys, rl).Mount(a.router)
	anthropicapi.New(a.log, keys, rl).Mount(a.router)
	return nil
}

// RelayMetrics is the relay's instruments (streams open, for tests and
// drain reports).
func (a *App) RelayMetrics() *relay.Metrics { return a.relayMetrics }

// loadKeyring loads (or, single-node, generates) the secret key and pins its
// fingerprint in the database, so a node started with another key refuses to
// run instead of failing later on every sealed credential.
func (a *App) loadKeyring(ctx context.Context) error {
	kr, generated, err := secret.Load(a.cfg.SecretKey.Value(), a.cfg.Server.DataDir, a.cfg.MultiNode())
	if err != nil {
		return fmt.Errorf("load secret key: %w", err)
	}
	if generated {
		a.log.Warn("generated a new secret key at "+filepath.Join(a.cfg.Server.DataDir, secret.FileName)+
			"; back it up with the database, or set secret_key", "fingerprint", kr.Fingerprint())
	}
	fp := kr.Fingerprint()
	stored, err := a.db.SetSettingIfAbsent(ctx, FingerprintSetting, fp)
	if err != nil {
		return fmt.Errorf("record secret key fingerprint: %w", err)
	}
	if stored != fp {
		a.log.Error("secret key mismatch", "configured_fingerprint", fp, "database_fingerprint", stored)
		return ErrSecretKeyMismatch
	}
	a.keyring = kr
	return nil
}

// Router is the node's router, for mounting handlers before Run.
func (a *App) Router() *api.Router { return a.router }

// Metrics is the node's registry, for registering collectors before Run.
func (a *App) Metrics() *metrics.Metrics { return a.metrics }

// DB is the node's database.
func (a *App) DB() *store.DB { return a.db }

// Redis is the node's Redis client, nil when none is configured.
func (a *App) Redis() *redis.Client { return a.redis }

// Keyring is the node's secret keyring.
func (a *App) Keyring() *secret.Keyring { return a.keyring }

// Ready is closed once Run is listening; Addr is valid from then on.
func (a *App) Ready() <-chan struct{} { return a.ready }

// Addr is the bound listen address ("127.0.0.1:41234" for a configured
// "127.0.0.1:0"), or "" before Run is listening.
func (a *App) Addr() string {
	select {
	case <-a.ready:
		return a.addr
	default:
		return ""
	}
}

// Run serves until ctx is cancelled, then drains: /readyz turns 503, the
// listener closes (new connections are refused), in-flight requests get up
// to server.shutdown_timeout to finish, and any still running after that are
// cut. It closes the database and Redis before returning, and returns nil
// after a shutdown (even a forced one) and an error if serving failed.
func (a *App) Run(ctx context.Context) error {
	defer a.Close()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", a.cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Server.Listen, err)
	}
	a.addr = ln.Addr().String()
	close(a.ready)
	a.log.Info("listening", "addr", a.addr, "database", string(a.db.Dialect()), "redis", a.redis != nil)

	served := make(chan error, 1)
	go func() { served <- a.srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", a.addr, err)
	case <-ctx.Done():
	}

	a.router.Drain()
	timeout := a.cfg.Server.ShutdownTimeout
	a.log.Info("shutting down; waiting for in-flight requests", "timeout", timeout)
	start := time.Now()
	// A fresh context: ctx is already cancelled, and the grace period is the
	// whole point.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := a.srv.Shutdown(sctx); err != nil {
		a.log.Warn("shutdown timeout passed; closing the remaining connections", "timeout", timeout)
		_ = a.srv.Close()
	} else {
		a.log.Info("drained", "took", time.Since(start).Round(time.Millisecond))
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", a.addr, err)
	}
	return nil
}

// Close releases Redis and the database. Run calls it; call it yourself only
// for an App that is never Run. It is safe to call more than once.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		var errs []error
		if a.redis != nil {
			if err := a.redis.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close redis: %w", err))
			}
		}
		if a.db != nil {
			if err := a.db.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		a.closeErr = errors.Join(errs...)
		if a.closeErr != nil {
			a.log.Warn("close", "error", a.closeErr.Error())
		}
	})
	return a.closeErr
}
