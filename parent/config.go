package parent

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/ipc/settings"
	"github.com/sluicegw/sluice/parent/cgroup"
	"github.com/sluicegw/sluice/stream"
)

// Config tunes the Gateway and its Supervisor. Every field states its unit
// and what zero means; VerifyConfig checks it.
type Config struct {
	// Workers is how many worker processes to run. Zero means the
	// container's CPU quota (cgroup v1 or v2, the tightest of the process's
	// cgroup and its ancestors), rounded down, at least 1 and at most the
	// CPUs in the affinity mask; see package cgroup.
	Workers int

	// WorkerMemoryLimit is the GOMEMLIMIT, in bytes, given to each worker.
	// Zero means a share of the container's memory limit (none without
	// one); negative means none.
	WorkerMemoryLimit int64

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

	// MaxInFlight is a hard cap on the requests the gateway sends to one
	// worker at once, and on the handlers the worker runs (with no
	// admission controller); the workers' load reports are then not used
	// for routing. Zero means automatic: each worker's controller sets its
	// limit from measured CPU pressure, and the gateway sends a worker a
	// request while its open streams are fewer than what its last load
	// report allows (docs/PROTOCOL.md, "Routing and LOAD").
	MaxInFlight int

	// QueueTimeout is how long a request may wait for a worker with room
	// before it is answered 503. Zero means 30 s.
	QueueTimeout time.Duration

	// MaxQueue is how many requests may wait for a worker at once; more are
	// answered 503 at once. Zero means 1024.
	MaxQueue int

	// SendTimeout cuts a client that takes no bytes of its response for
	// this long (nginx's send_timeout): each write to it that may block
	// gets this, and at most an eighth more, before the response is
	// aborted (the connection closes, so it never looks complete) and its
	// stream reset, which ends the handler's context. A write is of up to
	// 1 MiB, so a client that takes less than that within the timeout is
	// cut too. Zero means none; sluice serve's default is
	// DefaultSendTimeout.
	SendTimeout time.Duration

	// BodyTimeout cuts a client that sends no bytes of its request body
	// for this long (nginx's client_body_timeout): each read of the body
	// gets this, and at most an eighth more. Before any response the
	// client gets 408 and the connection closes; after, the response is
	// cut; either way the worker's stream is reset. Zero means none;
	// sluice serve's default is DefaultBodyTimeout.
	BodyTimeout time.Duration

	// BodyMinRate, in bytes a second, bounds a body that trickles, as
	// Apache's mod_reqtimeout MinRate: the reads of a body may wait on its
	// client BodyTimeout in all, and every BodyMinRate bytes that arrive
	// give a second of it back, never past BodyTimeout. A client sending
	// at the rate or faster is never cut; one sending a fraction f of it is
	// cut after about BodyTimeout/(1-f). Zero means none (only
	// BodyTimeout's silence is cut); sluice serve's default is
	// DefaultBodyMinRate. Without a BodyTimeout it does nothing.
	BodyMinRate int64

	// SendMinRate, in bytes a second, bounds a client that takes its
	// response in a trickle, likewise: the writes to it may wait
	// SendTimeout in all, and every SendMinRate bytes it takes give a
	// second back, never past SendTimeout. Only writes that wait on the
	// client count, never a worker that produces slowly. Zero means none;
	// sluice serve's default is DefaultSendMinRate. Without a SendTimeout
	// it does nothing.
	SendMinRate int64

	// QueueTarget is the least a request may be held for a worker while the
	// queue is overloaded (it has not been empty for QueueInterval and grew
	// over it): one is held only if a worker is expected to free a slot for
	// it within a few arrivals, at most half the time a request takes, and
	// at least this; the others are refused at once. Zero means 5 ms;
	// negative turns this off, every request then waiting up to
	// QueueTimeout.
	QueueTarget time.Duration

	// LightCPU is the CPU time a handler uses before its response head, on
	// its endpoint's average, at or under which the endpoint's requests
	// are light: they go to a worker at once and start there beside the
	// handlers that compute, instead of waiting for the CPU limits
	// (cost.go). Zero means DefaultLightCPU; negative turns the light lane
	// off. A hard cap (MaxInFlight) turns it off too.
	LightCPU time.Duration

	// QueueInterval is how long the queue must stand and grow before it
	// counts as overloaded. It no longer does once nothing has found the
	// workers full for a quarter of a second or this (the longer), or once
	// no more came than left over an interval and its growth over the last
	// second has all but stopped. Zero means 100 ms.
	QueueInterval time.Duration

	// RetryAfter is the least delay suggested to refused clients, and
	// MaxRetryAfter the most: between them, Retry-After is the time the
	// workers, at the rate they have been taking requests, need for those
	// waiting and those refused over the last second, rounded up to whole
	// seconds. Zero means 1 s and 60 s.
	RetryAfter, MaxRetryAfter time.Duration

	// RestartDelay is the first delay before a dead worker is replaced; it
	// doubles with each quick death up to MaxRestartDelay. Zero means 100 ms.
	RestartDelay time.Duration

	// MaxRestartDelay caps the restart delay. Zero means 30 s.
	MaxRestartDelay time.Duration

	// StopTimeout is how long a stopping worker has to exit after its
	// connection closed before it is killed. Zero means 5 s.
	StopTimeout time.Duration

	// HeartbeatInterval is how often the parent pings each worker. Zero
	// means 1 s.
	HeartbeatInterval time.Duration

	// LivenessWindow is how long a worker may send nothing at all (no pong,
	// no data, no load report) before it is presumed hung, killed and
	// replaced. It is not a request timeout: a worker busy with long
	// CPU-heavy handlers still answers pings. Zero means 10 s.
	LivenessWindow time.Duration

	// KillGrace is how long a hung worker has between SIGTERM and SIGKILL.
	// Zero means 2 s.
	KillGrace time.Duration

	// MaxRequests recycles a worker (drained and replaced, no request
	// failing) after exactly this many requests were routed to it: the
	// gateway stops routing to it at the last one. Zero means never.
	MaxRequests int

	// MaxRSS recycles a worker whose resident memory exceeds this many
	// bytes, checked every HeartbeatInterval. Zero means never.
	MaxRSS int64

	// StartTimeout is how long a new worker has, from its start, to
	// complete its handshake before it counts as failed to start (and is
	// killed); it takes the place of IPC.HandshakeTimeout for workers.
	// Zero means IPC.HandshakeTimeout if set, else DefaultStartTimeout.
	StartTimeout time.Duration

	// RetireTimeout bounds how long a worker being replaced (rolling
	// restart, recycling) may take to finish its requests. Zero means 60 s.
	RetireTimeout time.Duration

	// IPC tunes the protocol on the parent's side of each connection; nil
	// means defaults.
	IPC *ipc.Config

	// BufferBudget is about the most response data, in bytes, the parent
	// buffers across every stream of every worker: each stream's window
	// shrinks toward its share of it as more streams are open, down to the
	// initial window (64 KiB), and grows up to IPC.StreamWindow when
	// few are (see ipc.Config.RecvBudget). Zero means 16 MiB; negative
	// means none, every stream getting the full StreamWindow from the
	// start; otherwise at least 1 MiB. An IPC.RecvBudget set by the
	// embedder takes its place.
	BufferBudget int64

	// MaxHeaderBytes bounds a request's head as sent to a worker (its
	// fields and their lengths, docs/PROTOCOL.md): more is answered 431,
	// and a request target over a quarter of it 414, before any worker
	// sees it. Zero means DefaultMaxHeaderBytes; at most HeadFrameLimit,
	// what a HEAD frame carries. An embedder sets its http.Server's
	// MaxHeaderBytes to ServerMaxHeaderBytes of it.
	MaxHeaderBytes int

	// Logger receives lifecycle events; nil means slog.Default().
	Logger *slog.Logger

	// AccessLog receives one line per request (accesslog.go): time,
	// client, method, target, protocol, status, body bytes, duration, time
	// to first byte, worker, request id and how the response ended. Nil
	// means none.
	AccessLog io.Writer

	// AccessLogFormat is AccessLogText (logfmt, the default when empty)
	// or AccessLogJSON (one object per line).
	AccessLogFormat string

	// RequestTimeout bounds a request from its arrival to its response's
	// last byte: one with no response head by then gets 504, one whose
	// response started is cut (the connection closes, so it never looks
	// complete); either way its stream is reset, which ends the handler's
	// context. Zero means none, which is also sluice serve's default.
	RequestTimeout time.Duration

	// MaxBody is the largest request body, in bytes: a longer declared
	// Content-Length gets 413 without the body being read, a chunked body
	// is cut where it passes it (413 if no response started, else the
	// stream reset). Zero means no limit; sluice serve's default is
	// DefaultMaxBody.
	MaxBody int64

	// WorkerHeaderTimeout bounds the wait for a worker's response head,
	// counted from the request's head sent to the worker and starting
	// over at each piece of a request body it takes (nginx's
	// proxy_send_timeout and proxy_read_timeout before the head, Envoy's
	// response-headers timeout). WorkerIdleTimeout bounds how long a response may
	// get no data while its client could take it. Either ends the stream
	// (the handler's context ends; the client gets 504 before the head, a
	// cut after it) and takes the worker out of routing and replaces it:
	// a worker whose streams make no progress is stalled, whatever frames
	// it still sends. Time waiting on the client never counts. Zero means
	// none; sluice serve's defaults are DefaultWorkerHeaderTimeout and
	// DefaultWorkerIdleTimeout.
	WorkerHeaderTimeout, WorkerIdleTimeout time.Duration
}

