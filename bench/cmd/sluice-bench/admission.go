package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// The admission comparison runs each of its scenarios against the gateway's
// defaults ("auto": whatever admission the worker does when no flag tunes
// it) and against the fixed limit of two handlers per worker, both in every
// round. The fixed configuration names its flag, so the comparison needs no
// change when the default stops being that limit.
var (
	autoConfig  = admConfig{name: "auto", label: "auto"}
	fixedConfig = admConfig{name: "fixed-2", label: "--max-inflight 2", args: []string{"--max-inflight", "2"}}
)

// admissionSet is what the "admission" scenario name runs, in this order.
var admissionSet = []struct {
	name string
	run  func(ctx context.Context, e *env) (bool, error)
}{
	{"airtable-admission", admissionRunner(airtableAdmissionScenario)},
	{"plaid", admissionRunner(plaidScenario)},
	{"slow", admissionRunner(slowScenario)},
	{"mixed", admissionRunner(mixedScenario)},
}

// admissionRunner makes a scenario runner of a comparison, built from the
// options when it runs.
func admissionRunner(build func(options) admScenario) func(ctx context.Context, e *env) (bool, error) {
	return func(ctx context.Context, e *env) (bool, error) {
		return runAdmission(ctx, e, build(e.opt))
	}
}

// admConfig is one way a comparison runs the gateway, or another design
// (other is set: the replays' peers). A baseline is measured and shown but
// not judged.
type admConfig struct {
	name     string // in JSON and log names
	label    string // in the table
	args     []string
	baseline bool
	other    *peer
}

// peerConfig is the configuration that runs another design: a baseline.
func peerConfig(p peer) admConfig {
	return admConfig{name: p.name, label: p.name, baseline: true, other: &p}
}

// withPeers adds a configuration for each of the -peers that can run here,
// and returns the notes of those that cannot.
func (e *env) withPeers(cs []admConfig) ([]admConfig, []string) {
	var skipped []string
	for _, p := range e.opt.otherPeers() {
		if why := e.skipPeer(p); why != "" {
			skipped = append(skipped, fmt.Sprintf("%s skipped: %s", p.name, why))
			continue
		}
		cs = append(cs, peerConfig(p))
	}
	return cs, skipped
}

// admScenario is one scenario of the comparison: how to measure one
// configuration on a running gateway, and which figures to show and judge.
type admScenario struct {
	name    string
	heading string // the first line of the table, without the rounds
	configs []admConfig
	measure func(ctx context.Context, t *running) (admMeasure, error)
	rows    []admRow
	// peers says the scenario also runs the other designs (-peers).
	peers bool
	// rounds, if not 0, replaces -rounds for this scenario.
	rounds int
	// chart, if set, draws the report's charts from the medians and from
	// every configuration's first round, both keyed by config name, and
	// the configurations in the order they were shown.
	chart func(e *env, configs []admConfig, med map[string]*admRun, first map[string]admMeasure)
	// derive, if set, adds figures computed from the medians of every
	// configuration (keyed by config name), such as ratios to a baseline.
	derive func(med map[string]*admRun)
}

// admMeasure is what one measurement found: figures by key (a figure that
// could not be measured, such as a percentile without a success, is absent),
// and the first failure of each kind, for the notes.
type admMeasure struct {
	figures        map[string]float64
	firstError     string
	firstIntegrity string
	summary        string // one line for the progress log
	// keep is what the scenario's chart needs of this measurement.
	keep any
}

// Figures every measurement has, filled in by runAdmission.
const (
	figIntegrity   = "integrity_failures" // digest mismatches and wrong bytes: the bench exits 1
	figPeakRSS     = "peak_rss_bytes"
	figFlushLagP99 = "flush_lag_p99_seconds"
	figMaxInFlight = "max_inflight"
)

// admRun is one configuration in one round (Kind "round"), or the medians of
// its figures across rounds (Kind "median"; counts are summed).
type admRun struct {
	Scenario       string             `json:"scenario"`
	Kind           string             `json:"kind"`
	Config         string             `json:"config"`
	Round          int                `json:"round,omitempty"`
	Args           []string           `json:"gateway_args"`
	Figures        map[string]float64 `json:"figures"`
	FirstError     string             `json:"first_error,omitempty"`
	FirstIntegrity string             `json:"first_integrity_failure,omitempty"`
	// Note says why a figure every run has (the flush lag) is missing.
	Note string `json:"note,omitempty"`
	session
}

