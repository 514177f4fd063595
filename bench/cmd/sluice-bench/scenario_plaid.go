package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"
)

// The Plaid replay: handlers that mostly wait on I/O, which a fixed limit
// of handlers per worker serialises for nothing.
const (
	plaidPath   = "/payload?size=4096&wait=200ms"
	plaidWait   = 200 * time.Millisecond // the wait in plaidPath
	plaidWindow = 5 * time.Second        // per level, before -adm-scale
	// A level's targets: throughput at least this share of what its
	// clients would do if nothing but the wait held them up, and p99 at
	// most twice the wait.
	targetPlaidShare = 0.8
	targetPlaidP99   = 2 * plaidWait
)

// plaidScenario runs each of -plaid-clients closed-loop clients in turn
// on one gateway, for plaidWindow each.
func plaidScenario(o options) admScenario {
	window := o.scaled(plaidWindow)
	sc := admScenario{
		name:    "plaid",
		heading: fmt.Sprintf("plaid: GET %s, %s closed-loop clients in turn, %v each, digests checked", plaidPath, joinInts(o.plaidLevels), window),
		configs: []admConfig{autoConfig, fixedConfig},
		peers:   true,
		chart:   chartPlaid(o.plaidLevels),
	}
	sc.measure = func(ctx context.Context, t *running) (admMeasure, error) {
		m := admMeasure{figures: map[string]float64{}}
		var f failures
		var sum []string
		for _, c := range o.plaidLevels {
			rs, err := runLoop(ctx, "http://"+t.addr+plaidPath, c, window, o.timeout, t.peer.trailers())
			if err != nil {
				return m, err
			}
			s := summarizeLoop(fmt.Sprintf("%d clients", c), rs, window)
			s.put(m.figures, fmt.Sprintf("c%d", c))
			f.merge(s.failures)
			sum = append(sum, fmt.Sprintf("%d: %.0f req/s", c, s.RPS))
			if err := ctx.Err(); err != nil {
				return m, err
			}
		}
		m.firstError, m.firstIntegrity, m.summary = f.firstErr, f.firstIntegrity, strings.Join(sum, ", ")
		return m, nil
	}
	for _, c := range o.plaidLevels {
		p, l := fmt.Sprintf("c%d", c), fmt.Sprintf("%d client%s: ", c, plural(c))
		want := targetPlaidShare * float64(c) / plaidWait.Seconds()
		sc.rows = append(sc.rows,
			admRow{key: p + ".rps", label: l + "req/s", format: fmtRate,
				target: &admTarget{op: "≥", bound: want, text: fmt.Sprintf("≥ %.1f (%.1f × %d / %v)", want, targetPlaidShare, c, plaidWait)}},
			admRow{key: p + ".p50", label: l + "p50", format: fmtSeconds},
			admRow{key: p + ".p99", label: l + "p99", format: fmtSeconds,
				target: &admTarget{op: "≤", bound: targetPlaidP99.Seconds(), text: "≤ " + ms(targetPlaidP99) + " ms"}},
			admRow{key: p + ".errors", label: l + "errors (all rounds)", format: fmtCount, count: true},
		)
	}
	sc.rows = append(sc.rows, rssRow(nil))
	sc.rows = append(sc.rows, commonRows(nil)...)
	return sc
}

// joinInts formats 1, 8, 32 as "1/8/32".
func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, "/")
}

// plural is "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// chartPlaid draws throughput, then p99, against the number of clients, a
// line for each configuration and peer, from the medians.
func chartPlaid(levels []int) func(e *env, configs []admConfig, med map[string]*admRun, _ map[string]admMeasure) {
	return func(e *env, configs []admConfig, med map[string]*admRun, _ map[string]admMeasure) {
		var rps, p99 []chartLine
		ideal := chartLine{name: "ideal (clients / " + plaidWait.String() + ")"}
		for _, c := range configs {
			r, l := chartLine{name: c.label}, chartLine{name: c.label}
			for _, n := range levels {
				k := fmt.Sprintf("c%d", n)
				if v, ok := med[c.name].Figures[k+".rps"]; ok {
					r.xy = append(r.xy, plotter.XY{X: float64(n), Y: finite(v)})
				}
				if v, ok := med[c.name].Figures[k+".p99"]; ok {
					l.xy = append(l.xy, plotter.XY{X: float64(n), Y: finite(v) * 1000})
				}
			}
			rps, p99 = append(rps, r), append(p99, l)
		}
		for _, n := range levels {
			ideal.xy = append(ideal.xy, plotter.XY{X: float64(n), Y: float64(n) / plaidWait.Seconds()})
		}
		p, err := lineChart("plaid: throughput of I/O-bound handlers ("+plaidPath+")", "closed-loop clients", "responses per second", append(rps, ideal))
		e.chart("plaid-throughput", "plaid: requests served per second against concurrent clients, each peer, medians", p, err)
		p, err = lineChart("plaid: latency p99 of I/O-bound handlers ("+plaidPath+")", "closed-loop clients", "p99 (ms)", p99)
		e.chart("plaid-p99", "plaid: latency p99 against concurrent clients, each peer, medians", p, err)
	}
}
