package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sluicegw/sluice/ipc/settings"
	"github.com/sluicegw/sluice/parent"
	"github.com/sluicegw/sluice/sockopt"
)

// serveSettings holds every knob of `sluice serve`. Each has one name across
// the flag (--name), the environment (SLUICE_NAME) and the docs; those a
// worker enforces reach it through the variables of package settings, which
// are the same twins.
type serveSettings struct {
	listen        string
	adminListen   string
	workers       int
	workerCmd     string
	root          string
	sndbuf        size
	maxInFlight   int
	queueTimeout  time.Duration
	queueTarget   time.Duration
	queueInterval time.Duration
	retryAfter    time.Duration
	maxRetryAfter time.Duration
	sendTimeout   time.Duration
	maxQueue      int
	drainTimeout  time.Duration
	admission     string
	sched         string
	highWatermark size
	lowWatermark  size
	queueLimit    size
	logFormat     string
	heartbeat     time.Duration
	liveness      time.Duration
	maxRequests   int
	maxRSS        size
	workerMemory  size
	bufferBudget  size
	compress      string
}

// size is a byte count in the syntax of settings.ParseSize (4096, 64KiB,
// 4MiB, 1GiB), or -1 where a setting documents it as "none".
type size int64

func (s *size) String() string { return settings.FormatSize(int64(*s)) }
func (s *size) Set(v string) error {
	if strings.TrimSpace(v) == "-1" {
		*s = -1
		return nil
	}
	n, err := settings.ParseSize(v)
	var se *settings.SizeError
	if errors.As(err, &se) {
		return errors.New(se.Why) // the flag package and applyEnv quote v already
	}
	if err != nil {
		return err
	}
	*s = size(n)
	return nil
}

func serveFlags(fs *flag.FlagSet) *serveSettings {
	s := &serveSettings{sndbuf: settings.DefaultSendBuffer, highWatermark: settings.DefaultHighWatermark}
	fs.StringVar(&s.listen, "listen", "127.0.0.1:8080", "HTTP address to serve clients on")
	fs.StringVar(&s.adminListen, "admin-listen", "127.0.0.1:9090", "address for /healthz, /readyz, /status; empty disables")
	fs.IntVar(&s.workers, "workers", 0, "worker processes; 0 means one per CPU available")
	fs.StringVar(&s.workerCmd, "worker-cmd", "", "path of a worker binary (one built with child.Main); empty re-executes this binary as the built-in demo worker")
	fs.StringVar(&s.root, "root", "", "directory the demo worker serves under /files/; empty disables /files/")
	fs.Var(&s.sndbuf, "sndbuf", "SO_SNDBUF of both ends of every worker socket (bytes, or KiB/MiB); -1 leaves the kernel's default; the effective value is logged")
	fs.IntVar(&s.maxInFlight, "max-inflight", settings.DefaultMaxInFlight, fmt.Sprintf("0: automatic (each worker's CPU admission controller sets its limit, and the parent routes by the workers' load reports); 1..%d: a hard cap on the requests one worker handles at once, with no controller", settings.MaxInFlightLimit))
	fs.DurationVar(&s.queueTimeout, "queue-timeout", parent.DefaultQueueTimeout, "how long a request waits for a worker with room before 503")
	fs.DurationVar(&s.queueTarget, "queue-target", parent.DefaultQueueTarget, "while the wait queue is overloaded (standing and growing for --queue-interval), how long a request may wait for a worker; one the queue is not expected to reach within it, beyond the one that always waits, gets 503 at once; 0 turns this off (every request may wait --queue-timeout)")
	fs.DurationVar(&s.queueInterval, "queue-interval", parent.DefaultQueueInterval, "how long the wait queue must stand and grow to count as overloaded, and stop growing to count as normal again")
	fs.DurationVar(&s.retryAfter, "retry-after", parent.DefaultRetryAfter, "the least Retry-After of a 503")
	fs.DurationVar(&s.maxRetryAfter, "max-retry-after", parent.DefaultMaxRetryAfter, "the most Retry-After of a 503; in between it is the time the workers need, at their measured rate, for the requests waiting and those refused over the last second")
	fs.DurationVar(&s.sendTimeout, "send-timeout", parent.DefaultSendTimeout, "a client that takes no bytes of its response for this long is cut (the connection closed, the worker's stream reset); 0 never")
	fs.IntVar(&s.maxQueue, "max-queue", parent.DefaultMaxQueue, "requests that may wait for a worker at once; more get 503 at once")
	fs.DurationVar(&s.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long in-flight responses have to finish")
	fs.StringVar(&s.admission, "admission", settings.AdmissionOn, "admission: on, or off (no in-flight limit in the parent or the worker, no watermark gate: every request starts at once; for comparisons)")
	fs.StringVar(&s.sched, "sched", settings.PolicySequential, "worker data scheduling: "+settings.PolicySequential+" or "+settings.PolicyRoundRobin)
	fs.Var(&s.highWatermark, "high-watermark", "queued response bytes per worker above which no new handler starts")
	fs.Var(&s.lowWatermark, "low-watermark", "queued bytes at which waiting handlers start again; 0 means a quarter of --high-watermark")
	fs.Var(&s.queueLimit, "queue-limit", "queued response bytes per worker at which a handler's writes block; 0 means twice --high-watermark")
	fs.StringVar(&s.logFormat, "log-format", settings.LogText, "log format: text or json")
	fs.DurationVar(&s.heartbeat, "heartbeat-interval", parent.DefaultHeartbeat, "how often the parent pings each worker")
	fs.DurationVar(&s.liveness, "liveness-window", parent.DefaultLivenessWindow, "a worker that sends nothing at all for this long is presumed hung and replaced (not a request timeout: busy workers still answer pings)")
	fs.IntVar(&s.maxRequests, "max-requests", 0, "recycle a worker after about this many requests (+10% jitter); 0 never")
	fs.Var(&s.maxRSS, "worker-max-rss", "recycle a worker whose resident memory exceeds this (bytes or KiB/MiB/GiB); 0 never")
	fs.Var(&s.workerMemory, "worker-memory-limit", "GOMEMLIMIT of each worker; 0 means a share of the container's memory limit, -1 none")
	s.bufferBudget = parent.DefaultBufferBudget
	fs.Var(&s.bufferBudget, "buffer-budget", "response bytes the parent buffers across all streams, about: each stream's window shrinks toward its share of it (at least 64KiB, at most 4MiB); -1 none (4MiB per stream)")
	fs.StringVar(&s.compress, "compress", settings.DefaultCompress, "how workers compress responses: off, or the codings (zstd, gzip) in order of preference for a client that accepts both equally, then optionally ;min=SIZE (least body compressed, default 1KiB) and ;types=TYPE,... (only these media types, e.g. text/*,application/json; default every type but octet-stream, images, audio, video, archives and fonts)")
	return s
}

// applyEnv sets every flag not given on the command line from its
// SLUICE_ twin, so the command line wins over the environment.
func applyEnv(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		v, ok := os.LookupEnv(env)
		if !ok || given[f.Name] || err != nil {
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = fmt.Errorf("%s=%q: %v", env, v, e)
		}
	})
	return err
}

