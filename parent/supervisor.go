package parent

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/ipc/settings"
)

// supervisor runs the worker processes: one slot per worker, each started,
// watched (heartbeats, recycling limits), and replaced after a delay when it
// dies. The delay doubles while workers die young, so a worker that cannot
// start costs a few attempts a minute, never a hot loop. The Gateway owns
// it: embedders reach Start, Restart and Stop through Gateway.Start,
// Gateway.Restart and Gateway.Shutdown.
type supervisor struct {
	cfg  Config
	pool *pool
	log  *slog.Logger
	// launcher makes the workers; tests replace it before Start.
	launcher launcher

	stopOnce sync.Once
	stopping chan struct{}
	wg       sync.WaitGroup

	restartMu sync.Mutex // one rolling restart at a time

	// onRTT receives every heartbeat round trip; set before Start.
	onRTT func(worker int, rtt time.Duration)
	// oomCounter finds the kernel's count of OOM kills that covers a
	// worker (oomkill.go).
	oomCounter func(pid int) (read func() (uint64, bool), file string)

	// envOverrides are settings tuned at run time, passed to workers
	// started from now on (later entries win in a process environment).
	envMu        sync.Mutex
	envOverrides []string

	mu    sync.Mutex
	slots []*slot

	// booted is set once any worker completed its handshake; until then a
	// worker that fails to start is reported on bootFailed (once), since
	// a command that never comes up is a mistake to report, not to retry.
	booted     atomic.Bool
	bootFailed chan error
	// rssWarned is set once the memory limit was found below a fresh
	// worker's resident memory, so the warning is logged once.
	rssWarned atomic.Bool
}

// slot is the history of one worker position.
type slot struct {
	id       int
	restarts int
	// restartsBy splits restarts by reason (restartReason).
	restartsBy [numRestartReasons]int
	proc       *process
	backend    *backend
	lastExit   string
	// youngDeaths counts consecutive deaths before stableUptime; from
	// crashLoopDeaths on, the slot is reported as crash-looping.
	youngDeaths int
	// replace asks the slot's goroutine to replace its worker without
	// failing a request; it answers on the channel it carries.
	replace chan chan error
}

// crashLoopDeaths is how many deaths in a row, each before stableUptime,
// mark a slot as crash-looping in logs and /status.
const crashLoopDeaths = 3

// stableUptime is how long a worker must stay up for its death to count as
// an accident rather than a crash loop: the restart delay starts over.
const stableUptime = 10 * time.Second

func newSupervisor(cfg Config, p *pool) *supervisor {
	return &supervisor{cfg: cfg, pool: p, log: cfg.Logger, launcher: execLauncher{cfg}, stopping: make(chan struct{}), bootFailed: make(chan error, 1),
		oomCounter: oomCounterOf}
}

// Start launches the workers and returns at once; each slot keeps its
// worker running until Stop.
func (s *supervisor) Start() {
	s.log.Info("starting workers", "workers", s.cfg.Workers, "max_inflight", s.cfg.MaxInFlight,
		"liveness_window", s.cfg.LivenessWindow, "heartbeat_interval", s.cfg.HeartbeatInterval)
	for i := 0; i < s.cfg.Workers; i++ {
		sl := &slot{id: i, replace: make(chan chan error)}
		s.mu.Lock()
		s.slots = append(s.slots, sl)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.run(sl)
	}
}