// sluice serve's worker timeouts (Config.WorkerHeaderTimeout,
// Config.WorkerIdleTimeout), nginx's proxy_read_timeout.
const (
	DefaultWorkerHeaderTimeout = 60 * time.Second
	DefaultWorkerIdleTimeout   = 60 * time.Second
)

// verifyWorkerTimeouts checks the worker timeout fields.
func verifyWorkerTimeouts(c *Config) error {
	if c.WorkerHeaderTimeout < 0 || c.WorkerIdleTimeout < 0 {
		return fmt.Errorf("parent: WorkerHeaderTimeout %v and WorkerIdleTimeout %v must not be negative; use 0 (none) or a duration", c.WorkerHeaderTimeout, c.WorkerIdleTimeout)
	}
	return nil
}

// DefaultMaxBody is sluice serve's body limit.
const DefaultMaxBody = 1 << 30

// verifyRequestLimits checks the access log and request limit fields.
func verifyRequestLimits(c *Config) error {
	switch {
	case c.AccessLogFormat != "" && c.AccessLogFormat != AccessLogText && c.AccessLogFormat != AccessLogJSON:
		return fmt.Errorf("parent: AccessLogFormat %q: use %q or %q", c.AccessLogFormat, AccessLogText, AccessLogJSON)
	case c.RequestTimeout < 0:
		return fmt.Errorf("parent: RequestTimeout %v is negative; use 0 (none) or a duration", c.RequestTimeout)
	case c.MaxBody < 0:
		return fmt.Errorf("parent: MaxBody %d is negative; use 0 (no limit) or a byte count", c.MaxBody)
	}
	return nil
}