// admRow is one line of a comparison table: a figure, how to print it,
// whether it is a count (summed across rounds rather than a median), and
// the target it is judged against, if any.
type admRow struct {
	key    string
	label  string
	format func(float64) string
	count  bool
	target *admTarget
}

// admTarget is a bound a figure must meet: op is "≥", "≤" or "<".
type admTarget struct {
	op    string
	bound float64
	text  string // the bound as the table shows it, e.g. "≤ 50 ms"
}

// meets reports whether v satisfies t; a figure that was not measured never
// does.
func (t *admTarget) meets(v float64, measured bool) bool {
	if !measured || math.IsNaN(v) {
		return false
	}
	switch t.op {
	case "≥":
		return v >= t.bound
	case "≤":
		return v <= t.bound
	case "<":
		return v < t.bound
	}
	return false
}

// admCheck is one judged figure of one configuration, for the JSON output.
type admCheck struct {
	Figure   string  `json:"figure"`
	Config   string  `json:"config"`
	Target   string  `json:"target"`
	Measured float64 `json:"measured"`
	Pass     bool    `json:"pass"`
}

// admTargets is the JSON line of a scenario's checks.
type admTargets struct {
	Scenario string     `json:"scenario"`
	Kind     string     `json:"kind"`
	Checks   []admCheck `json:"checks"`
}

// admArgs are the flags of one configuration's `sluice serve`.
func (e *env) admArgs(c admConfig) []string {
	return slices.Concat([]string{"--workers", "2"}, e.opt.gatewayArgs, c.args)
}

// runAdmission measures every configuration of sc in each of the rounds,
// the order rotating from round to round so that a slow spell of the
// machine does not always fall on the same one, and prints the medians side
// by side with the targets. It reports false if a response failed its
// integrity check: the other failures are figures the targets judge.
func runAdmission(ctx context.Context, e *env, sc admScenario) (bool, error) {
	var skipped []string
	if sc.peers {
		sc.configs, skipped = e.withPeers(sc.configs)
	}
	if sc.rounds > 0 {
		// e is shared by the scenarios of the run: put -rounds back after.
		defer func(n int) { e.opt.admRounds = n }(e.opt.admRounds)
		e.opt.admRounds = sc.rounds
	}
	runs := map[string][]admRun{}
	first := map[string]admMeasure{}
	for r := 1; r <= e.opt.admRounds; r++ {
		for k := range sc.configs {
			c := sc.configs[(k+r-1)%len(sc.configs)]
			run, m, err := e.measureAdm(ctx, sc, c, r)
			if err != nil {
				return false, err
			}
			runs[c.name] = append(runs[c.name], run)
			if r == 1 {
				first[c.name] = m
			}
		}
	}
	ok, med := reportAdm(e, sc, runs, skipped)
	if sc.chart != nil {
		sc.chart(e, sc.configs, med, first)
	}
	return ok, nil
}

