package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sluicegw/sluice/bench/load"
	"github.com/sluicegw/sluice/bench/procstat"
)

// The slowhttptest scenario: the Debian package's four slow attacks on
// the real binary, each of -slowhttp-conns connections, while one
// closed-loop client measures what a normal client gets. Every
// connection state must be bounded in time by a timeout of the gateway's
// (--header-timeout, --body-timeout, --send-timeout, --idle-timeout, 60 s
// or more by default), so that every attacking connection is closed by the
// gateway within it, and the attack costs the parent little memory each.
const (
	slowhttpRate = 200 // new attacking connections a second
	// slowhttpSlack is how long after its timeout a connection may still
	// be open: the gateway's deadlines, slowhttptest's one-second
	// reporting.
	slowhttpSlack = 10 * time.Second
	// slowhttpGrace is how much longer than the gateway's timeout
	// slowhttptest is allowed to run: past it, connections still open were
	// never closed.
	slowhttpGrace      = 30 * time.Second
	slowhttpNormalPath = "/payload?size=4096"
	targetSlowhttpP99  = 20 * time.Millisecond
	targetSlowhttpConn = 30 << 10 // parent RSS per attacking connection
)

// slowhttpMode is one of slowhttptest's attacks.
type slowhttpMode struct {
	flag, name string
	path       string   // what it attacks
	args       []string // its own options
	// timeout is the default of the gateway's timeout that bounds its
	// connections.
	timeout time.Duration
}

var slowhttpModes = []slowhttpMode{
	// Headers trickling in, one field every 10 s: --header-timeout.
	{"H", "slow headers (slowloris)", "/payload?size=4096", []string{"-i", "10", "-x", "24"}, 60 * time.Second},
	// A body of 8 KiB trickling in to a handler that reads it all:
	// --body-timeout, which counts silence, not the whole body.
	{"B", "slow body (R-U-Dead-Yet)", "/upload", []string{"-i", "10", "-x", "24", "-s", "8192"}, 60 * time.Second},
	// Many overlapping ranges (Apache killer): the worker answers the
	// whole body; the connection then waits idle (--idle-timeout).
	{"R", "range (Apache killer)", "/payload?size=64KiB", []string{"-a", "10", "-b", "3000"}, 75 * time.Second},
	// A 1 MiB response read 32 bytes every 5 s through a small window:
	// --send-timeout.
	{"X", "slow read", "/payload?size=1MiB", []string{"-w", "512", "-y", "1024", "-n", "5", "-z", "32", "-k", "1"}, 60 * time.Second},
}

// slowhttpRun is what one attack found.
type slowhttpRun struct {
	Scenario string `json:"scenario"`
	Kind     string `json:"kind"`
	Mode     string `json:"mode"`
	Name     string `json:"name"`
	Conns    int    `json:"connections"`
	// Timeout is the gateway's timeout that bounds the attack's connections.
	Timeout time.Duration `json:"timeout_ns"`
	// From slowhttptest: its exit status line, the most connections open
	// at once, the last second with one open, and the seconds its probe
	// found the service unavailable.
	ExitStatus  string `json:"exit_status"`
	MaxOpen     int    `json:"max_open"`
	LastOpenSec int    `json:"last_open_second"`
	Unavailable int    `json:"probe_unavailable_seconds"`
	// GatewayLastOpen is the last second at which the gateway itself
	// counted more than slowhttpNormalConns client connections open
	// (sluice_http_open_connections, sampled every second), -1 if never.
	// slowhttptest does not count a connection the gateway reset as
	// closed (the send timeout resets, so that the kernel drops what the
	// client did not take), so its own figure alone cannot tell.
	GatewayLastOpen int `json:"gateway_last_open_second"`
	// AllClosed: every attacking connection was closed within the
	// gateway's timeout (and the slack) of the ramp's end, as the gateway
	// counts them.
	AllClosed bool `json:"all_closed_in_time"`
	// The normal client's.
	Normal loopStats `json:"normal"`
	// The parent's RSS before the attack and at its height, and per
	// attacking connection open at the height (-1 when too few were open
	// at once to divide by).
	ParentIdleRSS int64 `json:"parent_idle_rss_bytes"`
	ParentPeakRSS int64 `json:"parent_peak_rss_bytes"`
	PerConn       int64 `json:"parent_rss_per_connection_bytes"`
	session
}

