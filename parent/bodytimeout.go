package parent

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// errBodyTimeout is why a request body stopped: its client sent nothing for
// the body timeout.
var errBodyTimeout = errors.New("the client sent no body bytes within the body timeout")

// bodyTimeoutReader gives the reads of a request body the body timeout, as
// nginx's client_body_timeout does: a read that gets nothing for that long
// fails, and the upload is cut, instead of holding its stream, its worker's
// handler and its connection for as long as the client likes. The read
// deadline is moved only once it has aged an eighth of the timeout, so that
// a fast upload does not pay a syscall per read; a client may therefore get
// up to an eighth more.
type bodyTimeoutReader struct {
	body     io.ReadCloser
	rc       *http.ResponseController
	timeout  time.Duration
	deadline time.Time // the one set, zero before the first read
}

// withBodyTimeout wraps r's body in the body timeout, if there is one,
// with the reader and the response controller of r's exchange, so that it
// costs no allocation.
func (g *Gateway) withBodyTimeout(r *http.Request, x *exchange) {
	if g.cfg.BodyTimeout > 0 {
		x.body = bodyTimeoutReader{body: r.Body, rc: &x.fw.rc, timeout: g.cfg.BodyTimeout}
		r.Body = &x.body
	}
}

func (b *bodyTimeoutReader) Read(p []byte) (int, error) {
	if b.timeout > 0 {
		if now := time.Now(); b.deadline.Sub(now) < b.timeout {
			b.deadline = now.Add(b.timeout + b.timeout/8)
			if b.rc.SetReadDeadline(b.deadline) != nil {
				// A writer without deadlines (a test recorder, a
				// middleware that hides them): no timeout to give.
				b.timeout = 0
			}
		}
	}
	n, err := b.body.Read(p)
	// Ours, not the gateway's own interruption of a body the worker no
	// longer wants (a deadline in the past). The deadline needs no
	// clearing once the body is in: net/http sets the connection's own
	// before it reads the next request.
	if errors.Is(err, os.ErrDeadlineExceeded) && b.timeout > 0 && !time.Now().Before(b.deadline) {
		err = errBodyTimeout
	}
	return n, err
}

func (b *bodyTimeoutReader) Close() error { return b.body.Close() }

// answerBodyTimeout answers 408 to a request whose body stalled before any
// response went out; the connection closes after it.
func (g *Gateway) answerBodyTimeout(w http.ResponseWriter, r *http.Request, x *exchange) {
	g.metrics.bodyTimeouts.Inc()
	closeAfter(w, r)
	x.fw.keepSendDeadline()
	g.answer(w, r, x, http.StatusRequestTimeout, endBodyTimeout,
		"sluice: the request body stalled: nothing came for "+g.cfg.BodyTimeout.String()+" (--body-timeout)")
}
