package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/bench/load"
)

// loadClient runs the small scenario's load: wrk if it is installed,
// otherwise bench/load in this process.
type loadClient struct {
	wrk  string // wrk's path; "" for bench/load
	note string // why bench/load, if it is used
}

// pickClient finds wrk: flag is a path or a name on PATH; "none" forces
// bench/load.
func pickClient(flag string) loadClient {
	if flag == "none" {
		return loadClient{note: "-wrk none"}
	}
	p, err := exec.LookPath(flag)
	if err != nil {
		return loadClient{note: fmt.Sprintf("wrk not found (%v; apt-get install wrk)", err)}
	}
	return loadClient{wrk: p}
}

// Name is the client as the tables show it.
func (c loadClient) Name() string {
	if c.wrk != "" {
		return "wrk"
	}
	return "bench/load"
}

// describe is the command line (or its equivalent) for the table heading.
func (c loadClient) describe(conns int, d time.Duration) string {
	if c.wrk != "" {
		return fmt.Sprintf("wrk -t2 -c%d -d%ds --latency", conns, wrkSeconds(d))
	}
	return fmt.Sprintf("bench/load, %d connections for %v, in the bench's own process (%s)", conns, d, c.note)
}

// clientRun is one load run as the small scenario needs it.
type clientRun struct {
	Requests  int64         // completed, whatever their status
	OK        int64         // completed with a 2xx
	Elapsed   time.Duration // of the run, as the client measured it
	ReqPerSec float64
	P50, P99  time.Duration
	Errors    int64
	FirstErr  string
	CPU       time.Duration // the client's own
}

// run loads url with conns connections for d.
func (c loadClient) run(ctx context.Context, url string, conns int, d time.Duration, timeout time.Duration) (clientRun, error) {
	if c.wrk != "" {
		w, cpu, err := runWrk(ctx, c.wrk, url, conns, d)
		if err != nil {
			return clientRun{}, err
		}
		r := clientRun{Requests: w.Requests, OK: w.Requests - w.Non2xx, Elapsed: w.Elapsed, ReqPerSec: w.ReqPerSec,
			P50: w.P50, P99: w.P99, Errors: w.Errors(), CPU: cpu}
		if r.Errors > 0 {
			r.FirstErr = fmt.Sprintf("wrk: socket errors connect %d, read %d, write %d, timeout %d; non-2xx/3xx %d", w.Connect, w.Read, w.Write, w.Timeout, w.Non2xx)
		}
		return r, nil
	}
	before := selfCPU()
	rep, err := load.Run(ctx, load.Config{URL: url, Duration: d, Concurrency: conns, Timeout: timeout})
	if rep == nil {
		return clientRun{}, err
	}
	r := clientRun{Elapsed: rep.Summary.Wall, CPU: selfCPU() - before}
	var ttlb []time.Duration
	for _, res := range rep.Results {
		switch {
		case res.Err != "":
			r.Errors++
			if r.FirstErr == "" {
				r.FirstErr = res.Err
			}
		case res.Status/100 != 2:
			r.Requests++
			r.Errors++
			if r.FirstErr == "" {
				r.FirstErr = "status " + strconv.Itoa(res.Status)
			}
		default:
			r.Requests++
			r.OK++
			ttlb = append(ttlb, res.TTLB)
		}
	}
	if r.Elapsed > 0 {
		r.ReqPerSec = float64(r.Requests) / r.Elapsed.Seconds()
	}
	r.P50, r.P99 = rank(ttlb, 0.5), rank(ttlb, 0.99)
	return r, err
}

// selfCPU is the CPU this process has used, user plus system.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// wrkSeconds is d as wrk's -d takes it: whole seconds, at least one.
func wrkSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// runWrk runs `wrk -t2 -c CONNS -d SECONDS --latency URL` and returns its
// report and the CPU it used (from its rusage, read when it was waited for).
func runWrk(ctx context.Context, bin, url string, conns int, d time.Duration) (wrkResult, time.Duration, error) {
	secs := wrkSeconds(d)
	// Bounded in case wrk hangs: it normally ends right after -d.
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(secs)+"s", "--latency", url)
	out, err := cmd.CombinedOutput()
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return wrkResult{}, cpu, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	w, err := parseWrk(string(out))
	return w, cpu, err
}