func envName(flagName string) string {
	return settings.EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// flagName is envName backwards, so that an error about a worker variable
// can name the flag the operator set.
func flagName(env string) string {
	return "--" + strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, settings.EnvPrefix), "_", "-"))
}

// check refuses, before any worker starts, what would make every worker
// refuse its environment and the supervisor restart it in a loop.
func (s *serveSettings) check() error {
	switch {
	case s.admission != settings.AdmissionOn && s.admission != settings.AdmissionOff:
		return fmt.Errorf("--admission %q: use %s or %s", s.admission, settings.AdmissionOn, settings.AdmissionOff)
	case settings.CheckSched(s.sched) != nil:
		return fmt.Errorf("--sched %q: use %s or %s", s.sched, settings.PolicySequential, settings.PolicyRoundRobin)
	case s.logFormat != settings.LogText && s.logFormat != settings.LogJSON:
		return fmt.Errorf("--log-format %q: use %s or %s", s.logFormat, settings.LogText, settings.LogJSON)
	case s.sendTimeout < 0:
		return fmt.Errorf("--send-timeout %v: use 0 (never) or a positive duration", s.sendTimeout)
	case s.queueTarget < 0:
		return fmt.Errorf("--queue-target %v: use 0 (off) or a positive duration", s.queueTarget)
	case s.queueInterval < parent.MinQueueInterval:
		return fmt.Errorf("--queue-interval %v: use at least %v", s.queueInterval, parent.MinQueueInterval)
	case s.queueTarget >= s.queueInterval:
		return fmt.Errorf("--queue-target %v is not shorter than --queue-interval %v: an overloaded queue would let requests wait as long as it takes to call it overloaded", s.queueTarget, s.queueInterval)
	case s.retryAfter < time.Second || s.maxRetryAfter < s.retryAfter:
		return fmt.Errorf("--retry-after %v and --max-retry-after %v: use at least 1s, the first no more than the second", s.retryAfter, s.maxRetryAfter)
	case s.workers < 0:
		return fmt.Errorf("--workers %d: use 0 (one per CPU) or more", s.workers)
	case s.sndbuf > sockopt.MaxBuffer:
		return fmt.Errorf("--sndbuf %s: too large for a socket buffer; use at most %d bytes, or -1 for the kernel's default", s.sndbuf.String(), sockopt.MaxBuffer)
	}
	if err := settings.CheckMaxInFlight("--max-inflight", s.maxInFlight); err != nil {
		return err
	}
	if s.bufferBudget >= 0 && s.bufferBudget < parent.MinBufferBudget {
		return fmt.Errorf("--buffer-budget %s: too small to share among streams; use at least %s, or -1 for none", s.bufferBudget.String(), settings.FormatSize(parent.MinBufferBudget))
	}
	if err := s.worker().Validate(); err != nil {
		var ee *settings.EnvError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s %s (%s): %s", flagName(ee.Name), ee.Value, ee.Name, ee.Why)
		}
		return err
	}
	return nil
}

// worker is what every worker is told, the same for all of them; the
// supervisor adds each one's descriptor and id.
func (s *serveSettings) worker() settings.Worker {
	return settings.Worker{
		MaxInFlight:      s.maxInFlight,
		HighWatermark:    int64(s.highWatermark),
		LowWatermark:     int64(s.lowWatermark),
		QueueLimit:       int64(s.queueLimit),
		SendBuffer:       int64(s.sndbuf),
		DisableAdmission: s.admission == settings.AdmissionOff,
		Sched:            s.sched,
		LogFormat:        s.logFormat,
		Root:             s.root,
		Compress:         s.compress,
	}
}

// workerEnv is what the parent passes to its workers so that both ends
// agree on the settings the worker enforces.
func (s *serveSettings) workerEnv() []string { return s.worker().Env() }

// cfgQueueTarget is --queue-target for parent.Config, where off is negative
// (zero there means the default).
func (s *serveSettings) cfgQueueTarget() time.Duration {
	if s.queueTarget == 0 {
		return -1
	}
	return s.queueTarget
}
