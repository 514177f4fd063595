package child

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/ipc/settings"
	"github.com/sluicegw/sluice/stream"
)

// loadInterval is how often a busy worker repeats its load report, so that
// the parent sees queued bytes drain even while no handler starts or ends,
// and how often the CPU admission controller takes a step.
const loadInterval = controlInterval

// autoLimitMax is the least upper bound of the automatic CPU limit (which is
// also at least four times GOMAXPROCS): goroutines computing beyond what the
// threads can run only wait in the scheduler's queue, but the controller
// must be able to admit a few more than the CPUs when handlers spend part
// of their time in system calls it cannot see.
const autoLimitMax = 8

// flushTimeout bounds the ping that, before Serve closes the connection,
// makes sure the last resets and the load report have left.
const flushTimeout = time.Second

// Serve speaks the sluice protocol as the worker on conn and runs handler
// for every stream the parent opens, until the parent sends go-away or
// closes the connection, or ctx ends. It then stops accepting streams (after
// ctx ends it sends go-away itself), resets the streams still waiting at the
// admission gate with REFUSED so that the parent retries them elsewhere, lets
// running handlers finish, waits for their responses to be sent, closes the
// connection and returns.
//
// A stream whose request head carries the field ":sluice" with the value
// "admin" is an admin stream (docs/PROTOCOL.md, "Admin streams"): it goes to
// the worker's own admin handler instead of handler, and never waits at the
// gate, so that the parent can read the worker's metrics (GET /metrics),
// profile it (/debug/pprof/) and tune it (GET and PUT /config) while every
// handler slot is busy. Handlers run with the pprof labels route (the first
// segment of the request path) and worker (SLUICE_WORKER_ID, else the pid).
//
// It returns nil after an orderly stop (go-away or ctx), and an error if the
// handshake failed or the connection broke. Handler contexts carry the
// values of ctx but not its cancellation: stopping lets them finish. A nil
// handler means http.DefaultServeMux, and a nil cfg the defaults.
func Serve(ctx context.Context, conn net.Conn, handler http.Handler, cfg *Config) error {
	if handler == nil {
		handler = http.DefaultServeMux
	}
	if err := VerifyConfig(cfg); err != nil {
		conn.Close()
		return err
	}
	set := cfg.settings()
	comp, err := newCompressor(set.compress)
	if err != nil {
		conn.Close()
		return err
	}
	if comp != nil {
		handler = comp.wrap(handler)
	}
	s := &server{
		handler:     handler,
		log:         set.log,
		budget:      stream.NewBudget(set.limit, set.high, set.low),
		recvBudget:  set.ipc.RecvBudget,
		base:        ctx,
		values:      context.WithoutCancel(ctx),
		maxInFlight: set.maxInFlight,
		maxStreams:  set.maxStreams,
		sched:       set.ipc.Policy,
		workerID:    workerID(),
		cpuLimit:    newCPULimit(runtime.GOMAXPROCS(0), 1, min(max(autoLimitMax, 4*runtime.GOMAXPROCS(0)), set.maxStreams)),
		cpuSource:   set.cpuSource,
		lags:        newLagWindow(),
	}
	if s.sched == "" {
		s.sched = settings.PolicySequential
	}
	gateLimit, fixed := set.maxInFlight, set.maxInFlight > 0
	if !fixed {
		gateLimit = s.cpuLimit.limit
	}
	// Made under a hard cap too (which ignores it), for PUT /config to
	// hand the gate back to the controller later.
	demand := newDemandMeter().others
	if !set.admission {
		// Nothing holds streams back, so the connection's stream limit
		// is the only bound, and load reports give it as the worker's limit
		// (sendLoad).
		gateLimit = 0
	}
	s.gate = newGate(gateLimit, fixed, s.budget, demand, func(c gateCounts) { s.sendLoad(c, loadChange) })
	// The demand beyond the gate's own handlers also counts the
	// connection's reader and writer and handlers that wake for a moment:
	// at a limit of 1, a lane bounded by the limit alone would be shut by
	// them whenever the CPUs are busy.
	s.gate.lightSpare = runtime.GOMAXPROCS(0)
	s.metrics = newMetrics(s, conn)
	s.admin = s.adminHandler()
	set.ipc.SendBudget = s.budget
	observe := func(lag time.Duration, n int) {
		s.metrics.observeFlush(lag, n)
		s.lags.observe(lag)
	}
	if user := set.ipc.OnFlushed; user != nil {
		set.ipc.OnFlushed = func(lag time.Duration, n int) {
			observe(lag, n)
			user(lag, n)
		}
	} else {
		set.ipc.OnFlushed = observe
	}
	ic, err := ipc.Server(conn, &set.ipc)
	if err != nil {
		return fmt.Errorf("sluice worker: handshake with the parent: %w", err)
	}
	s.conn = ic
	s.autoLimit.Store(int32(s.cpuLimit.limit))
	if s.cpuSource == nil && set.admission {
		psi, why := findPSI("/")
		if fixed {
			s.log.Info("sluice worker: a hard cap on handlers is in force; CPU signals are reported, not acted on", "max_inflight", set.maxInFlight, "cpu_pressure_from", why)
		} else {
			s.log.Info("sluice worker: CPU admission is automatic", "cpu_pressure_from", why,
				"initial_limit", s.cpuLimit.limit, "max_limit", s.cpuLimit.max)
		}
		s.cpuSource = newOSSignals(psi, time.Now())
	}
	s.log.Info("sluice worker: serving",
		"max_inflight", set.maxInFlight, "admission", set.admission,
		"high_watermark", set.high, "low_watermark", set.low, "queue_limit", set.limit,
		"compress", set.compress.Codings, "compress_min_size", set.compress.MinSize)
	return s.serve(ctx)
}

