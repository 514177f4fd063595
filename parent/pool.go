package parent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// Reasons a request is refused; each becomes a 503 with Retry-After.
var (
	errQueueTimeout = errors.New("no worker had room within the queue timeout")
	errQueueFull    = errors.New("too many requests are already waiting for a worker")
	errNoWorkers    = errors.New("no worker is running")
	errDraining     = errors.New("the gateway is draining")
	errOverloaded   = errors.New("the gateway is overloaded: its queue has been growing, and no worker would have room for this request soon")
)

// refusal is a refusal of acquire with the pool's state when it was made:
// what the 503 tells the client (streams open, requests waiting, when to
// come back), taken under the lock that made the decision, so that a flood
// of refusals takes the pool's lock once each.
type refusal struct {
	reason        error
	open, waiting int
	retryAfter    time.Duration
}

func (r *refusal) Error() string { return r.reason.Error() }
func (r *refusal) Unwrap() error { return r.reason }

// refusedLocked counts a refusal for reason now and returns it with the
// pool's state; pool.mu must be held.
func (p *pool) refusedLocked(now time.Time, reason error) *refusal {
	p.control.refuse(now)
	return p.snapshotLocked(now, reason)
}

// snapshotLocked is reason with the pool's state, for a refusal already
// counted; pool.mu must be held.
func (p *pool) snapshotLocked(now time.Time, reason error) *refusal {
	r := &refusal{reason: reason, waiting: len(p.waiters)}
	for _, b := range p.backends {
		r.open += b.open
	}
	r.retryAfter = p.control.retryAfter(now, len(p.waiters), p.retryLo, p.retryHi)
	return r
}

// defaultAllowance is what a worker may have open in automatic mode before
// its first load report: enough to start work at once, few enough that a
// burst does not pile onto a worker whose limit is not known yet (a worker
// that never reports keeps it, as with the old fixed default).
const defaultAllowance = 2

// backend is one live worker connection as the router sees it.
type backend struct {
	id   int
	pid  int
	conn *ipc.Conn
	// open counts the streams this gateway has on the worker; guarded by
	// pool.mu. It is the gateway's own count, exact and immediate, which
	// the worker's load report cannot be: a report tells how many the
	// worker will take, open tells how many it already has.
	open int
	// light counts the streams of open that took the light lane
	// (pool_light.go): they count toward the worker's stream limit, not
	// toward its allowance. Guarded by pool.mu.
	light int
	// measures is set once the worker has reported the CPU of a request
	// (cost.go): only such a worker gets light requests, since one that
	// does not measure may not honour the hint either.
	measures atomic.Bool
	// reported is the allowance of the worker's last load report
	// (reportedAllowance), 0 before the first. The
	// connection's reader writes it (pool.noteLoad), the router reads it.
	reported atomic.Int64
	// draining is how many of the last report's draining streams have
	// not ended since: each one that ends takes one from reported
	// (release), since its drain was what made room for it.
	draining atomic.Int64
	// gone is set when the backend left the pool; guarded by pool.mu.
	gone bool
	// served counts the requests routed to it, for --max-requests;
	// guarded by pool.mu.
	served int
	// maxServed, if positive, is the most requests routed to it
	// (Config.MaxRequests): the pool picks it no more once served reaches
	// it, and closes full (if not nil) then, for its slot to replace it.
	maxServed int
	full      chan struct{}
	// stuck is set once a stream of its worker made no progress for a
	// worker timeout (progress.go): the pool picks it no more, and closes
	// stalled (if not nil), for its slot to replace it. Guarded by
	// pool.mu.
	stuck   bool
	stalled chan struct{}
	// starts holds when each of its streams that count against its
	// allowance (not light ones) was granted, oldest first, for the
	// forecast of an overloaded queue (pool_hold.go). Guarded by pool.mu.
	starts []time.Time
}

