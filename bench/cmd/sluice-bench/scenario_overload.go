package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/bench/load"
)

// The overload scenario: more requests arrive than the workers can serve,
// and keep arriving (an open loop), as clients do at a real gateway. It
// judges whether the gateway refuses the excess quickly, with Retry-After,
// while the rest are served about as fast as unloaded, without its memory
// growing, and whether it is back to normal soon after the burst ends.
const (
	overloadPath      = "/payload?size=64KiB&cpu=100ms"
	overloadUnloaded  = 20              // sequential requests for the unloaded latency
	overloadSettle    = 3 * time.Second // idle before each open loop, before -overload-scale
	overloadProbeSpan = 5 * time.Second // recovery probing after each open loop ends, at most
	// Recovery probes start at most this often, so that probes refused at
	// once do not become a load of their own.
	overloadProbeEvery = 50 * time.Millisecond
	// Targets.
	targetOvGoodput    = 0.95                  // goodput over capacity, at least
	targetOvRefusedP99 = 10 * time.Millisecond // 503 latency p99, at most
	targetOvRSSRatio   = 1.2                   // peak RSS at the largest factor over the capacity load's, at most
	targetOvRecovery   = 2 * time.Second       // at most
	// A recovery probe is back to normal within this of the unloaded
	// median: 1.5 × it + 10 ms.
	recoveryFactor = 1.5
	recoverySlack  = 10 * time.Millisecond
)

// overloadURL is GET overloadPath for seed on t.
func overloadURL(t *running, seed int) string {
	return "http://" + t.addr + overloadPath + "&seed=" + strconv.Itoa(seed)
}

// overloadConfigs are the judged configuration (the gateway's defaults, and
// -queue-target if given) and the baseline (-overload-baseline-args).
func overloadConfigs(o options) []admConfig {
	cd := admConfig{name: "controlled-delay", label: "defaults"}
	if o.queueTargetSet {
		cd.args = []string{"--queue-target", o.queueTarget.String()}
		cd.label = strings.Join(cd.args, " ")
	}
	base := admConfig{name: "baseline", label: "baseline (no extra flags)", args: o.ovBaselineArgs, baseline: true}
	if len(o.ovBaselineArgs) > 0 {
		base.label = "baseline: " + strings.Join(o.ovBaselineArgs, " ")
	}
	return []admConfig{cd, base}
}

// factorKey is the figure prefix of an open loop at f × capacity: "x3".
func factorKey(f float64) string { return "x" + strconv.FormatFloat(f, 'g', -1, 64) }

// overloadScenario measures, on one gateway: the unloaded latency, the
// capacity (closed loop), then an open loop at each of -overload-factors ×
// that capacity, each followed by recovery probes.
func overloadScenario(o options) admScenario {
	capWin, win := o.ovScaled(o.ovCapWindow), o.ovScaled(o.ovWindow)
	var fs []string
	for _, f := range o.ovFactors {
		fs = append(fs, strconv.FormatFloat(f, 'g', -1, 64))
	}
	sc := admScenario{
		name: "overload",
		heading: fmt.Sprintf("overload: GET %s&seed=N; unloaded: %d sequential; capacity: %d closed-loop clients for %v; open loop at %s × capacity for %v each; digests checked",
			overloadPath, overloadUnloaded, o.ovClients, capWin, strings.Join(fs, "/"), win),
		configs: overloadConfigs(o),
	}
	sc.measure = func(ctx context.Context, t *running) (admMeasure, error) {
		return measureOverload(ctx, t, o)
	}
	sc.rows = overloadRows(o)
	return sc
}

