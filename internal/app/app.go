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
	"github.com/switchyard/switchyard/internal/topup"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/api"
	anthropicapi "github.com/switchyard/switchyard/internal/api/anthropic"
	"github.com/switchyard/switchyard/internal/api/console"
	openaiapi "github.com/switchyard/switchyard/internal/api/openai"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/gallery"
	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/limit"
	"github.com/switchyard/switchyard/internal/live"
	"github.com/switchyard/switchyard/internal/liveview"
	"github.com/switchyard/switchyard/internal/metrics"
	"github.com/switchyard/switchyard/internal/pool"
	"github.com/switchyard/switchyard/internal/provider/anthropic"
	"github.com/switchyard/switchyard/internal/provider/azure"
	"github.com/switchyard/switchyard/internal/provider/bedrock"
	"github.com/switchyard/switchyard/internal/provider/gemini"
	openaiup "github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/provider/vertex"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/settings"
	"github.com/switchyard/switchyard/internal/store"
	"github.com/switchyard/switchyard/internal/tokens"
	"github.com/switchyard/switchyard/web"
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
	redisHooks   []redis.Hook  // WithRedisHook
	keyring      *secret.Keyring
	metrics      *metrics.Metrics
	router       *api.Router
	relayMetrics *relay.Metrics
	pool         *pool.Pool
	keys         *auth.Directory
	// lastUsedEvery is how often keys' last use is written (0 = default).
	lastUsedEvery time.Duration
	// warmDelay and warm: see WithTokenizerWarmup.
	warmDelay  time.Duration
	warm       func(tokens.Encoding)
	accounts   *auth.Accounts // console sign-in (accounts.go)
	bus        *live.Bus      // carries changes between nodes
	prices     *billing.PriceTable
	priceStore *billing.PriceStore
	settings   *settings.Store
	meter      *billing.Meter
	meterOpts  []func(*billing.MeterOptions)
	liveOpts   []func(*live.Options)
	runnerOpts []func(*images.RunnerOptions)
	runner     *images.Runner // async image tasks, sweeper, webhooks
	imageStore images.Store
	previews   *images.Previews // async tasks' partial images, for the studio
	gallery    *gallery.Store
	thumbs     *gallery.Thumbnailer
	storage    *Storage
	now        func() time.Time
	srv        *http.Server
	metricsSrv *http.Server // nil unless metrics.listen is set
	conns      *api.ConnLimiter
	console    *console.API
	live       liveview.Counters // the console's live view, fed by the relay (analytics.go)
	liveHub    *liveview.Hub
	topup      *topup.Service // users buying credit (topup.go)
	topupStore *topup.ProviderStore

	ready       chan struct{} // closed once Run is listening
	addr        string        // bound address, set before ready is closed
	metricsAddr string        // bound metrics.listen address, "" when none
	closeOnce   sync.Once
	closeErr    error
}

