package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot/plotter"
)

// The SMRxT replay: handlers that keep every core busy for longer than the
// liveness window. A supervisor that reads a busy worker as a hung one
// kills it, its work is retried and the loop starts again; sluice's
// heartbeats are answered by the worker's connection goroutine, not by the
// handlers, so they keep coming however busy the handlers are.
const (
	smrxtPath = "/payload?size=4096&cpu=2s"
	// smrxtSpan is the load's length, in liveness windows.
	smrxtSpan = 3
)

// smrxtRun is what one SMRxT replay found.
type smrxtRun struct {
	Scenario string        `json:"scenario"`
	Kind     string        `json:"kind"`
	Round    int           `json:"round"`
	Args     []string      `json:"gateway_args"`
	Liveness time.Duration `json:"liveness_ns"`
	OK       int           `json:"ok"`
	Errors   int           `json:"errors"`
	Restarts int           `json:"restarts"`
	NotUp    int           `json:"samples_with_worker_not_up"`
	MaxRTT   time.Duration `json:"max_rtt_ns"`
	P99RTT   time.Duration `json:"p99_rtt_ns"`
	First    string        `json:"first_error,omitempty"`
	session
}

// runSmrxt replays SMRxT on sluice's defaults (with -smrxt-liveness as
// --liveness-window when given), -rounds times: 4 closed-loop clients per
// core of GET smrxtPath for smrxtSpan liveness windows, reading /status
// every 100 ms. Targets: no restart, no worker ever not up, every
// heartbeat round trip well inside the window.
func runSmrxt(ctx context.Context, e *env) (bool, error) {
	o := e.opt
	live := o.smrxtLiveness
	args := []string{"--workers", fmt.Sprint(peerWorkers)}
	if o.smrxtLivenessSet {
		args = append(args, "--liveness-window", live.String())
	}
	args = append(args, o.gatewayArgs...)
	span := smrxtSpan * live
	clients := 4 * peerWorkers
	var runs []smrxtRun
	var firstSamples []statusSample
	for r := 1; r <= o.rounds; r++ {
		fmt.Fprintf(e.log, "smrxt round %d/%d: sluice serve %s, %d clients for %v ... ", r, o.rounds, strings.Join(args, " "), clients, span)
		var samples []statusSample
		run := smrxtRun{Scenario: "smrxt", Kind: "round", Round: r, Args: args, Liveness: live}
		sess, err := e.withGateway(ctx, fmt.Sprintf("smrxt-%d", r), args, func(g *gateway) error {
			w := watchStatus(ctx, g, statusEvery)
			rs, err := runLoop(ctx, "http://"+g.addr+smrxtPath, clients, span, o.timeout, true)
			samples = w.stop()
			if err != nil {
				return err
			}
			s := summarizeLoop("smrxt", rs, span)
			run.OK, run.Errors, run.First = s.OK, s.Errors, s.firstErr
			return ctx.Err()
		})
		if err != nil {
			fmt.Fprintln(e.log)
			return false, err
		}
		run.session = sess
		run.Restarts, run.NotUp, run.MaxRTT, run.P99RTT = smrxtFigures(samples)
		fmt.Fprintf(e.log, "%d ok, %d restarts, heartbeat RTT max %s ms\n", run.OK, run.Restarts, ms(run.MaxRTT))
		e.report.write(run)
		runs = append(runs, run)
		if r == 1 {
			firstSamples = samples
		}
	}
	ok := reportSmrxt(e, runs, clients, span)
	chartSmrxt(e, firstSamples, live)
	return ok, nil
}

// smrxtFigures reads the restarts (from the first reading to the last),
// the readings with a worker not up, and the heartbeat round trips' max and
// p99 out of a replay's readings.
func smrxtFigures(samples []statusSample) (restartCount, notUp int, maxRTT, p99RTT time.Duration) {
	var rtts []time.Duration
	for i, s := range samples {
		if i == 0 {
			restartCount = -restarts(s.St)
		}
		if workersUp(s.St) < len(s.St.Workers) {
			notUp++
		}
		for _, w := range s.St.Workers {
			if d, err := time.ParseDuration(w.RTT); err == nil {
				rtts = append(rtts, d)
			}
		}
	}
	if n := len(samples); n > 0 {
		restartCount += restarts(samples[n-1].St)
	}
	if len(rtts) > 0 {
		maxRTT, p99RTT = slices.Max(rtts), rank(rtts, 0.99)
	}
	return restartCount, notUp, maxRTT, p99RTT
}