// measureOverload runs the phases of the scenario in turn on t.
func measureOverload(ctx context.Context, t *running, o options) (admMeasure, error) {
	m := admMeasure{figures: map[string]float64{}}
	var f failures
	digest := t.peer.trailers()
	kept := map[string][]load.Result{} // the open loops, for the charts
	m.keep = kept

	// Unloaded: one request at a time.
	var lat []time.Duration
	for i := range overloadUnloaded {
		r := probe(ctx, overloadURL(t, i), o.timeout, digest)
		if r.Err == "" && r.Status == 200 {
			lat = append(lat, r.TTLB)
		} else {
			f.note(r.DigestOK != nil && !*r.DigestOK, "unloaded", fmt.Sprintf("request %d: status %d %s", i, r.Status, r.Err))
		}
		if err := ctx.Err(); err != nil {
			return m, err
		}
	}
	if len(lat) == 0 {
		return m, fmt.Errorf("none of %d unloaded requests succeeded; %s", overloadUnloaded, f.firstErr)
	}
	unloaded := median(lat)
	m.figures["unloaded"] = unloaded.Seconds()

	// Capacity: a few closed-loop clients keep the workers busy.
	capWin := o.ovScaled(o.ovCapWindow)
	sampler := sampleRSS(t.roots, rssEvery)
	rs, err := runLoop(ctx, overloadURL(t, 1000), o.ovClients, capWin, o.timeout, digest)
	_, capPeak, serr := sampler.stop()
	if err != nil {
		return m, err
	}
	if serr != nil {
		return m, serr
	}
	cs := summarizeLoop("capacity", rs, capWin)
	f.merge(cs.failures)
	m.figures["capacity"] = cs.RPS
	m.figures["capacity.errors"] = float64(cs.Errors)
	m.figures["capacity.p50"] = cs.P50.Seconds()
	m.figures["capacity.peak_rss"] = float64(capPeak)
	m.figures[figIntegrity] += float64(cs.Integrity)
	if cs.RPS <= 0 {
		return m, fmt.Errorf("no request succeeded within the %v capacity window; %s", capWin, f.firstErr)
	}
	sum := []string{fmt.Sprintf("unloaded %s ms, capacity %.1f/s", ms(unloaded), cs.RPS)}

	// Open loops above capacity, each after an idle spell.
	bound := time.Duration(recoveryFactor*float64(unloaded)) + recoverySlack
	okBound := 2*unloaded + o.queueTarget
	for k, factor := range o.ovFactors {
		if err := sleepCtx(ctx, o.ovScaled(overloadSettle)); err != nil {
			return m, err
		}
		p := factorKey(factor)
		ol, err := openLoopPhase(ctx, t, o, factor*cs.RPS, 2000*(k+1), bound)
		if err != nil {
			return m, err
		}
		kept[p] = ol.results
		st := summarizeOpen(p, ol.results, o.ovScaled(o.ovWindow))
		st.put(m.figures, p, cs.RPS, okBound)
		m.figures[figIntegrity] += float64(st.Integrity)
		m.figures[p+".rate"] = factor * cs.RPS
		m.figures[p+".peak_rss"] = float64(ol.peakRSS)
		if capPeak > 0 {
			m.figures[p+".rss_ratio"] = float64(ol.peakRSS) / float64(capPeak)
		}
		m.figures[p+".recovery"] = ol.recovery.Seconds()
		m.figures[p+".unrecovered"] = 0
		rec := fmt.Sprintf("recovery %.2f s", ol.recovery.Seconds())
		if !ol.recovered {
			m.figures[p+".unrecovered"] = 1
			rec = fmt.Sprintf("not recovered in %v", overloadProbeSpan)
		}
		f.merge(st.failures)
		refused := "no 503"
		if st.Refused > 0 {
			refused = fmt.Sprintf("%d×503 (p99 %s ms)", st.Refused, ms(st.RefusedP99))
		}
		sum = append(sum, fmt.Sprintf("×%s: goodput %.2f of capacity, %s, %s, max lag %s ms",
			strconv.FormatFloat(factor, 'g', -1, 64), st.Goodput/cs.RPS, refused, rec, ms(st.MaxLag)))
	}
	m.firstError, m.firstIntegrity, m.summary = f.firstErr, f.firstIntegrity, strings.Join(sum, "; ")
	return m, ctx.Err()
}

