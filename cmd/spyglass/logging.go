package main

import (
	"io"
	"log/slog"

	"github.com/spyglass-gateway/spyglass/config"
	"github.com/spyglass-gateway/spyglass/logctx"
)

// newLogger builds the process's logger from log.format and log.level. The
// level lives in level, so that SIGHUP can change it under running code;
// every record gets the request id of its context and loses its
// credentials, secrets included (logctx).
func newLogger(w io.Writer, c config.Log, level *slog.LevelVar, secrets ...string) *slog.Logger {
	level.Set(slogLevel(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if c.Format == config.LogJSON {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(logctx.NewHandler(h, secrets...))
}

// configSecrets are the configuration's secrets, never to be logged
// whatever quotes them.
func configSecrets(cfg config.Config) []string {
	// An unreadable token file is Validate's to report; none is nothing
	// to hide.
	adminToken, _ := cfg.Admin.ReadToken()
	return []string{cfg.Auth.Keystone.Password, cfg.Redis.Password, cfg.Redis.Sentinel.Password, adminToken}
}

// slogLevel maps a validated log.level.
func slogLevel(s string) slog.Level {
	switch s {
	case config.LogDebug:
		return slog.LevelDebug
	case config.LogWarn:
		return slog.LevelWarn
	case config.LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}
