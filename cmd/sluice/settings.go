package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/parent"
)

// settings holds every knob of `sluice serve`. Each has one name across the
// flag (--name), the environment (SLUICE_NAME) and the docs.
type settings struct {
	listen        string
	adminListen   string
	workers       int
	workerCmd     string
	root          string
	sndbuf        size
	maxInFlight   int
	queueTimeout  time.Duration
	maxQueue      int
	drainTimeout  time.Duration
	admission     string
	sched         string
	highWatermark size
	lowWatermark  size
	logFormat     string
	heartbeat     time.Duration
	liveness      time.Duration
	maxRequests   int
	maxRSS        size
	workerMemory  size
}

// size is a byte count that accepts 4096, 64KiB, 4MiB, 1GiB.
type size int64

func (s *size) String() string { return fmt.Sprint(int64(*s)) }
func (s *size) Set(v string) error {
	if v == "-1" {
		*s = -1 // "none", where a setting documents it
		return nil
	}
	n, err := demo.ParseSize(v)
	if err != nil {
		return err
	}
	*s = size(n)
	return nil
}

func serveFlags(fs *flag.FlagSet) *settings {
	s := &settings{sndbuf: 4 << 20, highWatermark: 8 << 20}
	fs.StringVar(&s.listen, "listen", "127.0.0.1:8080", "HTTP address to serve clients on")
	fs.StringVar(&s.adminListen, "admin-listen", "127.0.0.1:9090", "address for /healthz, /readyz, /status; empty disables")
	fs.IntVar(&s.workers, "workers", 0, "worker processes; 0 means one per CPU available")
	fs.StringVar(&s.workerCmd, "worker-cmd", "", "path of a worker binary (one built with child.Main); empty re-executes this binary as the built-in demo worker")
	fs.StringVar(&s.root, "root", "", "directory the demo worker serves under /files/; empty disables /files/")
	fs.Var(&s.sndbuf, "sndbuf", "SO_SNDBUF of both ends of every worker socket (bytes, or KiB/MiB); the effective value is logged")
	fs.IntVar(&s.maxInFlight, "max-inflight", parent.DefaultMaxInFlight, "requests one worker handles at once")
	fs.DurationVar(&s.queueTimeout, "queue-timeout", 30*time.Second, "how long a request waits for a worker with room before 503")
	fs.IntVar(&s.maxQueue, "max-queue", 1024, "requests that may wait for a worker at once; more get 503 at once")
	fs.DurationVar(&s.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long in-flight responses have to finish")
	fs.StringVar(&s.admission, "admission", "on", "admission: on, or off (no in-flight limit in the parent or the worker, no watermark gate: every request starts at once; for comparisons)")
	fs.StringVar(&s.sched, "sched", "sequential", "worker data scheduling: sequential or round-robin")
	fs.Var(&s.highWatermark, "high-watermark", "queued response bytes per worker above which no new handler starts")
	fs.Var(&s.lowWatermark, "low-watermark", "queued bytes at which waiting handlers start again; 0 means a quarter of --high-watermark")
	fs.StringVar(&s.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&s.heartbeat, "heartbeat-interval", parent.DefaultHeartbeat, "how often the parent pings each worker")
	fs.DurationVar(&s.liveness, "liveness-window", parent.DefaultLivenessWindow, "a worker that sends nothing at all for this long is presumed hung and replaced (not a request timeout: busy workers still answer pings)")
	fs.IntVar(&s.maxRequests, "max-requests", 0, "recycle a worker after about this many requests (+10% jitter); 0 never")
	fs.Var(&s.maxRSS, "worker-max-rss", "recycle a worker whose resident memory exceeds this (bytes or KiB/MiB/GiB); 0 never")
	fs.Var(&s.workerMemory, "worker-memory-limit", "GOMEMLIMIT of each worker; 0 means a share of the container's memory limit, -1 none")
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
	return "SLUICE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (s *settings) check() error {
	switch {
	case s.admission != "on" && s.admission != "off":
		return fmt.Errorf("--admission %q: use on or off", s.admission)
	case s.sched != "sequential" && s.sched != "round-robin":
		return fmt.Errorf("--sched %q: use sequential or round-robin", s.sched)
	case s.logFormat != "text" && s.logFormat != "json":
		return fmt.Errorf("--log-format %q: use text or json", s.logFormat)
	case s.maxInFlight < 1:
		return fmt.Errorf("--max-inflight %d: must be at least 1", s.maxInFlight)
	case s.workers < 0:
		return fmt.Errorf("--workers %d: use 0 (one per CPU) or more", s.workers)
	}
	return nil
}

// workerEnv is what the parent passes to its workers so that both ends
// agree on the settings the worker enforces.
func (s *settings) workerEnv() []string {
	return []string{
		"SLUICE_MAX_INFLIGHT=" + fmt.Sprint(s.maxInFlight),
		"SLUICE_SNDBUF=" + fmt.Sprint(int64(s.sndbuf)),
		"SLUICE_ADMISSION=" + s.admission,
		"SLUICE_SCHED=" + s.sched,
		"SLUICE_HIGH_WATERMARK=" + fmt.Sprint(int64(s.highWatermark)),
		"SLUICE_LOW_WATERMARK=" + fmt.Sprint(int64(s.lowWatermark)),
		"SLUICE_ROOT=" + s.root,
		"SLUICE_LOG_FORMAT=" + s.logFormat,
	}
}
