package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/bench/procstat"
)

// The targets of the issue "Small responses as fast as nginx", sluice over
// nginx.
const (
	targetSmallRPS   = 1.0 // 4 KiB: median req/s, at least
	targetSmallP99   = 1.5 // 4 KiB: p99, at most
	targetSmallMBps  = 1.0 // 64 KiB and 1 MiB: throughput, at least
	smallLatencySize = 4 << 10
)

// smallPeer is one server the small scenario loads: sluice, nginx in front
// of the Go upstream, the floor of a Go front and worker ("go-relay",
// gorelay.go), or the Go upstream alone ("direct").
type smallPeer struct {
	name  string
	about string // how it is set up, for the heading
	base  string // http://host:port
	skip  string // why it is not measured; "" if it is
	procs []procRoot
}

// procRoot is a process whose CPU counts for a peer, with its descendants:
// the first is labelled root, the others kids + " 1", " 2" ... by pid.
type procRoot struct {
	pid        int
	root, kids string
}

// procCPU is the CPU one process of a peer spent on one run.
type procCPU struct {
	Label      string  `json:"process"`
	PID        int     `json:"pid,omitempty"`
	Seconds    float64 `json:"cpu_seconds"`
	PerKiloReq float64 `json:"cpu_seconds_per_1k_requests"`
}

// smallRun is one peer at one size in one round, or (Kind "median") the
// medians over the rounds, with the counts summed.
type smallRun struct {
	Scenario   string        `json:"scenario"`
	Kind       string        `json:"kind"`
	Peer       string        `json:"peer"`
	Size       int64         `json:"size"`
	Round      int           `json:"round,omitempty"`
	Client     string        `json:"client"`
	Requests   int64         `json:"requests"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	ReqPerSec  float64       `json:"requests_per_second"`
	MBps       float64       `json:"body_mb_per_second"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	Errors     int64         `json:"errors"`
	FirstError string        `json:"first_error,omitempty"`
	Procs      []procCPU     `json:"processes"`
	TotalPerK  float64       `json:"total_cpu_seconds_per_1k_requests"`
}

// runSmall compares sluice with nginx (and the upstream alone) on small
// responses, the peers alternating inside every round.
func runSmall(ctx context.Context, e *env) (bool, error) {
	o := e.opt
	client := pickClient(o.wrk)
	if client.wrk == "" {
		fmt.Fprintf(e.log, "small: %s: using bench/load instead\n", client.note)
	}
	dir := filepath.Join(e.tmp, "small")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	var peers []*smallPeer
	var notes []string

	serve := strings.Join(append([]string{"sluice serve"}, o.gatewayArgs...), " ")
	fmt.Fprintf(e.log, "small: starting %s ...\n", serve)
	g, err := startGateway(ctx, e.bin, e.logPath("small-sluice"), o.gatewayArgs)
	if err != nil {
		return false, err
	}
	defer g.stop()
	peers = append(peers, &smallPeer{name: "sluice", about: serve + " (defaults otherwise)", base: "http://" + g.addr,
		procs: []procRoot{{g.cmd.Process.Pid, "parent", "worker"}}})

	var up *upstream
	if slices.Contains(o.smallPeers, "nginx") || slices.Contains(o.smallPeers, "direct") {
		if up, err = startUpstream(ctx, filepath.Join(dir, "upstream.sock"), filepath.Join(dir, "upstream.log")); err != nil {
			return false, err
		}
		defer up.stop()
	}
	upProc := procRoot{}
	if up != nil {
		upProc = procRoot{up.cmd.Process.Pid, "go upstream", "go upstream child"}
	}
	if slices.Contains(o.smallPeers, "nginx") {
		p := &smallPeer{name: "nginx", about: "nginx (worker_processes 2, keepalive 64 to the Go upstream on a Unix socket, default proxy buffering)"}
		bin, skip := findNginx(o.nginxBin)
		if skip == "" {
			fmt.Fprintf(e.log, "small: starting %s ...\n", bin)
			n, err := startNginx(ctx, bin, filepath.Join(dir, "nginx"), up.sock)
			if err != nil {
				skip = "could not be started: " + err.Error()
			} else {
				defer n.stop()
				p.base = "http://" + n.addr
				p.procs = []procRoot{{n.cmd.Process.Pid, "master", "worker"}, upProc}
			}
		}
		if p.skip = skip; skip != "" {
			fmt.Fprintf(e.log, "small: nginx skipped: %s\n", skip)
		}
		peers = append(peers, p)
	}
	if slices.Contains(o.smallPeers, "go-relay") {
		fmt.Fprintf(e.log, "small: starting the go-relay peer ...\n")
		gr, err := startGoRelay(ctx, dir)
		if err != nil {
			return false, err
		}
		defer gr.stop()
		peers = append(peers, &smallPeer{name: "go-relay", about: "the floor of a Go front and a Go worker: net/http relaying each request over a Unix socket of its own to a backend running the same handler; no multiplexing, flow control, admission or log",
			base: "http://" + gr.addr, procs: []procRoot{{gr.pid(), "front", "backend"}}})
	}
	if slices.Contains(o.smallPeers, "direct") {
		peers = append(peers, &smallPeer{name: "direct", about: "the Go upstream alone over TCP loopback (a ceiling)", base: "http://" + up.addr,
			procs: []procRoot{upProc}})
	}
	peers = slices.DeleteFunc(peers, func(p *smallPeer) bool { return !slices.Contains(o.smallPeers, p.name) })

	runs := map[string][]smallRun{} // by peer and size
	ok := true
	for r := 1; r <= o.smallRounds; r++ {
		for _, size := range o.smallSizes {
			for _, p := range peers {
				if p.skip != "" {
					continue
				}
				u := p.base + "/payload?size=" + strconv.FormatInt(size, 10)
				fmt.Fprintf(e.log, "small round %d/%d, %s, %s: warm-up ... ", r, o.smallRounds, humanBytes(size), p.name)
				if o.smallWarmup > 0 {
					if _, err := client.run(ctx, u, o.smallConns, o.smallWarmup, o.timeout); err != nil {
						fmt.Fprintln(e.log)
						return false, fmt.Errorf("warm-up of %s: %w", p.name, err)
					}
				}
				fmt.Fprint(e.log, "run ... ")
				run, err := measureSmall(ctx, client, p, size, u, o)
				if err != nil {
					fmt.Fprintln(e.log)
					return false, fmt.Errorf("%s at %s: %w", p.name, humanBytes(size), err)
				}
				run.Round = r
				fmt.Fprintf(e.log, "%.0f req/s, %.0f MB/s, p99 %s ms, %d errors, %.3f CPU s/1k req\n",
					run.ReqPerSec, run.MBps, ms(run.P99), run.Errors, run.TotalPerK)
				e.report.write(run)
				k := p.name + "/" + strconv.FormatInt(size, 10)
				runs[k] = append(runs[k], run)
				ok = ok && run.Errors == 0
			}
		}
	}

	if st, err := g.status(ctx); err == nil {
		for _, w := range st.Workers {
			if w.Restarts > 0 {
				notes = append(notes, fmt.Sprintf("sluice: worker %d restarted %d time(s)", w.ID, w.Restarts))
			}
		}
	}
	if err := g.stop(); err != nil {
		notes = append(notes, "sluice: "+err.Error())
	}
	reportSmall(e, client, peers, runs, notes)
	return ok, nil
}

