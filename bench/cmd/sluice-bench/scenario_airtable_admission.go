package main

import (
	"context"
	"fmt"
	"time"
)

// The Airtable replay as the admission comparison judges it.
const (
	targetAdmTTLBRatio   = 0.50                   // median TTLB over admission-off's, at most
	targetAdmTransferP99 = 300 * time.Millisecond // at most
	targetAdmPeakRSS     = 128 << 20              // at most
	targetAdmFlushLag    = 50 * time.Millisecond  // the workers' flush-lag p99, below
)

// admissionOffConfig is the naive design the Airtable targets compare with.
var admissionOffConfig = admConfig{name: "admission-off", label: "admission off", args: []string{"--admission", "off"}, baseline: true}

// airtableAdmissionScenario is the airtable scenario's load (-n, -c,
// -size, -cpu), with digests checked, against auto, the fixed limit and
// admission off.
func airtableAdmissionScenario(o options) admScenario {
	sc := admScenario{
		name: "airtable-admission",
		heading: fmt.Sprintf("airtable-admission: %d × GET /payload?size=%s&cpu=%v&seed=i, %d in flight, digests checked",
			o.requests, o.size, o.cpu, min(o.concurrency, o.requests)),
		configs: []admConfig{autoConfig, fixedConfig, admissionOffConfig},
	}
	sc.measure = func(ctx context.Context, t *running) (admMeasure, error) {
		results, wall := fetchAll(ctx, "http://"+t.addr, o, true)
		run := summarizeAirtable(results, wall)
		m := admMeasure{figures: map[string]float64{
			"ok": float64(run.OK), "errors": float64(run.Errors), "wall": wall.Seconds(),
		}, firstError: run.FirstError}
		for _, r := range results {
			if r.DigestOK != nil && !*r.DigestOK {
				m.figures[figIntegrity]++
				if m.firstIntegrity == "" {
					m.firstIntegrity = fmt.Sprintf("request %d: %s", r.Index, r.Err)
				}
			}
		}
		if run.OK > 0 {
			for k, v := range map[string]time.Duration{
				"ttfb.median": run.TTFB.Median, "transfer.median": run.Transfer.Median, "transfer.p99": run.Transfer.P99,
				"ttlb.median": run.TTLB.Median, "ttlb.p99": run.TTLB.P99,
			} {
				m.figures[k] = v.Seconds()
			}
		}
		m.summary = fmt.Sprintf("%d/%d ok, TTLB median %s ms, transfer p99 %s ms", run.OK, run.Requests, ms(run.TTLB.Median), ms(run.Transfer.P99))
		return m, ctx.Err()
	}
	sc.derive = func(med map[string]*admRun) {
		off, ok := med[admissionOffConfig.name].Figures["ttlb.median"]
		if !ok || off <= 0 {
			return
		}
		for _, c := range sc.configs {
			if v, ok := med[c.name].Figures["ttlb.median"]; ok && !c.baseline {
				med[c.name].Figures["ttlb_ratio"] = v / off
			}
		}
	}
	sc.rows = []admRow{
		{key: "ok", label: "2xx responses (all rounds)", format: fmtCount, count: true},
		{key: "errors", label: "failures (all rounds)", format: fmtCount, count: true},
		{key: "ttfb.median", label: "TTFB median", format: fmtSeconds},
		{key: "ttlb.median", label: "TTLB median", format: fmtSeconds},
		{key: "ttlb.p99", label: "TTLB p99", format: fmtSeconds},
		{key: "ttlb_ratio", label: "TTLB median / admission off's", format: fmtRatio,
			target: &admTarget{op: "≤", bound: targetAdmTTLBRatio, text: fmt.Sprintf("≤ %.2f", targetAdmTTLBRatio)}},
		{key: "transfer.median", label: "transfer median (first to last byte)", format: fmtSeconds},
		{key: "transfer.p99", label: "transfer p99", format: fmtSeconds,
			target: &admTarget{op: "≤", bound: targetAdmTransferP99.Seconds(), text: "≤ " + ms(targetAdmTransferP99) + " ms"}},
		{key: "wall", label: "wall", format: func(v float64) string { return fmt.Sprintf("%.1f s", v) }},
		rssRow(&admTarget{op: "≤", bound: targetAdmPeakRSS, text: "≤ " + mib(targetAdmPeakRSS) + " MiB"}),
	}
	sc.rows = append(sc.rows, commonRows(&admTarget{op: "<", bound: targetAdmFlushLag.Seconds(), text: "< " + ms(targetAdmFlushLag) + " ms"})...)
	return sc
}
