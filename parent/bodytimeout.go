package parent

import (
	"context"
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
//
// It also ends every read at the request timeout's deadline (until), if
// there is one: a body held for retry is read before any worker has the
// request, where nothing else watches the request's context, and a client
// trickling it just fast enough for the body timeout would otherwise hold
// the request past its timeout.
type bodyTimeoutReader struct {
	body     io.ReadCloser
	rc       *http.ResponseController
	budget   waitBudget
	deadline time.Time // the one set, zero before the first read
	until    time.Time // the request timeout's deadline; zero: none
	// disarm clears the deadline after each read: over HTTP/2 it is a
	// timer that closes the body when it fires, a read waiting or not, so
	// a deadline left armed while the gateway waits for the worker's
	// credit would cut a healthy upload for the worker's slowness. Over
	// HTTP/1 a deadline only fails a read, and one set is simply moved.
	disarm bool
}

// withBodyTimeout wraps r's body in the body timeout and the request
// timeout's deadline (ctx's), if there are any, with the reader and the
// response controller of r's exchange, so that it costs no allocation.
func (g *Gateway) withBodyTimeout(ctx context.Context, r *http.Request, x *exchange) {
	until, _ := ctx.Deadline()
	if g.cfg.BodyTimeout > 0 || !until.IsZero() {
		x.body = bodyTimeoutReader{body: r.Body, rc: &x.fw.rc, budget: newWaitBudget(g.cfg.BodyTimeout, g.cfg.BodyMinRate), until: until,
			disarm: r.ProtoMajor >= 2}
		r.Body = &x.body
	}
}

func (b *bodyTimeoutReader) Read(p []byte) (int, error) {
	if b.budget.timeout <= 0 && b.until.IsZero() {
		return b.body.Read(p)
	}
	start := time.Now()
	d, moved := b.until, b.deadline.IsZero()
	if b.budget.timeout > 0 {
		d, moved = b.budget.deadline(start, b.deadline)
	}
	if !b.until.IsZero() && b.until.Before(d) {
		d, moved = b.until, !b.deadline.Equal(b.until)
	}
	if moved {
		b.deadline = d
		if b.rc.SetReadDeadline(d) != nil {
			// A writer without deadlines (a test recorder, a
			// middleware that hides them): no timeout to give.
			b.budget.timeout, b.until = 0, time.Time{}
			return b.body.Read(p)
		}
	}
	n, err := b.body.Read(p)
	end := time.Now()
	if b.disarm && (err == nil || err == io.EOF) {
		b.rc.SetReadDeadline(time.Time{})
		b.deadline = time.Time{}
	}
	b.budget.spend(end.Sub(start), n)
	// Ours, not the gateway's own interruption of a body the worker no
	// longer wants (a deadline in the past). The deadline needs no
	// clearing once the body is in: net/http sets the connection's own
	// before it reads the next request.
	if errors.Is(err, os.ErrDeadlineExceeded) && !end.Before(b.deadline) {
		err = errBodyTimeout
		if !b.until.IsZero() && !end.Before(b.until) {
			err = errRequestTimeout
		}
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