// measureAdm runs one configuration c of sc, in round r, on a gateway of
// its own, and adds the figures every run has: peak RSS, most handlers in
// flight, and the workers' flush-lag p99 over the load.
func (e *env) measureAdm(ctx context.Context, sc admScenario, c admConfig, r int) (admRun, admMeasure, error) {
	args := e.admArgs(c)
	var m admMeasure
	var lag flushLag
	var sess session
	var err error
	name := fmt.Sprintf("%s-%s-%d", sc.name, c.name, r)
	if c.other != nil {
		args = nil
		fmt.Fprintf(e.log, "%s round %d/%d, %s ... ", sc.name, r, e.opt.admRounds, c.name)
		var ps peerSession
		ps, err = e.withPeer(ctx, *c.other, name, func(t *running) error {
			var err error
			m, err = sc.measure(ctx, t)
			return err
		})
		sess = ps.session
		lag.err = "not sluice"
	} else {
		fmt.Fprintf(e.log, "%s round %d/%d, %s: sluice serve %s ... ", sc.name, r, e.opt.admRounds, c.name, strings.Join(args, " "))
		sess, err = e.withGateway(ctx, name, args, func(g *gateway) error {
			before, berr := scrapeFlushLag(ctx, g)
			var err error
			if m, err = sc.measure(ctx, g.target(sluicePeer)); err != nil {
				return err
			}
			after, aerr := scrapeFlushLag(ctx, g)
			lag = flushLagOver(before, after, berr, aerr)
			return ctx.Err()
		})
	}
	if err != nil {
		fmt.Fprintln(e.log)
		return admRun{}, m, fmt.Errorf("%s: %w", c.name, err)
	}
	run := admRun{Scenario: sc.name, Kind: "round", Config: c.name, Round: r, Args: args, Figures: m.figures,
		FirstError: m.firstError, FirstIntegrity: m.firstIntegrity, session: sess}
	if run.Figures == nil {
		run.Figures = map[string]float64{}
	}
	run.Figures[figPeakRSS] = float64(sess.PeakRSS)
	if c.other == nil {
		run.Figures[figMaxInFlight] = float64(sess.Gateway.MaxInFlight)
	}
	switch {
	case lag.err == "":
		run.Figures[figFlushLagP99] = lag.p99
	case c.other == nil:
		run.Note = "no flush-lag figure: " + lag.err
	}
	if _, ok := run.Figures[figIntegrity]; !ok {
		run.Figures[figIntegrity] = 0
	}
	fmt.Fprintf(e.log, "%s; peak %s MiB, flush-lag p99 %s\n", m.summary, mib(sess.PeakRSS), fmtFig(run.Figures, figFlushLagP99, fmtSeconds))
	e.report.write(run)
	return run, m, nil
}

// reportAdm prints and writes the medians of every configuration of sc,
// the table and its checks, and the notes; it reports whether every body
// passed its integrity check, and the medians.
func reportAdm(e *env, sc admScenario, runs map[string][]admRun, skipped []string) (bool, map[string]*admRun) {
	o := e.opt
	med := map[string]*admRun{}
	for _, c := range sc.configs {
		m := medianAdm(runs[c.name], sc.rows)
		med[c.name] = &m
	}
	if sc.derive != nil {
		sc.derive(med)
	}
	ok := true
	for _, c := range sc.configs {
		e.report.write(med[c.name])
		ok = ok && med[c.name].Figures[figIntegrity] == 0
	}
	what := "1 round"
	if o.admRounds > 1 {
		what = fmt.Sprintf("medians of %d rounds", o.admRounds)
	}
	fmt.Fprintf(e.out, "%s; sluice serve %s; %s\n", sc.heading, strings.Join(e.admArgs(admConfig{}), " "), what)
	t := printAdm(e.out, sc, med)
	e.report.write(t)
	for _, c := range sc.configs {
		m := med[c.name]
		if m.FirstIntegrity != "" {
			fmt.Fprintf(e.out, "%s: INTEGRITY: %s\n", c.label, m.FirstIntegrity)
		}
		if m.FirstError != "" {
			fmt.Fprintf(e.out, "%s: first failure: %s\n", c.label, m.FirstError)
		}
		if m.Note != "" {
			fmt.Fprintf(e.out, "%s: %s\n", c.label, m.Note)
		}
		printNotes(e.out, c.label, nil, "", m.session)
		if c.other != nil {
			fmt.Fprintf(e.out, "%s: %s\n", c.label, c.other.about)
		}
	}
	for _, s := range skipped {
		fmt.Fprintln(e.out, s)
	}
	fmt.Fprintln(e.out)
	return ok, med
}

// medianAdm takes the median of every figure across the rounds of one
// configuration, over the rounds that measured it, and sums the counts,
// so that no failure is hidden.
func medianAdm(rs []admRun, rows []admRow) admRun {
	m := rs[0]
	m.Kind, m.Round, m.Figures, m.FirstError, m.FirstIntegrity, m.Note = "median", 0, map[string]float64{}, "", "", ""
	counts := map[string]bool{figIntegrity: true}
	for _, r := range rows {
		if r.count {
			counts[r.key] = true
		}
	}
	vals := map[string][]float64{}
	var peak, idle []int64
	for _, r := range rs {
		for k, v := range r.Figures {
			vals[k] = append(vals[k], v)
		}
		if m.FirstError == "" {
			m.FirstError = r.FirstError
		}
		if m.Note == "" {
			m.Note = r.Note
		}
		if m.FirstIntegrity == "" {
			m.FirstIntegrity = r.FirstIntegrity
		}
		peak, idle = append(peak, r.PeakRSS), append(idle, r.IdleRSS)
	}
	for k, v := range vals {
		if counts[k] {
			var s float64
			for _, x := range v {
				s += x
			}
			m.Figures[k] = s
		} else {
			m.Figures[k] = median(v)
		}
	}
	m.PeakRSS, m.IdleRSS = median(peak), median(idle)
	for _, r := range rs[1:] { // trouble adds up
		g := r.Gateway
		m.Gateway.Restarts += g.Restarts
		m.Gateway.NotUp += g.NotUp
		m.Gateway.LogWarnings = addLines(m.Gateway.LogWarnings, g.LogWarnings)
		m.Gateway.ShutdownWarnings = addLines(m.Gateway.ShutdownWarnings, g.ShutdownWarnings)
		if m.Stop == "" {
			m.Stop = r.Stop
		}
	}
	return m
}