// New builds a node. Its error is fit for the operator: it names what failed
// and never contains a secret (database and Redis URLs are redacted by store).
// On success the caller must Run or Close the App.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...Option) (a *App, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	trusted, err := api.ParsePrefixes(cfg.Server.TrustedProxies)
	if err != nil {
		return nil, err
	}
	a = &App{cfg: cfg, log: log, ready: make(chan struct{}), now: time.Now}
	for _, o := range opts {
		o(a)
	}
	defer func() {
		if err != nil {
			a.Close()
			a = nil
		}
	}()

	st, err := OpenStorage(ctx, cfg, log) // closes what it opened on error
	if err != nil {
		return a, err
	}
	a.storage, a.db, a.redis, a.keyring = st, st.DB, st.Redis, st.Keyring
	if a.redis != nil {
		for _, h := range a.redisHooks { // before anything else uses the client
			a.redis.AddHook(h)
		}
		store.WarnIfVolatile(ctx, a.redis, log)
	}

	a.metrics = metrics.New()
	checks := map[string]func(context.Context) error{"database": a.db.Ping}
	if a.redis != nil {
		rdb := a.redis
		checks["redis"] = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	}
	// The image store and the meter are made below. A node whose image
	// storage is gone, or whose billing lease another gateway took, must
	// stop getting traffic.
	checks["storage"] = func(ctx context.Context) error {
		if c, ok := a.imageStore.(interface{ Check(context.Context) error }); ok {
			return c.Check(ctx)
		}
		return nil
	}
	checks["billing"] = func(ctx context.Context) error {
		if a.meter == nil {
			return nil
		}
		return a.meter.Check(ctx)
	}
	a.router = api.New(api.Options{
		Logger:         log,
		Metrics:        a.metrics,
		Checks:         checks,
		MaxBodyBytes:   cfg.Server.MaxBodyBytes,
		MaxUploadBytes: cfg.Server.MaxUploadBytes,
		TrustedProxies: trusted,
		Body: api.BodyTimeouts{Idle: cfg.Server.BodyIdleTimeout, MinRate: cfg.Server.BodyMinRate,
			Total: cfg.Server.BodyTimeout},
		// a.keys is loaded later, in mountRelay; requests come after.
		KeyValid:         func(r *http.Request) bool { return a.keyValid(r) },
		MetricsToken:     cfg.Metrics.Token.Value(),
		MetricsElsewhere: cfg.Metrics.Listen != "",
	})
	a.conns = api.NewConnLimiter(cfg.Server.UnauthenticatedConnsPerIP, trusted)
	a.conns.OverCap = func() { a.metrics.ClientCut(metrics.CutOverCap) }
	if err = a.mountRelay(ctx); err != nil {
		return a, err
	}
	if err = a.buildAccounts(ctx); err != nil {
		return a, err
	}
	if err = a.mountConsole(ctx); err != nil {
		return a, err
	}
	errLog := slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn)
	a.srv = &http.Server{
		Handler:           a.router.Handler(),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		// No ReadTimeout or WriteTimeout: they bound the whole request and
		// response, and would cut a legitimate chat stream or a large upload
		// after a fixed time. Slow clients are bounded by ReadHeaderTimeout,
		// the body deadlines (server.body_*) and the cap on unauthenticated
		// connections; streams by the upstream idle timeouts.
		MaxHeaderBytes: 1 << 20,
		ConnContext:    api.ConnContext,
		ErrorLog:       errLog,
	}
	if cfg.Metrics.Listen != "" {
		a.metricsSrv = &http.Server{
			Handler:           a.router.MetricsHandler(),
			ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
			ReadTimeout:       30 * time.Second, // a scrape has no body
			IdleTimeout:       cfg.Server.IdleTimeout,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          errLog,
		}
	}
	return a, nil
}

// keyValid reports whether r carries a valid key, spending none of its
// limits (the over-cap connection check, api.Options.KeyValid).
func (a *App) keyValid(r *http.Request) bool {
	if a.keys == nil {
		return false
	}
	_, err := a.keys.Authenticate(r, api.ClientIP(r.Context()))
	return err == nil
}

// markingKeys tells the connection cap that a request presented a valid
// key. It sits under the rate limits: a valid key over its rpm still
// identified its client.
type markingKeys struct{ keys limit.Authenticator }

func (m markingKeys) Authenticate(r *http.Request, clientIP netip.Addr) (*auth.Key, error) {
	k, err := m.keys.Authenticate(r, clientIP)
	if err == nil {
		api.MarkAuthenticated(r.Context())
	}
	return k, err
}

