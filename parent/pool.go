package parent

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// Reasons a request is refused; each becomes a 503 with Retry-After.
var (
	errQueueTimeout = errors.New("no worker had room within the queue timeout")
	errQueueFull    = errors.New("too many requests are already waiting for a worker")
	errNoWorkers    = errors.New("no worker is running")
	errDraining     = errors.New("the gateway is draining")
)

// backend is one live worker connection as the router sees it.
type backend struct {
	id   int
	pid  int
	conn *ipc.Conn
	// open counts the streams this gateway has on the worker; guarded by
	// pool.mu. The gateway's own count is exact and immediate, unlike the
	// worker's load report, which arrives later.
	open int
	// gone is set when the backend left the pool; guarded by pool.mu.
	gone bool
	// served counts the requests routed to it, for --max-requests;
	// guarded by pool.mu.
	served int
}

// waiter is a request queued for a slot, first come first served.
type waiter struct {
	exclude *backend
	got     chan *backend // buffered 1: a grant never blocks the granter
}

// pool routes requests to backends with spare capacity and queues the rest
// for a bounded time.
type pool struct {
	mu       sync.Mutex
	backends []*backend
	waiters  []*waiter
	limit    int // streams per worker
	maxQueue int
	draining bool
}

// acquire reserves a stream slot on the backend with the most room, waiting
// up to timeout for one. exclude, if set, is skipped (a retry goes
// elsewhere). The caller must release the backend.
func (p *pool) acquire(ctx context.Context, timeout time.Duration, exclude *backend) (*backend, error) {
	p.mu.Lock()
	if p.draining {
		p.mu.Unlock()
		return nil, errDraining
	}
	if b := p.pickLocked(exclude); b != nil {
		b.take()
		p.mu.Unlock()
		return b, nil
	}
	if len(p.waiters) >= p.maxQueue {
		p.mu.Unlock()
		return nil, errQueueFull
	}
	empty := len(p.backends) == 0
	w := &waiter{exclude: exclude, got: make(chan *backend, 1)}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()

	t := time.NewTimer(timeout)
	defer t.Stop()
	var err error
	select {
	case b := <-w.got:
		return b, nil
	case <-t.C:
		err = errQueueTimeout
		if empty {
			err = errNoWorkers
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return nil, err
		}
	}
	// Granted while we gave up: hand the slot back.
	b := <-w.got
	b.open--
	b.served--
	p.dispatchLocked()
	return nil, err
}

// pickLocked returns the usable backend with the most spare slots, or nil.
func (p *pool) pickLocked(exclude *backend) *backend {
	var best *backend
	bestSpare := 0
	for _, b := range p.backends {
		if b == exclude || b.conn.GoingAway() || b.conn.Err() != nil {
			continue
		}
		// Never more than the worker accepts streams (its admin streams
		// count there too), or OpenStream would refuse what we granted.
		limit := min(p.limit, int(b.conn.PeerHello().MaxStreams)-1)
		if spare := limit - b.open; spare > bestSpare {
			best, bestSpare = b, spare
		}
	}
	return best
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
		b.take()
		w.got <- b
		p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
	}
}

// take reserves a slot on b; pool.mu must be held.
func (b *backend) take() {
	b.open++
	b.served++
}

// served reports how many requests were routed to b.
func (p *pool) served(b *backend) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return b.served
}

func (p *pool) release(b *backend) {
	p.mu.Lock()
	b.open--
	p.dispatchLocked()
	p.mu.Unlock()
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

// setLimit changes the per-worker limit at run time; raising it hands the
// new slots to waiting requests at once.
func (p *pool) setLimit(n int) {
	p.mu.Lock()
	p.limit = n
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
