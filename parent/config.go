package parent

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// Config tunes the Gateway and its Supervisor. Every field states its unit
// and what zero means; VerifyConfig checks it.
type Config struct {
	// Workers is how many worker processes to run. Zero means the CPUs this
	// process may use (runtime.NumCPU, which follows the affinity mask).
	Workers int

	// WorkerCmd is the worker command and its arguments. Empty means
	// re-executing this binary as "<self> worker".
	WorkerCmd []string

	// WorkerEnv is added to every worker's environment (KEY=value), after
	// this process's own environment.
	WorkerEnv []string

	// SendBuffer is the SO_SNDBUF, in bytes, set on the parent's end of
	// every worker socket (the worker sets its own end). Zero means 4 MiB;
	// negative leaves the kernel default.
	SendBuffer int

	// MaxInFlight is how many requests the gateway sends to one worker at
	// once; the worker runs at most this many handlers. Zero means 2: for
	// CPU-heavy handlers, fewer work phases at once than cores is what
	// keeps responses flowing (see bench/README.md).
	MaxInFlight int

	// QueueTimeout is how long a request may wait for a worker with room
	// before it is answered 503. Zero means 30 s.
	QueueTimeout time.Duration

	// MaxQueue is how many requests may wait for a worker at once; more are
	// answered 503 at once. Zero means 1024.
	MaxQueue int

	// RetryAfter is the delay suggested to refused clients, rounded up to
	// whole seconds in the Retry-After header. Zero means 1 s.
	RetryAfter time.Duration

	// RestartDelay is the first delay before a dead worker is replaced; it
	// doubles with each quick death up to MaxRestartDelay. Zero means 100 ms.
	RestartDelay time.Duration

	// MaxRestartDelay caps the restart delay. Zero means 30 s.
	MaxRestartDelay time.Duration

	// StopTimeout is how long a stopping worker has to exit after its
	// connection closed before it is killed. Zero means 5 s.
	StopTimeout time.Duration

	// IPC tunes the protocol on the parent's side of each connection; nil
	// means defaults.
	IPC *ipc.Config

	// Logger receives lifecycle events; nil means slog.Default().
	Logger *slog.Logger
}

// Defaults, exported so flags and docs quote the same values.
const (
	DefaultSendBuffer      = 4 << 20
	DefaultMaxInFlight     = 2
	DefaultQueueTimeout    = 30 * time.Second
	DefaultMaxQueue        = 1024
	DefaultRetryAfter      = time.Second
	DefaultRestartDelay    = 100 * time.Millisecond
	DefaultMaxRestartDelay = 30 * time.Second
	DefaultStopTimeout     = 5 * time.Second
)

// VerifyConfig checks c and names the first bad field, its value and what
// is accepted.
func VerifyConfig(c *Config) error {
	switch {
	case c.Workers < 0 || c.Workers > 1024:
		return fmt.Errorf("parent: Workers %d is out of range; use 0 (one per CPU) or 1..1024", c.Workers)
	case c.MaxInFlight < 0 || c.MaxInFlight > 1<<16:
		return fmt.Errorf("parent: MaxInFlight %d is out of range; use 0 (default %d) or 1..65536", c.MaxInFlight, DefaultMaxInFlight)
	case c.QueueTimeout < 0:
		return fmt.Errorf("parent: QueueTimeout %v is negative; use 0 (default %v) or a duration", c.QueueTimeout, DefaultQueueTimeout)
	case c.MaxQueue < 0:
		return fmt.Errorf("parent: MaxQueue %d is negative; use 0 (default %d) or a count", c.MaxQueue, DefaultMaxQueue)
	case c.RetryAfter < 0, c.RestartDelay < 0, c.MaxRestartDelay < 0, c.StopTimeout < 0:
		return fmt.Errorf("parent: RetryAfter, RestartDelay, MaxRestartDelay and StopTimeout must not be negative")
	}
	return ipc.VerifyConfig(c.IPC)
}

// withDefaults returns a copy of c with every zero filled in.
func (c Config) withDefaults() Config {
	if c.Workers == 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = DefaultSendBuffer
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.QueueTimeout == 0 {
		c.QueueTimeout = DefaultQueueTimeout
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = DefaultMaxQueue
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.RestartDelay == 0 {
		c.RestartDelay = DefaultRestartDelay
	}
	if c.MaxRestartDelay == 0 {
		c.MaxRestartDelay = DefaultMaxRestartDelay
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
