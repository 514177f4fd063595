package parent

import (
	"context"
	"errors"
	"net/http"

	"github.com/sluicegw/sluice/ipc"
)

// The request timeout (Config.RequestTimeout) bounds a whole exchange, from
// its arrival to the response's last byte, as gunicorn's worker timeout
// bounds a sync worker's request: its attempts run under a context with
// that deadline, whose end stops the wait for a worker and for the response
// head (a 504) and resets the stream of a response under way, which ends
// the handler's context in the worker and cuts the client's response.

// errRequestTimeout is the cause of a request context that ended at the
// request timeout.
var errRequestTimeout = errors.New("the request timeout passed")

// requestContext is the context r's attempts run under, and its cancel.
func (g *Gateway) requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	if g.cfg.RequestTimeout <= 0 {
		return r.Context(), func() {}
	}
	return context.WithTimeoutCause(r.Context(), g.cfg.RequestTimeout, errRequestTimeout)
}

// timedOut reports whether ctx, from requestContext, ended at the request
// timeout (rather than with its client).
func timedOut(ctx context.Context) bool { return context.Cause(ctx) == errRequestTimeout }

// resetAtTimeout resets st once ctx ends, so that a response that is being
// copied stops at the timeout; the returned stop ends that watch. Without a
// request timeout it costs nothing: serveOn watches for the client going
// away only around a copy that may wait on the worker.
func (g *Gateway) resetAtTimeout(ctx context.Context, st *ipc.Stream) (stop func() bool) {
	if g.cfg.RequestTimeout <= 0 {
		return func() bool { return true }
	}
	return context.AfterFunc(ctx, func() { st.Reset(ipc.CodeCancel) })
}

// answerTimeout answers 504 to a request whose timeout passed before any
// response went out.
func (g *Gateway) answerTimeout(w http.ResponseWriter, r *http.Request, x *exchange) {
	g.metrics.timeouts[timeoutBeforeResponse].Inc()
	x.fw.keepSendDeadline()
	g.answer(w, r, x, http.StatusGatewayTimeout, endTimeout,
		"sluice: no response within the request timeout ("+g.cfg.RequestTimeout.String()+")")
}
