package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/auth"
	"github.com/switchyard/switchyard/internal/config"
)

// configFlags are the flags shared by every command that reads the
// configuration. Each override flag, when given, wins over the file and the
// environment.
type configFlags struct {
	fs     *flag.FlagSet
	path   string
	byFlag map[string]string // flag name → config path
	sets   setFlag           // --set PATH=VALUE, any number of times
}

// setFlag collects repeated --set PATH=VALUE flags.
type setFlag map[string]string

// String lists the settings in order, so that two parses compare.
func (s setFlag) String() string {
	out := make([]string, 0, len(s))
	for _, k := range slices.Sorted(maps.Keys(s)) {
		out = append(out, k+"="+s[k])
	}
	return strings.Join(out, ",")
}

func (s setFlag) Set(v string) error {
	path, value, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(path) == "" {
		return fmt.Errorf("want PATH=VALUE, e.g. scheduler.max_attempts=5, got %q", v)
	}
	s[strings.TrimSpace(path)] = value
	return nil
}

// override is a flag that sets one config path: name, config path, help.
type override struct{ name, path, help string }

var (
	flagListen      = override{"listen", "server.listen", "`ADDR` to listen on, host:port (server.listen)"}
	flagDataDir     = override{"data-dir", "server.data_dir", "`DIR` for the SQLite database, generated key and images (server.data_dir)"}
	flagDatabaseURL = override{"database-url", "database.url", "database `URL`: sqlite://FILE, postgres://… or mysql://… (database.url)"}
	flagLogLevel    = override{"log-level", "log.level", "log `LEVEL`: debug, info, warn or error (log.level)"}
	flagLogFormat   = override{"log-format", "log.format", "log `FORMAT`: text or json (log.format)"}
)

func addConfigFlags(fs *flag.FlagSet, overrides ...override) *configFlags {
	cf := &configFlags{fs: fs, byFlag: map[string]string{}, sets: setFlag{}}
	fs.StringVar(&cf.path, "c", "", "configuration `FILE` (YAML); also from $SWITCHYARD_CONFIG. Without one,\n"+
		"built-in defaults apply: 127.0.0.1:8080 with SQLite under ./data")
	fs.StringVar(&cf.path, "config", "", "`FILE`: same as -c")
	fs.Var(cf.sets, "set", "set any setting by its path, `PATH=VALUE` (e.g. scheduler.max_attempts=5,\n"+
		"channels[0].weight=2); may be repeated; wins over the file and the environment")
	for _, o := range overrides {
		fs.String(o.name, "", o.help)
		cf.byFlag[o.name] = o.path
	}
	return cf
}

// load reads the configuration: file, then environment, then the override
// flags that were given (an absent flag must not reset a file's setting).
func (cf *configFlags) load(extra map[string]string) (*config.Config, error) {
	path := cf.path
	if path == "" {
		path = os.Getenv("SWITCHYARD_CONFIG")
	}
	set := map[string]string{}
	for k, v := range cf.sets {
		set[k] = v
	}
	cf.fs.Visit(func(f *flag.Flag) {
		if p, ok := cf.byFlag[f.Name]; ok {
			set[p] = f.Value.String()
		}
	})
	for k, v := range extra {
		set[k] = v
	}
	return config.Load(config.LoadOptions{Path: path, Set: set})
}

// reportConfigError prints a configuration problem in the documented form
// and returns exit code 1. Errors from config never contain secrets.
func reportConfigError(stderr io.Writer, err error) int {
	var fe config.Errors
	if errors.As(err, &fe) {
		fmt.Fprintln(stderr, "switchyard: invalid configuration:")
		for _, e := range fe {
			fmt.Fprintf(stderr, "  %s\n", e.Error())
		}
		return 1
	}
	fmt.Fprintf(stderr, "switchyard: %v\n", err)
	return 1
}

// signalContext is cancelled by the first SIGINT or SIGTERM. After that the
// default handling is restored, so a second Ctrl-C kills a stuck drain.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

func serveCommand() command {
	return command{
		name:    "serve",
		summary: "run the gateway",
		about: `Runs the gateway: opens (and migrates) the database, connects Redis when
configured, loads the secret key (generating one under the data dir on a
first single-node start), and serves the API, /healthz, /readyz and /metrics
(to loopback clients unless metrics.token or metrics.listen is set).
Without any configuration it listens on 127.0.0.1:8080 with SQLite under
./data. Settings come from the file, then SWITCHYARD_* environment variables,
then these flags. On SIGINT or SIGTERM it stops accepting connections, lets
in-flight requests and streams finish within server.shutdown_timeout, and
exits 0.`,
		flags: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
			cf := addConfigFlags(fs, flagListen, flagDataDir, flagDatabaseURL, flagLogLevel, flagLogFormat)
			return func(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
				if len(pos) > 0 {
					fmt.Fprintf(stderr, "switchyard serve: unexpected argument %q\n", pos[0])
					return 2
				}
				return serve(ctx, cf, stderr)
			}
		},
	}
}

func serve(ctx context.Context, cf *configFlags, stderr io.Writer) int {
	cfg, err := cf.load(nil)
	if err != nil {
		return reportConfigError(stderr, err)
	}
	log := app.NewLogger(cfg.Log, stderr)
	ctx, stop := signalContext(ctx)
	defer stop()
	startDebugPprof(log)

	a, err := app.New(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	announceSetup(ctx, a, cfg, log)
	if err := a.Run(ctx); err != nil {
		log.Error("stopped with an error", "error", err.Error())
		return 1
	}
	log.Info("stopped")
	return 0
}

// announceSetup logs a one-time setup link when no administrator can sign
// in yet (no admin.password in the file, no `admin create`): whoever can
// read this node's log can create the first administrator with it, within
// auth.SetupTokenTTL, once. Each start replaces the previous link.
func announceSetup(ctx context.Context, a *app.App, cfg *config.Config, log *slog.Logger) {
	tok, err := a.Accounts().SetupToken(ctx)
	if errors.Is(err, auth.ErrSetupDone) {
		return
	}
	if err != nil {
		log.Warn("cannot make a setup link", "error", err.Error())
		return
	}
	link := strings.TrimRight(cfg.Server.PublicURL, "/") + "/setup?token=" + tok
	log.Warn("no administrator can sign in yet: open the setup link within 1 hour to create one (it works once), "+
		"or run `switchyard admin create --email E`", "setup_url", link)
}