// Defaults, exported so flags and docs quote the same values. Those a
// worker applies too are the settings package's, so both ends agree.
const (
	DefaultSendBuffer      = settings.DefaultSendBuffer
	DefaultMaxInFlight     = settings.DefaultMaxInFlight
	DefaultQueueTimeout    = 30 * time.Second
	DefaultMaxQueue        = 1024
	DefaultSendTimeout     = 60 * time.Second
	DefaultBodyTimeout     = 60 * time.Second
	DefaultBodyMinRate     = 500
	DefaultSendMinRate     = 500
	DefaultQueueTarget     = 5 * time.Millisecond
	DefaultQueueInterval   = 100 * time.Millisecond
	DefaultRetryAfter      = time.Second
	DefaultMaxRetryAfter   = 60 * time.Second
	DefaultRestartDelay    = 100 * time.Millisecond
	DefaultMaxRestartDelay = 30 * time.Second
	DefaultStopTimeout     = 5 * time.Second
	DefaultHeartbeat       = time.Second
	DefaultLivenessWindow  = 10 * time.Second
	DefaultKillGrace       = 2 * time.Second
	DefaultRetireTimeout   = 60 * time.Second
	DefaultStartTimeout    = 30 * time.Second
	DefaultBufferBudget    = 16 << 20
)

// MinQueueInterval is the shortest QueueInterval: the overload window
// slides by a tenth of it, and below a few slots of a millisecond it
// would judge growth on too few requests to tell it from chance.
const MinQueueInterval = time.Millisecond

// MinBufferBudget is the smallest positive BufferBudget: below a few streams' worth
// of initial windows every stream would sit at its floor, and the figure is
// more likely a unit mistake than a plan.
const MinBufferBudget = 1 << 20

// MaxInFlightCap is the largest hard in-flight cap accepted at start: the
// fewest streams a worker accepts by ipc's default. The gateway never has
// more requests open on a worker than the streams it accepts, so a larger
// cap would make requests fail instead of wait. Workers that accept more
// (the Go worker accepts child.DefaultMaxStreams) may be tuned higher at
// run time (PUT /config), up to their stream limit.
const MaxInFlightCap = ipc.DefaultMaxStreams

// CheckMaxInFlight reports whether n is an in-flight setting a worker with
// the default stream limit honours, naming the setting as what (a flag, a
// field); it is the one message for the flag, Config and PUT /config.
func CheckMaxInFlight(what string, n int) error {
	return CheckMaxInFlightUpTo(what, n, MaxInFlightCap, "")
}

