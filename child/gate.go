package child

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/sluicegw/sluice/ipc/settings"
	"github.com/sluicegw/sluice/stream"
)

// errStopping is why a stream waiting at the gate never starts: the worker
// is shutting down, and the parent may retry the stream elsewhere.
var errStopping = errors.New("child: the worker is stopping; the stream was never started")

// gate is the admission gate: it decides when an accepted stream's handler
// may start. Flushing what was already produced goes before starting more
// work, so a stream waits while the CPUs are taken by handlers already
// computing, or while the shared send budget is above its high watermark,
// until it falls to the low one. Without this, a worker under load keeps
// starting handlers whose output competes with, and starves, the responses
// already under way (docs/ARCHITECTURE.md, "Starved flushing").
//
// A gate has one of two modes. With a fixed limit (Config.MaxInFlight, or
// PUT /config max_inflight) at most limit handlers run, whatever they do.
// Automatic (the default), limit is the CPU admission limit that the
// controller (cpulimit.go) sets, and it counts only the handlers computing:
// not those blocked on a slow client (block), and not, as far as the Go
// scheduler can tell (demand), those waiting on anything else. A handler
// asleep on a database call holds a stream, not a CPU.
//
// Waiting streams start in arrival order: only the ticket at the head of the
// queue looks at the slots and the budget; the others wait for it to move.
type gate struct {
	gated  bool           // false: no gate at all (admission is off)
	budget *stream.Budget // its watermarks hold new handlers back
	// demand, if not nil, measures the goroutines of the process that are
	// running or waiting for a thread, not counting the caller; the
	// automatic mode admits by it when the counts alone would not.
	demand func() int
	// onChange is called, with mu held so that reports leave in order, each
	// time the counts or the limit change; it must not block.
	onChange func(gateCounts)

	stopCtx context.Context // ends when the gate stops
	stopNow context.CancelFunc

	// tickets reuses tickets and their channels. A ticket's life is
	// bounded by the gate: once wait has returned or withdraw has taken it
	// out of the queue, nothing signals it any more, and serveStream
	// releases it. The pool is the gate's, not the process's, so that a
	// channel never outlives the Serve (or synctest bubble) that made it.
	tickets sync.Pool

	mu       sync.Mutex
	fixed    bool // limit caps handlers running, not handlers computing
	limit    int  // may change at run time
	inFlight int  // handlers running
	blocked  int  // of those, how many wait on their client (block)
	draining int  // streams whose handler returned, response still going
	// lightSpare is what the light lane's CPU bound adds to the limit
	// (gate_light.go); set once, before the gate is used.
	lightSpare int
	// light counts the running handlers of light streams (gate_light.go),
	// which none of the counts above include, and lightBlocked those of
	// them waiting on their client.
	light, lightBlocked int
	// lightQueue holds the light streams waiting for the lane's bound or
	// for memory, in arrival order (gate_light.go).
	lightQueue []*ticket
	queue      []*ticket // waiting, in arrival order
	// held records that the limit held the head of the queue back since
	// the controller last asked (takeHeld).
	held    bool
	stopped bool
	// demandAvg is the demand averaged over about demandTau, and demandAt
	// when it was last measured.
	demandAvg float64
	demandAt  time.Time
	// admitting is set while an admission is reported (admitLocked).
	admitting bool
}

// demandTau is the time constant of the demand average. The instant figure
// counts every goroutine that happens to run at that moment: the
// connection's reader and writer, and handlers that wake for a moment to
// write; under a limit of 1 the gate would almost never see zero, and a
// cheap request could wait seconds while the CPUs were mostly idle. A
// handler that computes counts about 1 in the average, one that runs now
// and then a fraction; the gate rounds it, so that a computing handler
// caught off its thread for a moment does not let another one in.
const demandTau = 20 * time.Millisecond

// gateCounts is a snapshot of the gate, for load reports and metrics.
type gateCounts struct {
	inFlight, waiting, limit int
	blocked                  int // handlers known to wait on their client
	draining                 int
	light                    int // streams admitted light, not in the others
	fixed                    bool
}

// cpuPoll is how often the head of the queue re-measures demand while the
// automatic limit holds it back: nothing signals that a handler went to
// sleep on I/O, so a freed CPU is found by looking.
const cpuPoll = 2 * time.Millisecond

