package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot/plotter"
)

// The Zalando replay: workers that die at start, for a while, as when a
// dependency is down or a bad release went out. A supervisor that restarts
// at once turns that into a storm of spawns that eats the machine; sluice
// waits longer after each failure (100 ms doubling to 30 s), so the
// restarts over the spell are a handful per worker slot, and it is serving
// again soon after the cause is gone. Then, where the bench may make
// cgroups, sluice is started inside one of 1 CPU, and must size itself to
// one worker, as the Zalando post's cluster should have.
const (
	zalandoCrash = 20 * time.Second // how long replacement workers die at start, before -zalando-scale
	// zalandoMaxRestarts bounds the restarts of one slot over the spell:
	// a backoff of 100 ms doubling makes about eight in 20 s, a storm
	// hundreds.
	zalandoMaxRestarts = 12
	// zalandoBackBound bounds how long after the spell ends both workers
	// are up again: the longest backoff step, plus a start.
	zalandoBackBound = 35 * time.Second
	cgroupCPURoot    = "/sys/fs/cgroup/cpu" // cgroup v1's cpu controller
	cgroupV2Root     = "/sys/fs/cgroup"
)

// zalandoRun is what one Zalando replay found.
type zalandoRun struct {
	Scenario     string        `json:"scenario"`
	Kind         string        `json:"kind"`
	Round        int           `json:"round"`
	Crash        time.Duration `json:"crash_spell_ns"`
	Restarts     int           `json:"restarts_during_spell"`
	PerSlot      float64       `json:"restarts_per_slot"`
	BackAfter    time.Duration `json:"all_up_after_spell_ns"` // -1: not within the bound
	CgroupSkip   string        `json:"cgroup_skipped,omitempty"`
	CgroupCPU    string        `json:"cgroup,omitempty"`
	CgroupWorker int           `json:"workers_in_1_cpu_cgroup"`
}

// runZalando replays Zalando -rounds times, and the cgroup check once.
func runZalando(ctx context.Context, e *env) (bool, error) {
	o := e.opt
	spell := time.Duration(float64(zalandoCrash) * o.zalandoScale)
	var runs []zalandoRun
	var first []statusSample
	var firstSpell [2]time.Duration
	for r := 1; r <= o.rounds; r++ {
		fmt.Fprintf(e.log, "zalando round %d/%d: workers die at start for %v ... ", r, o.rounds, spell)
		run, samples, at, err := e.zalandoRound(ctx, r, spell)
		if err != nil {
			fmt.Fprintln(e.log)
			return false, err
		}
		fmt.Fprintf(e.log, "%d restarts, all up %s after\n", run.Restarts, fmtBack(run.BackAfter))
		if r == 1 {
			first, firstSpell = samples, at
		}
		runs = append(runs, run)
	}
	fmt.Fprint(e.log, "zalando: sluice in a 1-CPU cgroup ... ")
	cg, workers, skip, err := e.zalandoCgroup(ctx)
	if err != nil {
		fmt.Fprintln(e.log)
		return false, err
	}
	if skip != "" {
		fmt.Fprintln(e.log, "skipped:", skip)
	} else {
		fmt.Fprintf(e.log, "%d worker(s)\n", workers)
	}
	runs[0].CgroupSkip, runs[0].CgroupCPU, runs[0].CgroupWorker = skip, cg, workers
	for _, r := range runs {
		e.report.write(r)
	}
	reportZalando(e, runs, spell)
	chartZalando(e, first, firstSpell)
	return true, nil
}

// fmtBack formats a BackAfter.
func fmtBack(d time.Duration) string {
	if d < 0 {
		return "not within " + zalandoBackBound.String()
	}
	return ms(d) + " ms"
}

