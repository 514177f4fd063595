package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluicegw/sluice/bench/load"
)

// loopGrace is how long the requests in flight when a window ends may take
// to finish: a little longer than the gateway's default queue timeout
// (30 s), so that a request the gateway never serves ends in its 503 rather
// than in the bench's impatience, and a request that is merely slow counts
// with its whole latency. Either way it is not in the window's throughput.
// One still unfinished after it is cancelled and counted as a failure.
const loopGrace = 35 * time.Second

// runLoop runs conc closed-loop clients that GET url (each starts its next
// request when the last one ends) for window, and, with digest, checks every
// 2xx body against its Content-Digest (without, a body is checked against
// its length only). The error is for a bad URL only: failed requests are in
// the results.
func runLoop(ctx context.Context, url string, conc int, window, timeout time.Duration, digest bool) ([]load.Result, error) {
	lctx, cancel := context.WithTimeout(ctx, window+loopGrace)
	defer cancel()
	rep, err := load.Run(lctx, load.Config{URL: url, Duration: window, Concurrency: conc, Digest: digest, Timeout: timeout})
	if rep == nil {
		return nil, err
	}
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Err != "" && ctx.Err() == nil && lctx.Err() != nil && r.Start+r.TTLB >= window+loopGrace-100*time.Millisecond {
			r.Err = fmt.Sprintf("unfinished %v after the window ended, cancelled by the bench (%s)", loopGrace, r.Err)
		}
	}
	return rep.Results, nil
}

// loopStats summarise one loop's results.
type loopStats struct {
	OK, Errors, Integrity int
	// InWindow counts the 2xx responses complete before the window ended;
	// RPS is that over the window.
	InWindow int
	RPS      float64
	// Times over the 2xx responses (TTLB, and first to last body byte).
	P50, P99, TransferP99 time.Duration
	failures
}

// failures keeps the first failure of each kind, with what it came from.
type failures struct {
	firstErr, firstIntegrity string
}

// note records msg as the first failure (or the first integrity failure),
// unless there already is one.
func (f *failures) note(integrity bool, what, msg string) {
	p := &f.firstErr
	if integrity {
		p = &f.firstIntegrity
	}
	if *p == "" {
		*p = what + ": " + msg
	}
}

// merge keeps f's failures, and g's where f has none.
func (f *failures) merge(g failures) {
	if f.firstErr == "" {
		f.firstErr = g.firstErr
	}
	if f.firstIntegrity == "" {
		f.firstIntegrity = g.firstIntegrity
	}
}

// summarizeLoop aggregates a loop's results: a request failed if it got no
// whole body or a non-2xx status; a digest that did not match (or was
// missing from a whole body) is also an integrity failure.
func summarizeLoop(what string, rs []load.Result, window time.Duration) loopStats {
	var s loopStats
	var ttlb, transfer []time.Duration
	for _, r := range rs {
		switch {
		case r.DigestOK != nil && !*r.DigestOK:
			s.Errors++
			s.Integrity++
			s.note(true, what, fmt.Sprintf("request %d: %s", r.Index, r.Err))
		case r.Err != "":
			s.Errors++
			s.note(false, what, fmt.Sprintf("request %d: %s", r.Index, r.Err))
		case r.Status/100 != 2:
			s.Errors++
			s.note(false, what, fmt.Sprintf("request %d: status %d after %s ms", r.Index, r.Status, ms(r.TTLB)))
		default:
			s.OK++
			ttlb, transfer = append(ttlb, r.TTLB), append(transfer, r.Transfer)
			if r.Start+r.TTLB <= window {
				s.InWindow++
			}
		}
	}
	if window > 0 {
		s.RPS = float64(s.InWindow) / window.Seconds()
	}
	s.P50, s.P99, s.TransferP99 = rank(ttlb, 0.5), rank(ttlb, 0.99), rank(transfer, 0.99)
	return s
}

// put stores the loop's figures under prefix: "PREFIX.rps" and so on. The
// times are left out when no request succeeded.
func (s loopStats) put(figs map[string]float64, prefix string) {
	figs[prefix+".rps"] = s.RPS
	figs[prefix+".ok"] = float64(s.OK)
	figs[prefix+".errors"] = float64(s.Errors)
	figs[figIntegrity] += float64(s.Integrity)
	if s.OK > 0 {
		figs[prefix+".p50"] = s.P50.Seconds()
		figs[prefix+".p99"] = s.P99.Seconds()
		figs[prefix+".transfer_p99"] = s.TransferP99.Seconds()
	}
}

// secondsDur converts a figure in seconds back to a duration.
func secondsDur(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }

// loopSpec is one closed-loop load of a scenario: conc clients of path,
// whose figures go under prefix.
type loopSpec struct {
	what, prefix, path string
	conc               int
}

// together runs loops and slowN slow clients at once against g for window,
// and puts all their figures in one measurement. It also returns each
// loop's stats by prefix and the slow clients', for the summary line.
func together(ctx context.Context, t *running, o options, window time.Duration, loops []loopSpec, slowN int) (admMeasure, map[string]loopStats, slowStats, error) {
	base := "http://" + t.addr
	results := make([][]load.Result, len(loops))
	errs := make([]error, len(loops))
	var slow []slowResult
	var wg sync.WaitGroup
	for i, l := range loops {
		wg.Go(func() { results[i], errs[i] = runLoop(ctx, base+l.path, l.conc, window, o.timeout, t.peer.trailers()) })
	}
	wg.Go(func() { slow = runSlow(ctx, base, slowN, slowSize, o.slowRate, window) })
	wg.Wait()
	m := admMeasure{figures: map[string]float64{}}
	stats := map[string]loopStats{}
	var f failures
	for i, l := range loops {
		if errs[i] != nil {
			return m, nil, slowStats{}, errs[i]
		}
		s := summarizeLoop(l.what, results[i], window)
		s.put(m.figures, l.prefix)
		f.merge(s.failures)
		stats[l.prefix] = s
	}
	ss := summarizeSlow(slow, window)
	ss.put(m.figures, "slow")
	f.merge(ss.failures)
	m.firstError, m.firstIntegrity = f.firstErr, f.firstIntegrity
	return m, stats, ss, ctx.Err()
}
