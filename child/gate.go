package child

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/sluicegw/sluice/ipc/settings"
	"github.com/sluicegw/sluice/stream"
)

// errStopping is why a stream waiting at the gate never starts: the worker
// is shutting down, and the parent may retry the stream elsewhere.
var errStopping = errors.New("child: the worker is stopping; the stream was never started")

// gate is the admission gate: it decides when an accepted stream's handler
// may start. Flushing what was already produced goes before starting more
// work, so a stream waits while limit handlers run, or while the shared send
// budget is above its high watermark, until it falls to the low one.
// Without this, a worker under load keeps starting handlers whose output
// competes with, and starves, the responses already under way
// (docs/ARCHITECTURE.md, "Starved flushing").
//
// Waiting streams start in arrival order: only the ticket at the head of the
// queue looks at the slots and the budget; the others wait for it to move.
type gate struct {
	gated  bool           // false: no gate at all (admission is off)
	budget *stream.Budget // its watermarks hold new handlers back
	// onChange is called, with mu held so that reports leave in order, each
	// time the counts or the limit change; it must not block.
	onChange func(inFlight, waiting, limit int)

	stopCtx context.Context // ends when the gate stops
	stopNow context.CancelFunc

	mu       sync.Mutex
	limit    int // most handlers at once (when gated); may change at run time
	inFlight int
	queue    []*ticket // waiting, in arrival order
	stopped  bool
}

// ticket is one stream's place in the queue.
type ticket struct {
	// turn gets a token when the ticket may have become able to start (it
	// reached the head, or a slot was freed); a token left over is harmless
	// because the waiter re-checks everything.
	turn chan struct{}
}

// tickets reuses tickets and their channels. A ticket's life is bounded by
// the gate: once wait has returned or withdraw has taken it out of the
// queue, nothing signals it any more, and serveStream releases it.
var tickets = sync.Pool{New: func() any { return &ticket{turn: make(chan struct{}, 1)} }}

// release returns t, which is no longer in the queue (wait has returned or
// withdraw has run), for reuse; t must not be used after. A token left in
// its channel is dropped so that the next stream to get it does not start
// its wait with a stale signal.
func (g *gate) release(t *ticket) {
	select {
	case <-t.turn:
	default:
	}
	tickets.Put(t)
}

// newGate returns a gate for limit handlers (0: no gate) that also holds new
// handlers back while budget is High.
func newGate(limit int, budget *stream.Budget, onChange func(inFlight, waiting, limit int)) *gate {
	g := &gate{gated: limit > 0, limit: limit, budget: budget, onChange: onChange}
	g.stopCtx, g.stopNow = context.WithCancel(context.Background())
	return g
}

// join puts a stream in the queue. The accept loop calls it, so that the
// queue keeps the order in which the parent opened the streams whatever the
// order in which their goroutines run.
func (g *gate) join() *ticket {
	t := tickets.Get().(*ticket)
	if !g.gated {
		return t
	}
	g.mu.Lock()
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
	g.mu.Lock()
	if !g.gated {
		defer g.mu.Unlock()
		if g.stopped {
			return errStopping
		}
		g.inFlight++
		g.changedLocked()
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
		case g.queue[0] != t || g.inFlight >= g.limit:
			g.mu.Unlock()
			select {
			case <-t.turn:
			case <-ctx.Done():
			case <-g.stopCtx.Done():
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
			g.inFlight++
			// The next in line may start too if a slot is left.
			g.signalHeadLocked()
			g.changedLocked()
			g.mu.Unlock()
			return nil
		}
		g.mu.Lock()
	}
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

// leave marks a handler that wait admitted as finished, freeing its slot.
func (g *gate) leave() {
	g.mu.Lock()
	g.inFlight--
	g.signalHeadLocked()
	g.changedLocked()
	g.mu.Unlock()
}

// setLimit changes how many handlers run at once, effective at once:
// raising it starts waiting streams; lowering it lets running handlers
// finish, and new ones wait until fewer than n run. It fails on a gate that
// is off (admission disabled), which has no limit to change.
func (g *gate) setLimit(n int) error {
	if !g.gated {
		return fmt.Errorf("the admission gate is off (DisableAdmission, %s=%s), so there is no in-flight limit to change", settings.EnvAdmission, settings.AdmissionOff)
	}
	if n < 1 {
		return fmt.Errorf("limit %d: want at least 1", n)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if n == g.limit {
		return nil
	}
	g.limit = n
	// The head re-checks, and each stream that starts signals the next,
	// so a raise starts as many as the new slots allow.
	g.signalHeadLocked()
	g.changedLocked()
	return nil
}

// counts returns the handlers running and the streams waiting, and the
// limit in force (0 when the gate is off).
func (g *gate) counts() (inFlight, waiting, limit int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight, len(g.queue), g.limit
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
func (g *gate) report(fn func(inFlight, waiting, limit int)) {
	g.mu.Lock()
	fn(g.inFlight, len(g.queue), g.limit)
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
		g.onChange(g.inFlight, len(g.queue), g.limit)
	}
}
