package main

import (
	"context"
	"time"

	"github.com/sluicegw/sluice/bench/procstat"
)

// Sampling intervals during a run.
const (
	rssEvery    = 20 * time.Millisecond
	statusEvery = 100 * time.Millisecond
)

// session is what a run measured about the gateway itself.
type session struct {
	// PeakRSS is the highest summed RSS of the parent and its workers while
	// the load ran; IdleRSS the sum just before it started.
	PeakRSS int64 `json:"peak_rss_bytes"`
	IdleRSS int64 `json:"idle_rss_bytes"`
	// PeakPSS is the highest summed PSS of the same processes: the pages
	// they share (one executable's text, run as a parent and its workers)
	// counted once rather than once per process.
	PeakPSS int64 `json:"peak_pss_bytes"`
	Gateway gwObs `json:"gateway"`
	// Stop is set when the gateway did not exit cleanly after SIGTERM.
	Stop string `json:"stop_problem,omitempty"`
}

// withGateway starts `sluice serve ARGS` (logging to the log named name),
// runs fn against it while sampling the RSS of the process tree and /status,
// then stops the gateway. The gateway is stopped whatever happens.
func (e *env) withGateway(ctx context.Context, name string, args []string, fn func(g *gateway) error) (session, error) {
	g, err := startGateway(ctx, e.bin, e.logPath(name), args)
	if err != nil {
		return session{}, err
	}
	s, err := e.measureOn(ctx, g.target(sluicePeer), func(*running) error { return fn(g) })
	return s.session, err
}

// treeMemory is the summed RSS and PSS of pid and its descendants now
// (0 if unreadable).
func treeMemory(pid int) (rss, pss int64) {
	rss, pss, _ = procstat.TreeMemory(pid)
	return rss, pss
}

// logHint says where a gateway's log is, or how to keep it.
func (e *env) logHint(logPath string) string {
	if e.opt.logDir == "" {
		return "rerun with -logs DIR to keep the gateway's log"
	}
	return "log: " + logPath
}