// reportSmrxt prints each round and the targets, judged on every round:
// none may restart a worker.
func reportSmrxt(e *env, runs []smrxtRun, clients int, span time.Duration) bool {
	live := runs[0].Liveness
	fmt.Fprintf(e.out, "smrxt: %d closed-loop clients of GET %s for %v (%d × the %v liveness window), sluice serve %s\n",
		clients, smrxtPath, span, smrxtSpan, live, strings.Join(runs[0].Args, " "))
	tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "round\tok\terrors\tworker restarts\treadings with a worker not up\theartbeat RTT p99\tmax\tpeak RSS MiB")
	restarted, notUp, failed := 0, 0, 0
	var worst time.Duration
	for _, r := range runs {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s ms\t%s ms\t%s\n", r.Round, r.OK, r.Errors, r.Restarts, r.NotUp, ms(r.P99RTT), ms(r.MaxRTT), mib(r.PeakRSS))
		restarted, notUp, failed, worst = restarted+r.Restarts, notUp+r.NotUp, failed+r.Errors, max(worst, r.MaxRTT)
	}
	tw.Flush()
	// A round trip of a tenth of the window leaves the verdict "hung" far
	// away even when the machine is busy.
	rttBound := live / 10
	checks := []target{
		{"no worker restarted", fmt.Sprint(restarted), restarted == 0},
		{"no reading with a worker not up", fmt.Sprint(notUp), notUp == 0},
		{"no request failed", fmt.Sprint(failed), failed == 0},
		{fmt.Sprintf("heartbeat RTT max < %s ms (a tenth of the window)", ms(rttBound)), ms(worst) + " ms", worst > 0 && worst < rttBound},
	}
	tw = tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tmeasured\tresult")
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Measured, passMiss(c.Pass))
	}
	tw.Flush()
	e.report.write(targets{Scenario: "smrxt", Kind: "targets", Checks: checks})
	for _, r := range runs {
		if r.First != "" {
			fmt.Fprintf(e.out, "round %d: first failure: %s\n", r.Round, r.First)
		}
		printNotes(e.out, fmt.Sprintf("round %d", r.Round), nil, "", r.session)
	}
	fmt.Fprintln(e.out)
	return true
}

// chartSmrxt draws each worker's heartbeat round trip over the first
// round, then the restarts.
func chartSmrxt(e *env, samples []statusSample, live time.Duration) {
	byWorker := map[int]*chartLine{}
	var ids []int
	var rs chartLine
	rs.name = "worker restarts (all workers)"
	base := -1
	for _, s := range samples {
		for _, w := range s.St.Workers {
			d, err := time.ParseDuration(w.RTT)
			if err != nil {
				continue
			}
			l := byWorker[w.ID]
			if l == nil {
				l = &chartLine{name: fmt.Sprintf("worker %d", w.ID)}
				byWorker[w.ID] = l
				ids = append(ids, w.ID)
			}
			l.xy = append(l.xy, plotter.XY{X: s.At.Seconds(), Y: float64(d) / float64(time.Millisecond)})
		}
		if base < 0 {
			base = restarts(s.St)
		}
		rs.xy = append(rs.xy, plotter.XY{X: s.At.Seconds(), Y: float64(restarts(s.St) - base)})
	}
	slices.Sort(ids)
	var lines []chartLine
	for _, id := range ids {
		lines = append(lines, *byWorker[id])
	}
	p, err := lineChart(fmt.Sprintf("smrxt: heartbeat round trip while handlers burn every core (liveness window %v)", live), "time since the load started (s)", "last heartbeat RTT (ms)", lines)
	e.chart("smrxt-rtt", "smrxt: each worker's last heartbeat round trip, read from /status every 100 ms, first round", p, err)
	p, err = lineChart("smrxt: worker restarts while handlers burn every core", "time since the load started (s)", "restarts since the load started", []chartLine{rs})
	e.chart("smrxt-restarts", "smrxt: worker restarts during the load (the target is none), first round", p, err)
}
