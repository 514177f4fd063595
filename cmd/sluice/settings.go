package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sluicegw/sluice/ipc/settings"
	"github.com/sluicegw/sluice/parent"
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
	lightCPU      time.Duration
	queueInterval time.Duration
	retryAfter    time.Duration
	maxRetryAfter time.Duration
	sendTimeout   time.Duration
	bodyTimeout   time.Duration
	bodyMinRate   size
	sendMinRate   size
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

	shutdownDelay      time.Duration
	workerStartTimeout time.Duration
	// workerArgv is workerCmd split into words (checkStart).
	workerArgv []string
	// The front door: see listen.go, tls.go and admin.go.
	idleTimeout    time.Duration
	headerTimeout  time.Duration
	maxHeaderBytes size
	maxConns       int
	listenMode     fileMode
	tlsCert        string
	tlsKey         string
	h2c            bool
	adminToken     string
	adminTokenFile string
	adminAllowHost string
	// certs serves --tls-cert; set by checkListen.
	certs *certReloader
	// The front door: access log, request timeout, body limit.
	accessLog      string
	accessLogFile  string
	requestTimeout time.Duration
	maxBody        size
	compress       string
	// Worker timeouts (parent/progress.go).
	workerHeaderTimeout time.Duration
	workerIdleTimeout   time.Duration
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
	fs.StringVar(&s.listen, "listen", "127.0.0.1:8080", "address to serve clients on: host:port, or unix:PATH for a Unix socket (behind nginx)")
	fs.StringVar(&s.adminListen, "admin-listen", "127.0.0.1:9090", "address for /healthz, /readyz, /status, /metrics, /config, pprof: host:port (beyond loopback only with --admin-token) or unix:PATH; empty disables")
	fs.IntVar(&s.workers, "workers", 0, "worker processes; 0 means one per CPU available")
	fs.StringVar(&s.workerCmd, "worker-cmd", "", "a worker command (a binary built with child.Main) and its arguments, split like a shell does (quotes, backslashes; no expansion); empty re-executes this binary as the built-in demo worker")
	fs.StringVar(&s.root, "root", "", "directory the demo worker serves under /files/; empty disables /files/")
	fs.Var(&s.sndbuf, "sndbuf", "SO_SNDBUF of both ends of every worker socket (bytes, or KiB/MiB); -1 leaves the kernel's default; the effective value is logged")
	fs.IntVar(&s.maxInFlight, "max-inflight", settings.DefaultMaxInFlight, fmt.Sprintf("0: automatic (each worker's CPU admission controller sets its limit, and the parent routes by the workers' load reports); 1..%d: a hard cap on the requests one worker handles at once, with no controller", parent.MaxInFlightCap))
	fs.DurationVar(&s.queueTimeout, "queue-timeout", parent.DefaultQueueTimeout, "how long a request waits for a worker with room before 503")
	fs.DurationVar(&s.lightCPU, "light-cpu", parent.DefaultLightCPU, "the CPU a handler uses before its response head, on its endpoint's average, at or under which the endpoint's requests are light: they go to a worker at once and start beside the handlers that compute instead of waiting for the CPU limits; 0 turns the light lane off (every request waits for the CPU limits); a hard --max-inflight turns it off too")
	fs.DurationVar(&s.queueTarget, "queue-target", parent.DefaultQueueTarget, "while the wait queue is overloaded (standing and growing for --queue-interval), a request waits only if a worker is expected to free a slot for it within a few arrivals (at most half the time a request takes, at least this), and otherwise gets 503 at once; 0 turns this off (every request may wait --queue-timeout)")
	fs.DurationVar(&s.queueInterval, "queue-interval", parent.DefaultQueueInterval, "how long the wait queue must stand and grow to count as overloaded; it is normal again once nothing has found the workers full for a quarter of a second (or this, if longer), or no more came than left over one and its growth over the last second has all but stopped")
	fs.DurationVar(&s.retryAfter, "retry-after", parent.DefaultRetryAfter, "the least Retry-After of a 503")
	fs.DurationVar(&s.maxRetryAfter, "max-retry-after", parent.DefaultMaxRetryAfter, "the most Retry-After of a 503; in between it is the time the workers need, at their measured rate, for the requests waiting and those refused over the last second")
	fs.DurationVar(&s.bodyTimeout, "body-timeout", parent.DefaultBodyTimeout, "a client that sends no bytes of its request body for this long is cut (408 before any response, the connection closed, the worker's stream reset; nginx's client_body_timeout); 0 never")
	s.bodyMinRate, s.sendMinRate = parent.DefaultBodyMinRate, parent.DefaultSendMinRate
	fs.Var(&s.bodyMinRate, "body-min-rate", "bytes a second a request body must keep up (Apache's mod_reqtimeout MinRate): its reads may wait --body-timeout in all, and every this many bytes give a second back, so that a client trickling a body is cut like a silent one; 0 none (only silence is cut)")
	fs.Var(&s.sendMinRate, "send-min-rate", "bytes a second a client must take of its response, likewise: the writes to it may wait --send-timeout in all, and every this many bytes it takes give a second back; only waits on the client count, never a slow worker; 0 none")
	fs.DurationVar(&s.sendTimeout, "send-timeout", parent.DefaultSendTimeout, "a client that takes no bytes of its response for this long is cut (the connection closed, the worker's stream reset); 0 never")
	fs.IntVar(&s.maxQueue, "max-queue", parent.DefaultMaxQueue, "requests that may wait for a worker at once; more get 503 at once")
	fs.DurationVar(&s.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM/SIGINT, after --shutdown-delay, how long in-flight responses have to finish; those still running are cut (and counted in the log), and the exit status is 0 all the same")
	fs.StringVar(&s.admission, "admission", settings.AdmissionOn, "admission: on, or off (no in-flight limit in the parent or the worker, no watermark gate: every request starts at once; for comparisons)")
	fs.StringVar(&s.sched, "sched", settings.PolicySequential, "worker data scheduling: "+settings.PolicySequential+" or "+settings.PolicyRoundRobin)
	fs.Var(&s.highWatermark, "high-watermark", "queued response bytes per worker above which no new handler starts")
	fs.Var(&s.lowWatermark, "low-watermark", "queued bytes at which waiting handlers start again; 0 means a quarter of --high-watermark")
	fs.Var(&s.queueLimit, "queue-limit", "queued response bytes per worker at which a handler's writes block; 0 means twice --high-watermark")
	fs.StringVar(&s.logFormat, "log-format", settings.LogText, "log format: text or json")
	fs.DurationVar(&s.heartbeat, "heartbeat-interval", parent.DefaultHeartbeat, "how often the parent pings each worker")
	fs.DurationVar(&s.liveness, "liveness-window", parent.DefaultLivenessWindow, "a worker that sends nothing at all for this long is presumed hung and replaced (not a request timeout: busy workers still answer pings)")
	fs.IntVar(&s.maxRequests, "max-requests", 0, "recycle a worker after exactly this many requests: none is routed to it after the last, and it is replaced while it finishes them; 0 never")
	fs.DurationVar(&s.workerHeaderTimeout, "worker-header-timeout", parent.DefaultWorkerHeaderTimeout, "a worker that sends no response head for this long after the request's head went to it (the clock starting over at each piece of request body it takes) is stalled: the client gets 504, the stream is reset (the handler's context ends), and the worker gets no more requests and is replaced (nginx's proxy_read_timeout); 0 never")
	fs.DurationVar(&s.workerIdleTimeout, "worker-idle-timeout", parent.DefaultWorkerIdleTimeout, "a worker that sends no data of a response for this long while its client could take it is stalled: the response is cut (never looks complete), the stream is reset, and the worker gets no more requests and is replaced; 0 never")
	fs.Var(&s.maxRSS, "worker-max-rss", "recycle a worker whose resident memory exceeds this (bytes or KiB/MiB/GiB); 0 never")
	fs.Var(&s.workerMemory, "worker-memory-limit", "GOMEMLIMIT of each worker; 0 means a share of the container's memory limit, -1 none")
	fs.DurationVar(&s.shutdownDelay, "shutdown-delay", 0, "on SIGTERM/SIGINT, how long to keep accepting and serving after /readyz turned 503, so that load balancers stop sending first (Kubernetes' preStop sleep); 0 stops accepting at once")
	fs.DurationVar(&s.workerStartTimeout, "worker-start-timeout", parent.DefaultStartTimeout, "how long a new worker has to complete its handshake; at first start, a worker that fails to (or exits first) stops sluice serve with exit status 3")
	s.bufferBudget = parent.DefaultBufferBudget
	fs.Var(&s.bufferBudget, "buffer-budget", "response bytes the parent buffers across all streams, about: each stream's window shrinks toward its share of it (at least 64KiB, at most 4MiB); -1 none (4MiB per stream)")
	fs.DurationVar(&s.idleTimeout, "idle-timeout", 75*time.Second, "how long a keep-alive connection may wait for its next request (nginx's keepalive_timeout); 0 never closes it")
	fs.DurationVar(&s.headerTimeout, "header-timeout", 60*time.Second, "how long a client has to send a request's head (nginx's client_header_timeout); 0 none")
	s.maxHeaderBytes = parent.DefaultMaxHeaderBytes
	fs.Var(&s.maxHeaderBytes, "max-header-bytes", fmt.Sprintf("the most bytes of a request head as a worker gets it (431 beyond), a request target at most a quarter of it (414 beyond); %s..%s, the most a HEAD frame carries", settings.FormatSize(parent.MinMaxHeaderBytes), settings.FormatSize(parent.HeadFrameLimit)))
	fs.IntVar(&s.maxConns, "max-conns", 0, "client connections open at once; more wait in the listen backlog; 0: RLIMIT_NOFILE's soft limit less 128 and 4 per worker; -1 no limit")
	s.listenMode = 0o660
	fs.Var(&s.listenMode, "listen-mode", "permissions of the --listen and --admin-listen Unix sockets (octal)")
	fs.StringVar(&s.tlsCert, "tls-cert", "", "PEM certificate chain: serve TLS (HTTP/2 and HTTP/1.1) on --listen; reloaded on SIGHUP")
	fs.StringVar(&s.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.BoolVar(&s.h2c, "h2c", false, "also serve cleartext HTTP/2 (prior knowledge) on --listen, for a proxy in front that speaks it")
	fs.StringVar(&s.adminToken, "admin-token", "", "a bearer token every admin endpoint but /healthz, /readyz and /metrics requires; needed to listen beyond loopback (prefer the environment or --admin-token-file: a flag shows in ps)")
	fs.StringVar(&s.adminTokenFile, "admin-token-file", "", "a file holding --admin-token (one line)")
	fs.StringVar(&s.adminAllowHost, "admin-allow-host", "", "comma-separated Host names the admin answers besides loopback ones and its own address; * for any")
	fs.StringVar(&s.accessLog, "access-log", parent.AccessLogText, "access log, a line per request: text (logfmt), json, or off")
	fs.StringVar(&s.accessLogFile, "access-log-file", "", "file the access log is appended to; empty means stdout (the gateway's own log is on stderr)")
	fs.DurationVar(&s.requestTimeout, "request-timeout", 0, "a request with no response head by then gets 504, one whose response started is cut; 0 never")
	s.maxBody = parent.DefaultMaxBody
	fs.Var(&s.maxBody, "max-body", "largest request body (bytes or KiB/MiB/GiB): a longer one gets 413; 0 no limit")
	fs.StringVar(&s.compress, "compress", settings.DefaultCompress, "how workers compress responses: off, or the codings (zstd, gzip) in order of preference for a client that accepts both equally, then optionally ;min=SIZE (least body compressed, default 1KiB) and ;types=TYPE,... (only these media types, e.g. text/*,application/json; default every type but octet-stream, images, audio, video, archives and fonts)")
	return s
}

// checkFrontDoor checks the access log, request timeout and body limit.
func (s *serveSettings) checkFrontDoor() error {
	switch {
	case s.accessLog != parent.AccessLogText && s.accessLog != parent.AccessLogJSON && s.accessLog != accessLogOff:
		return fmt.Errorf("--access-log %q: use %s, %s or %s", s.accessLog, parent.AccessLogText, parent.AccessLogJSON, accessLogOff)
	case s.accessLog == accessLogOff && s.accessLogFile != "":
		// One of the two is a mistake: a file nothing would be written to.
		return fmt.Errorf("--access-log-file %s with --access-log off: nothing would be written to it; drop one", s.accessLogFile)
	case s.requestTimeout < 0:
		return fmt.Errorf("--request-timeout %v: use 0 (never) or a positive duration", s.requestTimeout)
	case s.maxBody < 0:
		return fmt.Errorf("--max-body %s: use 0 (no limit) or a size", s.maxBody.String())
	}
	return nil
}

// accessLogOff is --access-log's value for none.
const accessLogOff = "off"

// accessLogTo opens where the access log goes and returns it with its
// format: --access-log-file, or stdout, as nginx's image links its access
// log to stdout and its error log to stderr, so that requests and the
// gateway's own events can be kept, shipped and rotated apart; nil when
// off. The file is not reopened: rotate it with copytruncate, or log to
// stdout and let the supervisor rotate.
func (s *serveSettings) accessLogTo() (io.Writer, string, error) {
	switch {
	case s.accessLog == accessLogOff:
		return nil, "", nil
	case s.accessLogFile == "":
		return os.Stdout, s.accessLog, nil
	}
	f, err := os.OpenFile(s.accessLogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("--access-log-file: %v", err)
	}
	return f, s.accessLog, nil
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
	case s.bodyTimeout < 0:
		return fmt.Errorf("--body-timeout %v: use 0 (never) or a positive duration", s.bodyTimeout)
	case s.bodyMinRate < 0:
		return fmt.Errorf("--body-min-rate %v: use 0 (none) or bytes a second", s.bodyMinRate)
	case s.sendMinRate < 0:
		return fmt.Errorf("--send-min-rate %v: use 0 (none) or bytes a second", s.sendMinRate)
	case s.lightCPU < 0:
		return fmt.Errorf("--light-cpu %v: use 0 (off) or a positive duration", s.lightCPU)
	case s.workerHeaderTimeout < 0:
		return fmt.Errorf("--worker-header-timeout %v: use 0 (never) or a positive duration", s.workerHeaderTimeout)
	case s.workerIdleTimeout < 0:
		return fmt.Errorf("--worker-idle-timeout %v: use 0 (never) or a positive duration", s.workerIdleTimeout)
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
	}
	if err := s.checkFrontDoor(); err != nil {
		return err
	}
	if s.bufferBudget >= 0 && s.bufferBudget < parent.MinBufferBudget {
		return fmt.Errorf("--buffer-budget %s: too small to share among streams; use at least %s, or -1 for none", s.bufferBudget.String(), settings.FormatSize(parent.MinBufferBudget))
	}
	if err := s.checkListen(); err != nil {
		return err
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

// cfgLightCPU is --light-cpu for parent.Config, where off is negative (zero
// there means the default).
func (s *serveSettings) cfgLightCPU() time.Duration {
	if s.lightCPU == 0 {
		return -1
	}
	return s.lightCPU
}

// cfgQueueTarget is --queue-target for parent.Config, where off is negative
// (zero there means the default).
func (s *serveSettings) cfgQueueTarget() time.Duration {
	if s.queueTarget == 0 {
		return -1
	}
	return s.queueTarget
}
