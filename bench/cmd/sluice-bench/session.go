package main

import (
	"context"
	"fmt"
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
	Gateway gwObs `json:"gateway"`
	// Stop is set when the gateway did not exit cleanly after SIGTERM.
	Stop string `json:"stop_problem,omitempty"`
}

// withGateway starts `sluice serve ARGS` (logging to the log named name),
// runs fn against it while sampling the RSS of the process tree and /status,
// then stops the gateway. The gateway is stopped whatever happens.
func (e *env) withGateway(ctx context.Context, name string, args []string, fn func(g *gateway) error) (session, error) {
	var s session
	logPath := e.logPath(name)
	g, err := startGateway(ctx, e.bin, logPath, args)
	if err != nil {
		return s, err
	}
	defer g.stop()
	pid := g.cmd.Process.Pid
	s.IdleRSS = treeRSS(pid)
	sampler := procstat.StartSampler(pid, rssEvery)
	poller := pollStatus(ctx, g, statusEvery)
	runErr := fn(g)
	s.Gateway = poller.stop()
	peak, sampleErr := sampler.Stop()
	s.PeakRSS = peak
	if err := g.stop(); err != nil {
		s.Stop = err.Error() + "; " + e.logHint(logPath)
		fmt.Fprintln(e.log, "warning:", err)
	}
	s.Gateway.LogWarnings, s.Gateway.ShutdownWarnings = logNotes(logPath, 3)
	if runErr == nil && sampleErr != nil {
		runErr = fmt.Errorf("sampling the RSS of gateway pid %d: %w", pid, sampleErr)
	}
	return s, runErr
}

// treeRSS is the summed RSS of pid and its descendants now (0 if unreadable).
func treeRSS(pid int) int64 {
	total, _ := procstat.RSS(pid)
	kids, _ := procstat.Descendants(pid)
	for _, k := range kids {
		r, _ := procstat.RSS(k)
		total += r
	}
	return total
}

// logHint says where a gateway's log is, or how to keep it.
func (e *env) logHint(logPath string) string {
	if e.opt.logDir == "" {
		return "rerun with -logs DIR to keep the gateway's log"
	}
	return "log: " + logPath
}
