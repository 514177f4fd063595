package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/parent"
)

// cutLogGrace is how long a drain that cut responses waits for their
// handlers to end, so that what they log is not lost at exit.
const cutLogGrace = 2 * time.Second

// inflight counts the responses the HTTP server is serving, so that a
// drain cut short can say how many it cut.
type inflight struct{ n atomic.Int64 }

func (c *inflight) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		defer c.n.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// drain stops sluice serve in the order load balancers need: /readyz
// answers 503 at once; the listener goes on accepting and serving for
// delay, while they notice; then it stops accepting, and in-flight
// responses have timeout to finish before they are cut; then the workers
// stop. Cutting is part of a drain, not a failure of it: what was cut is
// logged, and the exit status stays 0.
func drain(log *slog.Logger, gw *parent.Gateway, srv *http.Server, open *inflight, delay, timeout time.Duration) {
	gw.BeginDrain()
	log.Info("draining: /readyz answers 503; still serving for the shutdown delay", "shutdown_delay", delay, "drain_timeout", timeout)
	if delay > 0 {
		time.Sleep(delay)
	}
	log.Info("draining: no longer accepting connections; waiting for in-flight responses", "in_flight", open.n.Load())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		cut := open.n.Load()
		srv.Close()
		log.Warn("drain timeout: responses still in flight were cut", "responses_cut", cut, "drain_timeout", timeout)
		// Closing the connections ends the handlers, not at once: give
		// them a moment to log their cut (access log, metrics) before
		// the process exits.
		for deadline := time.Now().Add(cutLogGrace); open.n.Load() > 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := gw.Shutdown(ctx); err != nil {
		log.Warn("drain timeout: workers stopped with streams open", "err", err)
	}
}

// bootFailed stops sluice serve when its first workers cannot start, as
// gunicorn does ("Worker failed to boot", exit status 3): a crash loop from
// the first second is a setup mistake that backoff would only hide.
func bootFailed(log *slog.Logger, gw *parent.Gateway, srv *http.Server, admin *http.Server, err error) int {
	log.Error("worker failed to boot; stopping", "err", err)
	fmt.Fprintln(os.Stderr, "sluice serve:", err)
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gw.Shutdown(ctx)
	if admin != nil {
		admin.Close()
	}
	return 3
}
