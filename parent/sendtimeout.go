package parent

import (
	"errors"
	"net/http"
	"os"
	"time"
)

// The send timeout (Config.SendTimeout) cuts a client that takes no bytes:
// each write to it that may block has a deadline, which the exchange's
// flushWriter keeps ahead of it. Moving a deadline costs a timer update in
// the runtime's poller, so it moves only once it has aged by an eighth of
// the timeout: a blocked write then gets at least the timeout, and at most
// an eighth more, and a small response, whose writes all come within that
// eighth, moves it once.

// armSendDeadline gives the writes to the client from now on the send
// timeout. ServeHTTP arms it as the request arrives, so that a deadline
// left by the connection's previous request cannot cut this one's answer,
// whatever writes it (a 503, net/http's 100 Continue).
func (f *flushWriter) armSendDeadline(now time.Time) {
	if f.timeout <= 0 {
		return
	}
	f.armed = now
	if f.rc.SetWriteDeadline(now.Add(f.timeout+f.timeout/8)) != nil {
		// The writer has no deadlines (a test recorder, a middleware
		// that hides them): its writes never time out, and asking again
		// would only build the same error.
		f.timeout = 0
	}
}

// keepSendDeadline re-arms the deadline before a write if it has aged
// past an eighth of the timeout.
func (f *flushWriter) keepSendDeadline() {
	if f.timeout <= 0 {
		return
	}
	if now := time.Now(); now.Sub(f.armed) >= f.timeout/8 {
		f.armSendDeadline(now)
	}
}

// isSendTimeout reports whether err is a write to the client that missed
// its deadline.
func isSendTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// countSendTimeout records a response cut by the send timeout, and logs it
// at a bounded rate: a crowd of stalled clients must not flood the log.
func (g *Gateway) countSendTimeout(r *http.Request, b *backend) {
	g.metrics.sendTimeouts.Inc()
	g.slowClients.warn("send_timeout", "client took no bytes within the send timeout; response cut and its stream reset",
		"method", r.Method, "path", r.URL.Path, "worker", b.id, "remote", r.RemoteAddr, "send_timeout", g.cfg.SendTimeout)
}
