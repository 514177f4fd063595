package child

import (
	"fmt"
	"log/slog"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/ipc/settings"
	"github.com/sluicegw/sluice/sockopt"
	"github.com/sluicegw/sluice/stream"
)

// Config tunes a worker. Every field states its unit and what its zero value
// means, so a zero Config is a sound default; VerifyConfig checks it.
type Config struct {
	// MaxInFlight, if positive, is a hard cap: at most that many handlers
	// run at once, whatever they do. Zero means automatic: the gate admits
	// handlers by CPU headroom, counting only those computing (not those
	// blocked on a slow client or waiting on I/O), under a limit that a
	// controller sets from CPU pressure and scheduler latency.
	MaxInFlight int

	// HighWatermark is the response bytes queued for flushing, across all
	// streams, at or above which no new handler starts: flushing what was
	// already produced goes before admitting more work. Zero means 8 MiB.
	HighWatermark int64

	// LowWatermark is the queued bytes to which the queue must fall before
	// handlers held back by HighWatermark start again. Zero means a quarter
	// of HighWatermark.
	LowWatermark int64

	// QueueLimit is the hard cap on queued response bytes across all
	// streams: a handler's Write blocks beyond it. Zero means twice
	// HighWatermark.
	QueueLimit int64

	// SendBuffer is the SO_SNDBUF, in bytes, that Run sets on the inherited
	// socket. Zero means 4 MiB; negative leaves the kernel's default alone.
	// Serve ignores it: its caller owns the socket.
	SendBuffer int

	// IPC tunes the protocol. Nil means its defaults. Serve works on a copy
	// whose SendBudget is replaced by the budget built from the fields
	// above, so that every stream's queued bytes count toward it.
	IPC *ipc.Config

	// Logger receives handler panics and lifecycle events. Nil means
	// slog.Default().
	Logger *slog.Logger

	// cpuSource, if not nil, replaces the operating system's signals for
	// the automatic limit (tests drive the controller with it).
	cpuSource cpuSource

	// Compress says how handlers' responses are compressed (the codings in
	// order of preference, the least size, the types), in the worker and
	// on the handler's goroutine, so that admission counts the CPU it
	// takes. Nil means settings.DefaultCompress; a Compression without
	// Codings turns compression off. With compression on, Serve also
	// answers Want-Content-Digest itself, outside the compression, so that
	// the Content-Digest covers the encoded bytes as sent (a
	// digest.Handler inside the handler then passes through).
	Compress *settings.Compression

	// DisableAdmission turns the admission gate off: every accepted stream
	// starts at once, however many run and however much is queued.
	// QueueLimit still applies, and load reports give the connection's
	// stream limit as the worker's limit. It exists to show, in
	// comparisons, what the gate prevents.
	DisableAdmission bool
}

// Defaults, exported so that an embedder's flags and docs can quote them.
// They are the settings package's, which a parent quotes too.
const (
	DefaultMaxInFlight   = settings.DefaultMaxInFlight
	DefaultHighWatermark = settings.DefaultHighWatermark
	DefaultSendBuffer    = settings.DefaultSendBuffer
	// DefaultMaxStreams is the streams a worker accepts at once unless
	// Config.IPC says otherwise: four times the ipc default, because a
	// stream whose client reads slowly costs the worker only a handler
	// blocked in Write and at most one queue chunk past the budget, while a
	// stream limit that slow clients fill leaves the parent nowhere to send
	// anyone else until their send timeout.
	DefaultMaxStreams = 4 * ipc.DefaultMaxStreams
	// DefaultRecvBudget is about the most request body, in bytes, a worker
	// buffers across its streams unless Config.IPC sets a RecvBudget: each
	// stream's window starts at 64 KiB and grows, as its handler reads, to
	// its share of it (at most ipc's 4 MiB stream window). Without one,
	// every stream would be granted the whole window up front, and a
	// thousand uploads to handlers still waiting on something else would
	// be four gigabytes in the worker.
	DefaultRecvBudget = 16 << 20
)

