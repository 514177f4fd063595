package parent

import (
	"context"
	"net/http"
	"time"

	"github.com/sluicegw/sluice/sockopt"
)

// A response whose last write returned is not yet delivered: the kernel may
// still hold up to about frontNotSentLowat of it (slowread.go) for a client
// that reads slowly, where the send timeout no longer sees it. The handler
// would return, the connection would later be closed idle, and the kernel
// would go on trickling the rest to the client at its own pace, as an
// orphan, beyond any timeout of the gateway's (slowhttptest -X: a 1 MiB
// response read 32 bytes every 5 s).
//
// So a response of at least takenCheckSize waits, before the handler
// returns, until the client has taken all the kernel holds of it, on the
// send timeout's budget (any tail left would make the connection look
// idle, and so bounded only by the idle timeout, while its client is still
// reading): a client that keeps up waits for
// nothing or a fraction of a millisecond (the queue is short at the first
// look, or empties within the first polls), one that
// takes too little in time is cut as a write that missed the send timeout
// is: the connection reset, so that the kernel drops what is left, and the
// response, short of its end, never looks complete. Its next request could
// not have been answered before it read this response anyway.
//
// The kernel offers no wake-up for "the client took everything", so the
// wait polls the socket's queue (SIOCOUTQ), from takenPollFirst doubling to
// takenPollMax: a slow client costs a timer and a system call a second.

// takenCheckSize is the smallest response whose delivery is waited for:
// below it, what a slow client can leave in the kernel is small (it is
// bounded by the idle timeout), and the path of responses up to a few tens
// of KiB, which a fast client has often not begun to read when the last
// write returns, pays neither a system call nor a wait for it.
const takenCheckSize = 128 << 10

const (
	// takenPollFirst is short next to the time a fast client on a local
	// network takes to read what the kernel holds, so that its next
	// request, which waits for the handler, is not held back for long.
	takenPollFirst = 200 * time.Microsecond
	takenPollMax   = time.Second
)

// awaitTaken waits until r's client has taken the response the kernel
// still holds for it (see above), and reports whether it did in time: false
// means it was too slow, and the connection is set to be reset when it
// closes. It returns true at once for a response too small to check, a
// connection that is not TCP on Linux, or without a send timeout; and when
// ctx ends (the client went away, or the request's timeout).
func (g *Gateway) awaitTaken(ctx context.Context, r *http.Request, x *exchange) bool {
	if x.rec.sent < takenCheckSize || x.fw.send.timeout <= 0 {
		return true
	}
	cc := holdingConn(r)
	if cc == nil {
		return true
	}
	tc := frontTCP(cc.Conn)
	if tc == nil {
		return true
	}
	queued, err := sockopt.Unsent(tc)
	if err != nil || queued == 0 {
		return true
	}
	budget := x.fw.send
	stalled := time.Duration(0) // without a minimum rate: waiting since the last progress
	wait := takenPollFirst
	t := time.NewTimer(wait)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-t.C:
		}
		now := time.Now()
		left, err := sockopt.Unsent(tc)
		if err != nil || left == 0 {
			return true
		}
		waited, moved := now.Sub(last), max(queued-left, 0)
		last, queued = now, left
		remaining := budget.spend(waited, moved)
		if budget.rate <= 0 {
			if stalled += waited; moved > 0 {
				stalled = 0
			}
			remaining = budget.timeout - stalled
		}
		if remaining <= 0 {
			tc.SetLinger(0)
			return false
		}
		wait = min(2*wait, takenPollMax, remaining)
		t.Reset(wait)
	}
}
