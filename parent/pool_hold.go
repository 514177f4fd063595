package parent

import (
	"slices"
	"time"
)

// The forecast behind what an overloaded queue holds (overload.go): when a
// worker is expected to free a slot for the next request to wait. The pool
// does not know which of a worker's streams ends next, nor when; it takes
// them to end in the order they started (true of streams that all take
// about as long, the case where overload builds: a queue of requests for
// CPU), each after the service time the control measures. A stream that
// took longer than that is due now.

// maxForecast bounds the requests the forecast looks past: an overloaded
// queue holds no more than this many, however many slots are about to
// free.
const maxForecast = 16

// slotForecast is when the pool expects a slot to free for a request: in,
// from now, if known. Not known: no stream has ended yet, so no service
// time is measured, or no worker that the request may go to holds a slot
// that would free (each worker is going away, at its stream limit, or
// excluded).
type slotForecast struct {
	in    time.Duration
	known bool
}

// forecastLocked says when a slot is expected to free for a request that
// finds ahead requests waiting: the (ahead+1)-th slot to free on a worker
// it may go to. exclude is skipped, as in acquire.
func (p *pool) forecastLocked(now time.Time, ahead int, exclude *backend) slotForecast {
	service := p.control.service
	if service <= 0 {
		return slotForecast{}
	}
	if ahead >= maxForecast {
		return slotForecast{in: time.Duration(1<<63 - 1), known: true}
	}
	// The earliest ahead+1 times a slot frees, in order.
	var buf [maxForecast]time.Duration
	frees := buf[:0]
	for _, b := range p.backends {
		if b == exclude || !usableLocked(b) || b.open >= maxStreamsOf(b) {
			continue
		}
		used := len(b.starts)
		if p.limit > 0 {
			used = b.open // a hard cap counts light streams too
		}
		// Its streams free a slot once used falls below the allowance:
		// the first at the end of stream used-allowance, oldest first.
		for i := max(used-p.allowanceLocked(b), 0); i < len(b.starts); i++ {
			in := max(b.starts[i].Add(service).Sub(now), 0)
			if len(frees) == ahead+1 && in >= frees[ahead] {
				break // later streams of b end later still
			}
			at, _ := slices.BinarySearch(frees, in)
			if len(frees) < ahead+1 {
				frees = slices.Insert(frees, at, in)
			} else {
				copy(frees[at+1:], frees[at:ahead])
				frees[at] = in
			}
		}
	}
	if len(frees) < ahead+1 {
		return slotForecast{}
	}
	return slotForecast{in: frees[ahead], known: true}
}

// takeHeavy reserves a slot on b for a stream that counts against its
// allowance, started now; pool.mu must be held.
func (b *backend) takeHeavy(now time.Time) {
	b.take()
	b.starts = append(b.starts, now)
}

// endHeavy forgets the start of one of b's streams that ended, and returns
// how long it held its slot: the oldest, as the forecast takes streams to
// end in order. ok is false if b has none (a stream taken before the
// backend tracked starts cannot be).
func (b *backend) endHeavy(now time.Time) (held time.Duration, ok bool) {
	if len(b.starts) == 0 {
		return 0, false
	}
	held = now.Sub(b.starts[0])
	n := copy(b.starts, b.starts[1:])
	b.starts = b.starts[:n]
	return held, true
}

// untakeHeavy gives back a slot that was granted at at and never used (its
// client went away as the grant came); pool.mu must be held.
func (b *backend) untakeHeavy(at time.Time) {
	b.open--
	b.served--
	if i := slices.Index(b.starts, at); i >= 0 {
		b.starts = slices.Delete(b.starts, i, i+1)
	}
}