// waiter is a request queued for a slot, first come first served.
type waiter struct {
	exclude *backend
	// got carries the grant, or nil when the pool refused the waiter
	// (err says why); buffered 1, so that neither blocks the pool.
	got   chan *backend
	err   error
	since time.Time
	// grantedAt is when its grant was sent (guarded by pool.mu): a grant
	// its client leaves unused is given back by it (untakeHeavy).
	grantedAt time.Time
}

// pool routes requests to backends with spare capacity and queues the rest
// for a bounded time.
type pool struct {
	mu       sync.Mutex
	backends []*backend
	waiters  []*waiter
	// queued is len(waiters), readable without mu: a load report takes
	// the lock only when a request waits.
	queued atomic.Int32
	// limit is the hard cap on streams per worker; 0 is automatic, by
	// the workers' load reports (allowanceLocked). capped says limit > 0,
	// readable without mu.
	limit    int
	capped   atomic.Bool
	maxQueue int
	// retryLo and retryHi bound the Retry-After of a refusal.
	retryLo, retryHi time.Duration
	draining         bool
	// control is the queue's overload state (overload.go); its zero value
	// is off.
	control queueControl
	// onWait, if set, is told how long each queued request waited and
	// how its wait ended; it is called without mu, on the request's
	// goroutine.
	onWait func(outcome waitOutcome, d time.Duration)
}

// waitOutcome is how a request's wait in the queue ended.
type waitOutcome int

const (
	waitServed  waitOutcome = iota // a worker had room
	waitRefused                    // answered 503
	waitGone                       // the client went away
)

// acquire reserves a stream slot on the backend with the most room, waiting
// for one up to timeout, or less while the queue is overloaded
// (overload.go). exclude, if set, is skipped (a retry goes elsewhere). The
// caller must release the backend.
func (p *pool) acquire(ctx context.Context, timeout time.Duration, exclude *backend) (*backend, error) {
	b, _, err := p.acquireAt(ctx, timeout, exclude)
	return b, err
}

// acquireAt is acquire that also returns when the slot was granted, the
// stream's identity for releaseAt.
func (p *pool) acquireAt(ctx context.Context, timeout time.Duration, exclude *backend) (*backend, time.Time, error) {
	p.mu.Lock()
	now := time.Now() // after the lock, so that the control sees time in order
	if p.draining {
		r := p.refusedLocked(now, errDraining)
		p.mu.Unlock()
		return nil, time.Time{}, r
	}
	if b := p.pickLocked(exclude); b != nil {
		b.takeHeavy(now)
		p.control.grant(now, false)
		p.mu.Unlock()
		return b, now, nil
	}
	// With no worker that can take requests (each recycled at its request
	// limit, going away or failed, their replacements starting) nothing
	// leaves the queue whatever comes: that is a gap in capacity, not
	// growth beyond it. The overload control neither counts nor judges
	// what comes then; the queue timeout bounds the wait.
	routable := p.routableLocked()
	reserve := p.reserveLocked()
	overloaded := false
	if routable {
		p.control.offer(now)
		var entered bool
		if overloaded, entered = p.control.update(now, len(p.waiters), reserve); entered {
			p.cutLocked(now, reserve)
		}
	}
	if len(p.waiters) >= p.maxQueue {
		r := p.refusedLocked(now, errQueueFull)
		p.mu.Unlock()
		return nil, time.Time{}, r
	}
	wait := timeout
	if routable {
		var f slotForecast
		if overloaded {
			f = p.forecastLocked(now, len(p.waiters), exclude)
		}
		wait = p.control.wait(len(p.waiters), reserve, timeout, f)
	}
	if wait == 0 {
		r := p.refusedLocked(now, errOverloaded)
		p.mu.Unlock()
		return nil, time.Time{}, r
	}
	empty := len(p.backends) == 0
	w := &waiter{exclude: exclude, got: make(chan *backend, 1), since: now}
	p.waiters = append(p.waiters, w)
	p.noteQueueLocked(now)
	// A load report that raised an allowance after the pick above found
	// no waiter to dispatch (noteLoad): look again now that this one shows.
	p.dispatchLocked()
	p.mu.Unlock()

	t := time.NewTimer(wait)
	defer t.Stop()
	var err error
	select {
	case b := <-w.got:
		if b == nil {
			p.waited(waitRefused, w)
			return nil, time.Time{}, w.err
		}
		p.waited(waitServed, w)
		return b, w.grantedAt, nil
	case <-t.C:
		err = errQueueTimeout
		switch {
		case empty:
			err = errNoWorkers
		case wait < timeout:
			err = errOverloaded
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	gone := err == ctx.Err()
	p.mu.Lock()
	now = time.Now()
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			p.noteQueueLocked(now)
			if gone {
				p.mu.Unlock()
				p.waited(waitGone, w)
				return nil, time.Time{}, err
			}
			r := p.refusedLocked(now, err)
			p.mu.Unlock()
			p.waited(waitRefused, w)
			return nil, time.Time{}, r
		}
	}
	// Granted or refused as the wait ended: a grant stands unless the
	// client went away, and then its slot goes back.
	b := <-w.got
	switch {
	case b == nil:
		p.mu.Unlock()
		p.waited(waitRefused, w)
		return nil, time.Time{}, w.err
	case !gone:
		p.mu.Unlock()
		p.waited(waitServed, w)
		return b, w.grantedAt, nil
	}
	b.untakeHeavy(w.grantedAt)
	p.dispatchLocked()
	p.mu.Unlock()
	p.waited(waitGone, w)
	return nil, time.Time{}, err
}

