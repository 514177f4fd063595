package ipc

import (
	"context"
	"sync"
	"sync/atomic"
)

// A held body (protocol version 2): a request whose client asked for
// "Expect: 100-continue" must not have its body asked for before the
// handler wants it, or the client uploads it for a handler that answers
// 401 or 413 without reading. The signal is the credit the protocol
// already has: a stream opened with FieldContinue starts with no credit in
// the opener's direction, and the acceptor grants its initial credit when
// its application first reads the stream. The opener waits for that grant
// (AwaitCredit) before it reads the body from its client.

// FieldContinue is the request-head field that holds a stream's body until
// the acceptor's application starts reading it. Its value is not looked
// at (the parent sends "100-continue"). Below version 2 it is an unknown
// pseudo-field like any other: ignored, and the stream starts with the
// initial credit.
const FieldContinue = ":continue"

// continueVersion is the first protocol version with held bodies.
const continueVersion = 2

// creditHold is the state of a stream opened with a held body. On the
// opener, granted is closed (once) at the peer's first WINDOW; on the
// acceptor (granted nil), released is set by the application's first
// read, which grants the credit.
type creditHold struct {
	once     sync.Once
	granted  chan struct{}
	released atomic.Bool
}

// holdsBody reports whether a HEAD opens a stream whose body is held: one
// with a body, FieldContinue, on a connection of version 2 or later.
func holdsBody(ver uint16, head Fields, endStream bool) bool {
	if endStream || ver < continueVersion {
		return false
	}
	for _, f := range head {
		if f.Name == FieldContinue {
			return true
		}
	}
	return false
}

// holdOpened sets up a new opened stream's held body: no credit until the
// peer grants some. It runs before the stream is shared.
func (st *Stream) holdOpened() {
	st.sendWin.Init(0)
	st.hold = &creditHold{granted: make(chan struct{})}
}

// holdAccepted sets up a new accepted stream's held body: its initial
// credit is granted at the application's first read. It runs before the
// stream is shared.
func (st *Stream) holdAccepted() {
	st.recvWin.Withhold()
	st.hold = &creditHold{}
}

// releaseHold grants an accepted stream's withheld credit, once: the
// application is reading. Any other stream has nothing to release.
func (st *Stream) releaseHold() {
	h := st.hold
	if h == nil || h.granted != nil || h.released.Swap(true) {
		return
	}
	st.grant(st.recvWin.Release())
}

// credited (reader goroutine) notes the peer's first grant on an opened
// stream whose body is held.
func (st *Stream) credited() {
	if h := st.hold; h != nil && h.granted != nil {
		h.once.Do(func() { close(h.granted) })
	}
}

// AwaitCredit waits, on a stream opened with FieldContinue on a connection
// of version 2 or later, for the peer's first credit: the worker's handler
// started reading the body. It returns nil at once for any other stream.
// It returns the stream's failure if the stream ends first (the worker
// answered without reading and the stream was then reset, or the
// connection failed), and ctx's error if ctx ends first.
func (st *Stream) AwaitCredit(ctx context.Context) error {
	h := st.hold
	if h == nil || h.granted == nil {
		return nil
	}
	select {
	case <-h.granted:
		return nil
	case <-st.ctx.Done():
		return context.Cause(st.ctx)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// BodyHeld reports whether an accepted stream still holds its body: it was
// opened with FieldContinue and its application has not read it, so the
// peer has sent none of it and needs no credit to finish. A worker that
// drains what a handler left unread skips such a body.
func (st *Stream) BodyHeld() bool {
	h := st.hold
	return h != nil && h.granted == nil && !h.released.Load()
}
