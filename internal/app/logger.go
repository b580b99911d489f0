package app

import (
	"io"
	"log/slog"
	"strings"

	"github.com/switchyard/switchyard/internal/config"
)

// NewLogger builds the process logger from log.level and log.format. An
// unknown level means info and an unknown format means text; the config
// validator has already rejected both, so this only guards direct callers.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.TrimSpace(c.Level))); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
