package parent

import (
	"net/http"
	"time"
)

// finish ends r's exchange: its duration goes to the metrics and, with an
// access log, its line to the log. ServeHTTP defers it, so it runs on the
// panic that aborts a response too.
func (g *Gateway) finish(r *http.Request, x *exchange, arrived time.Time) {
	g.costs.done(x.cost, x.cpu, x.cpuKnown, x.costAsked)
	g.metrics.duration.Observe(time.Since(arrived).Seconds())
	if g.accessLog != nil {
		g.accessLog.write(r, &x.rec, arrived)
	}
}

// answer answers r with the gateway's own response: code and msg as
// text/plain (http.Error adds the newline), the access log's end being end.
func (g *Gateway) answer(w http.ResponseWriter, r *http.Request, x *exchange, code int, end ending, msg string) {
	g.metrics.requests.inc(r.Method, code)
	x.rec.status, x.rec.end, x.rec.sent = code, end, int64(len(msg)+1)
	http.Error(w, msg, code)
}

// gone aborts an exchange whose client went away before any response: no
// answer, and nginx's 499 in the access log.
func (g *Gateway) gone(x *exchange) {
	x.rec.status, x.rec.end = statusClientClosed, g.cutBy(endClientGone)
	abort()
}

// cutBy is end, or endCutByDrain if the gateway is draining: a response
// cut then was most likely cut by the drain (the server closing its
// connections at the drain timeout, workers stopped).
func (g *Gateway) cutBy(end ending) ending {
	if g.drainStarted.Load() {
		return endCutByDrain
	}
	return end
}

// ShutdownStarted tells the gateway that its HTTP server began shutting
// down (after BeginDrain and the shutdown delay), so that the access log
// tells responses cut from then on as cut_by_drain. Register it with
// http.Server.RegisterOnShutdown; Shutdown implies it.
func (g *Gateway) ShutdownStarted() { g.drainStarted.Store(true) }