// waited reports w's wait to onWait.
func (p *pool) waited(o waitOutcome, w *waiter) {
	if p.onWait != nil {
		p.onWait(o, time.Since(w.since))
	}
}

// reserveLocked is how many waiting requests the overload control never
// refuses early (overload.go): one. One per worker would ride out
// completions that come close together, at the cost of a wait of up to one
// more completion for every request served; measured here, that cost the
// latency of those served and gained no throughput.
func (p *pool) reserveLocked() int { return 1 }

// cutLocked refuses, as the queue turns overloaded, the waiters that came
// during the growth that made it so and for whom no slot is forecast
// within the hold, as for a request that comes now: the workers would
// reach them too late. Beyond the reserve, no forecast (no service time
// measured yet) means late; the reserve goes only on a forecast that says
// so. Kept for having waited less than the target, or for being the
// reserve, such a waiter would wait its turn behind the streams running, a
// second service time at an overload's onset. Those that came before the
// growth (a burst the queue was serving) keep their place.
func (p *pool) cutLocked(now time.Time, reserve int) {
	window := p.control.interval + p.control.interval/windowSlots
	kept := p.waiters[:0]
	for i, w := range p.waiters {
		if now.Sub(w.since) <= window && p.lateLocked(now, i, i < reserve, w.exclude) {
			p.control.refuse(now)
			w.err = p.snapshotLocked(now, errOverloaded)
			w.got <- nil
			continue
		}
		kept = append(kept, w)
	}
	clear(p.waiters[len(kept):])
	p.waiters = kept
	p.noteQueueLocked(now)
}

// lateLocked says no slot is forecast within the hold for the waiter with
// ahead others before it; for the reserve, only a forecast says so.
func (p *pool) lateLocked(now time.Time, ahead int, reserve bool, exclude *backend) bool {
	f := p.forecastLocked(now, ahead, exclude)
	if !f.known {
		return !reserve
	}
	return f.in > p.control.hold()
}

// noteQueueLocked records the queue's length after a change.
func (p *pool) noteQueueLocked(now time.Time) {
	p.queued.Store(int32(len(p.waiters)))
	p.control.noteLen(now, len(p.waiters))
}

// refusalState is reason with the pool's state now, for a refusal that
// acquire did not make.
func (p *pool) refusalState(reason error) *refusal {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snapshotLocked(time.Now(), reason)
}

