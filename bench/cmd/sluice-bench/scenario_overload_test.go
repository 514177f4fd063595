package main

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/bench/load"
)

func TestOverloadFlags(t *testing.T) {
	o, names, ok := parseArgs([]string{"overload"}, io.Discard)
	if !ok || !slices.Equal(names, []string{"overload"}) {
		t.Fatalf("parseArgs(overload) = %v, %v", names, ok)
	}
	if o.admRounds != 3 || o.ovClients != 4 || o.ovCapWindow != 10*time.Second || o.ovWindow != 15*time.Second ||
		!slices.Equal(o.ovFactors, []float64{3, 10}) || o.ovScale != 1 || o.queueTarget != 5*time.Millisecond || o.queueTargetSet ||
		!slices.Equal(o.ovBaselineArgs, []string{"--queue-target", "0"}) {
		t.Errorf("defaults: %+v", o)
	}
	// Without -queue-target the judged gateway runs its defaults; the
	// baseline takes its flags.
	cs := overloadConfigs(o)
	if len(cs) != 2 || cs[0].args != nil || cs[0].baseline || !cs[1].baseline || !slices.Equal(cs[1].args, []string{"--queue-target", "0"}) {
		t.Errorf("configs %+v", cs)
	}

	o, _, ok = parseArgs([]string{"-rounds", "1", "-overload-scale", "0.3", "-overload-factors", "2, 4.5", "-overload-clients", "2",
		"-overload-window", "1s", "-overload-capacity-window", "2s", "-queue-target", "20ms", "-overload-baseline-args", "", "overload"}, io.Discard)
	if !ok || o.admRounds != 1 || !slices.Equal(o.ovFactors, []float64{2, 4.5}) || o.ovClients != 2 || len(o.ovBaselineArgs) != 0 ||
		o.queueTarget != 20*time.Millisecond || !o.queueTargetSet {
		t.Errorf("given flags: ok %v %+v", ok, o)
	}
	if got := o.ovScaled(10 * time.Second); got != 3*time.Second {
		t.Errorf("-overload-scale 0.3 of 10s = %v, want 3s", got)
	}
	cs = overloadConfigs(o)
	if !slices.Equal(cs[0].args, []string{"--queue-target", "20ms"}) || len(cs[1].args) != 0 || cs[1].label != "baseline (no extra flags)" {
		t.Errorf("configs with -queue-target and no baseline flags: %+v", cs)
	}

	for _, bad := range [][]string{
		{"-overload-factors", "", "overload"}, {"-overload-factors", "3,0", "overload"}, {"-overload-factors", "x", "overload"},
		{"-overload-factors", "NaN", "overload"}, {"-overload-scale", "0", "overload"}, {"-overload-clients", "0", "overload"},
		{"-overload-window", "0s", "overload"}, {"-overload-capacity-window", "-1s", "overload"}, {"-queue-target", "-1ms", "overload"},
	} {
		var msg bytes.Buffer
		if _, _, ok := parseArgs(bad, &msg); ok || msg.Len() == 0 {
			t.Errorf("parseArgs(%q) accepted (or said nothing)", bad)
		}
	}
	if scenarios["overload"] == nil {
		t.Error("the overload scenario is not registered")
	}
}