// printAdm writes the comparison table of sc's medians: one row per figure,
// one column per configuration, then the target and, for each judged
// configuration in order, PASS or MISS. It returns the checks.
func printAdm(out io.Writer, sc admScenario, med map[string]*admRun) admTargets {
	t := admTargets{Scenario: sc.name, Kind: "targets"}
	var judged []string
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "figure")
	for _, c := range sc.configs {
		fmt.Fprintf(tw, "\t%s", c.label)
		if !c.baseline {
			judged = append(judged, c.label)
		}
	}
	fmt.Fprintf(tw, "\ttarget\tresult (%s)\n", strings.Join(judged, " / "))
	for _, r := range sc.rows {
		fmt.Fprint(tw, r.label)
		for _, c := range sc.configs {
			fmt.Fprintf(tw, "\t%s", fmtFig(med[c.name].Figures, r.key, r.format))
		}
		if r.target == nil {
			fmt.Fprint(tw, "\t\t\n")
			continue
		}
		var res []string
		for _, c := range sc.configs {
			if c.baseline {
				continue
			}
			v, measured := med[c.name].Figures[r.key]
			pass := r.target.meets(v, measured)
			res = append(res, passMiss(pass))
			t.Checks = append(t.Checks, admCheck{Figure: r.key, Config: c.name, Target: r.target.text, Measured: v, Pass: pass})
		}
		fmt.Fprintf(tw, "\t%s\t%s\n", r.target.text, strings.Join(res, " / "))
	}
	tw.Flush()
	// A row without a target keeps its empty cells, so that the columns
	// stay aligned across it, but not the padding they end with.
	for l := range bytes.Lines(buf.Bytes()) {
		out.Write(append(bytes.TrimRight(l, " \n"), '\n'))
	}
	return t
}

// fmtFig formats figure key of figs, or "-" if it was not measured.
func fmtFig(figs map[string]float64, key string, f func(float64) string) string {
	v, ok := figs[key]
	if !ok || math.IsNaN(v) {
		return "-"
	}
	return f(v)
}

// Formatters for the table cells.
func fmtSeconds(v float64) string { return ms(secondsDur(v)) + " ms" }
func fmtMiB(v float64) string     { return mib(int64(v)) + " MiB" }
func fmtCount(v float64) string   { return fmt.Sprintf("%.0f", v) }
func fmtRate(v float64) string    { return fmt.Sprintf("%.1f", v) }
func fmtRatio(v float64) string   { return fmt.Sprintf("%.2f", v) }
func fmtKiBps(v float64) string   { return fmt.Sprintf("%.1f KiB/s", v/1024) }

// commonRows are the rows every comparison ends with; flushLag is the
// target of the workers' flush-lag p99, if it has one.
func commonRows(flushLag *admTarget) []admRow {
	return []admRow{
		{key: figMaxInFlight, label: "most handlers in flight (both workers)", format: fmtCount},
		{key: figFlushLagP99, label: "worker flush-lag p99", format: fmtSeconds, target: flushLag},
		{key: figIntegrity, label: "integrity failures (all rounds)", format: fmtCount, count: true,
			target: &admTarget{op: "≤", bound: 0, text: "0"}},
	}
}

// rssRow is the row of the gateway tree's peak RSS, judged by t if set.
func rssRow(t *admTarget) admRow {
	return admRow{key: figPeakRSS, label: "peak RSS (parent+workers)", format: fmtMiB, target: t}
}