// ticket is one stream's place in the queue.
type ticket struct {
	// turn gets a token when the ticket may have become able to start (it
	// reached the head, or a slot was freed); a token left over is harmless
	// because the waiter re-checks everything.
	turn chan struct{}
	// wait is the stream's wait hook (ipc.Stream.SetWaitHook), made once
	// per ticket so that setting it costs no allocation: it counts the
	// handler as blocked on its client while it waits.
	wait func(waiting bool)
	// blocked is how many of the gate's blocked count are this stream's,
	// and running says its handler has not yet left; both guarded by the
	// gate's mu. A wait that ends after the handler left (a body drained
	// after it, a goroutine it left behind) must not count: leave takes
	// the stream's share back at once.
	blocked int
	running bool
	// draining says leave counted the stream as draining; guarded by the
	// gate's mu.
	draining bool
	// light says the stream is admitted by the light lane
	// (gate_light.go); set by join, it holds until release.
	light bool
}

// newTicket makes a ticket of g's pool.
func (g *gate) newTicket() any {
	t := &ticket{turn: make(chan struct{}, 1)}
	t.wait = func(waiting bool) { g.block(t, waiting) }
	return t
}

// release returns t, which is no longer in the queue (wait has returned or
// withdraw has run) and whose stream has ended, for reuse; t must not be
// used after. A token left in
// its channel is dropped so that the next stream to get it does not start
// its wait with a stale signal.
func (g *gate) release(t *ticket) {
	select {
	case <-t.turn:
	default:
	}
	t.blocked, t.running, t.light, t.draining = 0, false, false, false
	g.tickets.Put(t)
}

// newGate returns a gate that starts streams under limit, fixed or
// automatic (see gate), and also holds new handlers back while budget is
// High. A limit of 0 means no gate at all. demand may be nil (the automatic
// mode then counts every handler not blocked on its client as computing).
func newGate(limit int, fixed bool, budget *stream.Budget, demand func() int, onChange func(gateCounts)) *gate {
	g := &gate{gated: limit > 0, fixed: fixed, limit: limit, budget: budget, demand: demand, onChange: onChange}
	g.tickets.New = g.newTicket
	g.stopCtx, g.stopNow = context.WithCancel(context.Background())
	return g
}

// join puts a stream in the queue, or, if light, marks it for the light
// lane, which has no queue. The accept loop calls it, so that the queue
// keeps the order in which the parent opened the streams whatever the order
// in which their goroutines run.
func (g *gate) join(light bool) *ticket {
	t := g.tickets.Get().(*ticket)
	if !g.gated {
		return t
	}
	g.mu.Lock()
	if light && !g.fixed {
		// The light lane (gate_light.go): automatic mode only, a hard
		// cap meaning at most that many handlers, light or not.
		t.light = true
		g.mu.Unlock()
		return t
	}
	g.queue = append(g.queue, t)
	if len(g.queue) == 1 {
		g.signalHeadLocked()
	}
	g.changedLocked()
	g.mu.Unlock()
	return t
}

// wait blocks until t's stream may start, and counts it as in flight. It
// fails, and takes t out of the queue, if ctx ends first (the parent reset
// the stream) or the gate stops; the stream must then not run.
func (g *gate) wait(ctx context.Context, t *ticket) error {
	if t.light {
		return g.admitLight(ctx, t)
	}
	g.mu.Lock()
	if !g.gated {
		defer g.mu.Unlock()
		if g.stopped {
			return errStopping
		}
		g.admitLocked(t)
		return nil
	}
	for {
		switch {
		case g.stopped:
			g.removeLocked(t)
			g.mu.Unlock()
			return errStopping
		case ctx.Err() != nil:
			g.removeLocked(t)
			g.mu.Unlock()
			return context.Cause(ctx)
		case g.queue[0] != t:
			g.mu.Unlock()
			g.await(ctx, t, nil)
		case !g.roomLocked():
			g.held = true
			measured := !g.fixed && g.demand != nil
			g.mu.Unlock()
			if measured {
				poll := time.NewTimer(cpuPoll)
				g.await(ctx, t, poll.C)
				poll.Stop()
			} else {
				g.await(ctx, t, nil)
			}
		case g.budget.High():
			g.mu.Unlock()
			g.waitLow(ctx)
		default:
			// Shifted rather than resliced, so that the queue keeps its
			// storage: reslicing from the front would make every join
			// reallocate once the queue had emptied.
			n := copy(g.queue, g.queue[1:])
			g.queue[n] = nil
			g.queue = g.queue[:n]
			// The next in line may start too if a slot is left.
			g.signalHeadLocked()
			g.admitLocked(t)
			g.mu.Unlock()
			return nil
		}
		g.mu.Lock()
	}
}