// overload reports the time the queue spent overloaded and whether it is
// now.
func (p *pool) overload() (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	reserve := p.reserveLocked()
	if _, entered := p.control.update(now, len(p.waiters), reserve); entered {
		p.cutLocked(now, reserve)
	}
	return p.control.overloadedTime(now)
}

// routableLocked reports whether some backend may take requests now or
// once it has room.
func (p *pool) routableLocked() bool {
	for _, b := range p.backends {
		if usableLocked(b) {
			return true
		}
	}
	return false
}

// usableLocked reports whether b may take requests (now, or once it has
// room): not going away, not failed, not at its request limit.
func usableLocked(b *backend) bool {
	return !b.stuck && !b.conn.GoingAway() && b.conn.Err() == nil && (b.maxServed == 0 || b.served < b.maxServed)
}

// stall takes b out of routing, its worker having made no progress on a
// stream, and tells its slot to replace it; it reports whether b was
// routable until now, so that the first timeout is the one logged.
func (p *pool) stall(b *backend) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b.stuck {
		return false
	}
	b.stuck = true
	if b.stalled != nil {
		close(b.stalled)
	}
	return true
}

// openOn is how many streams the gateway has open on b.
func (p *pool) openOn(b *backend) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return b.open
}

// pickLocked returns the usable backend with the most room (allowance −
// open), on a tie the one with the fewest open, or nil.
func (p *pool) pickLocked(exclude *backend) *backend {
	var best *backend
	bestSpare := 0
	for _, b := range p.backends {
		if b == exclude || !usableLocked(b) {
			continue
		}
		heavy := b.open
		if p.limit == 0 {
			heavy -= b.light // a hard cap counts light streams too
		}
		spare := p.allowanceLocked(b) - heavy
		if b.open >= maxStreamsOf(b) {
			spare = 0
		}
		if spare > bestSpare || spare == bestSpare && best != nil && b.open < best.open {
			best, bestSpare = b, spare
		}
	}
	return best
}

// allowanceLocked is how many streams b may have open: the hard cap, or in
// automatic mode what its last load report allows (reportedAllowance), so
// that only streams that will compute count against its CPU limit. Never more than the worker accepts streams (its admin streams count
// there too), or OpenStream would refuse what was granted.
func (p *pool) allowanceLocked(b *backend) int {
	streams := maxStreamsOf(b)
	if p.limit > 0 {
		return min(p.limit, streams)
	}
	n := int(b.reported.Load())
	if n == 0 {
		n = defaultAllowance
	}
	return min(n, streams)
}

// reportedAllowance is what a load report lets the parent have open on the
// worker: its CPU limit, the handlers that do not count toward it and the
// responses draining, and as many again as it has handlers blocked. That
// last part is a bet that new requests will wait like the ones already
// there: the worker's own gate holds any that would compute past its
// limit, and without it a burst of I/O-bound requests would be let in
// only a CPU limit's worth per report, not twice as many each time.
func reportedAllowance(l ipc.Load) int64 {
	return max(1, int64(l.Limit)+2*int64(l.Blocked)+int64(l.Draining))
}

// noteLoad records a load report of b's worker. It runs on the connection's
// reader, so it must not block: the lock is taken only when the report
// raised the allowance while requests wait, and it dispatches them at once.
func (p *pool) noteLoad(b *backend, l ipc.Load) {
	n := reportedAllowance(l)
	b.draining.Store(int64(l.Draining))
	if old := b.reported.Swap(n); n <= old || p.queued.Load() == 0 {
		return
	}
	p.mu.Lock()
	if p.limit == 0 {
		p.dispatchLocked()
	}
	p.mu.Unlock()
}

// connConfig is base (nil: defaults) with b's load reports fed to the pool,
// for the connection to b's worker; any OnLoad of base still runs.
func (p *pool) connConfig(base *ipc.Config, b *backend) *ipc.Config {
	var c ipc.Config
	if base != nil {
		c = *base
	}
	next := c.OnLoad
	c.OnLoad = func(l ipc.Load) {
		p.noteLoad(b, l)
		if next != nil {
			next(l)
		}
	}
	return &c
}

