package child

import (
	"context"
	"math"
	"time"
)

// The light lane. A stream the parent marks light (hints.go) belongs to an
// endpoint whose handlers have used little CPU: a health check, a small API
// call, a handler that mostly waits on a database. Queued behind handlers
// that compute for hundreds of milliseconds, such a request would wait as
// long as they run while needing almost nothing of the CPUs; started beside
// them it costs them a time slice. So it takes no place in the queue and
// no slot of the CPU limit, and the counts the parent routes by (in-flight,
// limit, blocked, draining) leave it out.
//
// The lane has a CPU bound of its own, the same limit: light handlers
// computing at once, as the scheduler measures it, stay under it. Cheap
// handlers finish or go to sleep before they add up to it; an endpoint the
// parent misjudged (its handlers compute on goroutines of their own, which
// the probe cannot see, or its cost depends on a value the endpoint's name
// leaves out) gets the CPUs of one limit more, not of as many streams as
// the parent may open. Memory comes first, as for every stream: a light
// stream waits while the send budget is above its high watermark.
//
// Only the automatic mode has the lane: a hard cap (Config.MaxInFlight,
// PUT /config max_inflight) means at most that many handlers, light or not,
// and a light stream that has not started when one is set queues like any
// other.

// admitLight is wait for a light stream: it blocks while the send budget is
// high or the light handlers computing reach the lane's bound, and fails
// like wait when ctx ends or the gate stops. Light streams that wait start
// in arrival order, and only the first looks at the bound, as in the main
// queue: a crowd of waiters that each woke to look would be, to the demand
// measure, a crowd computing.
func (g *gate) admitLight(ctx context.Context, t *ticket) error {
	g.mu.Lock()
	queued := false
	for {
		switch {
		case g.stopped:
			g.leaveLightQueueLocked(t, queued)
			g.mu.Unlock()
			return errStopping
		case ctx.Err() != nil:
			g.leaveLightQueueLocked(t, queued)
			g.mu.Unlock()
			return context.Cause(ctx)
		case g.fixed:
			// A hard cap came since the stream joined: it queues.
			g.leaveLightQueueLocked(t, queued)
			t.light = false
			g.queue = append(g.queue, t)
			if len(g.queue) == 1 {
				g.signalHeadLocked()
			}
			g.changedLocked()
			g.mu.Unlock()
			return g.wait(ctx, t)
		case queued && g.lightQueue[0] != t:
			g.mu.Unlock()
			g.await(ctx, t, nil)
			g.mu.Lock()
			continue
		case g.budget.High():
			g.mu.Unlock()
			g.waitLow(ctx)
			g.mu.Lock()
			continue
		case !g.lightRoomLocked():
			if !queued {
				g.lightQueue = append(g.lightQueue, t)
				queued = true
				if g.lightQueue[0] != t {
					continue
				}
			}
			g.mu.Unlock()
			poll := time.NewTimer(cpuPoll)
			g.await(ctx, t, poll.C)
			poll.Stop()
			g.mu.Lock()
			continue
		case !queued && len(g.lightQueue) > 0:
			// Others wait already: after them.
			g.lightQueue = append(g.lightQueue, t)
			queued = true
			continue
		}
		g.leaveLightQueueLocked(t, queued)
		g.light++
		t.running = true
		g.changedLocked()
		g.mu.Unlock()
		return nil
	}
}

// leaveLightQueueLocked takes t out of the light queue if it is there, and
// lets the next in line look at the bound.
func (g *gate) leaveLightQueueLocked(t *ticket, queued bool) {
	if !queued {
		return
	}
	for i, q := range g.lightQueue {
		if q == t {
			n := copy(g.lightQueue[i:], g.lightQueue[i+1:])
			g.lightQueue[i+n] = nil
			g.lightQueue = g.lightQueue[:i+n]
			break
		}
	}
	g.signalLightHeadLocked()
}

// signalLightHeadLocked wakes the first light stream waiting, if any.
func (g *gate) signalLightHeadLocked() {
	if len(g.lightQueue) == 0 {
		return
	}
	select {
	case g.lightQueue[0].turn <- struct{}{}:
	default:
	}
}

// lightRoomLocked says whether one more light handler may start: fewer
// than the limit of the running ones are computing, that is, not blocked on
// their client and, as far as the demand beyond what the gate's own
// handlers account for tells, not waiting on anything else. Demand is
// measured only when the count alone reaches the limit.
func (g *gate) lightRoomLocked() bool {
	n, bound := g.light-g.lightBlocked, g.limit+g.lightSpare
	if n < bound || g.demand == nil {
		return n < bound
	}
	d := int(math.Round(g.measureDemandLocked()))
	gated := min(max(g.inFlight-g.blocked, 0), d)
	return min(n, max(d-gated, 0)) < bound
}

// leaveLight is leave for a light stream. The queue's head is signalled for
// the case of a hard cap set since the stream started, which counts it;
// light streams waiting for room look again within cpuPoll.
func (g *gate) leaveLight(t *ticket) {
	g.mu.Lock()
	g.light--
	g.lightBlocked -= t.blocked
	t.blocked, t.running = 0, false
	g.signalHeadLocked()
	g.signalLightHeadLocked()
	g.changedLocked()
	g.mu.Unlock()
}