// admitLocked counts t's stream as in flight and reports the change. The
// report runs on t's goroutine, which is about to run the handler but which
// the demand meter leaves out as the caller: without admitting set, a
// stream admitted under a limit of 1 beside no other demand would be
// reported idle, and the parent, told the worker has a handler blocked,
// would send it two streams more, to wait at this gate for a CPU the
// handler is taking. The count goes into the demand average too: a handler
// is taken to compute from its start until the average sees otherwise, so
// that after a quiet spell (when the average starts again from this count)
// the next stream waits up to about demandTau for one that went to sleep at
// once, rather than the next report finding the average still at zero.
func (g *gate) admitLocked(t *ticket) {
	g.inFlight++
	t.running = true
	g.admitting = true
	g.changedLocked()
	g.admitting = false
}

// await blocks until t gets a turn, poll fires, ctx ends or the gate stops.
func (g *gate) await(ctx context.Context, t *ticket, poll <-chan time.Time) {
	select {
	case <-t.turn:
	case <-poll:
	case <-ctx.Done():
	case <-g.stopCtx.Done():
	}
}

// roomLocked says whether one more handler may start now, by the limit
// alone (the budget is checked apart).
func (g *gate) roomLocked() bool {
	if g.fixed {
		// Light handlers that started before the cap was set count too.
		return g.inFlight+g.light < g.limit
	}
	return g.computingLocked() < g.limit
}

// computingLocked is how many running handlers count toward the automatic
// limit: those not blocked on their client, fewer if the scheduler sees
// fewer goroutines wanting a CPU. Demand is measured only when the count
// alone reaches the limit, which keeps it off the path of a worker with
// room.
func (g *gate) computingLocked() int {
	n := max(g.inFlight-g.blocked, 0) // a drained body's read may still count
	if n < g.limit || g.demand == nil {
		return n
	}
	return min(n, int(math.Round(g.measureDemandLocked())))
}

// measureDemandLocked measures the demand and returns its average (see
// demandTau). An average older than a few time constants says nothing of
// now, and the measure starts again from the instant figure.
func (g *gate) measureDemandLocked() float64 {
	d, now := float64(g.demand()), time.Now()
	if g.admitting {
		d++ // the caller, whose handler starts now
	}
	dt := now.Sub(g.demandAt)
	if g.demandAt.IsZero() || dt > 5*demandTau {
		g.demandAvg = d
	} else {
		g.demandAvg += (1 - math.Exp(-float64(dt)/float64(demandTau))) * (d - g.demandAvg)
	}
	g.demandAt = now
	return g.demandAvg
}

// waitLow blocks until the budget is low again, ctx ends or the gate stops.
func (g *gate) waitLow(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(g.stopCtx, cancel)()
	g.budget.WaitLow(ctx)
}

// withdraw takes a ticket that will never wait out of the queue (its
// stream's head was malformed).
func (g *gate) withdraw(t *ticket) {
	if !g.gated {
		return
	}
	g.mu.Lock()
	g.removeLocked(t)
	g.mu.Unlock()
}

// leave marks the handler of t, which wait admitted, as finished, freeing
// its slot; its stream counts as draining until drained is called, unless
// sent says its response is all written already. Such a stream is over for
// the parent too, which may have had its end before the report that leave
// makes: counted as draining, it would let the parent send one stream more
// than the limit until the next report, one that would wait here.
func (g *gate) leave(t *ticket, sent bool) {
	if t.light {
		g.leaveLight(t)
		return
	}
	g.mu.Lock()
	g.inFlight--
	g.blocked -= t.blocked
	t.blocked, t.running = 0, false
	t.draining = !sent
	if t.draining {
		g.draining++
	}
	g.signalHeadLocked()
	g.changedLocked()
	g.mu.Unlock()
}

// drained marks the end of t's stream, which leave may have counted as
// draining.
func (g *gate) drained(t *ticket) {
	g.mu.Lock()
	if t.draining {
		g.draining--
		t.draining = false
		g.changedLocked()
	}
	g.mu.Unlock()
}

