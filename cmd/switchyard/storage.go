package main

import (
	"context"
	"fmt"
	"io"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/config"
)

// openStorage loads the configuration and opens the database, Redis and the
// secret key exactly as serve does, for the commands that manage stored
// resources. Their output is the report, so the log only warns unless
// --log-level says otherwise. A nil Storage comes with the exit code.
func openStorage(ctx context.Context, cf *configFlags, stderr io.Writer) (*config.Config, *app.Storage, int) {
	cfg, err := cf.load(nil)
	if err != nil {
		return nil, nil, reportConfigError(stderr, err)
	}
	logCfg := cfg.Log
	if !cf.given("log-level") {
		logCfg.Level = "warn"
	}
	st, err := app.OpenStorage(ctx, cfg, app.NewLogger(logCfg, stderr))
	if err != nil {
		fmt.Fprintf(stderr, "switchyard: %v\n", err)
		return nil, nil, 1
	}
	return cfg, st, 0
}
