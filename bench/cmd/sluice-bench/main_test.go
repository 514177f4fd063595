package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/bench/load"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRank(t *testing.T) {
	v := []int{5, 1, 4, 2, 3}
	if got := median(v); got != 3 {
		t.Errorf("median(%v) = %d, want 3", v, got)
	}
	if v[0] != 5 {
		t.Errorf("median sorted its argument: %v", v)
	}
	if got := median([]int{4, 1, 3, 2}); got != 2 {
		t.Errorf("median of an even count = %d, want the lower middle 2", got)
	}
	if got := rank([]int{1, 2, 3}, 0.99); got != 3 {
		t.Errorf("p99 of 3 values = %d, want the largest", got)
	}
	if got := median([]float64(nil)); got != 0 {
		t.Errorf("median(nil) = %v, want 0", got)
	}
}

// Failures, whether without a body or with a non-2xx status, are counted and
// kept out of the times; the median row sums the counts across rounds.
func TestSummarizeAndMedian(t *testing.T) {
	ms := time.Millisecond
	results := []load.Result{
		{Index: 0, Status: 200, TTFB: 100 * ms, Transfer: 10 * ms, TTLB: 110 * ms},
		{Index: 1, Status: 200, TTFB: 300 * ms, Transfer: 30 * ms, TTLB: 330 * ms},
		{Index: 2, Status: 503, TTLB: 1 * ms},
		{Index: 3, Err: "connection reset"},
		{Index: 4, Status: 200, TTFB: 200 * ms, Transfer: 20 * ms, TTLB: 220 * ms},
	}
	r := summarizeAirtable(results, time.Second)
	if r.OK != 3 || r.Errors != 2 || r.Statuses[503] != 1 || r.Statuses[200] != 3 {
		t.Errorf("counts: ok %d errors %d statuses %v; want 3, 2, 200×3 503×1", r.OK, r.Errors, r.Statuses)
	}
	if r.TTLB != (load.Stats{Median: 220 * ms, P99: 330 * ms, Max: 330 * ms}) {
		t.Errorf("TTLB stats %+v, want 220/330/330 ms over the successes only", r.TTLB)
	}
	if !strings.Contains(r.FirstError, "request 2: status 503") {
		t.Errorf("FirstError %q, want the 503 of request 2", r.FirstError)
	}

	a, b, c := r, r, r
	a.Wall, b.Wall, c.Wall = 1*time.Second, 3*time.Second, 2*time.Second
	a.PeakRSS, b.PeakRSS, c.PeakRSS = 10, 30, 20
	m := medianRun([]airtableRun{a, b, c})
	if m.Wall != 2*time.Second || m.PeakRSS != 20 {
		t.Errorf("median wall %v peak %d, want 2s and 20", m.Wall, m.PeakRSS)
	}
	if m.Requests != 15 || m.OK != 9 || m.Errors != 6 || m.Statuses[503] != 3 {
		t.Errorf("median row counts: %d requests, %d ok, %d errors, %v; want the sums 15, 9, 6, 503×3", m.Requests, m.OK, m.Errors, m.Statuses)
	}
}

func TestCheckTargets(t *testing.T) {
	ms := time.Millisecond
	d := airtableRun{Config: "default", OK: 50, TTLB: load.Stats{Median: 600 * ms}, Transfer: load.Stats{P99: 499 * ms}}
	d.PeakRSS = 300 << 20
	off := airtableRun{Config: "admission-off", OK: 50, TTLB: load.Stats{Median: 1000 * ms}}
	tg := checkTargets(d, off)
	want := []bool{true, true, false}
	for i, c := range tg.Checks {
		if c.Pass != want[i] {
			t.Errorf("check %q measured %q: pass %v, want %v", c.Name, c.Measured, c.Pass, want[i])
		}
	}
	if tg.Ratio != 0.6 {
		t.Errorf("ratio %v, want 0.6", tg.Ratio)
	}
	// With no successful request nothing passes.
	for _, c := range checkTargets(airtableRun{}, off).Checks {
		if c.Pass {
			t.Errorf("check %q passed without a successful request", c.Name)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{ms(1500 * time.Microsecond), "1.5"},
		{ms(1234567 * time.Microsecond), "1235"},
		{mib(256 << 20), "256"},
		{humanBytes(1 << 30), "1 GiB"},
		{humanBytes(8 << 10), "8 KiB"},
		{humanBytes(27 << 20), "27 MiB"},
		{humanBytes(1000), "1000 B"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
