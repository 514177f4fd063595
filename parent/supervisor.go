package parent

import (
	"context"

	"github.com/sluicegw/sluice/ipc"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Supervisor runs the worker processes: one slot per worker, each started,
// watched, and replaced after a delay when it dies. The delay doubles while
// workers die young, so a worker that cannot start costs a few attempts a
// minute, never a hot loop.
type Supervisor struct {
	cfg  Config
	pool *pool
	log  *slog.Logger

	stopOnce sync.Once
	stopping chan struct{}
	wg       sync.WaitGroup

	mu    sync.Mutex
	slots []*slot
}

// slot is the history of one worker position.
type slot struct {
	id       int
	restarts int
	proc     *process
	backend  *backend
	lastExit string
}

func newSupervisor(cfg Config, p *pool) *Supervisor {
	return &Supervisor{cfg: cfg, pool: p, log: cfg.Logger, stopping: make(chan struct{})}
}

// Start launches the workers and returns at once; each slot keeps its
// worker running until Stop.
func (s *Supervisor) Start() {
	s.log.Info("starting workers", "workers", s.cfg.Workers, "max_inflight", s.cfg.MaxInFlight)
	for i := 0; i < s.cfg.Workers; i++ {
		sl := &slot{id: i}
		s.mu.Lock()
		s.slots = append(s.slots, sl)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.run(sl)
	}
}

// run keeps one slot's worker alive until the supervisor stops.
func (s *Supervisor) run(sl *slot) {
	defer s.wg.Done()
	delay := s.cfg.RestartDelay
	for {
		started := time.Now()
		p, err := spawn(s.cfg, sl.id)
		if err != nil {
			s.log.Error("worker failed to start", "worker", sl.id, "err", err, "retry_in", delay)
		} else {
			s.log.Info("worker up", "worker", sl.id, "pid", p.pid(), "parent_sndbuf", p.sndbuf)
			b := &backend{id: sl.id, pid: p.pid(), conn: p.conn}
			s.mu.Lock()
			sl.proc, sl.backend = p, b
			s.mu.Unlock()
			s.pool.add(b)
			select {
			case <-p.conn.Done():
			case <-p.exited:
			case <-s.stopping:
			}
			s.pool.remove(b)
			s.pool.kick()
			select {
			case <-s.stopping:
				// Stop drains this worker itself.
				return
			default:
			}
			p.stop(s.cfg.StopTimeout)
			exit := exitDescription(p.waitErr)
			s.mu.Lock()
			sl.proc, sl.backend, sl.lastExit = nil, nil, exit
			s.mu.Unlock()
			s.log.Warn("worker died", "worker", sl.id, "pid", p.pid(), "exit", exit, "conn_err", p.conn.Err(), "uptime", time.Since(started).Round(time.Millisecond), "restart_in", delay)
		}
		// A worker that stayed up long enough resets the delay; one that
		// died young doubles it.
		if time.Since(started) > stableUptime {
			delay = s.cfg.RestartDelay
		}
		t := time.NewTimer(jitter(delay))
		select {
		case <-s.stopping:
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, s.cfg.MaxRestartDelay)
		s.mu.Lock()
		sl.restarts++
		s.mu.Unlock()
	}
}

// stableUptime is how long a worker must stay up for its death to count as
// an accident rather than a crash loop: the restart delay starts over.
const stableUptime = 10 * time.Second

// jitter spreads restarts by ±20 % so workers that died together do not
// come back in lockstep.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// running counts workers with a live connection.
func (s *Supervisor) running() int {
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

// Stop tells every worker to finish (go-away), waits until they have no
// open stream or ctx ends, then closes their connections and reaps them.
func (s *Supervisor) Stop(ctx context.Context) error {
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
			case <-p.exited:
			case <-p.conn.Done():
			case <-ctx.Done():
				s.log.Warn("drain timeout: stopping worker with streams open", "worker", p.id, "streams", p.conn.NumStreams())
			}
			p.stop(s.cfg.StopTimeout)
			s.log.Info("worker stopped", "worker", p.id, "pid", p.pid(), "exit", exitDescription(p.waitErr))
		}()
	}
	wg.Wait()
	return ctx.Err()
}
