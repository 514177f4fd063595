package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/bench/load"
)

// airtableConfigs are the three ways the airtable scenario runs sluice; the
// first is the one the targets judge, the last the baseline they compare it
// with. The other designs (-peers) run after them.
var airtableConfigs = []peer{sluicePeer, sluiceSndbufPeer, sluiceNoAdmission}

// The targets of the Airtable issue.
const (
	targetTTLBRatio   = 0.6                    // default's median TTLB over admission-off's, at most
	targetTransferP99 = 500 * time.Millisecond // default's transfer p99, below
	targetPeakRSS     = 256 << 20              // default's peak RSS of parent+workers, below
)

// airtableRun is one configuration in one round, or (Kind "median") the
// median of each figure across rounds; the counts are then totals.
type airtableRun struct {
	Scenario   string        `json:"scenario"`
	Kind       string        `json:"kind"`
	Config     string        `json:"config"`
	Round      int           `json:"round,omitempty"`
	Args       []string      `json:"gateway_args"`
	Requests   int           `json:"requests"`
	OK         int           `json:"ok"`
	Errors     int           `json:"errors"`
	Statuses   map[int]int   `json:"statuses"`
	FirstError string        `json:"first_error,omitempty"`
	TTFB       load.Stats    `json:"ttfb"`
	Transfer   load.Stats    `json:"transfer"`
	TTLB       load.Stats    `json:"ttlb"`
	Wall       time.Duration `json:"wall_ns"`
	session
}

// runAirtable replays the Airtable incident against each configuration of
// sluice and each other design (-peers), -rounds times, interleaved; peers
// that cannot run here are reported as skipped. With -report it draws each
// peer's first round as a timeline, and every peer's memory over time.
func runAirtable(ctx context.Context, e *env) (bool, error) {
	o := e.opt
	peers, skipped := e.airtablePeers()
	runs := make([][]airtableRun, len(peers))
	first := make([]airtableCharted, len(peers))
	for r := 1; r <= o.rounds; r++ {
		for i, p := range peers {
			fmt.Fprintf(e.log, "airtable round %d/%d, %s ... ", r, o.rounds, p.name)
			var results []load.Result
			var wall time.Duration
			sess, err := e.withPeer(ctx, p, fmt.Sprintf("airtable-%s-%d", p.name, r), func(t *running) error {
				results, wall = fetchAll(ctx, "http://"+t.addr, o, false)
				return ctx.Err()
			})
			if err != nil {
				fmt.Fprintln(e.log)
				return false, fmt.Errorf("%s: %w", p.name, err)
			}
			run := summarizeAirtable(results, wall)
			run.Config, run.Round, run.Args, run.session = p.name, r, p.args, sess.session
			fmt.Fprintf(e.log, "%d/%d ok, TTLB median %s ms, wall %.1f s, peak %s MiB\n",
				run.OK, run.Requests, ms(run.TTLB.Median), run.Wall.Seconds(), mib(run.PeakRSS))
			e.report.write(run)
			runs[i] = append(runs[i], run)
			if r == 1 {
				first[i] = airtableCharted{peer: p, results: results, rss: sess.RSS, queued: sess.Gateway.Queued}
			}
		}
	}
	ok := reportAirtable(e, peers, runs, skipped)
	e.chartAirtable(first)
	return ok, nil
}

// airtablePeers are the configurations of sluice and the -peers that can
// run here, and why the others cannot.
func (e *env) airtablePeers() (peers []peer, skipped []string) {
	peers = slices.Clone(airtableConfigs)
	for _, p := range e.opt.otherPeers() {
		if why := e.skipPeer(p); why != "" {
			skipped = append(skipped, fmt.Sprintf("%s skipped: %s", p.name, why))
			continue
		}
		peers = append(peers, p)
	}
	return peers, skipped
}

// airtableCharted is what the charts of one peer show: its first round.
type airtableCharted struct {
	peer    peer
	results []load.Result
	rss     []bytesPoint
	queued  []bytesPoint
}

// chartAirtable draws a timeline per peer, then the memory of every peer
// over time, then the bytes queued in sluice's workers.
func (e *env) chartAirtable(first []airtableCharted) {
	o := e.opt
	what := fmt.Sprintf("%d × %s after %v of CPU, %d in flight", o.requests, o.size, o.cpu, min(o.concurrency, o.requests))
	var rss, queued []chartLine
	for _, c := range first {
		if c.results == nil {
			continue
		}
		p, err := timelineChart("airtable, "+c.peer.name+": "+what, c.results)
		e.chart("airtable-timeline-"+c.peer.name, fmt.Sprintf("airtable, %s (%s): each request from its start to its last byte, a dot at its first byte", c.peer.name, c.peer.about), p, err)
		rss = append(rss, bytesSeries(c.peer.name, c.rss))
		if c.peer.isSluice() {
			queued = append(queued, bytesSeries(c.peer.name, c.queued))
		}
	}
	p, err := logLineChart("airtable: memory of each peer's whole process tree", "time since the load started (s)", "RSS (MiB)", rss)
	e.chart("airtable-rss", "airtable: summed RSS of each peer's processes over the first round", p, err)
	p, err = lineChart("airtable: response bytes queued in sluice's workers", "time since the load started (s)", "queued (MiB)", queued)
	e.chart("airtable-queued", "airtable: bytes queued in sluice's workers (sum over workers, from /status every 100 ms)", p, err)
}

