package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// finishSmall derives MB/s from the 2xx responses only, and CPU per 1,000
// requests from every completed one.
func TestFinishSmall(t *testing.T) {
	r := finishSmall(smallRun{Size: 1 << 20, Requests: 2000, Elapsed: 2 * time.Second,
		Procs: []procCPU{{Label: "parent", Seconds: 1}, {Label: "wrk (client)", Seconds: 0.5}}}, 1000)
	if want := 1000.0 * (1 << 20) / 2 / 1e6; r.MBps != want {
		t.Errorf("MBps = %v, want %v (1000 bodies of 1 MiB in 2 s)", r.MBps, want)
	}
	if r.Procs[0].PerKiloReq != 0.5 || r.Procs[1].PerKiloReq != 0.25 || r.TotalPerK != 0.75 {
		t.Errorf("per 1k requests: %+v, total %v; want 0.5, 0.25, 0.75", r.Procs, r.TotalPerK)
	}
	if z := finishSmall(smallRun{Size: 4096, Procs: []procCPU{{Seconds: 1}}}, 0); z.MBps != 0 || z.TotalPerK != 0 {
		t.Errorf("a run without requests: %+v; want zeros, not infinities", z)
	}
}

// Medians are taken figure by figure and process by process; counts add up.
func TestMedianSmall(t *testing.T) {
	ms := time.Millisecond
	mk := func(rps float64, p99 time.Duration, errs int64, worker float64) smallRun {
		return smallRun{Peer: "sluice", Size: 4096, Kind: "round", Requests: 100, ReqPerSec: rps, MBps: rps / 10, P50: p99 / 2, P99: p99,
			Errors: errs, FirstError: map[bool]string{true: "boom"}[errs > 0], TotalPerK: worker + 1,
			Procs: []procCPU{{Label: "parent", PerKiloReq: 1}, {Label: "worker 1", PerKiloReq: worker}}}
	}
	m := medianSmall([]smallRun{mk(300, 30*ms, 0, 0.3), mk(100, 10*ms, 2, 0.1), mk(200, 20*ms, 0, 0.2)})
	if m.Kind != "median" || m.ReqPerSec != 200 || m.MBps != 20 || m.P99 != 20*ms || m.P50 != 10*ms || m.TotalPerK != 1.2 {
		t.Errorf("median %+v; want 200 req/s, 20 MB/s, p99 20 ms, p50 10 ms, total 1.2", m)
	}
	if m.Requests != 300 || m.Errors != 2 || m.FirstError != "boom" {
		t.Errorf("counts: %d requests, %d errors, first %q; want 300, 2, boom", m.Requests, m.Errors, m.FirstError)
	}
	if len(m.Procs) != 2 || m.Procs[0].Label != "parent" || m.Procs[1].PerKiloReq != 0.2 {
		t.Errorf("processes %+v; want parent 1, worker 1 0.2 in that order", m.Procs)
	}
}

func TestCheckSmall(t *testing.T) {
	ms := time.Millisecond
	s := smallRun{ReqPerSec: 1000, P99: 15 * ms, MBps: 900}
	n := smallRun{ReqPerSec: 1000, P99: 10 * ms, MBps: 1000}
	got := checkSmall(4096, s, n, "")
	if len(got) != 2 || got[0].Result != "PASS" || got[1].Result != "PASS" {
		t.Errorf("4 KiB at 1.0× req/s and 1.5× p99: %+v; want two PASSes (the bounds are inclusive)", got)
	}
	s.P99 = 16 * ms
	if got := checkSmall(4096, s, n, ""); got[1].Result != "MISS" {
		t.Errorf("p99 1.6×: %+v; want MISS", got[1])
	}
	if got := checkSmall(64<<10, s, n, ""); len(got) != 1 || got[0].Result != "MISS" || got[0].Ratio != 0.9 {
		t.Errorf("64 KiB at 0.9× throughput: %+v; want one MISS with ratio 0.9", got)
	}
	if got := checkSmall(1<<20, s, smallRun{}, ""); got[0].Result != "MISS" {
		t.Errorf("against a peer that served nothing: %+v; want MISS, not a division by zero PASS", got)
	}
	got = checkSmall(4096, s, smallRun{}, "nginx is not installed\nmore")
	for _, c := range got {
		if c.Result != "skipped: nginx nginx is not installed" {
			t.Errorf("skipped nginx: result %q; want the reason's first line", c.Result)
		}
	}
}

