package child

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/ipc/settings"
	"github.com/sluicegw/sluice/sockopt"
)

// MainConfig builds a worker's Config from the environment a parent sets,
// the variables of package [settings] (SLUICE_MAX_INFLIGHT and the others;
// `sluice serve` sets them from its flags of the same names), and checks
// it. An unset or empty variable means the default. Sizes are bytes,
// optionally with a unit: 4096, 64KiB, 8MiB, 1GiB (or the decimal KB, MB,
// GB). Errors name the variable, its value and what to use.
func MainConfig() (*Config, error) {
	w, err := settings.FromEnv(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return configFor(w)
}

// configFor maps what the parent passed onto a Config. The mapping is all
// there is to it: names, syntax and ranges are the settings package's, so
// that what `sluice serve` encodes is what a worker decodes.
func configFor(w settings.Worker) (*Config, error) {
	c := &Config{
		MaxInFlight:      w.MaxInFlight,
		HighWatermark:    w.HighWatermark,
		LowWatermark:     w.LowWatermark,
		QueueLimit:       w.QueueLimit,
		DisableAdmission: w.DisableAdmission,
	}
	comp, err := settings.ParseCompression(w.Compress)
	if err != nil {
		return nil, &settings.EnvError{Name: settings.EnvCompress, Value: w.Compress, Why: err.Error()}
	}
	c.Compress = &comp
	switch {
	case w.SendBuffer < 0:
		c.SendBuffer = -1
	case w.SendBuffer > sockopt.MaxBuffer:
		// The kernel's bound, not the protocol's: settings cannot know it.
		return nil, &settings.EnvError{Name: settings.EnvSendBuffer, Value: settings.FormatSize(w.SendBuffer),
			Why: fmt.Sprintf("too large for a socket buffer; use at most %d bytes, or -1 for the kernel's default", sockopt.MaxBuffer)}
	default:
		c.SendBuffer = int(w.SendBuffer)
	}
	if w.Sched != "" {
		c.IPC = &ipc.Config{Policy: w.Sched}
	}
	switch w.LogFormat {
	case settings.LogText:
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid())
	case settings.LogJSON:
		c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("pid", os.Getpid())
	}
	if err := VerifyConfig(c); err != nil {
		return nil, fmt.Errorf("the SLUICE_ environment: %w", err)
	}
	return c, nil
}