// reportAirtable prints and writes the medians of every configuration, the
// rounds when there are several, and the targets; it reports whether every
// request succeeded.
func reportAirtable(e *env, peers []peer, runs [][]airtableRun, skipped []string) bool {
	o := e.opt
	ok := true
	var med []airtableRun
	for _, rs := range runs {
		m := medianRun(rs)
		e.report.write(m)
		med = append(med, m)
		ok = ok && m.Errors == 0
	}
	if o.rounds > 1 {
		var all []airtableRun
		for _, rs := range runs {
			all = append(all, rs...)
		}
		fmt.Fprintf(e.out, "airtable, every round:\n")
		printAirtable(e.out, all)
		fmt.Fprintln(e.out)
	}
	what := "1 round"
	if o.rounds > 1 {
		what = fmt.Sprintf("medians of %d rounds", o.rounds)
	}
	fmt.Fprintf(e.out, "airtable: %d × GET /payload?size=%s&cpu=%v&seed=i, %d in flight, sluice serve %s; %s\n",
		o.requests, o.size, o.cpu, min(o.concurrency, o.requests), strings.Join(append([]string{"--workers", "2"}, o.gatewayArgs...), " "), what)
	printAirtable(e.out, med)
	for _, p := range peers {
		fmt.Fprintf(e.out, "  %s: %s\n", p.name, p.about)
	}
	for _, s := range skipped {
		fmt.Fprintf(e.out, "  %s\n", s)
	}
	fmt.Fprintln(e.out)
	t := checkTargets(med[0], med[len(airtableConfigs)-1])
	t.Checks = append(t.Checks, beatsPeers(med[0], med[len(airtableConfigs):])...)
	printTargets(e.out, t)
	e.report.write(t)
	for _, m := range med {
		printNotes(e.out, m.Config, m.Statuses, m.FirstError, m.session)
	}
	fmt.Fprintln(e.out)
	return ok
}

// fetchAll runs o.requests GETs of the payload, o.concurrency at a time, each
// with its own seed (its index). Each request is a one-request load.Run, so
// it gets the same timing and short-body checks as the load generator; the
// price is a new connection per request, which the load generator would also
// make with as many requests in flight as in all. With digest, every 2xx
// body is checked against its Content-Digest trailer.
func fetchAll(ctx context.Context, base string, o options, digest bool) ([]load.Result, time.Duration) {
	results := make([]load.Result, o.requests)
	for i := range results {
		results[i] = load.Result{Index: i, Err: "not started: the run was interrupted"}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(o.concurrency, o.requests) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= o.requests {
					return
				}
				at := time.Since(start)
				u := base + "/payload?size=" + url.QueryEscape(o.size) + "&cpu=" + o.cpu.String() + "&seed=" + strconv.Itoa(i)
				rep, err := load.Run(ctx, load.Config{URL: u, Requests: 1, Concurrency: 1, Timeout: o.timeout, Digest: digest})
				switch {
				case rep != nil && len(rep.Results) == 1:
					results[i] = rep.Results[0]
				case err != nil:
					results[i].Err = err.Error()
				}
				results[i].Index, results[i].Start = i, at
			}
		})
	}
	wg.Wait()
	return results, time.Since(start)
}

// summarizeAirtable aggregates one run. A request succeeded if its body
// arrived whole with a 2xx status; the times are over those only.
func summarizeAirtable(results []load.Result, wall time.Duration) airtableRun {
	run := airtableRun{Scenario: "airtable", Kind: "round", Requests: len(results), Statuses: map[int]int{}, Wall: wall}
	var ttfb, transfer, ttlb []time.Duration
	for _, r := range results {
		if r.Status != 0 {
			run.Statuses[r.Status]++
		}
		switch {
		case r.Err != "":
			run.Errors++
			if run.FirstError == "" {
				run.FirstError = fmt.Sprintf("request %d: %s", r.Index, r.Err)
			}
		case r.Status/100 != 2:
			run.Errors++
			if run.FirstError == "" {
				run.FirstError = fmt.Sprintf("request %d: status %d after %s ms", r.Index, r.Status, ms(r.TTLB))
			}
		default:
			run.OK++
			ttfb, transfer, ttlb = append(ttfb, r.TTFB), append(transfer, r.Transfer), append(ttlb, r.TTLB)
		}
	}
	run.TTFB, run.Transfer, run.TTLB = durStats(ttfb), durStats(transfer), durStats(ttlb)
	return run
}