// run keeps one slot's worker alive until the supervisor stops.
func (s *supervisor) run(sl *slot) {
	defer s.wg.Done()
	delay := s.cfg.RestartDelay
	killed := killedDelays{base: s.cfg.RestartDelay}
	var cur *process
	for {
		if cur == nil {
			p, b, err := s.spawn(sl)
			if err != nil {
				s.log.Error("worker failed to start", "worker", sl.id, "err", err, "retry_in", delay)
				s.died(sl, "failed to start: "+err.Error(), 0, restartFailedStart)
				s.failBoot(sl, err)
				if !s.pause(jitter(delay)) {
					return
				}
				delay = min(2*delay, s.cfg.MaxRestartDelay)
				continue
			}
			s.register(sl, p, b)
			cur = p
		}
		ev, ack := s.watch(sl, cur)
		switch ev {
		case eventStopping:
			return // Stop drains the worker itself
		case eventReplace, eventRecycle, eventStalled:
			next, err := s.replaceWorker(sl, cur, ev)
			if ack != nil {
				ack <- err
			}
			if err != nil {
				// Keep the old worker, and do not fork again at once:
				// a broken binary must not become a respawn storm.
				if !s.pause(jitter(delay)) {
					return
				}
				delay = min(2*delay, s.cfg.MaxRestartDelay)
				continue
			}
			cur = next
			continue
		}
		reason := restartCrash
		if ev == eventHung {
			reason = restartHung
			s.log.Error("worker presumed hung: no frame within the liveness window; killing it",
				"worker", sl.id, "pid", cur.pid(), "silent_for", time.Since(cur.conn.LastFrame()).Round(time.Millisecond), "liveness_window", s.cfg.LivenessWindow)
			cur.terminate(s.cfg.KillGrace)
		}
		s.pool.remove(sl.backend)
		sentBefore := cur.sentSignals()
		cur.stop(s.cfg.StopTimeout)
		uptime := time.Since(cur.started)
		if uptime > stableUptime {
			delay = s.cfg.RestartDelay
		}
		wait := delay
		external := ev == eventDied && cur.killedExternally(sentBefore)
		oomNow, oom := uint64(0), false
		if external && cur.exitSignal() == syscall.SIGKILL {
			oomNow, oom = cur.oom.oomKilled()
		}
		switch {
		case oom:
			// Its own memory, most likely: backed off as a crash
			// (oomkill.go).
			reason = restartOOM
			delay = min(2*delay, s.cfg.MaxRestartDelay)
			s.log.Error("worker killed by the kernel's OOM killer, as far as the count of kills in its memory cgroup tells (another process of that cgroup killed meanwhile would count too); lower the worker's memory, give it more, or recycle it before with --worker-max-rss",
				"worker", sl.id, "pid", cur.pid(), "oom_counter", cur.oom.file, "oom_kills_at_start", cur.oom.atStart, "oom_kills", oomNow)
		case external:
			// Not the worker's doing: its own backoff stays as it was
			// (exitcause.go).
			reason = restartKilled
			wait = killed.after(uptime, s.running()-1)
		default:
			delay = min(2*delay, s.cfg.MaxRestartDelay)
		}
		exit := cur.exit()
		s.died(sl, exit, uptime, reason)
		s.log.Warn("worker died", "worker", sl.id, "pid", cur.pid(), "exit", exit, "reason", restartReasonNames[reason], "conn_err", cur.conn.Err(),
			"uptime", uptime.Round(time.Millisecond), "restart_in", wait)
		cur = nil
		if !s.pause(jitter(wait)) {
			return
		}
	}
}

// spawn starts the slot's next worker and the backend that routes to it
// once registered. The backend exists before the connection, because the
// worker's load reports, which feed the backend, may come right after the
// handshake.
func (s *supervisor) spawn(sl *slot) (*process, *backend, error) {
	b := &backend{id: sl.id, maxServed: s.cfg.MaxRequests, full: make(chan struct{}), stalled: make(chan struct{})}
	cfg := s.cfg
	cfg.IPC = s.pool.connConfig(cfg.IPC, b)
	// The handshake is the worker's start: StartTimeout bounds it.
	cfg.IPC.HandshakeTimeout = s.cfg.StartTimeout
	p, err := spawn(trackedLauncher{s.launcher}, cfg, s.workerEnv(), sl.id, s.stopping)
	if err != nil {
		return nil, nil, err
	}
	// After the handshake: the worker's command may move it into a
	// cgroup of its own before it runs.
	p.oom = startOOMCount(s.oomCounter, p.pid())
	b.pid, b.conn = p.pid(), p.conn
	return p, b, nil
}

// register makes p, with its backend b, the slot's live worker and routes
// requests to it.
func (s *supervisor) register(sl *slot, p *process, b *backend) {
	s.log.Info("worker up", "worker", sl.id, "pid", p.pid(), "parent_sndbuf", p.h.sendBuffer())
	s.booted.Store(true)
	s.mu.Lock()
	sl.proc, sl.backend = p, b
	s.mu.Unlock()
	s.pool.add(b)
}

// died records a death (or a failed start) in the slot's history.
func (s *supervisor) died(sl *slot, exit string, uptime time.Duration, why restartReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl.proc, sl.backend, sl.lastExit = nil, nil, exit
	sl.restarts++
	sl.restartsBy[why]++
	if why == restartKilled {
		return // an outsider's doing: the crash-loop count stays
	}
	if uptime > stableUptime {
		sl.youngDeaths = 0
		return
	}
	sl.youngDeaths++
	if sl.youngDeaths == crashLoopDeaths {
		s.log.Error("worker is crash-looping; restarts back off", "worker", sl.id, "deaths_in_a_row", sl.youngDeaths, "last_exit", exit)
	}
}

// pause waits d, or returns false if the supervisor stops first.
func (s *supervisor) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stopping:
		return false
	case <-t.C:
		return true
	}
}