// runSlowHTTP runs each of -slowhttp-modes against its own gateway.
func runSlowHTTP(ctx context.Context, e *env) (bool, error) {
	o := e.opt
	bin, err := exec.LookPath("slowhttptest")
	if err != nil {
		fmt.Fprintf(e.out, "slowhttp: skipped: slowhttptest is not installed (apt-get install -y slowhttptest)\n")
		return true, nil
	}
	args := []string{"--workers", fmt.Sprint(peerWorkers)}
	if o.slowhttpTimeout > 0 {
		for _, f := range []string{"--header-timeout", "--body-timeout", "--send-timeout", "--idle-timeout"} {
			args = append(args, f, o.slowhttpTimeout.String())
		}
	}
	args = append(args, o.gatewayArgs...)
	var runs []slowhttpRun
	for _, m := range slowhttpModes {
		if !strings.Contains(o.slowhttpModes, m.flag) {
			continue
		}
		timeout := cmp.Or(o.slowhttpTimeout, m.timeout)
		fmt.Fprintf(e.log, "slowhttp -%s: %d connections, sluice serve %s ... ", m.flag, o.slowhttpConns, strings.Join(args, " "))
		run, err := e.slowhttpAttack(ctx, bin, m, args, timeout)
		if err != nil {
			fmt.Fprintln(e.log)
			return false, fmt.Errorf("slowhttp -%s: %w", m.flag, err)
		}
		fmt.Fprintf(e.log, "%s; normal p99 %s ms, %d failed\n", run.ExitStatus, ms(run.Normal.P99), run.Normal.Errors)
		e.report.write(run)
		runs = append(runs, run)
	}
	reportSlowHTTP(e, runs)
	ok := true
	for _, r := range runs {
		ok = ok && r.Normal.Integrity == 0
	}
	return ok, nil
}

// slowhttpAttack runs one attack against a fresh gateway: slowhttptest
// for the ramp, the timeout and slowhttpGrace, the normal client for as
// long, the parent's RSS sampled throughout.
func (e *env) slowhttpAttack(ctx context.Context, bin string, m slowhttpMode, args []string, timeout time.Duration) (slowhttpRun, error) {
	o := e.opt
	conns := o.slowhttpConns
	ramp := time.Duration(conns/slowhttpRate+1) * time.Second
	length := ramp + timeout + slowhttpGrace
	run := slowhttpRun{Scenario: "slowhttp", Kind: "attack", Mode: m.flag, Name: m.name, Conns: conns, Timeout: timeout}
	sess, err := e.withGateway(ctx, "slowhttp-"+m.flag, args, func(g *gateway) error {
		pid := g.cmd.Process.Pid
		run.ParentIdleRSS, _ = procstat.RSS(pid)
		sctx, stopSampling := context.WithCancel(ctx)
		defer stopSampling()
		peak := make(chan int64, 1)
		go func() { peak <- parentPeak(sctx, pid) }() // ends with sctx
		lastOpen := make(chan int, 1)
		go func() { lastOpen <- lastSecondOpen(sctx, g, slowhttpNormalConns) }() // ends with sctx
		// The normal client runs while the attack's connections should be
		// open: the ramp and the timeout.
		var normal []load.Result
		var wg sync.WaitGroup
		wg.Go(func() {
			normal, _ = runLoop(ctx, "http://"+g.addr+slowhttpNormalPath, 1, ramp+timeout, o.timeout, true)
		})
		prefix := filepath.Join(e.tmp, "slowhttp-"+m.flag)
		cmd := exec.CommandContext(ctx, bin, append([]string{"-" + m.flag,
			"-c", fmt.Sprint(conns), "-r", fmt.Sprint(slowhttpRate), "-l", fmt.Sprint(int(length.Seconds())),
			"-p", "3", "-g", "-o", prefix, "-u", "http://" + g.addr + m.path}, m.args...)...)
		out, err := cmd.CombinedOutput()
		wg.Wait()
		stopSampling()
		run.ParentPeakRSS = <-peak
		run.GatewayLastOpen = <-lastOpen
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, tailBytes(out, 15))
		}
		run.Normal = summarizeLoop("normal", normal, ramp+timeout)
		run.ExitStatus = slowhttpExitStatus(out)
		f, err := os.Open(prefix + ".csv")
		if err != nil {
			return fmt.Errorf("slowhttptest's statistics: %w", err)
		}
		defer f.Close()
		run.MaxOpen, run.LastOpenSec, run.Unavailable, err = slowhttpCSV(f)
		if err != nil {
			return fmt.Errorf("%s.csv: %w", prefix, err)
		}
		run.AllClosed = run.GatewayLastOpen > slowhttpNeverRead && time.Duration(run.GatewayLastOpen)*time.Second <= ramp+timeout+slowhttpSlack
		// An attack whose connections close as soon as answered (-R)
		// holds too few at once for a figure per connection.
		run.PerConn = -1
		if run.MaxOpen >= conns/10 && run.MaxOpen > 0 {
			run.PerConn = max(0, run.ParentPeakRSS-run.ParentIdleRSS) / int64(run.MaxOpen)
		}
		return ctx.Err()
	})
	run.session = sess
	return run, err
}