// mountRelay builds the key directory over the stored users and keys (the
// file's, applied first), the account pool over the stored channels (the
// file's, applied first), the relay and the /v1 handlers.
func (a *App) mountRelay(ctx context.Context) error {
	// The bus reads every topic's version before anything is loaded, so a
	// change landing during the loads below is reloaded, never missed.
	lo := live.Options{DB: a.db, Redis: a.redis, Prefix: a.cfg.Redis.Prefix, Logger: a.log}
	for _, o := range a.liveOpts {
		o(&lo)
	}
	bus, err := live.Open(ctx, lo)
	if err != nil {
		return fmt.Errorf("follow changes: %w", err)
	}
	a.bus = bus
	if err := auth.NewStore(a.db, a.now).WithKeyring(a.keyring).ApplyConfig(ctx, a.cfg.Groups, a.cfg.Users, a.cfg.Keys); err != nil {
		return fmt.Errorf("apply groups, users and keys from the configuration: %w", err)
	}
	if err := billing.NewLedger(a.db, a.now).ApplyConfig(ctx, a.cfg.Users, a.cfg.Keys, a.cfg.Billing); err != nil {
		return fmt.Errorf("grant the configuration's credit: %w", err)
	}
	keys, err := auth.NewDirectory(ctx, a.db, auth.DirectoryOptions{Logger: a.log, Now: a.now, Keyring: a.keyring})
	if err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	a.keys = keys
	var lim limit.Limiter = limit.NewMemory()
	if a.redis != nil {
		lim = limit.NewRedis(a.redis, a.cfg.Redis.Prefix+"limit:")
	}
	gate := limit.NewGate(markingKeys{keys}, lim, a.now, a.log)
	rm, err := relay.NewMetrics(a.metrics.Registry())
	if err != nil {
		return fmt.Errorf("register relay metrics: %w", err)
	}
	a.relayMetrics = rm
	pstore := pool.NewStore(a.db, a.keyring)
	if err := pstore.ApplyConfig(ctx, a.cfg.Channels); err != nil {
		return fmt.Errorf("apply channels from the configuration: %w", err)
	}
	var state pool.State = pool.NewMemoryState()
	if a.redis != nil {
		state = pool.NewRedisState(a.redis, a.cfg.Redis.Prefix+"pool:")
	}
	if err := a.loadPricesAndSettings(ctx); err != nil {
		return err
	}
	mo := billing.MeterOptions{DB: a.db, Logger: a.log, JournalDir: filepath.Join(a.cfg.Server.DataDir, "billing"),
		Overdraft: billing.Micros(math.Round(a.cfg.Billing.Overdraft * 1e6)), Now: a.now}
	if a.redis != nil {
		mo.Redis, mo.Prefix = a.redis, a.cfg.Redis.Prefix+"bill:"
	}
	for _, o := range a.meterOpts {
		o(&mo)
	}
	if a.meter, err = billing.NewMeter(ctx, mo); err != nil {
		return fmt.Errorf("open the billing state: %w", err)
	}
	meter := &relayMeter{m: a.meter, prices: a.prices, defaultMax: int64(a.cfg.Billing.DefaultMaxTokens), log: a.log}
	transports := relay.NewTransports(a.cfg.Upstream)
	a.pool, err = pool.New(ctx, pool.Options{
		Logger: a.log, Store: pstore, State: state, Scheduler: a.cfg.Scheduler,
		Clients: transports.Client, Now: a.now, Spend: tokenSpend(a.prices),
		Grants: map[string]pool.TokenGrant{"vertex": vertexGrant},
	})
	if err != nil {
		return fmt.Errorf("build account pool: %w", err)
	}
	ro := relay.Options{
		Logger:    a.log,
		Pool:      a.pool,
		Scheduler: a.cfg.Scheduler,
		Upstream:  a.cfg.Upstream,
		Adapters: map[string]relay.ChatAdapter{
			"openai":    openaiup.NewUpstream(),
			"azure":     azure.NewUpstream(),
			"anthropic": anthropic.NewUpstream(),
			"gemini":    gemini.NewUpstream(),
			"vertex":    vertex.NewUpstream(),
			"bedrock":   bedrock.NewUpstream(),
		},
		Metrics: rm,
		Meter:   meter,
		OnCounted: func(ctx context.Context, res relay.Result) {
			if k := auth.FromContext(ctx); k != nil {
				gate.Charge(ctx, k, int64(res.Usage.PromptTokens+res.Usage.CompletionTokens))
			}
		},
		OnDone: func(ctx context.Context, res relay.Result) {
			annotateRelay(ctx, res)
			meter.logUsage(ctx, res)
			a.liveDone(ctx, res)
		},
		InFlight: a.liveInFlight,
	}
	if a.redis != nil {
		ro.Redis = a.redis
	}
	rl, err := relay.New(ro)
	if err != nil {
		return fmt.Errorf("build relay: %w", err)
	}
	a.pool.SetProber(rl.Probe)
	a.followChanges()
	oh := openaiapi.New(a.log, gate, rl)
	if err := a.enableImages(ctx, oh); err != nil {
		return err
	}
	oh.Mount(a.router)
	a.router.SignedPaths(images.PathPrefix)
	anthropicapi.New(a.log, gate, rl).Mount(a.router)
	// The console UI answers the page paths no route claims.
	a.router.Fallback(web.Handler())
	return nil
}

// annotateRelay puts the relay's routing story on the access log line.
func annotateRelay(ctx context.Context, res relay.Result) {
	if !api.Annotating(ctx) {
		return // the access log is off at this level: no attributes to build
	}
	attrs := []slog.Attr{slog.String("model", res.Model), slog.String("channel", res.Channel),
		slog.Int64("credential", res.Credential), slog.Int("attempts", res.Attempts)}
	if len(res.Failovers) > 0 {
		var b strings.Builder
		for i, f := range res.Failovers {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(f.String())
		}
		attrs = append(attrs, slog.String("failovers", b.String()))
	}
	api.Annotate(ctx, attrs...)
}

