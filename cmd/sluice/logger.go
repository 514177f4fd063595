package main

import (
	"log/slog"
	"os"

	"github.com/sluicegw/sluice/ipc/settings"
)

func newLogger(format string) *slog.Logger {
	if format == settings.LogJSON {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}