// CheckMaxInFlightUpTo is CheckMaxInFlight against the stream limit limit
// of the workers running; whose, if not empty, says whose limit it is.
func CheckMaxInFlightUpTo(what string, n, limit int, whose string) error {
	if n >= 0 && n <= limit {
		return nil
	}
	if whose == "" {
		whose = "a worker's default stream limit"
	}
	return fmt.Errorf("%s %d is out of range; use 0 (automatic) or a hard cap of 1..%d (%s)", what, n, limit, whose)
}

// VerifyConfig checks c and names the first bad field, its value and what
// is accepted.
func VerifyConfig(c *Config) error {
	switch {
	case c.Workers < 0 || c.Workers > 1024:
		return fmt.Errorf("parent: Workers %d is out of range; use 0 (one per CPU) or 1..1024", c.Workers)
	case CheckMaxInFlight("parent: MaxInFlight", c.MaxInFlight) != nil:
		return CheckMaxInFlight("parent: MaxInFlight", c.MaxInFlight)
	case c.QueueTimeout < 0:
		return fmt.Errorf("parent: QueueTimeout %v is negative; use 0 (default %v) or a duration", c.QueueTimeout, DefaultQueueTimeout)
	case c.MaxQueue < 0:
		return fmt.Errorf("parent: MaxQueue %d is negative; use 0 (default %d) or a count", c.MaxQueue, DefaultMaxQueue)
	case c.SendTimeout < 0:
		return fmt.Errorf("parent: SendTimeout %v is negative; use 0 (none) or a duration", c.SendTimeout)
	case c.BodyTimeout < 0:
		return fmt.Errorf("parent: BodyTimeout %v is negative; use 0 (none) or a duration", c.BodyTimeout)
	case c.BodyMinRate < 0:
		return fmt.Errorf("parent: BodyMinRate %d is negative; use 0 (none) or bytes a second", c.BodyMinRate)
	case c.SendMinRate < 0:
		return fmt.Errorf("parent: SendMinRate %d is negative; use 0 (none) or bytes a second", c.SendMinRate)
	case c.QueueInterval < 0 || c.QueueInterval > 0 && c.QueueInterval < MinQueueInterval:
		return fmt.Errorf("parent: QueueInterval %v is out of range; use 0 (default %v) or at least %v", c.QueueInterval, DefaultQueueInterval, MinQueueInterval)
	case c.QueueTarget > 0 && c.QueueTarget >= cmp.Or(c.QueueInterval, DefaultQueueInterval),
		c.QueueTarget == 0 && c.QueueInterval > 0 && DefaultQueueTarget >= c.QueueInterval:
		return fmt.Errorf("parent: QueueTarget %v (0: %v) is not shorter than QueueInterval %v (0: %v): an overloaded queue would let requests wait as long as it takes to call it overloaded", c.QueueTarget, DefaultQueueTarget, c.QueueInterval, DefaultQueueInterval)
	case c.RetryAfter > 0 && c.MaxRetryAfter > 0 && c.RetryAfter > c.MaxRetryAfter:
		return fmt.Errorf("parent: RetryAfter %v is more than MaxRetryAfter %v; the least suggested delay must not exceed the most", c.RetryAfter, c.MaxRetryAfter)
	case c.RetryAfter < 0, c.MaxRetryAfter < 0, c.RestartDelay < 0, c.MaxRestartDelay < 0, c.StopTimeout < 0,
		c.HeartbeatInterval < 0, c.LivenessWindow < 0, c.KillGrace < 0, c.RetireTimeout < 0:
		return fmt.Errorf("parent: durations (RetryAfter, MaxRetryAfter, RestartDelay, MaxRestartDelay, StopTimeout, HeartbeatInterval, LivenessWindow, KillGrace, RetireTimeout) must not be negative")
	case c.StartTimeout < 0:
		return fmt.Errorf("parent: StartTimeout %v is negative; use 0 (default %v) or a duration", c.StartTimeout, DefaultStartTimeout)
	case c.MaxRequests < 0 || c.MaxRSS < 0:
		return fmt.Errorf("parent: MaxRequests %d and MaxRSS %d must not be negative; 0 means no limit", c.MaxRequests, c.MaxRSS)
	case c.BufferBudget > 0 && c.BufferBudget < MinBufferBudget:
		return fmt.Errorf("parent: BufferBudget %d is too small; use 0 (default %d), a negative value (none) or at least %d bytes", c.BufferBudget, DefaultBufferBudget, MinBufferBudget)
	case c.LivenessWindow != 0 && c.HeartbeatInterval != 0 && c.LivenessWindow < 2*c.HeartbeatInterval:
		return fmt.Errorf("parent: LivenessWindow %v is less than two HeartbeatIntervals (%v): one late pong would kill a healthy worker", c.LivenessWindow, c.HeartbeatInterval)
	}
	if err := verifyMaxHeaderBytes(c.MaxHeaderBytes); err != nil {
		return err
	}
	if err := verifyRequestLimits(c); err != nil {
		return err
	}
	if err := verifyWorkerTimeouts(c); err != nil {
		return err
	}
	return ipc.VerifyConfig(c.IPC)
}