// tokenSpend prices usage for the pool's daily_spend caps from the live
// price list (patterns included, as requests are charged): token prices
// are micro-USD per 1M tokens, rounded to the nearest micro-USD; the group
// ratio does not apply (it is the user's price, not the upstream's cost).
func tokenSpend(prices *billing.PriceTable) func(string, relay.Usage) int64 {
	return func(model string, u relay.Usage) int64 {
		pr, ok := prices.Lookup(model)
		if !ok {
			return 0
		}
		uncached := max(u.PromptTokens-u.CachedTokens, 0)
		tokens := float64(uncached)*float64(pr.Input) + float64(u.CachedTokens)*float64(pr.CachedInput) +
			float64(u.CompletionTokens)*float64(pr.Output)
		return int64(math.Round(tokens/1e6)) + int64(pr.PerRequest) + int64(u.WebSearches)*int64(pr.PerWebSearch)
	}
}

// Meter is the node's billing meter (tests drain it to read the ledger).
func (a *App) Meter() *billing.Meter { return a.meter }

// Pool is the node's account pool.
func (a *App) Pool() *pool.Pool { return a.pool }

// RelayMetrics is the relay's instruments (streams open, for tests and
// drain reports).
func (a *App) RelayMetrics() *relay.Metrics { return a.relayMetrics }

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

// MetricsAddr is the bound metrics.listen address once Run is listening,
// "" when /metrics has no listener of its own.
func (a *App) MetricsAddr() string {
	select {
	case <-a.ready:
		return a.metricsAddr
	default:
		return ""
	}
}

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
	var mln net.Listener
	if a.metricsSrv != nil {
		if mln, err = lc.Listen(ctx, "tcp", a.cfg.Metrics.Listen); err != nil {
			_ = ln.Close()
			return fmt.Errorf("listen for /metrics on %s: %w", a.cfg.Metrics.Listen, err)
		}
		a.metricsAddr = mln.Addr().String()
	}
	a.addr = ln.Addr().String()
	close(a.ready)
	a.log.Info("listening", "addr", a.addr, "metrics", a.metricsAddr, "database", string(a.db.Dialect()), "redis", a.redis != nil)

	a.pool.Start(ctx)
	// The bus, not the Directory's own poll, reloads the keys: it polls
	// more often, and hears Redis.
	if err := a.bus.Start(ctx); err != nil {
		return err
	}
	a.meter.Start(ctx)
	// Off the request path: requests only note a key's use in memory.
	a.keys.StartLastUsed(ctx, a.lastUsedEvery)
	go a.sweepSessions(ctx)
	a.runTopup(ctx)
	a.startAnalytics(ctx)
	// Not ctx: at shutdown the runner is stopped gracefully, below.
	if err := a.runner.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	a.thumbs.Start(ctx)
	a.warmTokenizers(ctx)
	served := make(chan error, 1)
	go func() { served <- a.srv.Serve(a.conns.Listener(ln)) }()
	if a.metricsSrv != nil {
		go func() {
			if err := a.metricsSrv.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("serve /metrics", "addr", a.metricsAddr, "error", err.Error())
			}
		}()
		defer a.metricsSrv.Close() // scrapes need no grace
	}

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
	if err := a.runner.Stop(sctx); err != nil {
		a.log.Warn("image tasks still running at shutdown are left for the next start or another node", "error", err.Error())
	}
	a.thumbs.Stop()
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", a.addr, err)
	}
	return nil
}

// Close releases Redis and the database. Run calls it; call it yourself only
// for an App that is never Run. It is safe to call more than once.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		if a.bus != nil {
			a.bus.Close() // first: its handlers reload what is closed below
		}
		if a.keys != nil {
			a.keys.Close()
		}
		if a.pool != nil {
			a.pool.Close() // flushes queued credential status writes
		}
		if a.meter != nil {
			// Posts the billing journal to the ledger before the database
			// closes; what it cannot post stays journaled for the next start.
			if err := a.meter.Close(); err != nil {
				a.log.Warn("billing: final drain", "error", err.Error())
			}
		}
		if a.storage != nil {
			a.closeErr = a.storage.Close()
		}
		if a.closeErr != nil {
			a.log.Warn("close", "error", a.closeErr.Error())
		}
	})
	return a.closeErr
}