// server is one Serve call.
type server struct {
	handler http.Handler
	admin   http.Handler // what admin streams reach (admin.go)
	log     *slog.Logger
	conn    *ipc.Conn
	budget  *stream.Budget // every stream's queued response bytes
	// recvBudget is every request body window's (Config.IPC's RecvBudget).
	recvBudget *stream.RecvBudget
	gate       *gate
	metrics    *metrics
	base       context.Context // its values reach every request context
	values     context.Context // base without its cancellation: the request contexts' parent

	maxInFlight int        // as configured, 0 for automatic (the gate's limit may change since)
	maxStreams  int        // the connection's stream limit
	sched       string     // the data scheduling policy
	workerID    string     // the worker pprof label
	tuneMu      sync.Mutex // serialises PUT /config

	streams sync.WaitGroup // one per accepted stream
	// labelCtxs holds routeLabels' contexts by route; labelRoutes counts
	// those made, to bound it.
	labelCtxs   sync.Map
	labelRoutes atomic.Int64
	// cpuLimit is the CPU admission controller, and cpuSource what it
	// reads; both are the tick goroutine's (cpuSource is nil when
	// admission is off). autoLimit is the controller's last limit, which
	// PUT /config gives back to the gate when a hard cap is lifted. lags
	// holds the flush lags of the current interval.
	cpuLimit  *cpuLimit
	cpuSource cpuSource
	autoLimit atomic.Int32
	lags      *lagWindow
	// signals are the controller's last readings, for load reports and
	// metrics: written by the tick goroutine, read by any.
	pressurePermille, schedMicros, flushLagMicros atomic.Uint32

	// lastLoad is the last report made, and loadQueued says it may still
	// wait for the writer (ipc.Conn.QueueLoad). Reports are made under the
	// gate's lock, which guards both.
	lastLoad   ipc.Load
	loadQueued bool
}

// loadReason is why sendLoad is called.
type loadReason int

const (
	// loadChange: the gate's counts changed, which happens several times
	// per request. The report waits for the writer's next batch (usually
	// the response it belongs to) rather than costing a wake-up and a
	// write of its own; the next tick sends it at the latest.
	loadChange loadReason = iota
	// loadTick: the periodic report, skipped once the worker is idle and
	// the parent has been told.
	loadTick
	// loadNow: a report that must leave now (at start and at stop).
	loadNow
	// loadRoom: a check, every roomInterval while the worker is busy, for
	// room that opened without any event the gate sees: handlers gone to
	// sleep on I/O. The report leaves at once if it raises what the
	// parent may send (limit + blocked + draining), and not otherwise.
	loadRoom
)

// roomInterval is how often a busy worker looks for room that opened
// silently (see loadRoom). The parent sends a worker no more than its last
// report allows, so a worker whose handlers all went to sleep would
// otherwise wait for the next periodic report for new work, and a burst of
// I/O-bound requests would be let in a few per loadInterval.
const roomInterval = 10 * time.Millisecond

