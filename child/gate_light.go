package child

import "context"

// The light lane. A stream the parent marks light (hints.go) belongs to an
// endpoint whose handlers have used little CPU before their response head:
// a health check, a small API call, a handler that mostly waits on a
// database. Queued behind handlers that compute for hundreds of
// milliseconds, such a request would wait as long as they run while
// needing almost nothing of the CPUs; started beside them it costs them a
// time slice. So it starts at once: it takes no place in the queue and no
// slot of the CPU limit, and the counts the parent routes by (limit,
// blocked, draining) leave it out. Memory still comes first: like every
// stream, it waits while the send budget is above its high watermark.
//
// Only the automatic mode has the lane: a hard cap (Config.MaxInFlight,
// PUT /config max_inflight) means at most that many handlers, light or not.

// lightAllowed reports whether a stream marked light may take the light
// lane now.
func (g *gate) lightAllowed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gated && !g.fixed
}

// admitLight is wait for a light stream: it blocks only while the send
// budget is high, and fails like wait when ctx ends or the gate stops.
func (g *gate) admitLight(ctx context.Context, t *ticket) error {
	g.mu.Lock()
	for {
		switch {
		case g.stopped:
			g.mu.Unlock()
			return errStopping
		case ctx.Err() != nil:
			g.mu.Unlock()
			return context.Cause(ctx)
		case g.budget.High():
			g.mu.Unlock()
			g.waitLow(ctx)
			g.mu.Lock()
			continue
		}
		g.light++
		t.running = true
		g.changedLocked()
		g.mu.Unlock()
		return nil
	}
}

// leaveLight is leave for a light stream, which counts as draining (apart)
// until drained. Its end frees nothing a waiting stream could use, so the
// queue's head is not signalled.
func (g *gate) leaveLight(t *ticket) {
	g.mu.Lock()
	g.light--
	g.lightDraining++
	t.running = false
	g.changedLocked()
	g.mu.Unlock()
}