// Every result lands in exactly one class, and the times are over their
// class only.
func TestSummarizeOpen(t *testing.T) {
	ms := time.Millisecond
	no := false
	rs := []load.Result{
		{Index: 0, Start: 0, Status: 200, TTLB: 120 * ms, Lag: 1 * ms},
		{Index: 1, Start: 100 * ms, Status: 200, TTLB: 150 * ms},
		{Index: 2, Start: 900 * ms, Status: 200, TTLB: 300 * ms}, // ends after the window
		{Index: 3, Start: 200 * ms, Status: 503, TTLB: 2 * ms, RetryAfter: "1"},
		{Index: 4, Start: 210 * ms, Status: 503, TTLB: 4 * ms, RetryAfter: "3"},
		{Index: 5, Start: 220 * ms, Status: 503, TTLB: 3 * ms, RetryAfter: "2"},
		{Index: 6, Start: 230 * ms, Status: 503, TTLB: 9 * ms},                          // no Retry-After
		{Index: 7, Start: 240 * ms, Status: 503, TTLB: 1 * ms, RetryAfter: "soon"},      // not seconds
		{Index: 8, Start: 250 * ms, Status: 502, TTLB: 5 * ms},                          // another status
		{Index: 9, Start: 260 * ms, Err: "connection reset", TTLB: 5 * ms, Lag: 7 * ms}, // no response
		{Index: 10, Start: 270 * ms, Err: "generator overloaded: 2 requests in flight", Lag: 3 * ms},
		{Index: 11, Start: 280 * ms, Status: 200, Err: "Content-Digest sha-256 mismatch", DigestOK: &no},
	}
	s := summarizeOpen("x3", rs, time.Second)
	if s.Scheduled != 12 || s.OK != 3 || s.InWindow != 2 || s.Goodput != 2 || s.Refused != 5 || s.NoRetryAfter != 2 ||
		s.Other != 1 || s.Transport != 1 || s.Overloaded != 1 || s.Integrity != 1 {
		t.Errorf("counts %+v", s)
	}
	if s.OKP50 != 150*ms || s.OKP99 != 300*ms || s.RefusedP50 != 3*ms || s.RefusedP99 != 9*ms || s.MaxLag != 7*ms {
		t.Errorf("times: 200 p50 %v p99 %v, 503 p50 %v p99 %v, max lag %v; want 150ms 300ms 3ms 9ms 7ms",
			s.OKP50, s.OKP99, s.RefusedP50, s.RefusedP99, s.MaxLag)
	}
	if !slices.Equal(s.RetryAfter, []int{1, 3, 2}) {
		t.Errorf("Retry-After values %v, want 1 3 2", s.RetryAfter)
	}
	if !strings.HasPrefix(s.firstErr, `x3: request 6: 503 with Retry-After ""`) || !strings.Contains(s.firstIntegrity, "mismatch") {
		t.Errorf("first failures %q / %q", s.firstErr, s.firstIntegrity)
	}

	figs := map[string]float64{}
	s.put(figs, "x3", 4, 100*ms)
	for k, want := range map[string]float64{
		"x3.goodput": 2, "x3.goodput_ratio": 0.5, "x3.ok_p99": 0.3, "x3.ok_p99_ratio": 3, "x3.refused": 5,
		"x3.refused_p99": 0.009, "x3.no_retry_after": 2, "x3.retry_after_min": 1, "x3.retry_after_median": 2,
		"x3.retry_after_max": 3, "x3.other_status": 1, "x3.transport_errors": 1, "x3.generator_overloaded": 1, "x3.max_lag": 0.007,
	} {
		if figs[k] != want {
			t.Errorf("figure %s = %v, want %v", k, figs[k], want)
		}
	}
	// Without a 503 (or a 200) there is no latency for it, and no
	// Retry-After to report.
	figs = map[string]float64{}
	summarizeOpen("x10", rs[:1], time.Second).put(figs, "x10", 1, 100*ms)
	for _, k := range []string{"x10.refused_p99", "x10.retry_after_min"} {
		if _, ok := figs[k]; ok {
			t.Errorf("figure %s without a 503", k)
		}
	}
	figs = map[string]float64{}
	summarizeOpen("x10", rs[3:4], time.Second).put(figs, "x10", 1, 100*ms)
	if _, ok := figs["x10.ok_p99"]; ok {
		t.Error("a 200 p99 without a 200")
	}
}

func TestRecoveredBy(t *testing.T) {
	ms := time.Millisecond
	ok := load.Result{Status: 200, TTLB: 100 * ms}
	for _, c := range []struct {
		waiting int
		r       load.Result
		want    bool
	}{
		{0, ok, true},
		{1, ok, false},  // the queue has not drained
		{-1, ok, false}, // /status unread
		{0, load.Result{Status: 200, TTLB: 151 * ms}, false},
		{0, load.Result{Status: 503, TTLB: 1 * ms}, false},
		{0, load.Result{Status: 200, TTLB: 100 * ms, Err: "connection reset"}, false},
	} {
		if got := recoveredBy(c.waiting, c.r, 150*ms); got != c.want {
			t.Errorf("recoveredBy(%d, %+v, 150ms) = %v, want %v", c.waiting, c.r, got, c.want)
		}
	}
}

// The table has a row per figure of each factor, judges only the
// configuration that is not the baseline, and the RSS ratio only at the
// largest factor.
func TestPrintOverload(t *testing.T) {
	o, _, _ := parseArgs([]string{"-overload-baseline-args", "--max-inflight 2", "overload"}, io.Discard)
	sc := overloadScenario(o)
	full := func(goodput, refusedP99, rss float64) map[string]float64 {
		f := map[string]float64{"unloaded": 0.105, "capacity": 19, figIntegrity: 0}
		for _, p := range []string{"x3", "x10"} {
			f[p+".goodput_ratio"], f[p+".refused_p99"], f[p+".rss_ratio"] = goodput, refusedP99, rss
			f[p+".ok_p99_ratio"], f[p+".recovery"] = 0.9, 0.5
			f[p+".no_retry_after"], f[p+".other_status"], f[p+".transport_errors"] = 0, 0, 0
		}
		return f
	}
	med := map[string]*admRun{
		"controlled-delay": {Figures: full(0.97, 0.002, 1.5)},
		"baseline":         {Figures: full(0.5, 30, 3)},
	}
	var out bytes.Buffer
	got := printAdm(&out, sc, med)
	text := out.String()
	for _, want := range []string{
		"figure", "defaults", "baseline: --max-inflight 2", "result (defaults)",
		"×3: goodput / capacity", "0.97", "≥ 0.95", "×10: 503 latency p99", "2.0 ms", "≤ 10 ms",
		"×10: peak RSS / capacity load's", "≤ 1.2", "≤ 2000 ms", "≤ 1.00 (2 × unloaded + 5.0 ms)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	fails := map[string]bool{}
	for _, c := range got.Checks {
		if c.Config != "controlled-delay" {
			t.Errorf("the baseline was judged: %+v", c)
		}
		if !c.Pass {
			fails[c.Figure] = true
		}
	}
	if len(fails) != 1 || !fails["x10.rss_ratio"] {
		t.Errorf("failed checks %v; want only x10.rss_ratio (x3's is not judged)", fails)
	}
}
