package parent

import "github.com/sluicegw/sluice/ipc"

// The light lane of the router: a request the cost table finds light
// (cost.go) goes to a worker at once, whatever its CPU allowance, as long as
// the worker takes one more stream. It neither waits in the queue nor counts
// there, so the queue's overload control judges the requests that compete
// for the CPU limits, and a burst of cheap requests is not refused because
// expensive ones fill the queue. A light request that finds every worker at
// its stream limit, or none routable, takes the ordinary way.

// maxStreamsOf is how many streams the parent may have open on b: the
// worker's stream limit less the one its admin streams may need.
func maxStreamsOf(b *backend) int { return int(b.conn.PeerHello().MaxStreams) - 1 }

// acquireLight reserves a stream on the usable backend with the fewest
// streams open, if one has a stream to spare, or returns nil. exclude is
// skipped, as in acquire. Only backends whose workers have reported a
// measure are picked, but for a sample (a request that asks for one), which
// goes preferably to a worker that has not yet: that is how one is found
// to measure, at the cost, for a worker that does not, of one light stream
// it may hold at its gate now and then. The lane is closed under a hard cap
// (limit): the cap means at most that many requests per worker, light or
// not. The caller must release the backend with releaseLight.
func (p *pool) acquireLight(exclude *backend, sample bool) *backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.draining || p.limit > 0 {
		return nil
	}
	var best *backend
	for _, b := range p.backends {
		measures := b.measures.Load()
		if b == exclude || !usableLocked(b) || !measures && !sample || b.open >= maxStreamsOf(b) {
			continue
		}
		switch {
		case best == nil:
			best = b
		case sample && measures != best.measures.Load():
			if !measures {
				best = b
			}
		case b.open < best.open:
			best = b
		}
	}
	if best != nil {
		best.take()
		best.light++
	}
	return best
}

// releaseLight frees a stream that acquireLight reserved. It frees no CPU
// allowance, but a backend that was at its stream limit may have room now.
func (p *pool) releaseLight(b *backend) {
	p.mu.Lock()
	b.open--
	b.light--
	p.dispatchLocked()
	p.mu.Unlock()
}

// acquireLight reserves a stream on the light lane for a request the cost
// table finds light, and reports whether it did; nil means the request
// takes the ordinary way.
func (g *Gateway) acquireLight(c costClass, exclude *backend) (*backend, bool) {
	if !c.light {
		return nil, false
	}
	b := g.pool.acquireLight(exclude, c.measure)
	if b == nil {
		return nil, false
	}
	g.metrics.light.Inc()
	return b, true
}

// noteCost takes the CPU report of a response's END, if any, for the cost
// table, and marks its worker as one that measures.
func (g *Gateway) noteCost(x *exchange, b *backend, end ipc.Fields) {
	if !x.cost.measure {
		return
	}
	if used, ok := reportedCPU(end); ok {
		x.cpu, x.cpuKnown = used, true
		b.measures.Store(true)
	}
}
