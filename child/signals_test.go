package child

import (
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestHistogramP99(t *testing.T) {
	buckets := []float64{0, 0.001, 0.002, 0.004, math.Inf(1)}
	cases := []struct {
		name         string
		counts, last []uint64
		want         time.Duration
	}{
		{"nothing observed", []uint64{5, 5, 0, 0}, []uint64{5, 5, 0, 0}, 0},
		{"all in the first bucket", []uint64{100, 0, 0, 0}, nil, time.Millisecond},
		// 99 fast, 1 slow: the 99th of 100 is still in the first bucket.
		{"one slow of a hundred", []uint64{99, 0, 1, 0}, nil, time.Millisecond},
		{"two slow of a hundred", []uint64{98, 0, 2, 0}, nil, 4 * time.Millisecond},
		// Only the difference counts: the old slow ones are gone.
		{"since the last reading", []uint64{150, 0, 10, 0}, []uint64{50, 0, 10, 0}, time.Millisecond},
		// The open last bucket reports its lower bound.
		{"beyond the last bound", []uint64{0, 0, 0, 3}, nil, 4 * time.Millisecond},
	}
	for _, c := range cases {
		if got := histogramP99(c.counts, c.last, buckets); got != c.want {
			t.Errorf("%s: p99 %v, want %v", c.name, got, c.want)
		}
	}
}

func TestParsePSISome(t *testing.T) {
	got, err := parsePSISome([]byte("some avg10=0.00 avg60=2.08 avg300=13.73 total=2921617568\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"), "x")
	if err != nil || got != 2921617568*time.Microsecond {
		t.Fatalf("got %v, %v; want 2921.617568s", got, err)
	}
	for _, bad := range []string{"", "full total=3\n", "some avg10=1 total=abc\n", "some avg10=1\n"} {
		if _, err := parsePSISome([]byte(bad), "x"); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// The worker's cgroup's own cpu.pressure wins; without cgroup v2 it falls
// back to the machine's; with neither, it says so.
func TestFindPSI(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("PSI is Linux's")
	}
	cases := []struct {
		root, path, why string
		total           time.Duration
	}{
		{"testdata/psi/v2", "sys/fs/cgroup/system.slice/sluice.service/cpu.pressure", "cgroup", 123456789 * time.Microsecond},
		{"testdata/psi/v1", "proc/pressure/cpu", "whole machine", 2921617568 * time.Microsecond},
	}
	for _, c := range cases {
		p, why := findPSI(c.root)
		if p == nil || !strings.HasSuffix(p.path, c.path) || !strings.Contains(why, c.why) {
			t.Fatalf("%s: found %+v (%s), want %s", c.root, p, why, c.path)
		}
		if total, err := p.someTotal(); err != nil || total != c.total {
			t.Errorf("%s: total %v, %v; want %v", c.root, total, err, c.total)
		}
	}
	if p, why := findPSI("testdata/psi/none"); p != nil || !strings.Contains(why, "scheduler latency alone") {
		t.Errorf("none: found %+v (%s), want nothing and why", p, why)
	}
}

// The real signals read something sensible on this machine: a demand of at
// least 0 and a pressure that is unknown or within [0, 1].
func TestOSSignalsRead(t *testing.T) {
	psi, _ := findPSI("/")
	start := time.Now()
	o := newOSSignals(psi, start)
	busy := time.Now()
	for time.Since(busy) < 20*time.Millisecond {
	}
	s := o.sample(start.Add(50 * time.Millisecond))
	if s.pressure > 1 || (s.pressure < 0 && s.pressure != -1) || s.schedP99 < 0 || s.cpuUsed == 0 || s.idle > float64(runtime.NumCPU()) {
		t.Fatalf("sample %+v", s)
	}
	if n := newDemandMeter().others(); n < 0 {
		t.Fatalf("demand %d", n)
	}
}

func TestLagWindowP99(t *testing.T) {
	w := newLagWindow()
	for range 99 {
		w.observe(100 * time.Microsecond)
	}
	w.observe(5 * time.Second)
	first := w.p99()
	if first <= 0 || first > time.Millisecond {
		t.Errorf("p99 of 99 fast lags and one slow: %v, want at most the first bucket", first)
	}
	for range 10 {
		w.observe(2 * time.Second)
	}
	if got := w.p99(); got < 2*time.Second {
		t.Errorf("p99 of the second interval (all slow): %v, want at least 2s", got)
	}
	if got := w.p99(); got != 0 {
		t.Errorf("p99 of an empty interval: %v, want 0", got)
	}
}