// block marks t's running handler as waiting on its client (it stops
// counting toward the automatic limit), or, with false, as back at work;
// t.wait, the stream's wait hook, calls it. Once the handler has left,
// calls change nothing.
func (g *gate) block(t *ticket, waiting bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	blocked := &g.blocked
	if t.light {
		blocked = &g.lightBlocked
	}
	switch {
	case !t.running:
		return
	case waiting:
		t.blocked++
		*blocked++
		g.signalHeadLocked()
		g.signalLightHeadLocked()
	case t.blocked > 0:
		t.blocked--
		*blocked--
	default:
		return
	}
	g.changedLocked()
}

// takeHeld reports whether the limit was binding since the last call, and
// forgets it: it held a stream back, or it is reached now. The second
// matters as much: the parent sends a worker no more streams than its
// reported limit leaves room for, so a limit set too low may never see a
// stream wait here, only the parent's queue grow.
func (g *gate) takeHeld() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	held := g.held || (g.gated && g.inFlight > 0 && !g.roomLocked())
	g.held = false
	return held
}

// setLimit changes the limit, effective at once: raising it starts waiting
// streams; lowering it lets running handlers finish, and new ones wait until
// there is room. fixed says whether n caps handlers running (a hard cap set
// by the operator) or computing (the controller's). It fails on a gate that
// is off (admission disabled), which has no limit to change.
func (g *gate) setLimit(n int, fixed bool) error {
	if !g.gated {
		return fmt.Errorf("the admission gate is off (DisableAdmission, %s=%s), so there is no in-flight limit to change", settings.EnvAdmission, settings.AdmissionOff)
	}
	if n < 1 {
		return fmt.Errorf("limit %d: want at least 1", n)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if n == g.limit && fixed == g.fixed {
		return nil
	}
	g.limit, g.fixed = n, fixed
	// The head re-checks, and each stream that starts signals the next,
	// so a raise starts as many as the new slots allow.
	g.signalHeadLocked()
	g.changedLocked()
	return nil
}

// setAutoLimit is the controller's setLimit: it changes the limit only
// while the gate is automatic, so that a hard cap put in place by PUT
// /config between the controller's reading and its writing stays.
func (g *gate) setAutoLimit(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.gated || g.fixed || n < 1 || n == g.limit {
		return
	}
	g.limit = n
	g.signalHeadLocked()
	g.changedLocked()
}

// counts returns a snapshot of the gate. limit is 0 when the gate is off.
func (g *gate) counts() gateCounts {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.countsLocked()
}

func (g *gate) countsLocked() gateCounts {
	return gateCounts{inFlight: g.inFlight, waiting: len(g.queue) + len(g.lightQueue), limit: g.limit,
		blocked: g.blocked, draining: g.draining, light: g.light, fixed: g.fixed}
}

// idleBlocked is how many running handlers do not count toward the
// automatic limit now: those blocked on their client and, as the scheduler
// measures it, those waiting on anything else. It is what a load report
// gives the parent as blocked, so that the parent keeps sending this
// worker streams while its handlers wait.
func (g *gate) idleBlocked() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.idleBlockedLocked()
}

// idleBlockedLocked is idleBlocked with g.mu held. It is the complement of
// computingLocked, which measures demand only when the count alone reaches
// the limit: below it, the parent has room on this worker whatever the
// measure would say, and a report made on every change of the gate (several
// per request) costs no measuring.
func (g *gate) idleBlockedLocked() int {
	if g.fixed {
		return min(g.blocked, g.inFlight)
	}
	return max(g.inFlight-g.computingLocked(), 0)
}

// stop makes every waiting stream, and any that joins later, fail wait with
// errStopping. Running handlers are not affected.
func (g *gate) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.stopNow()
}

// report calls fn with the current counts, under the same lock as onChange,
// so that a periodic report never overtakes a newer change.
func (g *gate) report(fn func(gateCounts)) {
	g.mu.Lock()
	fn(g.countsLocked())
	g.mu.Unlock()
}

func (g *gate) removeLocked(t *ticket) {
	for i, q := range g.queue {
		if q == t {
			g.queue = slices.Delete(g.queue, i, i+1)
			if i == 0 {
				g.signalHeadLocked()
			}
			g.changedLocked()
			return
		}
	}
}

func (g *gate) signalHeadLocked() {
	if len(g.queue) == 0 {
		return
	}
	select {
	case g.queue[0].turn <- struct{}{}:
	default:
	}
}

func (g *gate) changedLocked() {
	if g.onChange != nil {
		g.onChange(g.countsLocked())
	}
}
