package child

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/sockopt"
)

// The environment variables MainConfig reads. `sluice serve` sets them for
// the workers it starts from its own flags of the same names.
const (
	EnvFD            = "SLUICE_FD"             // descriptor of the inherited socket; default 3
	EnvMaxInFlight   = "SLUICE_MAX_INFLIGHT"   // Config.MaxInFlight
	EnvHighWatermark = "SLUICE_HIGH_WATERMARK" // Config.HighWatermark (a size)
	EnvLowWatermark  = "SLUICE_LOW_WATERMARK"  // Config.LowWatermark (a size)
	EnvQueueLimit    = "SLUICE_QUEUE_LIMIT"    // Config.QueueLimit (a size)
	EnvSendBuffer    = "SLUICE_SNDBUF"         // Config.SendBuffer (a size; negative leaves the kernel's default)
	EnvAdmission     = "SLUICE_ADMISSION"      // on (default) or off: Config.DisableAdmission
	EnvSched         = "SLUICE_SCHED"          // sequential (default) or round-robin: Config.IPC.Policy
	EnvLogFormat     = "SLUICE_LOG_FORMAT"     // text or json on stderr; unset means slog.Default()
	EnvWorkerID      = "SLUICE_WORKER_ID"      // the worker's slot, for the worker pprof label; unset means the pid
)

// MainConfig builds a worker's Config from the environment (the SLUICE_
// variables above; an unset or empty one means the default) and checks it.
// Sizes are bytes, optionally with a unit: 4096, 64KiB, 8MiB, 1GiB (or the
// decimal KB, MB, GB). Errors name the variable, its value and what to use.
func MainConfig() (*Config, error) {
	c := &Config{}
	var err error
	if c.MaxInFlight, err = envInt(EnvMaxInFlight); err != nil {
		return nil, err
	}
	if c.HighWatermark, err = envSize(EnvHighWatermark); err != nil {
		return nil, err
	}
	if c.LowWatermark, err = envSize(EnvLowWatermark); err != nil {
		return nil, err
	}
	if c.QueueLimit, err = envSize(EnvQueueLimit); err != nil {
		return nil, err
	}
	if v := os.Getenv(EnvSendBuffer); strings.HasPrefix(strings.TrimSpace(v), "-") {
		c.SendBuffer = -1
	} else {
		n, err := envSize(EnvSendBuffer)
		if err != nil {
			return nil, err
		}
		if n > sockopt.MaxBuffer {
			return nil, fmt.Errorf("%s=%q: too large for a socket buffer; use at most %d bytes", EnvSendBuffer, v, sockopt.MaxBuffer)
		}
		c.SendBuffer = int(n)
	}
	switch v := os.Getenv(EnvAdmission); v {
	case "", "on":
	case "off":
		c.DisableAdmission = true
	default:
		return nil, fmt.Errorf("%s=%q: use on or off", EnvAdmission, v)
	}
	switch v := os.Getenv(EnvSched); v {
	case "":
	case "sequential", "round-robin":
		c.IPC = &ipc.Config{Policy: v}
	default:
		return nil, fmt.Errorf("%s=%q: use sequential or round-robin", EnvSched, v)
	}
	switch v := os.Getenv(EnvLogFormat); v {
	case "":
	case "text":
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid())
	case "json":
		c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("pid", os.Getpid())
	default:
		return nil, fmt.Errorf("%s=%q: use text or json", EnvLogFormat, v)
	}
	if err := VerifyConfig(c); err != nil {
		return nil, fmt.Errorf("the SLUICE_ environment: %w", err)
	}
	return c, nil
}

func envInt(name string) (int, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: not a count; use a whole number such as 4 (0 means the default)", name, v)
	}
	return n, nil
}

func envSize(name string) (int64, error) {
	v := os.Getenv(name)
	if strings.TrimSpace(v) == "" {
		return 0, nil
	}
	n, err := parseSize(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", name, v, err)
	}
	return n, nil
}

// maxSize bounds the sizes parseSize accepts (1 TiB), so that a typo cannot
// overflow or ask for absurd amounts of memory.
const maxSize int64 = 1 << 40

// sizeUnits maps the accepted suffixes, in lower case, to multipliers:
// binary KiB/MiB/GiB/TiB and decimal KB/MB/GB/TB, as the IEC and SI say.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
}

// parseSize parses a byte count: a non-negative integer, optionally followed
// by a unit (case-insensitive), such as 4096, 64KiB, 8MiB or 1GiB.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if num == "" {
		return 0, fmt.Errorf("size %q is not a byte count; use a non-negative integer with an optional unit, e.g. 4096, 64KiB, 8MiB", s)
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("size %q has an unknown unit %q; use bytes, KiB, MiB, GiB, TiB (binary) or KB, MB, GB, TB (decimal)", s, unit)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > maxSize/mult {
		return 0, fmt.Errorf("size %q is above the maximum of 1TiB; ask for less", s)
	}
	return n * mult, nil
}