// replaceWorker starts a new worker for the slot, routes new requests to it,
// then lets the old one finish what it has and stop: no request fails. If
// the new worker cannot start, the old one stays.
func (s *supervisor) replaceWorker(sl *slot, old *process, why event) (*process, error) {
	next, b, err := s.spawn(sl)
	if err != nil {
		s.log.Error("replacement worker failed to start; keeping the old one", "worker", sl.id, "reason", why.String(), "err", err)
		return nil, err
	}
	oldBackend := sl.backend
	s.register(sl, next, b)
	s.pool.remove(oldBackend)
	s.mu.Lock()
	sl.restarts++
	sl.restartsBy[why.restartReason()]++
	sl.lastExit = why.String()
	s.mu.Unlock()
	s.log.Info("worker replaced; the old one finishes its requests", "worker", sl.id, "reason", why.String(), "old_pid", old.pid(), "new_pid", next.pid())
	// The old worker drains in the background, so that the slot goes on
	// watching (and pinging) the new one meanwhile.
	var stalled *backend
	if why == eventStalled {
		stalled = oldBackend
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.retire(old, stalled)
	}()
	return next, nil
}

// retire drains a worker that no longer gets requests: go-away, then wait
// for it to finish its streams and exit (bounded by RetireTimeout). A
// stalled worker (its backend given) may never read the go-away: it is
// stopped as soon as the gateway has no stream open on it, each of them
// ended by its client, its response or its own worker timeout.
func (s *supervisor) retire(p *process, stalled *backend) {
	p.conn.GoAway(ipc.CodeShutdown, "replaced")
	t := time.NewTimer(s.cfg.RetireTimeout)
	defer t.Stop()
	var idle <-chan time.Time
	if stalled != nil {
		tick := time.NewTicker(s.cfg.HeartbeatInterval)
		defer tick.Stop()
		idle = tick.C
	}
wait:
	for {
		select {
		case <-p.exited():
		case <-p.conn.Done():
		case <-s.stopping:
			// The gateway drains; the HTTP server has already waited for
			// the requests this worker had.
		case <-t.C:
			s.log.Warn("retiring worker did not finish in time; stopping it", "pid", p.pid(), "streams", p.conn.NumStreams(), "retire_timeout", s.cfg.RetireTimeout)
		case <-idle:
			if s.pool.openOn(stalled) > 0 {
				continue
			}
		}
		break wait
	}
	p.stop(s.cfg.StopTimeout)
	s.log.Info("retired worker stopped", "pid", p.pid(), "exit", p.exit())
}

// addEnvOverrides records settings tuned at run time so that workers
// started later (restarts, rolling restarts) get them too.
func (s *supervisor) addEnvOverrides(env []string) {
	s.envMu.Lock()
	s.envOverrides = append(s.envOverrides, env...)
	s.envMu.Unlock()
}

// checkEnvOverrides reports why a worker started with env added to what it
// would get now (this process's environment, the configured one, the
// overrides so far) would refuse its settings, or nil.
func (s *supervisor) checkEnvOverrides(env []string) error {
	vars := map[string]string{}
	for _, kv := range append(append(os.Environ(), s.workerEnv()...), env...) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v // later entries win, as in a process environment
		}
	}
	w, err := settings.FromEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		return err
	}
	return w.Validate()
}

func (s *supervisor) workerEnv() []string {
	s.envMu.Lock()
	defer s.envMu.Unlock()
	return append(append([]string(nil), s.cfg.WorkerEnv...), s.envOverrides...)
}

// jitter spreads restarts by ±20 % so workers that died together do not
// come back in lockstep.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// running counts workers with a live connection.
func (s *supervisor) running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sl := range s.slots {
		if sl.backend != nil {
			n++
		}
	}
	return n
}

// Restart replaces the workers one at a time, each new one up before its
// predecessor drains, so that no request fails (SIGHUP). A new worker runs
// the worker command as it is on disk now. A second Restart while one runs
// waits for it.
func (s *supervisor) Restart(ctx context.Context) error {
	s.restartMu.Lock()
	defer s.restartMu.Unlock()
	s.mu.Lock()
	slots := append([]*slot(nil), s.slots...)
	s.mu.Unlock()
	for _, sl := range slots {
		done := make(chan error, 1)
		select {
		case sl.replace <- done:
		case <-s.stopping:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("worker %d: %w; the old workers stay", sl.id, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Stop tells every worker to finish (go-away), waits until they have exited
// or ctx ends, then reaps them.
func (s *supervisor) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stopping) })
	s.wg.Wait()
	s.mu.Lock()
	procs := make([]*process, 0, len(s.slots))
	for _, sl := range s.slots {
		if sl.proc != nil {
			procs = append(procs, sl.proc)
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A worker that received go-away finishes its streams, closes the
			// connection and exits 0 by itself; closing from this side first
			// would race the GOAWAY frame.
			p.conn.GoAway(ipc.CodeShutdown, "parent shutting down")
			select {
			case <-p.exited():
			case <-p.conn.Done():
			case <-ctx.Done():
				s.log.Warn("drain timeout: stopping worker with streams open", "worker", p.id, "streams", p.conn.NumStreams())
			}
			p.stop(s.cfg.StopTimeout)
			s.log.Info("worker stopped", "worker", p.id, "pid", p.pid(), "exit", p.exit())
		}()
	}
	wg.Wait()
	return ctx.Err()
}
