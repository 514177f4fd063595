package parent

import (
	"slices"
	"time"
)

// The forecast behind what an overloaded queue holds (overload.go): when a
// worker is expected to free a slot for the next request to wait. The pool
// does not know which of a worker's streams ends next, nor when; it takes
// each to end one service time (as the control measures it) after it
// started, in that order: true of streams that all take about as long, the
// case where overload builds, a queue of requests for CPU. A stream that
// took longer than that is due now; one that took more than twice as long
// is a long one (an export beside small calls), not expected to end soon.

// maxForecast bounds the requests the forecast looks past: an overloaded
// queue holds no more than this many, however many slots are about to
// free.
const maxForecast = 16

// slotForecast is when the pool expects a slot to free for a request: in,
// from now, if known. Not known: no stream has ended yet, so no service
// time is measured, or no worker that the request may go to has a stream
// open (each is going away, at its stream limit, or excluded).
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
	open := false
	for _, b := range p.backends {
		if b == exclude || !usableLocked(b) || b.open >= maxStreamsOf(b) {
			continue
		}
		open = open || len(b.starts) > 0
		used := len(b.starts)
		if p.limit > 0 {
			used = b.open // a hard cap counts light streams too
		}
		// Its streams free a slot once used falls below the allowance:
		// the first at the end of stream used-allowance, oldest first.
		for i := max(used-p.allowanceLocked(b), 0); i < len(b.starts); i++ {
			age := now.Sub(b.starts[i])
			if age > longStream*service {
				continue
			}
			in := max(service-age, 0)
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
	switch {
	case len(frees) == ahead+1:
		return slotForecast{in: frees[ahead], known: true}
	case open:
		// Streams are open, but not enough that will end soon: the
		// slot is not coming. (A slot that frees anyway finds no one
		// held, and the next request takes it at once.)
		return slotForecast{in: time.Duration(1<<63 - 1), known: true}
	}
	return slotForecast{}
}

// longStream is how many service times make a stream a long one, not
// expected to end soon.
const longStream = 2

// takeHeavy reserves a slot on b for a stream that counts against its
// allowance, started now; pool.mu must be held.
func (b *backend) takeHeavy(now time.Time) {
	b.take()
	b.starts = append(b.starts, now)
}

// endHeavy forgets the start of b's stream granted at at (the oldest, if
// at is zero), and returns how long that stream held its slot; ok is false
// if b has no start to forget.
func (b *backend) endHeavy(now, at time.Time) (held time.Duration, ok bool) {
	if len(b.starts) == 0 {
		return 0, false
	}
	i := 0
	if !at.IsZero() {
		if i = slices.Index(b.starts, at); i < 0 {
			i = 0
		}
	}
	held = now.Sub(b.starts[i])
	b.starts = slices.Delete(b.starts, i, i+1)
	return held, true
}

// untakeHeavy gives back a slot that was granted at at and never used (its
// client went away as the grant came); pool.mu must be held.
func (b *backend) untakeHeavy(at time.Time) {
	b.open--
	b.served--
	b.endHeavy(at, at)
}
