package parent

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// streamSlot is an attempt's hold on one of its worker's streams in the
// pool's count, given back exactly once: when the stream ends, or when the
// attempt returns, whichever comes first.
//
// The stream's end is what matters to the worker: once its END is here,
// the worker has finished with the request, and what is left is the
// parent writing buffered bytes to the client. A slow reader must not keep
// the slot for that, or a handful of clients that read a few bytes a
// second would hold every slot of every worker until the send timeout,
// while the workers sat idle and everyone else waited or got 503.
type streamSlot struct {
	pool  *pool
	b     *backend
	at    time.Time // when the pool granted it (acquireAt)
	light bool      // on the light lane (releaseLight)
	held  atomic.Bool
}

// hold makes s the hold on b granted at at.
func (s *streamSlot) hold(p *pool, b *backend, at time.Time, light bool) {
	s.pool, s.b, s.at, s.light = p, b, at, light
	s.held.Store(true)
}

// release gives the slot back unless it already was; served says the
// stream carried its response to the end (see pool.releaseAt).
func (s *streamSlot) release(served bool) {
	if !s.held.CompareAndSwap(true, false) {
		return
	}
	if s.light {
		s.pool.releaseLight(s.b)
		return
	}
	s.pool.releaseAt(s.b, s.at, served)
}

// streamEnded is the stream's OnEnd function: a stream that ended in both
// directions (its context cancelled with context.Canceled) served its
// response; a reset or a lost connection did not.
func (s *streamSlot) streamEnded(cause error) { s.release(cause == context.Canceled) }

// releaseAtStreamEnd arranges for x's slot to be given back as soon as
// st ends (at once if it has), rather than when the copy to the client
// does. The hook may run after the attempt returned and x went back to
// its pool, so it holds a slot of its own, never reused, and x keeps a
// pointer to it for the attempt's own release.
func releaseAtStreamEnd(x *exchange, st *ipc.Stream) {
	if peerDone(st) {
		x.slot.streamEnded(context.Cause(st.Context()))
		return
	}
	if !x.slot.held.Load() {
		return
	}
	h := new(streamSlot)
	h.hold(x.slot.pool, x.slot.b, x.slot.at, x.slot.light)
	x.slot.held.Store(false)
	x.endSlot = h
	st.OnEnd(h.streamEnded)
}

// releaseSlots gives back whatever of x's slot the stream's end has not.
func (x *exchange) releaseSlots(served bool) {
	x.slot.release(served)
	if x.endSlot != nil {
		x.endSlot.release(served)
		x.endSlot = nil
	}
}
