package parent

import (
	"errors"
	"net/http"
	"os"
	"time"
)

// The send timeout (Config.SendTimeout) cuts a client that takes no bytes,
// and its minimum rate (Config.SendMinRate) one that takes them in a
// trickle (minrate.go): each write to it that may block has a deadline,
// which the exchange's flushWriter keeps at the waiting its budget still
// allows. While the client keeps up, the deadline moves only once it is an
// eighth of the timeout short (moving one costs a timer update in the
// runtime's poller): a blocked write then gets at least the timeout, and at
// most an eighth more, and a small response, whose writes all come within
// that eighth, moves it once.

// armSendDeadline gives the writes to the client from now on the send
// timeout. ServeHTTP arms it as the request arrives, so that a deadline
// left by the connection's previous request cannot cut this one's answer,
// whatever writes it (a 503, net/http's 100 Continue).
func (f *flushWriter) armSendDeadline(now time.Time) {
	if f.send.timeout <= 0 {
		return
	}
	d, _ := f.send.deadline(now, time.Time{})
	f.setSendDeadline(d)
}

func (f *flushWriter) setSendDeadline(d time.Time) {
	f.deadline = d
	if f.rc.SetWriteDeadline(d) != nil {
		// The writer has no deadlines (a test recorder, a middleware
		// that hides them): its writes never time out, and asking again
		// would only build the same error.
		f.send.timeout = 0
	}
}

// keepSendDeadline moves the deadline before a write where the budget
// says (waitBudget.deadline), and returns the time the write starts, for
// sent.
func (f *flushWriter) keepSendDeadline() time.Time {
	if f.send.timeout <= 0 {
		return time.Time{}
	}
	now := time.Now()
	if d, moved := f.send.deadline(now, f.deadline); moved {
		f.setSendDeadline(d)
	}
	return now
}

// sent takes a write that began at start (keepSendDeadline's) and moved n
// bytes from the send budget.
func (f *flushWriter) sent(start time.Time, n int) {
	if f.send.timeout > 0 && f.send.rate > 0 {
		f.send.spend(time.Since(start), n)
	}
}

// isSendTimeout reports whether err is a write to the client that missed
// its deadline.
func isSendTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// countSendTimeout records a response cut by the send timeout, and logs it
// at a bounded rate: a crowd of stalled clients must not flood the log.
func (g *Gateway) countSendTimeout(r *http.Request, b *backend) {
	g.metrics.sendTimeouts.Inc()
	g.slowClients.warn("send_timeout", "client took no bytes within the send timeout, or took them slower than the minimum rate; response cut and its stream reset",
		"method", r.Method, "path", r.URL.Path, "worker", b.id, "remote", r.RemoteAddr, "send_timeout", g.cfg.SendTimeout, "send_min_rate", g.cfg.SendMinRate)
}