// medianRun takes the median of every figure across the rounds of one
// configuration; the counts of requests, successes, errors and statuses are
// summed, so that no failure is hidden.
func medianRun(rs []airtableRun) airtableRun {
	m := rs[0]
	m.Kind, m.Round, m.Statuses, m.Requests, m.OK, m.Errors, m.FirstError = "median", 0, map[int]int{}, 0, 0, 0, ""
	var ttfb, transfer, ttlb []load.Stats
	var wall []time.Duration
	var peak, pss, idle, queued []int64
	var gw []gwObs
	for _, r := range rs {
		ttfb, transfer, ttlb = append(ttfb, r.TTFB), append(transfer, r.Transfer), append(ttlb, r.TTLB)
		wall = append(wall, r.Wall)
		peak, pss, idle, queued = append(peak, r.PeakRSS), append(pss, r.PeakPSS), append(idle, r.IdleRSS), append(queued, int64(r.Gateway.MaxQueued))
		m.Requests, m.OK, m.Errors = m.Requests+r.Requests, m.OK+r.OK, m.Errors+r.Errors
		for s, n := range r.Statuses {
			m.Statuses[s] += n
		}
		if m.FirstError == "" {
			m.FirstError = r.FirstError
		}
		if m.Stop == "" {
			m.Stop = r.Stop
		}
		gw = append(gw, r.Gateway)
	}
	m.TTFB, m.Transfer, m.TTLB = medianStats(ttfb), medianStats(transfer), medianStats(ttlb)
	m.Wall = median(wall)
	m.PeakRSS, m.PeakPSS, m.IdleRSS = median(peak), median(pss), median(idle)
	m.Gateway = gw[0]
	m.Gateway.MaxQueued = uint64(median(queued))
	for _, g := range gw[1:] { // counts of trouble add up
		m.Gateway.Restarts += g.Restarts
		m.Gateway.NotUp += g.NotUp
		m.Gateway.MaxWaiting = max(m.Gateway.MaxWaiting, g.MaxWaiting)
		m.Gateway.LogWarnings = addLines(m.Gateway.LogWarnings, g.LogWarnings)
		m.Gateway.ShutdownWarnings = addLines(m.Gateway.ShutdownWarnings, g.ShutdownWarnings)
	}
	return m
}

// addLines adds the counts of b to a, keeping a's first lines if it has any.
func addLines(a, b logLines) logLines {
	a.Count += b.Count
	if len(a.First) == 0 {
		a.First = b.First
	}
	return a
}

// target is one check of the targets.
type target struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Pass     bool   `json:"pass"`
}

// targets is the JSON line of the checks.
type targets struct {
	Scenario string `json:"scenario"`
	Kind     string `json:"kind"`
	// Ratio is the default's median TTLB over admission-off's.
	Ratio  float64  `json:"ttlb_ratio"`
	Checks []target `json:"checks"`
}

// checkTargets judges the default configuration d against the issue's
// targets, with off (admission off) as the baseline.
func checkTargets(d, off airtableRun) targets {
	t := targets{Scenario: "airtable", Kind: "targets"}
	if off.TTLB.Median > 0 {
		t.Ratio = float64(d.TTLB.Median) / float64(off.TTLB.Median)
	}
	none := d.OK == 0
	t.Checks = []target{
		{fmt.Sprintf("median TTLB ≤ %.1f × %s's", targetTTLBRatio, off.Config),
			fmt.Sprintf("%.2f × (%s ms / %s ms)", t.Ratio, ms(d.TTLB.Median), ms(off.TTLB.Median)),
			!none && off.OK > 0 && t.Ratio <= targetTTLBRatio},
		{fmt.Sprintf("transfer p99 < %s ms", ms(targetTransferP99)), ms(d.Transfer.P99) + " ms",
			!none && d.Transfer.P99 < targetTransferP99},
		{fmt.Sprintf("peak RSS < %s MiB", mib(targetPeakRSS)), mib(d.PeakRSS) + " MiB",
			!none && d.PeakRSS > 0 && d.PeakRSS < targetPeakRSS},
	}
	return t
}

// beatsPeers judges sluice's defaults d against the other designs: a lower
// median TTLB and a lower peak RSS than each of them, and a lower peak
// PSS: summed RSS counts sluice's one executable once per process, a
// peer's small C binary far less, so both are judged and shown.
func beatsPeers(d airtableRun, others []airtableRun) []target {
	var ts []target
	for _, p := range others {
		ts = append(ts,
			target{fmt.Sprintf("median TTLB < %s's", p.Config), fmt.Sprintf("%s ms vs %s ms", ms(d.TTLB.Median), ms(p.TTLB.Median)),
				d.OK > 0 && (p.OK == 0 || d.TTLB.Median < p.TTLB.Median)},
			target{fmt.Sprintf("peak RSS < %s's", p.Config), fmt.Sprintf("%s MiB vs %s MiB", mib(d.PeakRSS), mib(p.PeakRSS)),
				d.PeakRSS > 0 && d.PeakRSS < p.PeakRSS},
			target{fmt.Sprintf("peak PSS < %s's", p.Config), fmt.Sprintf("%s MiB vs %s MiB", mib(d.PeakPSS), mib(p.PeakPSS)),
				d.PeakPSS > 0 && d.PeakPSS < p.PeakPSS})
	}
	return ts
}
