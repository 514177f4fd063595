package main

import (
	"context"
	"fmt"
	"time"
)

// The mixed replay: CPU-heavy, I/O-bound, slow and fast clients at once.
const (
	mixedWindow       = 20 * time.Second // before -adm-scale
	mixedHeavyLoops   = 8
	mixedHeavyPath    = "/payload?size=27MiB&cpu=300ms"
	mixedIOLoops      = 32
	targetMixedFast   = 100 * time.Millisecond // fast p99, at most
	targetMixedIO     = 0.7                    // I/O-bound req/s, at least this share of mixedIOLoops / plaidWait
	targetMixedHeavy  = 500 * time.Millisecond // heavy responses' transfer p99, at most
	targetMixedRSS    = 512 << 20              // peak RSS of the gateway tree, at most
	mixedIOTargetRate = targetMixedIO * mixedIOLoops * float64(time.Second) / float64(plaidWait)
)

// mixedScenario runs every kind of client at once on one gateway.
func mixedScenario(o options) admScenario {
	window := o.scaled(mixedWindow)
	sc := admScenario{
		name: "mixed",
		heading: fmt.Sprintf("mixed, all at once for %v: %d loops of GET %s, %d of GET %s, %d slow clients (%s at %s/s), one loop of GET %s; digests checked",
			window, mixedHeavyLoops, mixedHeavyPath, mixedIOLoops, plaidPath, o.mixedSlow, humanBytes(slowSize), humanBytes(o.slowRate), fastPath),
		configs: []admConfig{autoConfig, fixedConfig},
	}
	loops := []loopSpec{
		{what: "heavy", prefix: "heavy", path: mixedHeavyPath, conc: mixedHeavyLoops},
		{what: "I/O-bound", prefix: "io", path: plaidPath, conc: mixedIOLoops},
		fastLoop,
	}
	sc.measure = func(ctx context.Context, t *running) (admMeasure, error) {
		m, s, ss, err := together(ctx, t, o, window, loops, o.mixedSlow)
		m.summary = fmt.Sprintf("fast p99 %s ms; I/O %.0f req/s; heavy transfer p99 %s ms; slow %d/%d served",
			ms(s["fast"].P99), s["io"].RPS, ms(s["heavy"].TransferP99), ss.Served, ss.Clients)
		return m, err
	}
	sc.rows = fastRows(targetMixedFast, false)
	sc.rows = append(sc.rows,
		admRow{key: "io.rps", label: "I/O-bound: req/s", format: fmtRate,
			target: &admTarget{op: "≥", bound: mixedIOTargetRate, text: fmt.Sprintf("≥ %.1f (%.1f × %d / %v)", mixedIOTargetRate, targetMixedIO, mixedIOLoops, plaidWait)}},
		admRow{key: "io.p99", label: "I/O-bound: p99", format: fmtSeconds},
		admRow{key: "io.errors", label: "I/O-bound: failures (all rounds)", format: fmtCount, count: true},
		admRow{key: "heavy.rps", label: "heavy: req/s", format: fmtRate},
		admRow{key: "heavy.transfer_p99", label: "heavy: transfer p99 (first to last byte)", format: fmtSeconds,
			target: &admTarget{op: "≤", bound: targetMixedHeavy.Seconds(), text: "≤ " + ms(targetMixedHeavy) + " ms"}},
		admRow{key: "heavy.errors", label: "heavy: failures (all rounds)", format: fmtCount, count: true},
	)
	sc.rows = append(sc.rows, slowRows(o.mixedSlow)...)
	sc.rows = append(sc.rows, rssRow(&admTarget{op: "≤", bound: targetMixedRSS, text: "≤ " + mib(targetMixedRSS) + " MiB"}))
	sc.rows = append(sc.rows, commonRows(nil)...)
	return sc
}
