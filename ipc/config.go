package ipc

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicegw/sluice/stream"
)

// Config tunes one end of a connection. Every field states its unit and what
// its zero value means, so a zero Config is a sound default.
type Config struct {
	// MaxFramePayload is the largest frame payload, in bytes, that this end
	// accepts; the peer learns it in the handshake and never sends more.
	// Zero means 1 MiB. It must be between 16 KiB and 16 MiB. Large frames
	// let the reader take most of a payload straight from the socket into
	// the stream's buffer; they do not delay control frames, which the
	// writer puts first in every batch (see MaxBatch).
	MaxFramePayload int

	// StreamWindow is the credit, in bytes, that this end grants each stream
	// for the data it receives: the most data it will ever buffer for one
	// stream (a stream read with CopyTo and a window of 4 MiB or more may
	// hold up to 2 MiB more in partly used 1 MiB buffers while it is busy).
	// Larger windows mean fewer credit updates (each costs a wake-up on both
	// ends). Zero means 4 MiB. It must be between 64 KiB and 1 GiB.
	StreamWindow int

	// InitialWindow is the credit, in bytes, that each stream starts with,
	// announced in the handshake; a stream's window then grows by credit
	// updates up to StreamWindow, or up to its share of RecvBudget, once
	// its reader has consumed a quarter of it. A small window here is what
	// keeps many new streams from each being sent a full StreamWindow
	// before the budget has a say. Zero means StreamWindow, or 64 KiB
	// (at most StreamWindow) with a RecvBudget. It must be between 64 KiB
	// and StreamWindow.
	InitialWindow int

	// RecvBudget, if not nil, is shared by every stream of every Conn
	// given it (one per process, say): each stream's window moves toward
	// the budget's limit divided by the streams open across them, within
	// [InitialWindow, StreamWindow], so that what this end buffers for
	// received data stays about the limit however many streams are open
	// (see stream.RecvBudget for the exact bound). Nil means none: every
	// window grows to StreamWindow.
	RecvBudget *stream.RecvBudget

	// MaxStreams is how many streams the peer may have open toward this end
	// at once. With StreamWindow it bounds what this end buffers for the
	// whole connection: MaxStreams × StreamWindow bytes (with a RecvBudget,
	// about the budget instead). Zero means 256.
	MaxStreams int

	// SendQueue is how many bytes one stream may queue for sending before
	// its Write blocks. Zero means 1 MiB.
	SendQueue int

	// SendBudget, if not nil, caps the bytes queued for sending across every
	// stream that shares it (a process-wide bound), and its watermarks tell
	// an admission gate when flushing is behind. Nil means no shared cap.
	SendBudget *stream.Budget

	// Policy names the data scheduling policy: "sequential" (serve streams
	// in the order they were opened) or "round-robin". Empty means
	// "sequential".
	Policy string

	// YieldThreshold is, for the sequential policy, how many bytes a stream
	// may send before it yields to streams that have sent less. Zero means
	// 32 MiB; negative means never yield.
	YieldThreshold int64

	// Quantum is, for the round-robin policy, the bytes a stream sends per
	// turn. Zero means 64 KiB.
	Quantum int

	// MaxBatch is the most bytes the writer hands the socket in one writev.
	// Smaller batches let control frames overtake data sooner; larger ones
	// cost fewer system calls and wake-ups of the peer. Zero means 2 MiB,
	// a fraction of a millisecond of socket time: a 1 GiB response went
	// about 10 % faster through the gateway than with 512 KiB.
	MaxBatch int

	// HandshakeTimeout bounds the exchange of HELLO frames. Zero means 10 s.
	HandshakeTimeout time.Duration

	// OnLoad, if not nil, is called on the reader goroutine with every load
	// report the peer sends. It must not block.
	OnLoad func(Load)

	// OnFlushed, if not nil, is called for every piece of stream data
	// handed to the socket, with how long it waited since a Write queued it
	// (the flush lag) and its size: on the writer goroutine, or on the
	// goroutine that wrote a lone frame itself while the writer was idle,
	// one call at a time. It must be cheap and must not block.
	OnFlushed func(lag time.Duration, bytes int)

	// Logger receives protocol errors and connection lifecycle events. Nil
	// means slog.Default().
	Logger *slog.Logger
}

// Defaults, exported so that flags and docs can quote them.
const (
	DefaultMaxFramePayload = 1 << 20
	DefaultStreamWindow    = 4 << 20
	DefaultInitialWindow   = 64 << 10 // with a RecvBudget
	DefaultMaxStreams      = 256
	DefaultSendQueue       = 1 << 20
	DefaultYieldThreshold  = 32 << 20
	DefaultQuantum         = 64 << 10
	DefaultMaxBatch        = 2 << 20
	DefaultHandshake       = 10 * time.Second
)

// MaxStreamsLimit is the largest Config.MaxStreams: a peer's stream table
// is a map entry and two queues per stream, and beyond a million streams on
// one connection a count is a typo, not a plan.
const MaxStreamsLimit = 1 << 20