// zalandoRound starts sluice with a worker command that dies at start while
// a file exists, kills both workers with the file in place, removes it after
// spell, and watches /status until both are up again. It returns the
// readings and when the spell began and ended, on the readings' clock.
func (e *env) zalandoRound(ctx context.Context, round int, spell time.Duration) (zalandoRun, []statusSample, [2]time.Duration, error) {
	run := zalandoRun{Scenario: "zalando", Kind: "round", Round: round, Crash: spell, BackAfter: -1}
	var at [2]time.Duration
	dir, err := os.MkdirTemp(e.tmp, "zalando-")
	if err != nil {
		return run, nil, at, err
	}
	crashFile := filepath.Join(dir, "crash")
	script := filepath.Join(dir, "worker.sh")
	body := fmt.Sprintf("#!/bin/sh\n# sluice-bench zalando: die at start while %s exists\nif [ -e %s ]; then echo 'zalando replay: dying at start' >&2; exit 1; fi\nexec %s worker\n",
		crashFile, shellQuote(crashFile), shellQuote(e.bin))
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		return run, nil, at, err
	}
	args := append([]string{"--workers", fmt.Sprint(peerWorkers), "--worker-cmd", script}, e.opt.gatewayArgs...)
	var samples []statusSample
	_, err = e.withGateway(ctx, fmt.Sprintf("zalando-%d", round), args, func(g *gateway) error {
		w := watchStatus(ctx, g, statusEvery)
		defer func() { samples = w.stop() }()
		st, err := g.status(ctx)
		if err != nil {
			return err
		}
		if err := os.WriteFile(crashFile, nil, 0o644); err != nil {
			return err
		}
		at[0] = w.since()
		for _, wk := range st.Workers {
			if wk.PID > 0 {
				syscall.Kill(wk.PID, syscall.SIGKILL)
			}
		}
		if err := sleepCtx(ctx, spell); err != nil {
			return err
		}
		if err := os.Remove(crashFile); err != nil {
			return err
		}
		at[1] = w.since()
		deadline := time.Now().Add(zalandoBackBound)
		for time.Now().Before(deadline) {
			if st, err := g.status(ctx); err == nil && workersUp(st) == len(st.Workers) && len(st.Workers) > 0 {
				run.BackAfter = w.since() - at[1]
				return nil
			}
			if err := sleepCtx(ctx, statusEvery); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return run, nil, at, err
	}
	run.Restarts = restartsBetween(samples, at[0], at[1])
	run.PerSlot = float64(run.Restarts) / peerWorkers
	return run, samples, at, nil
}

// restartsBetween is how many restarts the readings saw from from to to:
// from the last reading at or before from (the first reading if none is
// that early) to the last at or before to.
func restartsBetween(samples []statusSample, from, to time.Duration) int {
	if len(samples) == 0 {
		return 0
	}
	before, after := restarts(samples[0].St), restarts(samples[0].St)
	for _, s := range samples {
		if s.At <= from {
			before = restarts(s.St)
		}
		if s.At <= to {
			after = restarts(s.St)
		}
	}
	return after - before
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// zalandoCgroup starts sluice, without --workers, inside a new cgroup with
// a quota of 1 CPU and reads how many workers it started. It says why it
// skips where it cannot make one (not root, no writable cpu controller).
func (e *env) zalandoCgroup(ctx context.Context) (cg string, workers int, skip string, err error) {
	if os.Geteuid() != 0 {
		return "", 0, "not running as root, so no cgroup can be made", nil
	}
	dir, quota, err := makeCPUCgroup()
	if err != nil {
		return "", 0, "no writable cgroup cpu controller: " + err.Error(), nil
	}
	defer removeCgroup(dir)
	wrapper := filepath.Join(e.tmp, "in-cgroup.sh")
	body := fmt.Sprintf("#!/bin/sh\n# sluice-bench zalando: join the cgroup, then become sluice\necho $$ > %s/cgroup.procs || exit 1\nexec \"$@\"\n", shellQuote(dir))
	if err := os.WriteFile(wrapper, []byte(body), 0o755); err != nil {
		return "", 0, "", err
	}
	g, err := startGatewayVia(ctx, []string{wrapper, e.bin}, e.logPath("zalando-cgroup"), e.opt.gatewayArgs)
	if err != nil {
		return "", 0, "", err
	}
	defer g.stop()
	st, err := g.status(ctx)
	if err != nil {
		return "", 0, "", err
	}
	return dir + " (" + quota + ")", len(st.Workers), "", nil
}

// makeCPUCgroup makes a cgroup with a quota of one CPU, on cgroup v2 if its
// cpu controller is there, else on v1's.
func makeCPUCgroup() (dir, quota string, err error) {
	name := "sluice-bench-" + strconv.Itoa(os.Getpid())
	if ctl, err := os.ReadFile(filepath.Join(cgroupV2Root, "cgroup.subtree_control")); err == nil && strings.Contains(string(ctl), "cpu") {
		dir = filepath.Join(cgroupV2Root, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return "", "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte("100000 100000"), 0o644); err != nil {
			removeCgroup(dir)
			return "", "", err
		}
		return dir, "cpu.max 100000 100000", nil
	}
	dir = filepath.Join(cgroupCPURoot, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", "", err
	}
	for f, v := range map[string]string{"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "100000"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			removeCgroup(dir)
			return "", "", err
		}
	}
	return dir, "cpu.cfs_quota_us 100000 / cpu.cfs_period_us 100000", nil
}

// removeCgroup removes a cgroup made by makeCPUCgroup once its processes
// are gone (the kernel refuses while any is left; they are being killed).
func removeCgroup(dir string) {
	deadline := time.Now().Add(stopTimeout)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) || time.Now().After(deadline) {
			return
		}
		time.Sleep(pollEvery)
	}
}