// dispatchLocked hands freed slots to waiters in arrival order. A waiter
// that excludes the only backend with room is passed over, not allowed to
// hold up the ones behind it.
func (p *pool) dispatchLocked() {
	for i := 0; i < len(p.waiters); {
		w := p.waiters[i]
		b := p.pickLocked(w.exclude)
		if b == nil {
			if p.pickLocked(nil) == nil {
				return
			}
			i++
			continue
		}
		now := time.Now()
		b.takeHeavy(now)
		w.grantedAt = now
		w.got <- b
		p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
		p.control.grant(now, true)
		p.noteQueueLocked(now)
	}
}

// take reserves a slot on b; pool.mu must be held.
func (b *backend) take() {
	b.open++
	b.served++
	if b.served == b.maxServed && b.full != nil {
		close(b.full)
	}
}

// served reports how many requests were routed to b.
func (p *pool) served(b *backend) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return b.served
}

// release frees b's slot. A response that drained ends here, and the
// report that counted its drain is stale: the next report, which would say
// so, rides with the worker's next output, perhaps a whole handler later,
// and meanwhile the slot would look free twice over. So the end of a
// stream takes one from the allowance while the last report shows a drain
// that has not ended. (A report that said so already, processed before
// this release, makes it take one too many until the next: the allowance
// is never taken below 1, and reports come at least every 100 ms.)
func (p *pool) release(b *backend) { p.releaseAt(b, time.Time{}, false) }

// releaseAt is release of the stream granted at at (acquireAt); served
// says it carried a response to its end, whose duration then counts in
// the service time (an attempt that failed or that the worker refused at
// its gate says nothing of how long streams take). A zero at stands for
// the oldest of b's streams.
func (p *pool) releaseAt(b *backend, at time.Time, served bool) {
	p.mu.Lock()
	b.open--
	now := time.Now()
	if held, ok := b.endHeavy(now, at); ok && served {
		p.control.noteService(held)
	}
	if p.control.target > 0 {
		p.control.finish(now)
	}
	if p.limit == 0 && takeOne(&b.draining, 0) {
		takeOne(&b.reported, 1)
	}
	p.dispatchLocked()
	p.mu.Unlock()
}

// takeOne takes one from n unless that would leave it below floor, and
// reports whether it did; a load report may replace n meanwhile.
func takeOne(n *atomic.Int64, floor int64) bool {
	for {
		v := n.Load()
		if v <= floor {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

// byID returns the live backend of worker slot id, or nil.
func (p *pool) byID(id int) *backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.backends {
		if b.id == id && b.conn.Err() == nil {
			return b
		}
	}
	return nil
}

// ids lists the worker slots with a live backend.
func (p *pool) ids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []int
	for _, b := range p.backends {
		ids = append(ids, b.id)
	}
	return ids
}

// setLimit changes the per-worker hard cap at run time (0: automatic);
// raising it hands the new slots to waiting requests at once.
func (p *pool) setLimit(n int) {
	p.mu.Lock()
	p.limit = n
	p.capped.Store(n > 0)
	p.dispatchLocked()
	p.mu.Unlock()
}

func (p *pool) add(b *backend) {
	p.mu.Lock()
	p.backends = append(p.backends, b)
	p.dispatchLocked()
	p.mu.Unlock()
}

func (p *pool) remove(b *backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b.gone = true
	for i, x := range p.backends {
		if x == b {
			p.backends = append(p.backends[:i], p.backends[i+1:]...)
			return
		}
	}
}

func (p *pool) setDraining() {
	p.mu.Lock()
	p.draining = true
	p.mu.Unlock()
}

// counts reports the streams open and the requests waiting.
func (p *pool) counts() (open, waiting int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.backends {
		open += b.open
	}
	return open, len(p.waiters)
}