const (
	minFramePayload = 16 << 10
	maxFramePayload = 16 << 20
	minStreamWindow = 64 << 10
	maxStreamWindow = 1 << 30
)

// VerifyConfig checks c and returns an error that names the first field out
// of range, its value and the accepted range. A nil c is valid (defaults).
func VerifyConfig(c *Config) error {
	if c == nil {
		return nil
	}
	if c.MaxFramePayload != 0 && (c.MaxFramePayload < minFramePayload || c.MaxFramePayload > maxFramePayload) {
		return fmt.Errorf("ipc: MaxFramePayload %d is out of range; use 0 (default %d) or %d..%d bytes", c.MaxFramePayload, DefaultMaxFramePayload, minFramePayload, maxFramePayload)
	}
	if c.StreamWindow != 0 && (c.StreamWindow < minStreamWindow || c.StreamWindow > maxStreamWindow) {
		return fmt.Errorf("ipc: StreamWindow %d is out of range; use 0 (default %d) or %d..%d bytes", c.StreamWindow, DefaultStreamWindow, minStreamWindow, maxStreamWindow)
	}
	if w := orDefault(c.StreamWindow, DefaultStreamWindow); c.InitialWindow != 0 && (c.InitialWindow < minStreamWindow || c.InitialWindow > w) {
		return fmt.Errorf("ipc: InitialWindow %d is out of range; use 0 (default: StreamWindow, or %d with a RecvBudget) or %d..%d bytes (StreamWindow)", c.InitialWindow, DefaultInitialWindow, minStreamWindow, w)
	}
	if c.MaxStreams < 0 || c.MaxStreams > MaxStreamsLimit {
		return fmt.Errorf("ipc: MaxStreams %d is out of range; use 0 (default %d) or 1..%d", c.MaxStreams, DefaultMaxStreams, MaxStreamsLimit)
	}
	if c.SendQueue < 0 {
		return fmt.Errorf("ipc: SendQueue %d is negative; use 0 (default %d) or a size in bytes", c.SendQueue, DefaultSendQueue)
	}
	if c.Quantum < 0 {
		return fmt.Errorf("ipc: Quantum %d is negative; use 0 (default %d) or a size in bytes", c.Quantum, DefaultQuantum)
	}
	if c.MaxBatch < 0 {
		return fmt.Errorf("ipc: MaxBatch %d is negative; use 0 (default %d) or a size in bytes", c.MaxBatch, DefaultMaxBatch)
	}
	if c.HandshakeTimeout < 0 {
		return fmt.Errorf("ipc: HandshakeTimeout %v is negative; use 0 (default %v) or a duration", c.HandshakeTimeout, DefaultHandshake)
	}
	if _, err := stream.NewPolicy(c.policyName(), 1, 1); err != nil {
		return fmt.Errorf("ipc: Policy: %w", err)
	}
	return nil
}

// CurrentWindow returns the window, in bytes, that a stream received under
// c moves toward now: StreamWindow, or with a RecvBudget the stream's share
// of it within [InitialWindow, StreamWindow]. A nil c means defaults.
func (c *Config) CurrentWindow() int {
	s := c.settings()
	if s.recvBudget == nil {
		return s.streamWindow
	}
	return s.recvBudget.Target(s.initialWindow, s.streamWindow)
}

// settings is a Config with every default filled in.
type settings struct {
	maxFramePayload int
	streamWindow    int
	initialWindow   int
	recvBudget      *stream.RecvBudget
	maxStreams      int
	sendQueue       int
	yieldThreshold  int64
	quantum         int
	maxBatch        int
	handshake       time.Duration
}

func (c *Config) policyName() string {
	if c == nil || c.Policy == "" {
		return stream.PolicySequential
	}
	return c.Policy
}

func (c *Config) settings() settings {
	var z Config
	if c == nil {
		c = &z
	}
	s := settings{
		maxFramePayload: orDefault(c.MaxFramePayload, DefaultMaxFramePayload),
		streamWindow:    orDefault(c.StreamWindow, DefaultStreamWindow),
		maxStreams:      orDefault(c.MaxStreams, DefaultMaxStreams),
		sendQueue:       orDefault(c.SendQueue, DefaultSendQueue),
		yieldThreshold:  c.YieldThreshold,
		quantum:         orDefault(c.Quantum, DefaultQuantum),
		maxBatch:        orDefault(c.MaxBatch, DefaultMaxBatch),
		handshake:       c.HandshakeTimeout,
		recvBudget:      c.RecvBudget,
	}
	s.initialWindow = c.InitialWindow
	if s.initialWindow == 0 {
		s.initialWindow = s.streamWindow
		if s.recvBudget != nil {
			s.initialWindow = min(DefaultInitialWindow, s.streamWindow)
		}
	}
	if s.yieldThreshold == 0 {
		s.yieldThreshold = DefaultYieldThreshold
	}
	if s.handshake == 0 {
		s.handshake = DefaultHandshake
	}
	return s
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}
