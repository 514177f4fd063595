package parent

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// errBodyTimeout is why a request body stopped: its client sent nothing for
// the body timeout, or sent it slower than the body's minimum rate.
var errBodyTimeout = errors.New("the client sent no body bytes within the body timeout, or sent them slower than the minimum rate")

// bodyTimeoutReader gives the reads of a request body the body timeout, as
// nginx's client_body_timeout does, and its minimum rate, as Apache's
// mod_reqtimeout does (minrate.go): a read that gets nothing for that long
// fails, and so does a client that trickles, and the upload is cut, instead
// of holding its stream, its worker's handler and its connection for as
// long as the client likes.
type bodyTimeoutReader struct {
	body     io.ReadCloser
	rc       *http.ResponseController
	budget   waitBudget
	deadline time.Time // the one set, zero before the first read
}

// withBodyTimeout wraps r's body in the body timeout, if there is one,
// with the reader and the response controller of r's exchange, so that it
// costs no allocation.
func (g *Gateway) withBodyTimeout(r *http.Request, x *exchange) {
	if g.cfg.BodyTimeout > 0 {
		x.body = bodyTimeoutReader{body: r.Body, rc: &x.fw.rc, budget: newWaitBudget(g.cfg.BodyTimeout, g.cfg.BodyMinRate)}
		r.Body = &x.body
	}
}

func (b *bodyTimeoutReader) Read(p []byte) (int, error) {
	if b.budget.timeout <= 0 {
		return b.body.Read(p)
	}
	start := time.Now()
	if d, moved := b.budget.deadline(start, b.deadline); moved {
		b.deadline = d
		if b.rc.SetReadDeadline(d) != nil {
			// A writer without deadlines (a test recorder, a
			// middleware that hides them): no timeout to give.
			b.budget.timeout = 0
			return b.body.Read(p)
		}
	}
	n, err := b.body.Read(p)
	end := time.Now()
	b.budget.spend(end.Sub(start), n)
	// Ours, not the gateway's own interruption of a body the worker no
	// longer wants (a deadline in the past). The deadline needs no
	// clearing once the body is in: net/http sets the connection's own
	// before it reads the next request.
	if errors.Is(err, os.ErrDeadlineExceeded) && !end.Before(b.deadline) {
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
	msg := "sluice: the request body stalled: nothing came for " + g.cfg.BodyTimeout.String() + " (--body-timeout)"
	if g.cfg.BodyMinRate > 0 {
		msg += ", or it came slower than " + strconv.FormatInt(g.cfg.BodyMinRate, 10) + " bytes a second (--body-min-rate)"
	}
	g.answer(w, r, x, http.StatusRequestTimeout, endBodyTimeout, msg)
}