// openLoopRun is what one open loop and its recovery probes found.
type openLoopRun struct {
	results   []load.Result
	peakRSS   int64
	recovery  time.Duration
	recovered bool
}

// openLoopPhase runs an open loop at rate for -overload-window on g (of
// seed seed0) while sampling the gateway tree's RSS, and, as soon as the
// schedule ends, probes for recovery while the requests still in flight
// drain. It returns once they have all ended.
func openLoopPhase(ctx context.Context, t *running, o options, rate float64, seed0 int, bound time.Duration) (openLoopRun, error) {
	var out openLoopRun
	win := o.ovScaled(o.ovWindow)
	sampler := sampleRSS(t.roots, rssEvery)
	start := time.Now()
	type done struct {
		rep *load.Report
		err error
	}
	ch := make(chan done, 1)
	go func() {
		rep, err := load.Run(ctx, load.Config{URL: overloadURL(t, seed0), Rate: rate, Duration: win, Digest: t.peer.trailers(), Timeout: o.timeout})
		ch <- done{rep, err}
	}()
	end := start.Add(win)
	if err := sleepCtx(ctx, time.Until(end)); err == nil {
		out.recovery, out.recovered = probeRecovery(ctx, t, overloadURL(t, seed0+1000), end, bound, o.timeout)
	}
	d := <-ch
	_, peak, serr := sampler.stop()
	out.peakRSS = peak
	if d.rep == nil {
		return out, d.err
	}
	out.results = d.rep.Results
	if err := ctx.Err(); err != nil {
		return out, err
	}
	if serr != nil {
		return out, serr
	}
	return out, nil
}

// probeRecovery sends one request at a time from end for up to
// overloadProbeSpan, reading /status before each (and starting at most one
// every overloadProbeEvery), and returns how long
// after end the first probe started that found no request waiting and was
// served within bound. Without one it returns the time it gave up after
// and false.
func probeRecovery(ctx context.Context, t *running, url string, end time.Time, bound, timeout time.Duration) (time.Duration, bool) {
	stop := end.Add(overloadProbeSpan)
	for ctx.Err() == nil && time.Now().Before(stop) {
		waiting := -1 // unknown
		if t.gw == nil {
			waiting = 0 // not sluice: its probe's latency alone tells
		} else if st, err := t.gw.status(ctx); err == nil {
			waiting = st.Waiting
		}
		at := time.Now()
		// A probe stuck in a queue that does not drain is cut off when the
		// span ends (one that is late anyway may take bound), so that it
		// reads as "not recovered" rather than stalling the bench.
		r := probe(ctx, url, min(timeout, max(time.Until(stop), bound)), t.peer.trailers())
		if recoveredBy(waiting, r, bound) {
			return max(at.Sub(end), 0), true
		}
		if sleepCtx(ctx, time.Until(at.Add(overloadProbeEvery))) != nil {
			break
		}
	}
	return time.Since(end), false
}

// recoveredBy reports whether a probe shows the gateway back to normal:
// nothing was waiting in its queue when the probe was sent, and the probe
// was served whole, with 200, within bound.
func recoveredBy(waiting int, r load.Result, bound time.Duration) bool {
	return waiting == 0 && r.Err == "" && r.Status == 200 && r.TTLB <= bound
}

// probe GETs url once, with its digest checked if digest.
func probe(ctx context.Context, url string, timeout time.Duration, digest bool) load.Result {
	rep, err := load.Run(ctx, load.Config{URL: url, Requests: 1, Concurrency: 1, Digest: digest, Timeout: timeout})
	if rep == nil || len(rep.Results) != 1 {
		return load.Result{Err: fmt.Sprint(err)}
	}
	return rep.Results[0]
}