func (s *server) serve(ctx context.Context) error {
	tickDone := make(chan struct{})
	var ticker sync.WaitGroup
	ticker.Add(1)
	go func() {
		defer ticker.Done()
		s.tick(tickDone)
	}()
	s.gate.report(func(c gateCounts) { s.sendLoad(c, loadNow) })

	pool := newRunners()
	var err error
	for {
		var st *ipc.Stream
		if st, err = s.conn.AcceptStream(ctx); err != nil {
			break
		}
		s.streams.Add(1)
		if isAdmin(st.Head()) {
			// Never gated: it must answer while every slot is busy.
			go s.serveAdmin(st)
			continue
		}
		hints := hintsOf(st.Head())
		t := s.gate.join(hints.light)
		pool.run(s, streamJob{st, t, hints.measure})
	}

	connErr := s.conn.Err()
	orderly := errors.Is(err, ipc.ErrGoAway) || s.conn.GoingAway()
	if ctx.Err() != nil && connErr == nil {
		s.conn.GoAway(ipc.CodeShutdown, "the worker is shutting down")
		s.refuseAccepted()
		orderly = true
	}
	s.log.Info("sluice worker: stopping; running handlers finish, waiting streams are refused", "reason", err)
	s.gate.stop()
	s.streams.Wait()
	pool.close()
	close(tickDone)
	ticker.Wait()
	if s.conn.Err() == nil {
		s.gate.report(func(c gateCounts) { s.sendLoad(c, loadNow) })
		// The ping's reply comes after the peer has read every control
		// frame queued before it: the last resets and the load report.
		pctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		s.conn.Ping(pctx)
		cancel()
	}
	s.conn.Close()
	if orderly {
		return nil
	}
	if connErr != nil {
		err = connErr
	}
	return fmt.Errorf("sluice worker: the connection to the parent ended: %w", err)
}

// refuseAccepted resets the streams that arrived before our go-away and were
// never accepted: nothing will run them, and the parent may retry them.
func (s *server) refuseAccepted() {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		st, err := s.conn.AcceptStream(done)
		if err != nil {
			return
		}
		st.Reset(ipc.CodeRefused)
		s.metrics.refused.Inc()
	}
}

// awaitEnd blocks until st has ended in both directions (or the connection
// has): Serve waits for every stream, so that closing the connection
// never cuts a response off.
func (s *server) awaitEnd(st *ipc.Stream) {
	select {
	case <-st.Context().Done():
	case <-s.conn.Done():
	}
}

// discardUnread reads up to maxDrain bytes of a request body nobody will
// read, so that a parent sending it is not left blocked on credit; a body
// the parent still holds (ipc.FieldContinue) it leaves alone, as its
// client was never asked for it.
func discardUnread(st *ipc.Stream) {
	if !st.BodyHeld() {
		io.CopyN(io.Discard, st, maxDrain)
	}
}

// serveStream takes one stream from the gate to the end of its response.
func (s *server) serveStream(st *ipc.Stream, t *ticket, measure bool) {
	defer s.streams.Done()
	defer s.awaitEnd(st)
	// The request context ends when the parent resets the stream (the
	// client went away) or when the handler returns.
	ctx, cancel := s.requestContext(st)
	defer cancel(nil)
	x := new(exchange)
	req, err := newRequest(ctx, st, &x.body)
	if err != nil {
		s.gate.withdraw(t)
		s.gate.release(t)
		s.log.Warn("sluice worker: answering 400", "stream", st.ID(), "err", err)
		respondError(st, http.StatusBadRequest, "sluice worker: "+err.Error())
		discardUnread(st)
		return
	}
	err = s.gate.wait(st.Context(), t)
	if err != nil {
		s.gate.release(t)
		// Never started: REFUSED tells the parent that it may retry the
		// stream elsewhere. A no-op if the parent reset it.
		st.Reset(ipc.CodeRefused)
		if errors.Is(err, errStopping) {
			s.metrics.refused.Inc()
		}
		return
	}
	s.metrics.started.Inc()
	// What pprof.Do would do, with the label set made once per route: the
	// labels stay on this goroutine (and go to any it starts) while the
	// handler runs; req keeps its own context, since its body refers to it.
	pprof.SetGoroutineLabels(s.routeLabels(routeLabel(req.URL.Path)))
	// A handler waiting on its client (its Write on credit, its body Read
	// on data) holds no CPU: the gate stops counting it meanwhile. The hook
	// stays set after the handler returns (a goroutine it left behind may
	// still read), and the gate ignores it from then on.
	st.SetWaitHook(t.wait)
	var probe *cpuProbe
	if measure {
		probe = startCPUProbe()
	}
	s.handle(st, req, s.handler, true, x, probe) // recovers the handler's panics
	x.w.releaseSnap()
	probe.stop()
	pprof.SetGoroutineLabels(s.base)
	cancel(nil)
	// A response whose END is queued behind no data is as good as over: the
	// parent will have its end within the writer's next batch, maybe before
	// the report that leave makes.
	s.gate.leave(t, st.EndQueued())
	x.body.drain()
	s.awaitEnd(st)
	s.gate.drained(t)
	s.gate.release(t)
}