// slowhttpNormalConns is how many client connections the gateway may
// count open that are not the attack's: the normal client's, and one more
// for a moment as it reconnects.
const slowhttpNormalConns = 2

// slowhttpNeverRead is lastSecondOpen's answer when no reading of the
// gauge succeeded: nothing is known of the connections.
const slowhttpNeverRead = -2

// lastSecondOpen samples the gateway's count of open client connections
// every second until ctx ends and returns the last second, from its start,
// at which it exceeded normal; -1 if it never did, slowhttpNeverRead if no
// sample could be read.
func lastSecondOpen(ctx context.Context, g *gateway, normal int) int {
	start := time.Now()
	last := slowhttpNeverRead
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		n, err := scrapeGauge(ctx, g, "sluice_http_open_connections")
		switch {
		case err == nil && n > float64(normal):
			last = int(time.Since(start).Seconds())
		case err == nil && last == slowhttpNeverRead:
			last = -1
		}
		select {
		case <-ctx.Done():
			return last
		case <-t.C:
		}
	}
}

// parentPeak samples pid's own RSS every 100 ms until ctx ends and
// returns the highest.
func parentPeak(ctx context.Context, pid int) int64 {
	var peak int64
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if n, err := procstat.RSS(pid); err == nil {
			peak = max(peak, n)
		}
		select {
		case <-ctx.Done():
			return peak
		case <-t.C:
		}
	}
}

// slowhttpExitStatus finds slowhttptest's verdict in its output: the text
// after "Exit status:" (such as "No open connections left" or "Hit test
// time limit").
func slowhttpExitStatus(out []byte) string {
	status := "no exit status in its output"
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := stripANSI(sc.Text())
		if i := strings.Index(line, "Exit status:"); i >= 0 {
			status = strings.TrimSpace(line[i+len("Exit status:"):])
		}
	}
	return status
}