// sleepCtx waits d or until ctx ends, returning ctx's error in that case.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// overloadRows are the table's rows: the unloaded and capacity figures,
// then those of each factor, with the targets.
func overloadRows(o options) []admRow {
	zero := &admTarget{op: "≤", bound: 0, text: "0"}
	rows := []admRow{
		{key: "unloaded", label: fmt.Sprintf("unloaded latency (median of %d)", overloadUnloaded), format: fmtSeconds},
		{key: "capacity", label: fmt.Sprintf("capacity (req/s, %d clients)", o.ovClients), format: fmtRate},
		{key: "capacity.p50", label: "capacity: latency p50", format: fmtSeconds},
		{key: "capacity.errors", label: "capacity: failures (all rounds)", format: fmtCount, count: true},
		{key: "capacity.peak_rss", label: "capacity: peak RSS (parent+workers)", format: fmtMiB},
	}
	largest := slices.Max(o.ovFactors)
	okText := fmt.Sprintf("≤ 1.00 (2 × unloaded + %s ms)", ms(o.queueTarget))
	for _, factor := range o.ovFactors {
		p := factorKey(factor)
		l := "×" + strconv.FormatFloat(factor, 'g', -1, 64) + ": "
		var rss *admTarget
		if factor == largest {
			rss = &admTarget{op: "≤", bound: targetOvRSSRatio, text: fmt.Sprintf("≤ %.1f", targetOvRSSRatio)}
		}
		rows = append(rows,
			admRow{key: p + ".rate", label: l + "offered (req/s)", format: fmtRate},
			admRow{key: p + ".goodput", label: l + "goodput (200s/s in the window)", format: fmtRate},
			admRow{key: p + ".goodput_ratio", label: l + "goodput / capacity", format: fmtRatio,
				target: &admTarget{op: "≥", bound: targetOvGoodput, text: fmt.Sprintf("≥ %.2f", targetOvGoodput)}},
			admRow{key: p + ".ok_p50", label: l + "200 latency p50", format: fmtSeconds},
			admRow{key: p + ".ok_p99", label: l + "200 latency p99", format: fmtSeconds},
			admRow{key: p + ".ok_p99_ratio", label: l + "200 p99 / (2 × unloaded + queue target)", format: fmtRatio,
				target: &admTarget{op: "≤", bound: 1, text: okText}},
			admRow{key: p + ".refused", label: l + "503s (all rounds)", format: fmtCount, count: true},
			admRow{key: p + ".refused_p50", label: l + "503 latency p50", format: fmtSeconds},
			admRow{key: p + ".refused_p99", label: l + "503 latency p99", format: fmtSeconds,
				target: &admTarget{op: "≤", bound: targetOvRefusedP99.Seconds(), text: "≤ " + ms(targetOvRefusedP99) + " ms"}},
			admRow{key: p + ".no_retry_after", label: l + "503s without Retry-After (all rounds)", format: fmtCount, count: true, target: zero},
			admRow{key: p + ".retry_after_min", label: l + "Retry-After min", format: fmtWholeSeconds},
			admRow{key: p + ".retry_after_median", label: l + "Retry-After median", format: fmtWholeSeconds},
			admRow{key: p + ".retry_after_max", label: l + "Retry-After max", format: fmtWholeSeconds},
			admRow{key: p + ".other_status", label: l + "other statuses (all rounds)", format: fmtCount, count: true, target: zero},
			admRow{key: p + ".transport_errors", label: l + "transport errors (all rounds)", format: fmtCount, count: true, target: zero},
			admRow{key: p + ".peak_rss", label: l + "peak RSS (parent+workers)", format: fmtMiB},
			admRow{key: p + ".rss_ratio", label: l + "peak RSS / capacity load's", format: fmtRatio, target: rss},
			admRow{key: p + ".recovery", label: l + "recovery (queue empty, probe normal)", format: fmtSeconds,
				target: &admTarget{op: "≤", bound: targetOvRecovery.Seconds(), text: "≤ " + ms(targetOvRecovery) + " ms"}},
			admRow{key: p + ".unrecovered", label: fmt.Sprintf("%snot recovered in %v (rounds)", l, overloadProbeSpan), format: fmtCount, count: true},
			admRow{key: p + ".max_lag", label: l + "generator max lag (start after schedule)", format: fmtSeconds},
			admRow{key: p + ".generator_overloaded", label: l + "not sent: generator overloaded (all rounds)", format: fmtCount, count: true},
		)
	}
	rows = append(rows, rssRow(nil))
	return append(rows, commonRows(nil)...)
}