// serveAdmin serves an admin stream: like serveStream, with the admin
// handler and without the gate. Its request context also ends when the
// worker starts stopping, so that a long profile does not hold the stop up.
func (s *server) serveAdmin(st *ipc.Stream) {
	defer s.streams.Done()
	defer s.awaitEnd(st)
	ctx, cancel := s.requestContext(st)
	defer cancel(nil)
	defer context.AfterFunc(s.gate.stopCtx, func() { cancel(nil) })()
	x := new(exchange)
	req, err := newRequest(ctx, st, &x.body)
	if err != nil {
		s.log.Warn("sluice worker: answering 400 to an admin stream", "stream", st.ID(), "err", err)
		respondError(st, http.StatusBadRequest, "sluice worker: "+err.Error())
		discardUnread(st)
		return
	}
	s.handle(st, req, s.admin, false, x, nil)
	x.w.releaseSnap()
	cancel(nil)
	x.body.drain()
}

// handle runs h and ends the response, whatever h did. user says h is the
// user's handler (counted in the metrics), not the admin one; x holds the
// response; probe, if not nil, measures h's CPU for the END to report.
func (s *server) handle(st *ipc.Stream, req *http.Request, h http.Handler, user bool, x *exchange, probe *cpuProbe) {
	w := x.initResponse(st, req, s.log)
	w.probe = probe
	defer func() {
		v := recover()
		if v == nil {
			w.finish()
			return
		}
		if v != http.ErrAbortHandler {
			if user {
				s.metrics.panics.Inc()
			}
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			s.log.Error("sluice worker: handler panicked", "stream", st.ID(), "admin", !user,
				"method", req.Method, "path", req.URL.Path, "panic", v, "stack", string(buf))
		}
		w.abort(v == http.ErrAbortHandler)
	}()
	h.ServeHTTP(w, req)
}

// maxLabelRoutes bounds the routes whose label contexts are kept: paths come
// from clients, so a route beyond it gets a context of its own each time.
const maxLabelRoutes = 256

// routeLabels returns a context carrying the pprof labels of a request on
// route: those of Serve's context (as pprof.Do on a request context would
// keep), route and worker. Building one costs a few allocations, so each
// route's is made once.
func (s *server) routeLabels(route string) context.Context {
	if ctx, ok := s.labelCtxs.Load(route); ok {
		return ctx.(context.Context)
	}
	ctx := pprof.WithLabels(s.base, pprof.Labels("route", route, "worker", s.workerID))
	if s.labelRoutes.Add(1) <= maxLabelRoutes {
		s.labelCtxs.Store(route, ctx)
	}
	return ctx
}

// routeLabel is the route pprof label of a request path: its first segment,
// so that profiles group by route without one label per resource
// ("/files/x" and "/files/y" are both "/files").
func routeLabel(path string) string {
	if len(path) > 1 {
		if i := strings.IndexByte(path[1:], '/'); i >= 0 {
			return path[:i+1]
		}
	}
	return path
}

// workerID is the worker pprof label: SLUICE_WORKER_ID (which sluice serve
// sets to the worker's slot), else the pid.
func workerID() string {
	if id := os.Getenv(settings.EnvWorkerID); id != "" {
		return id
	}
	return strconv.Itoa(os.Getpid())
}