// stripANSI removes the terminal colour codes slowhttptest writes.
func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && !(s[i] >= 'A' && s[i] <= 'Z' || s[i] >= 'a' && s[i] <= 'z') {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// slowhttpCSV reads slowhttptest's per-second statistics ("Seconds,
// Closed, Pending, Connected, Service Available"): the most connections
// connected at once, the last second with one connected, and the seconds
// its probe found the service unavailable.
func slowhttpCSV(r io.Reader) (maxOpen, lastOpen, unavailable int, err error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return 0, 0, 0, err
	}
	if len(rows) < 2 || len(rows[0]) < 5 {
		return 0, 0, 0, fmt.Errorf("%d rows; want a header of 5 columns and a row per second", len(rows))
	}
	for _, row := range rows[1:] {
		if len(row) < 5 {
			continue
		}
		sec, err1 := strconv.Atoi(strings.TrimSpace(row[0]))
		open, err2 := strconv.Atoi(strings.TrimSpace(row[3]))
		avail, err3 := strconv.Atoi(strings.TrimSpace(row[4]))
		if err1 != nil || err2 != nil || err3 != nil {
			return 0, 0, 0, fmt.Errorf("row %q: not numbers", row)
		}
		maxOpen = max(maxOpen, open)
		if open > 0 {
			lastOpen = sec
		}
		if avail == 0 {
			unavailable++
		}
	}
	return maxOpen, lastOpen, unavailable, nil
}

// tailBytes is the last n lines of b.
func tailBytes(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// reportSlowHTTP prints a row per attack and the targets.
func reportSlowHTTP(e *env, runs []slowhttpRun) {
	if len(runs) == 0 {
		return
	}
	fmt.Fprintf(e.out, "slowhttp: slowhttptest, %d connections at %d/s per attack; one closed-loop client of GET %s beside it, digests checked\n",
		runs[0].Conns, slowhttpRate, slowhttpNormalPath)
	tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "attack\ttimeout\tmost open\tlast open (s): slowhttptest / gateway\tslowhttptest's exit status\tprobe down (s)\tnormal p50\tp99\tfailed\tparent RSS idle / peak MiB\tKiB per connection")
	for _, r := range runs {
		fmt.Fprintf(tw, "-%s %s\t%v\t%d\t%d / %d\t%s\t%d\t%s ms\t%s ms\t%d\t%s / %s\t%s\n", r.Mode, r.Name, r.Timeout, r.MaxOpen, r.LastOpenSec, r.GatewayLastOpen, r.ExitStatus, r.Unavailable,
			ms(r.Normal.P50), ms(r.Normal.P99), r.Normal.Errors, mib(r.ParentIdleRSS), mib(r.ParentPeakRSS), perConn(r.PerConn))
	}
	tw.Flush()
	tw = tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tattack\tmeasured\tresult")
	for _, r := range runs {
		for _, c := range []target{
			{"normal p99 ≤ " + ms(targetSlowhttpP99) + " ms", ms(r.Normal.P99) + " ms", r.Normal.OK > 0 && r.Normal.P99 <= targetSlowhttpP99},
			{"no normal request failed", fmt.Sprint(r.Normal.Errors), r.Normal.Errors == 0},
			{fmt.Sprintf("parent RSS ≤ %d KiB per attacking connection", targetSlowhttpConn>>10), perConn(r.PerConn), r.PerConn <= targetSlowhttpConn},
			{"every attacking connection closed by the gateway within its timeout", fmt.Sprintf("the gateway's last open at %d s (slowhttptest: %s, at %d s)", r.GatewayLastOpen, r.ExitStatus, r.LastOpenSec), r.AllClosed},
		} {
			result := passMiss(c.Pass)
			if strings.HasPrefix(c.Measured, "n/a") {
				result = "n/a"
			}
			fmt.Fprintf(tw, "%s\t-%s\t%s\t%s\n", c.Name, r.Mode, c.Measured, result)
		}
	}
	tw.Flush()
	for _, r := range runs {
		if r.Normal.firstErr != "" {
			fmt.Fprintf(e.out, "-%s: first normal failure: %s\n", r.Mode, r.Normal.firstErr)
		}
	}
}

// perConn formats a figure per connection, -1 being none.
func perConn(n int64) string {
	if n < 0 {
		return "n/a (few open at once)"
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/1024)
}