// measureSmall runs one measured load against p and reads the CPU of its
// processes before and after. The client's own CPU comes from the client.
func measureSmall(ctx context.Context, c loadClient, p *smallPeer, size int64, u string, o options) (smallRun, error) {
	before, _, err := peerCPU(p.procs)
	if err != nil {
		return smallRun{}, err
	}
	cr, err := c.run(ctx, u, o.smallConns, o.smallDuration, o.timeout)
	if err != nil {
		return smallRun{}, err
	}
	after, labels, err := peerCPU(p.procs)
	if err != nil {
		return smallRun{}, err
	}
	run := smallRun{Scenario: "small", Kind: "round", Peer: p.name, Size: size, Client: c.Name(), Requests: cr.Requests, Elapsed: cr.Elapsed,
		ReqPerSec: cr.ReqPerSec, P50: cr.P50, P99: cr.P99, Errors: cr.Errors, FirstError: cr.FirstErr}
	delta := procstat.CPUDelta(before, after)
	for _, pid := range labels.order {
		run.Procs = append(run.Procs, procCPU{Label: labels.name[pid], PID: pid, Seconds: delta[pid].Seconds()})
	}
	run.Procs = append(run.Procs, procCPU{Label: c.Name() + " (client)", Seconds: cr.CPU.Seconds()})
	return finishSmall(run, cr.OK), nil
}

// finishSmall fills in the figures derived from the counts: body MB/s from
// the 2xx responses, and CPU per 1,000 requests.
func finishSmall(run smallRun, ok int64) smallRun {
	if run.Elapsed > 0 {
		run.MBps = float64(ok) * float64(run.Size) / run.Elapsed.Seconds() / 1e6
	}
	run.TotalPerK = 0
	for i := range run.Procs {
		if run.Requests > 0 {
			run.Procs[i].PerKiloReq = run.Procs[i].Seconds / (float64(run.Requests) / 1000)
		}
		run.TotalPerK += run.Procs[i].PerKiloReq
	}
	return run
}

// procLabels names the processes of a peer, in a stable order.
type procLabels struct {
	order []int
	name  map[int]string
}

