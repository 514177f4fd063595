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
// reading): a client that keeps up waits for nothing or a fraction of a
// millisecond, one that takes too little in time is cut as a write that
// missed the send timeout is: the connection reset, so that the kernel
// drops what is left, and the response, short of its end, never looks
// complete. Its next request could not have been answered before it read
// this response anyway. The request timeout ends the wait as it ends a
// write. A drain does not wait: the kernel delivers what it holds after
// the process has gone, as it did before.
//
// The kernel offers no wake-up for "the client took everything", so the
// wait polls the socket's queue (SIOCOUTQ, which counts bytes not yet
// acknowledged): while the queue moves, at the time the rate it moves at
// would take to empty it, so that a fast client is seen done soon after it
// is; while it does not, at intervals doubling to takenPollMax, so that a
// stalled client costs a timer and a system call a second.
//
// Not waited for: HTTP/2 (streams share the connection), TLS and Unix
// listeners (no TCP socket under the connection the gateway sees), and
// responses under takenCheckSize; the idle timeout bounds those.

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

// takenResult is how the wait for the client to take a response ended.
type takenResult uint8

const (
	taken         takenResult = iota // the client took it, or nothing was waited for
	takenTooSlow                     // the send timeout's budget ran out; the connection will reset
	takenTimedOut                    // the request timeout ended the wait; the connection will reset
)

// awaitTaken waits until r's client has taken the response the kernel
// still holds for it (see above). On takenTooSlow and takenTimedOut the
// connection is set to be reset when it closes; on taken, the send
// deadline is moved by what the wait took from the budget.
func (g *Gateway) awaitTaken(ctx context.Context, r *http.Request, x *exchange) takenResult {
	if x.rec.sent < takenCheckSize || x.fw.send.timeout <= 0 || g.unready.Load() {
		return taken
	}
	cc := holdingConn(r)
	if cc == nil {
		return taken
	}
	tc := frontTCP(cc.Conn)
	if tc == nil {
		return taken
	}
	queued, err := sockopt.Unsent(tc)
	if err != nil || queued == 0 {
		return taken
	}
	budget := &x.fw.send
	// The next writes (net/http's last chunk and trailers) get what the
	// budget has left after the wait.
	defer x.fw.keepSendDeadline()
	stalled := time.Duration(0) // without a minimum rate: waiting since the last progress
	wait := takenPollFirst
	t := time.NewTimer(wait)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			if timedOut(ctx) {
				tc.SetLinger(0)
				return takenTimedOut
			}
			return taken // the client went away: net/http sees to it
		case <-t.C:
		}
		now := time.Now()
		left, err := sockopt.Unsent(tc)
		if err != nil || left == 0 || g.unready.Load() {
			return taken
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
			return takenTooSlow
		}
		t.Reset(nextTakenPoll(wait, waited, moved, left, remaining))
		wait = min(2*wait, takenPollMax)
	}
}

// nextTakenPoll is how long to wait before looking at the queue again:
// while it moves, about the time it would take to empty at the rate it
// moved over the last wait; otherwise twice the last wait; at least
// takenPollFirst, at most takenPollMax and what the budget has left.
func nextTakenPoll(last, waited time.Duration, moved, left int, remaining time.Duration) time.Duration {
	next := 2 * last
	if moved > 0 && waited > 0 {
		next = time.Duration(float64(waited) * float64(left) / float64(moved))
	}
	return min(max(next, takenPollFirst), takenPollMax, remaining)
}