// withDefaults returns a copy of c with every zero filled in. Sizing from
// the container can fail (unreadable cgroup files): then it is an error
// unless Workers was set, because guessing from the host's CPUs is how a
// 1-CPU container ends up with 48 workers.
func (c Config) withDefaults() (Config, error) {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Workers == 0 || c.WorkerMemoryLimit == 0 {
		lim, err := cgroup.Read()
		if err != nil && c.Workers == 0 && !errors.Is(err, cgroup.ErrNotSupported) {
			return c, fmt.Errorf("parent: sizing workers from the container: %w; set --workers (and --worker-memory-limit) explicitly", err)
		}
		for _, step := range lim.Steps {
			c.Logger.Debug("cgroup", "step", step)
		}
		if c.Workers == 0 {
			n, reason := lim.Workers()
			if err != nil {
				n, reason = runtime.NumCPU(), fmt.Sprintf("no cgroup information (%v); %d CPUs", err, runtime.NumCPU())
			}
			c.Workers = n
			c.Logger.Info("worker count from the environment", "workers", n, "reason", reason)
		}
		if c.WorkerMemoryLimit == 0 {
			m, reason := lim.WorkerMemoryLimit(c.Workers)
			c.WorkerMemoryLimit = m
			c.Logger.Info("worker memory limit from the environment", "gomemlimit_bytes", m, "reason", reason)
		}
	}
	if c.WorkerMemoryLimit > 0 {
		c.WorkerEnv = append(append([]string(nil), c.WorkerEnv...), fmt.Sprintf("%s=%d", settings.EnvMemoryLimit, c.WorkerMemoryLimit))
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = DefaultSendBuffer
	}
	if c.QueueTimeout == 0 {
		c.QueueTimeout = DefaultQueueTimeout
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = DefaultMaxQueue
	}
	if c.QueueTarget == 0 {
		c.QueueTarget = DefaultQueueTarget
	}
	if c.QueueInterval == 0 {
		c.QueueInterval = DefaultQueueInterval
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = max(DefaultMaxRetryAfter, c.RetryAfter)
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
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeat
	}
	if c.LivenessWindow == 0 {
		c.LivenessWindow = DefaultLivenessWindow
	}
	if c.KillGrace == 0 {
		c.KillGrace = DefaultKillGrace
	}
	if c.RetireTimeout == 0 {
		c.RetireTimeout = DefaultRetireTimeout
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
		if c.IPC != nil && c.IPC.HandshakeTimeout > 0 {
			c.StartTimeout = c.IPC.HandshakeTimeout
		}
	}
	c.IPC = withBodyQueue(c.withRecvBudget())
	return c, nil
}

// bodyQueue is how much of a request body the parent queues per stream
// beyond the worker's credit, in place of ipc's 1 MiB default: the credit
// window paces an upload, so the queue only needs to keep the client's
// next reads ready, while every upload stalled behind a slow handler holds
// it whole (TestEndToEndUploadIsFlowControlled; figures in
// bench/README.md).
const bodyQueue = 256 << 10

// withBodyQueue returns ic (nil: the defaults) with SendQueue set to
// bodyQueue unless ic sets its own.
func withBodyQueue(ic *ipc.Config) *ipc.Config {
	if ic != nil && ic.SendQueue != 0 {
		return ic
	}
	var c ipc.Config
	if ic != nil {
		c = *ic
	}
	c.SendQueue = bodyQueue
	return &c
}

// withRecvBudget returns the IPC settings every worker connection shares,
// with the gateway's receive budget in them: one budget for all, so that
// it bounds the whole parent, not one worker's share of it.
func (c Config) withRecvBudget() *ipc.Config {
	if c.BufferBudget < 0 || (c.IPC != nil && c.IPC.RecvBudget != nil) {
		return c.IPC
	}
	var ic ipc.Config
	if c.IPC != nil {
		ic = *c.IPC
	}
	ic.RecvBudget = stream.NewRecvBudget(cmp.Or(c.BufferBudget, DefaultBufferBudget))
	return &ic
}