func TestSmallFlags(t *testing.T) {
	var o options
	if err := o.checkSmallFlags("4KiB", "sluice"); err == nil {
		t.Error("a zero -small-duration was accepted")
	}
	o.smallDuration, o.smallConns = time.Second, 64
	if err := o.checkSmallFlags("4KiB, 64KiB,1MiB", "sluice,nginx"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.smallSizes, []int64{4096, 65536, 1 << 20}) || !slices.Equal(o.smallPeers, []string{"sluice", "nginx"}) {
		t.Errorf("sizes %v peers %v", o.smallSizes, o.smallPeers)
	}
	if err := o.checkSmallFlags("4KiB", "go-relay, sluice"); err != nil || !slices.Equal(o.smallPeers, []string{"go-relay", "sluice"}) {
		t.Errorf("-small-peers go-relay,sluice: %v, peers %v", err, o.smallPeers)
	}
	for _, bad := range [][2]string{{"0", "sluice"}, {"4KiB,", "sluice"}, {"4KiB", "apache"}} {
		if err := o.checkSmallFlags(bad[0], bad[1]); err == nil {
			t.Errorf("-small-sizes %q -small-peers %q accepted", bad[0], bad[1])
		}
	}
	// Bad usage is exit status 2, before anything is built or started.
	for _, args := range [][]string{{"-small-duration", "500ms", "small"}, {"-small-peers", "caddy", "small"}} {
		if code := run(args, io.Discard, io.Discard); code != 2 {
			t.Errorf("run(%v) = %d, want 2", args, code)
		}
	}
}

func TestFindNginxFlag(t *testing.T) {
	if bin, skip := findNginx("/nonexistent/nginx"); bin != "" || !strings.Contains(skip, "/nonexistent/nginx") {
		t.Errorf("findNginx(missing) = %q, %q; want no binary and a reason naming it", bin, skip)
	}
}

// The floor table appears only with go-relay, nginx and sluice measured,
// and puts each ratio on the size's own figure.
func TestReportSmallFloor(t *testing.T) {
	med := map[string]smallRun{
		"sluice/4096":   {ReqPerSec: 150, P99: 18 * time.Millisecond},
		"nginx/4096":    {ReqPerSec: 250, P99: 8 * time.Millisecond},
		"go-relay/4096": {ReqPerSec: 200, P99: 12 * time.Millisecond},
		"sluice/65536":  {MBps: 300}, "nginx/65536": {MBps: 400}, "go-relay/65536": {MBps: 500},
		"sluice/1048576": {MBps: 1}, "nginx/1048576": {MBps: 1},
	}
	var b strings.Builder
	reportSmallFloor(&b, []int64{4096, 65536, 1 << 20}, med)
	out := b.String()
	for _, want := range []string{"4 KiB   req/s   0.80×             0.75×", "4 KiB   p99     1.50×             1.50×", "64 KiB  MB/s    1.25×             0.60×"} {
		if !strings.Contains(out, want) {
			t.Errorf("floor table\n%s\nlacks %q", out, want)
		}
	}
	if strings.Contains(out, "1 MiB") {
		t.Errorf("floor table\n%s\nhas a row for 1 MiB, where go-relay was not measured", out)
	}
	b.Reset()
	delete(med, "go-relay/4096")
	delete(med, "go-relay/65536")
	if reportSmallFloor(&b, []int64{4096, 65536}, med); b.Len() != 0 {
		t.Errorf("without go-relay: %q; want nothing", b.String())
	}
}