// peerCPU reads the CPU time of every process of the peer, and names them.
func peerCPU(roots []procRoot) (map[int]time.Duration, procLabels, error) {
	all := map[int]time.Duration{}
	l := procLabels{name: map[int]string{}}
	for _, r := range roots {
		t, err := procstat.TreeCPU(r.pid)
		if err != nil {
			return nil, l, fmt.Errorf("reading the CPU time of %s (pid %d): %w", r.root, r.pid, err)
		}
		kids := slices.Sorted(func(yield func(int) bool) {
			for pid := range t {
				if pid != r.pid && !yield(pid) {
					return
				}
			}
		})
		l.order = append(l.order, r.pid)
		l.name[r.pid] = r.root
		for i, k := range kids {
			l.order = append(l.order, k)
			l.name[k] = r.kids + " " + strconv.Itoa(i+1)
		}
		for pid, d := range t {
			all[pid] = d
		}
	}
	return all, l, nil
}

// medianSmall takes the median of every figure across rounds; the request
// and error counts are summed so that no failure is hidden.
func medianSmall(rs []smallRun) smallRun {
	m := rs[0]
	m.Kind, m.Round, m.Requests, m.Errors, m.FirstError, m.Procs = "median", 0, 0, 0, "", nil
	var rps, mbps, total []float64
	var p50, p99, el []time.Duration
	perProc := map[string][]float64{}
	var order []string
	for _, r := range rs {
		rps, mbps, total = append(rps, r.ReqPerSec), append(mbps, r.MBps), append(total, r.TotalPerK)
		p50, p99, el = append(p50, r.P50), append(p99, r.P99), append(el, r.Elapsed)
		m.Requests += r.Requests
		m.Errors += r.Errors
		if m.FirstError == "" {
			m.FirstError = r.FirstError
		}
		for _, p := range r.Procs {
			if _, seen := perProc[p.Label]; !seen {
				order = append(order, p.Label)
			}
			perProc[p.Label] = append(perProc[p.Label], p.PerKiloReq)
		}
	}
	m.ReqPerSec, m.MBps, m.TotalPerK = median(rps), median(mbps), median(total)
	m.P50, m.P99, m.Elapsed = median(p50), median(p99), median(el)
	for _, l := range order {
		m.Procs = append(m.Procs, procCPU{Label: l, PerKiloReq: median(perProc[l])})
	}
	return m
}

// smallCheck is one of the targets at one size.
type smallCheck struct {
	Scenario string  `json:"scenario"`
	Kind     string  `json:"kind"`
	Size     int64   `json:"size"`
	Name     string  `json:"name"`
	Ratio    float64 `json:"ratio"`
	Measured string  `json:"measured"`
	Result   string  `json:"result"` // PASS, MISS or "skipped: why"
}

// checkSmall judges sluice's medians s against nginx's n at one size; skip
// says why nginx was not measured, if it was not.
func checkSmall(size int64, s, n smallRun, skip string) []smallCheck {
	ratio := func(a, b float64) float64 {
		if b <= 0 {
			return 0
		}
		return a / b
	}
	var cs []smallCheck
	if size <= smallLatencySize {
		r := ratio(s.ReqPerSec, n.ReqPerSec)
		cs = append(cs, smallCheck{Name: fmt.Sprintf("median req/s ≥ %.1f × nginx's", targetSmallRPS), Ratio: r,
			Measured: fmt.Sprintf("%.2f × (%.0f / %.0f)", r, s.ReqPerSec, n.ReqPerSec), Result: passMiss(n.ReqPerSec > 0 && r >= targetSmallRPS)})
		r = ratio(float64(s.P99), float64(n.P99))
		cs = append(cs, smallCheck{Name: fmt.Sprintf("p99 ≤ %.1f × nginx's", targetSmallP99), Ratio: r,
			Measured: fmt.Sprintf("%.2f × (%s ms / %s ms)", r, ms(s.P99), ms(n.P99)), Result: passMiss(s.P99 > 0 && n.P99 > 0 && r <= targetSmallP99)})
	} else {
		r := ratio(s.MBps, n.MBps)
		cs = append(cs, smallCheck{Name: fmt.Sprintf("throughput ≥ %.1f × nginx's", targetSmallMBps), Ratio: r,
			Measured: fmt.Sprintf("%.2f × (%.0f MB/s / %.0f MB/s)", r, s.MBps, n.MBps), Result: passMiss(n.MBps > 0 && r >= targetSmallMBps)})
	}
	for i := range cs {
		cs[i].Scenario, cs[i].Kind, cs[i].Size = "small", "target", size
		if skip != "" {
			cs[i].Ratio, cs[i].Measured, cs[i].Result = 0, "-", "skipped: nginx "+skipShort(skip)
		}
	}
	return cs
}

// skipShort is the first line of a skip reason, for a table cell.
func skipShort(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
