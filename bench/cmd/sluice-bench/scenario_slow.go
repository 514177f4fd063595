package main

import (
	"context"
	"fmt"
	"time"
)

// The slow-clients replay: many clients that read a large response slowly
// hold handlers that do nothing but wait for them, and must neither starve
// the fast requests nor make the gateway buffer their responses.
const (
	slowSize       = 27 << 20
	slowWindow     = 10 * time.Second // before -adm-scale
	fastPath       = "/payload?size=4096"
	targetSlowFast = 50 * time.Millisecond // fast p99, at most
	targetSlowRSS  = 256 << 20             // peak RSS of the gateway tree, at most
)

// fastLoop is the one client that wants quick answers, in slow and mixed.
var fastLoop = loopSpec{what: "fast", prefix: "fast", path: fastPath, conc: 1}

// slowScenario runs -slow-clients slow clients and one fast loop at once.
func slowScenario(o options) admScenario {
	window := o.scaled(slowWindow)
	sc := admScenario{
		name: "slow",
		heading: fmt.Sprintf("slow: %d clients reading GET /payload?size=%dMiB at %s/s (SO_RCVBUF %s) and one loop of GET %s, for %v, digests checked",
			o.slowClients, slowSize>>20, humanBytes(o.slowRate), humanBytes(slowRcvBuf), fastPath, window),
		configs: []admConfig{autoConfig, fixedConfig},
	}
	sc.measure = func(ctx context.Context, t *running) (admMeasure, error) {
		m, loops, ss, err := together(ctx, t, o, window, []loopSpec{fastLoop}, o.slowClients)
		fs := loops["fast"]
		m.summary = fmt.Sprintf("fast p99 %s ms, %d failed; slow %d/%d served, %d failed", ms(fs.P99), fs.Errors, ss.Served, ss.Clients, ss.Failures)
		return m, err
	}
	sc.rows = append(fastRows(targetSlowFast, true), slowRows(o.slowClients)...)
	sc.rows = append(sc.rows, rssRow(&admTarget{op: "≤", bound: targetSlowRSS, text: "≤ " + mib(targetSlowRSS) + " MiB"}))
	sc.rows = append(sc.rows, commonRows(nil)...)
	return sc
}

// fastRows are the rows of the fast loop, whose p99 must stay within p99
// and which, if noFailure, must not fail.
func fastRows(p99 time.Duration, noFailure bool) []admRow {
	rows := []admRow{
		{key: "fast.p50", label: "fast: p50", format: fmtSeconds},
		{key: "fast.p99", label: "fast: p99", format: fmtSeconds,
			target: &admTarget{op: "≤", bound: p99.Seconds(), text: "≤ " + ms(p99) + " ms"}},
		{key: "fast.rps", label: "fast: req/s", format: fmtRate},
		{key: "fast.errors", label: "fast: failures (all rounds)", format: fmtCount, count: true},
	}
	if noFailure {
		rows[3].target = &admTarget{op: "≤", bound: 0, text: "0"}
	}
	return rows
}

// slowRows are the rows of n slow clients.
func slowRows(n int) []admRow {
	return []admRow{
		{key: "slow.served", label: fmt.Sprintf("slow: clients served (of %d)", n), format: fmtCount},
		{key: "slow.rate_window", label: "slow: median rate over the window", format: fmtKiBps},
		{key: "slow.rate_served", label: "slow: median rate while served", format: fmtKiBps},
		{key: "slow.failures", label: "slow: cut by the gateway (all rounds)", format: fmtCount, count: true},
	}
}