// sendLoad reports the worker's load to the parent, which routes by it and
// shows it in /status. Changes are always reported (the ipc layer sends only
// the newest of those not yet written), within loadInterval at the latest.
// It runs with the gate's lock held (gate.report and onChange), which keeps
// reports in order and lets it read the gate's measured figures.
func (s *server) sendLoad(c gateCounts, why loadReason) {
	limit := c.limit
	if !s.gate.gated {
		limit = s.maxStreams
	}
	l := ipc.Load{
		InFlight:           uint32(c.inFlight),
		Waiting:            uint32(c.waiting),
		Limit:              uint32(limit),
		Blocked:            uint32(s.gate.idleBlockedLocked()),
		QueuedBytes:        uint64(s.budget.Used()),
		Draining:           uint32(c.draining),
		PressurePermille:   s.pressurePermille.Load(),
		SchedLatencyMicros: s.schedMicros.Load(),
		FlushLagMicros:     s.flushLagMicros.Load(),
	}
	if why == loadChange {
		s.lastLoad, s.loadQueued = l, true
		s.conn.QueueLoad(l)
		return
	}
	if !reportNow(why, l, s.lastLoad, s.loadQueued) {
		return
	}
	s.lastLoad, s.loadQueued = l, false
	s.conn.SendLoad(l)
}

// reportNow decides whether report l, made for why, leaves now, given the
// last report made (queued says it may still wait for the writer).
func reportNow(why loadReason, l, last ipc.Load, queued bool) bool {
	switch why {
	case loadRoom:
		return room(l) > room(last)
	case loadTick:
		// An idle worker that has told the parent so stays quiet; its
		// signals alone do not make a report worth sending.
		return queued || !idleLoad(l) || !idleLoad(last) || l.Limit != last.Limit
	}
	return true
}

// room is what a report lets the parent have open on the worker.
func room(l ipc.Load) uint64 { return uint64(l.Limit) + uint64(l.Blocked) + uint64(l.Draining) }

// idleLoad says a report shows nothing running, waiting or queued.
func idleLoad(l ipc.Load) bool {
	return l.InFlight == 0 && l.Waiting == 0 && l.Draining == 0 && l.QueuedBytes == 0
}

// tick runs the CPU admission controller and repeats the load report every
// loadInterval, and while the worker is busy looks for silent room every
// roomInterval, until done is closed.
func (s *server) tick(done <-chan struct{}) {
	t := time.NewTicker(roomInterval)
	defer t.Stop()
	next := time.Now().Add(loadInterval)
	for {
		select {
		case now := <-t.C:
			if now.Before(next) {
				s.gate.report(func(c gateCounts) { s.sendLoad(c, loadRoom) })
				continue
			}
			next = now.Add(loadInterval)
			s.control(now)
			s.gate.report(func(c gateCounts) { s.sendLoad(c, loadTick) })
			// An idle worker needs no look for room: the next stream
			// it gets is an event the gate sees.
			if s.gate.counts().inFlight == 0 {
				t.Reset(loadInterval)
			} else {
				t.Reset(roomInterval)
			}
		case <-done:
			return
		}
	}
}

// control reads one interval's signals and sets the automatic limit from
// them; it runs on the tick goroutine.
func (s *server) control(now time.Time) {
	s.flushLagMicros.Store(durationMicros(s.lags.p99()))
	if s.cpuSource == nil {
		return
	}
	sample := s.cpuSource.sample(now)
	s.schedMicros.Store(durationMicros(sample.schedP99))
	if sample.pressure >= 0 {
		s.pressurePermille.Store(uint32(sample.pressure * 1000))
	}
	sample.held = s.gate.takeHeld()
	if s.gate.counts().fixed {
		// A hard cap is in force: nothing to control, and what it held
		// back says nothing of the automatic limit's room.
		s.cpuLimit.heldBefore = false
		return
	}
	limit := s.cpuLimit.step(sample)
	s.autoLimit.Store(int32(limit))
	s.gate.setAutoLimit(limit)
}

func durationMicros(d time.Duration) uint32 {
	return uint32(min(d.Microseconds(), math.MaxUint32))
}

// requestContext is the context of a request on st: it carries the values
// of Serve's context, so that what the caller put there (a logger, a tracer)
// reaches every handler, while cancellation is the stream's alone (stopping
// Serve lets running handlers finish): it ends with the stream's context,
// with its cause, or when cancel is called. The stream ends it through
// OnEnd: a context derived from the stream's would cost the stream's
// context a children map and a done channel per request.
func (s *server) requestContext(st *ipc.Stream) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(s.values)
	st.OnEnd(cancel)
	return ctx, cancel
}