// fmtWholeSeconds formats a Retry-After figure.
func fmtWholeSeconds(v float64) string { return fmt.Sprintf("%g s", v) }

// voxerTimeout is each request's bound in the voxer replay: a client's
// patience, as long as sluice's default queue timeout. A peer that queues
// every request would otherwise keep the bench waiting for minutes while it
// works through a backlog whose clients left long ago.
const voxerTimeout = 30 * time.Second

// voxerScenario is the overload scenario as the Voxer replay: the same
// phases and targets, with the other designs (-peers) beside sluice, each
// request bounded by voxerTimeout, and charts of the largest factor over
// time.
func voxerScenario(o options) admScenario {
	o.timeout = min(o.timeout, voxerTimeout)
	sc := overloadScenario(o)
	sc.name = "voxer"
	sc.heading = "voxer (" + sc.heading + ", " + voxerTimeout.String() + " client timeout)"
	sc.peers = true
	sc.rounds = o.voxerRounds
	sc.chart = chartVoxer(o)
	return sc
}

// voxerBin is the width of the bins the voxer charts count in.
const voxerBin = 500 * time.Millisecond

// chartVoxer draws, for the largest open-loop factor, goodput, refusals and
// the p99 latency of successes over the schedule, a line per peer.
func chartVoxer(o options) func(e *env, configs []admConfig, _ map[string]*admRun, first map[string]admMeasure) {
	return func(e *env, configs []admConfig, _ map[string]*admRun, first map[string]admMeasure) {
		f := slices.Max(o.ovFactors)
		key := factorKey(f)
		var good, refused, lat []chartLine
		scheduled := func(r load.Result) time.Duration { return r.Start }
		done := func(r load.Result) time.Duration { return r.Start + r.TTLB }
		for _, c := range configs {
			kept, _ := first[c.name].keep.(map[string][]load.Result)
			rs := kept[key]
			if rs == nil {
				continue
			}
			good = append(good, binned(c.label, rs, voxerBin, done, func(r load.Result) (float64, bool) {
				return 1, r.Err == "" && r.Status == 200
			}, voxerBin.Seconds()))
			refused = append(refused, binned(c.label, rs, voxerBin, scheduled, func(r load.Result) (float64, bool) {
				return 1, r.Status == 503
			}, voxerBin.Seconds()))
			lat = append(lat, binnedQuantile(c.label, rs, voxerBin, scheduled, func(r load.Result) (time.Duration, bool) {
				return r.TTLB, r.Err == "" && r.Status == 200
			}, 0.99))
		}
		what := fmt.Sprintf("open loop at %g × capacity", f)
		p, err := lineChart("voxer: goodput, "+what, "time since the schedule started (s)", "200s completed per second", good)
		e.chart("voxer-goodput", "voxer: successful responses completed per second at "+what+", per 0.5 s, first round", p, err)
		p, err = lineChart("voxer: refusals, "+what, "time since the schedule started (s)", "503s per second (by scheduled start)", refused)
		e.chart("voxer-503s", "voxer: 503 answers per second at "+what+", by when each request was due, first round", p, err)
		p, err = logLineChart("voxer: latency of successes, "+what, "time since the schedule started (s)", "p99 of 200s, from schedule (ms)", lat)
		e.chart("voxer-latency", "voxer: p99 latency of the requests served, by when each was due, at "+what+", first round", p, err)
	}
}