// VerifyConfig checks c and returns an error that names the first field out
// of range, its value and what to use instead. A nil c is valid (defaults).
func VerifyConfig(c *Config) error {
	if c == nil {
		return nil
	}
	switch {
	case c.MaxInFlight < 0 || c.MaxInFlight > settings.MaxInFlightLimit:
		return fmt.Errorf("child: MaxInFlight %d is out of range; use 0 (automatic) or 1..%d for a hard cap", c.MaxInFlight, settings.MaxInFlightLimit)
	case c.HighWatermark < 0:
		return fmt.Errorf("child: HighWatermark %d is negative; use 0 (default %d) or a size in bytes", c.HighWatermark, DefaultHighWatermark)
	case c.LowWatermark < 0:
		return fmt.Errorf("child: LowWatermark %d is negative; use 0 (a quarter of HighWatermark) or a size in bytes", c.LowWatermark)
	case c.QueueLimit < 0:
		return fmt.Errorf("child: QueueLimit %d is negative; use 0 (twice HighWatermark) or a size in bytes", c.QueueLimit)
	case c.SendBuffer > sockopt.MaxBuffer:
		return fmt.Errorf("child: SendBuffer %d is above %d; use 0 (default %d), a size in bytes, or a negative value to leave the kernel's default", c.SendBuffer, sockopt.MaxBuffer, DefaultSendBuffer)
	}
	s := c.settings()
	if s.low > s.high {
		return fmt.Errorf("child: LowWatermark %d is above HighWatermark %d; it must be at most HighWatermark (0 means a quarter of it)", s.low, s.high)
	}
	if s.high > s.limit {
		return fmt.Errorf("child: HighWatermark %d is above QueueLimit %d; the gate could never see it reached: lower it or raise QueueLimit", s.high, s.limit)
	}
	if err := stream.ValidateBudget(s.limit, s.high, s.low); err != nil {
		return fmt.Errorf("child: %w", err)
	}
	if c.Compress != nil {
		if _, err := newCompressor(*c.Compress); err != nil {
			return err
		}
	}
	if err := ipc.VerifyConfig(c.IPC); err != nil {
		return fmt.Errorf("child: IPC: %w", err)
	}
	return nil
}

// resolved is a Config with every default filled in.
type resolved struct {
	maxInFlight      int // 0: automatic
	high, low, limit int64
	cpuSource        cpuSource
	sendBuffer       int
	admission        bool
	maxStreams       int
	log              *slog.Logger
	ipc              ipc.Config
	compress         settings.Compression
}

func (c *Config) settings() resolved {
	var zero Config
	if c == nil {
		c = &zero
	}
	s := resolved{
		maxInFlight: c.MaxInFlight,
		sendBuffer:  c.SendBuffer,
		admission:   !c.DisableAdmission,
		log:         c.Logger,
		cpuSource:   c.cpuSource,
	}
	if c.Compress != nil {
		s.compress = *c.Compress
	} else {
		s.compress, _ = settings.ParseCompression(settings.DefaultCompress)
	}
	s.high, s.low, s.limit = settings.Watermarks(c.HighWatermark, c.LowWatermark, c.QueueLimit)
	if s.sendBuffer == 0 {
		s.sendBuffer = DefaultSendBuffer
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if c.IPC != nil {
		s.ipc = *c.IPC
	}
	if s.ipc.Logger == nil {
		s.ipc.Logger = s.log
	}
	if s.ipc.MaxStreams == 0 {
		s.ipc.MaxStreams = DefaultMaxStreams
	}
	if s.ipc.RecvBudget == nil {
		s.ipc.RecvBudget = stream.NewRecvBudget(DefaultRecvBudget)
	}
	s.maxStreams = s.ipc.MaxStreams
	return s
}
