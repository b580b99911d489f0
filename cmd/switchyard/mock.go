package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

func mockCommand() command {
	return command{
		name:    "mock",
		summary: "run the built-in mock upstream alone",
		about: `Runs the mock upstream on its own: a fake AI provider that answers in the
OpenAI, Azure OpenAI, Anthropic and Gemini shapes (chat, streaming,
embeddings, images, model lists) with deterministic replies and injectable
faults, plus an OAuth2 token endpoint (POST /oauth/token, refresh_token
grant, rotating refresh tokens) and Google Vertex AI (publisher routes and a
JWT-bearer token endpoint, POST /vertex/token; GET /_mock/vertex-key?email=…
gives a service-account key file it accepts). Point a channel's base_url at it to try or
benchmark the gateway without any provider account. It needs no configuration file and stores
nothing. Stops gracefully on SIGINT or SIGTERM.`,
		flags: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
			addr := fs.String("addr", "127.0.0.1:18080", "`ADDR` to listen on, host:port")
			level := fs.String("log-level", "info", "log `LEVEL`: debug, info, warn or error")
			return func(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
				if len(pos) > 0 {
					fmt.Fprintf(stderr, "switchyard mock: unexpected argument %q\n", pos[0])
					return 2
				}
				return runMock(ctx, *addr, *level, stderr)
			}
		},
	}
}

// mockShutdownTimeout bounds the drain: the mock's streams are short and
// nothing depends on them finishing.
const mockShutdownTimeout = 10 * time.Second

func runMock(ctx context.Context, addr, level string, stderr io.Writer) int {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		fmt.Fprintf(stderr, "switchyard mock: invalid --log-level %q (want debug, info, warn or error)\n", level)
		return 2
	}
	log := app.NewLogger(config.Log{Level: level, Format: "text"}, stderr)
	ctx, stop := signalContext(ctx)
	defer stop()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		log.Error("cannot listen", "addr", addr, "error", err.Error())
		return 1
	}
	srv := &http.Server{
		Handler:           mock.New(mock.Options{Logger: log}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		// No WriteTimeout: the mock streams, and its fault injection can
		// delay on purpose.
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("mock upstream listening", "url", "http://"+ln.Addr().String())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		log.Error("mock upstream stopped", "error", err.Error())
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mockShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("mock upstream stopped", "error", err.Error())
		return 1
	}
	log.Info("mock upstream stopped")
	return 0
}