// reportZalando prints each round and the targets.
func reportZalando(e *env, runs []zalandoRun, spell time.Duration) {
	fmt.Fprintf(e.out, "zalando: %d workers killed, their replacements die at start for %v; sluice serve --workers %d\n", peerWorkers, spell, peerWorkers)
	tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "round\trestarts in the spell\tper slot\tall workers up after the spell")
	worst, back := 0.0, time.Duration(0)
	for _, r := range runs {
		fmt.Fprintf(tw, "%d\t%d\t%.1f\t%s\n", r.Round, r.Restarts, r.PerSlot, fmtBack(r.BackAfter))
		worst = max(worst, r.PerSlot)
		if r.BackAfter < 0 || back < 0 {
			back = -1
		} else {
			back = max(back, r.BackAfter)
		}
	}
	tw.Flush()
	checks := []target{
		{fmt.Sprintf("restarts per slot over the spell ≤ %d (a backoff, not a storm)", zalandoMaxRestarts), fmt.Sprintf("%.1f", worst), worst <= zalandoMaxRestarts},
		{fmt.Sprintf("every worker up within %v of the spell's end", zalandoBackBound), fmtBack(back), back >= 0},
	}
	c := runs[0]
	if c.CgroupSkip == "" {
		checks = append(checks, target{"1 worker in a 1-CPU cgroup (" + c.CgroupCPU + ")", fmt.Sprint(c.CgroupWorker), c.CgroupWorker == 1})
	}
	tw = tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tmeasured\tresult")
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Measured, passMiss(c.Pass))
	}
	tw.Flush()
	if c.CgroupSkip != "" {
		fmt.Fprintln(e.out, "1-CPU cgroup: skipped,", c.CgroupSkip)
	}
	e.report.write(targets{Scenario: "zalando", Kind: "targets", Checks: checks})
	fmt.Fprintln(e.out)
}

// chartZalando draws the restarts and the workers up over the first round,
// with the spell marked.
func chartZalando(e *env, samples []statusSample, spell [2]time.Duration) {
	rs := chartLine{name: "restarts (all workers)"}
	up := chartLine{name: "workers up"}
	base := -1
	for _, s := range samples {
		if base < 0 {
			base = restarts(s.St)
		}
		rs.xy = append(rs.xy, plotter.XY{X: s.At.Seconds(), Y: float64(restarts(s.St) - base)})
		up.xy = append(up.xy, plotter.XY{X: s.At.Seconds(), Y: float64(workersUp(s.St))})
	}
	mark := chartLine{name: fmt.Sprintf("workers die at start (%.0f s to %.0f s)", spell[0].Seconds(), spell[1].Seconds())}
	mark.xy = plotter.XYs{{X: spell[0].Seconds(), Y: 0}, {X: spell[0].Seconds(), Y: 0.5}, {X: spell[1].Seconds(), Y: 0.5}, {X: spell[1].Seconds(), Y: 0}}
	p, err := lineChart("zalando: restarts while replacement workers die at start", "time since the gateway was up (s)", "count", []chartLine{rs, up, mark})
	e.chart("zalando-restarts", "zalando: worker restarts (cumulative) and workers up, read from /status every 100 ms, first round; the low bar marks the spell", p, err)
}
