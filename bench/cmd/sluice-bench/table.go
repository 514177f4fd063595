package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicegw/sluice/bench/load"
)

// printAirtable writes one row per run: times in ms as median/p99/max; "ok"
// is successes over requests (over all rounds in a median row).
func printAirtable(out io.Writer, runs []airtableRun) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "config\tok\tTTFB ms\ttransfer ms\tTTLB ms\twall s\tpeak RSS MiB\tpeak PSS MiB\tmax queued MiB\tmax waiting\tsndbuf")
	fmt.Fprintln(tw, "\t\tmed / p99 / max\tmed / p99 / max\tmed / p99 / max\t\t(whole tree)\t(shared once)\t(workers)\t(gateway)\t(effective)")
	for _, r := range runs {
		name := r.Config
		if r.Kind == "round" && r.Round > 0 {
			name = fmt.Sprintf("%s #%d", r.Config, r.Round)
		}
		queued, waiting, sndbuf := "-", "-", "-" // not sluice: no /status to read
		if r.Gateway.Samples > 0 {
			queued, waiting, sndbuf = mib(int64(r.Gateway.MaxQueued)), fmt.Sprint(r.Gateway.MaxWaiting), humanBytes(int64(r.Gateway.SendBuffer))
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\n", name, r.OK, r.Requests,
			triple(r.TTFB), triple(r.Transfer), triple(r.TTLB), r.Wall.Seconds(),
			mib(r.PeakRSS), mib(r.PeakPSS), queued, waiting, sndbuf)
	}
	tw.Flush()
}

// printTargets writes the ratio and one PASS/MISS line per target.
func printTargets(out io.Writer, t targets) {
	fmt.Fprintf(out, "median TTLB, default / admission-off: %.2f\n", t.Ratio)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "target (default config)\tmeasured\tresult")
	for _, c := range t.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Measured, passMiss(c.Pass))
	}
	tw.Flush()
}

// printRelay writes the per-round GB/s of both sides and their medians.
func printRelay(out io.Writer, o options, sl, base []float64, sum relayRow) {
	fmt.Fprintf(out, "relay: one %s response (%d bytes), read with a 1 MiB buffer, first byte to last; sluice serve %s\n",
		humanBytes(o.relaySize), o.relaySize, strings.Join(append([]string{"--workers", "1"}, o.gatewayArgs...), " "))
	printGBps(out, []gbpsSide{{"sluice", sl, sum.SluiceGBps}, {fmt.Sprintf("baseline (bench/relay, SO_SNDBUF %s)", humanBytes(relaySndBuf)), base, sum.BaselineGBps}})
	fmt.Fprintf(out, "ratio sluice / baseline: %.2f (target ≥ %.2f) %s; gateway peak RSS %s MiB\n",
		sum.Ratio, targetRelay, passMiss(sum.Pass), mib(sum.PeakRSS))
}

// gbpsSide is one row of a GB/s table: its rounds and their median.
type gbpsSide struct {
	name string
	v    []float64
	med  float64
}

// printGBps writes a table of GB/s by round, a row per side; sides with
// no rounds are left out.
func printGBps(out io.Writer, sides []gbpsSide) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "GB/s\t")
	for i := range sides[0].v {
		fmt.Fprintf(tw, "round %d\t", i+1)
	}
	fmt.Fprintln(tw, "median")
	for _, side := range sides {
		if len(side.v) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t", side.name)
		for _, v := range side.v {
			fmt.Fprintf(tw, "%.2f\t", v)
		}
		fmt.Fprintf(tw, "%.2f\n", side.med)
	}
	tw.Flush()
}

// printNotes writes what went wrong around a run, if anything: the first
// failed request, trouble seen in /status, warnings in the gateway's log and
// an unclean stop.
func printNotes(out io.Writer, name string, statuses map[int]int, firstErr string, s session) {
	if firstErr != "" {
		fmt.Fprintf(out, "%s: statuses %s; first failure: %s\n", name, formatStatuses(statuses), firstErr)
	}
	if g := s.Gateway; g.Restarts > 0 || g.NotUp > 0 {
		fmt.Fprintf(out, "%s: %d worker restart(s); a worker was not up in %d of %d /status samples\n", name, g.Restarts, g.NotUp, g.Samples)
	}
	for _, w := range []struct {
		when  string
		lines logLines
	}{{"during the run", s.Gateway.LogWarnings}, {"after SIGTERM", s.Gateway.ShutdownWarnings}} {
		if w.lines.Count == 0 {
			continue
		}
		fmt.Fprintf(out, "%s: the gateway logged %d warning/error line(s) %s, first:\n", name, w.lines.Count, w.when)
		for _, l := range w.lines.First {
			fmt.Fprintf(out, "    %s\n", l)
		}
	}
	if s.Stop != "" {
		fmt.Fprintf(out, "%s: %s\n", name, s.Stop)
	}
}

// formatStatuses formats {200: 48, 503: 2} as "200×48 503×2".
func formatStatuses(m map[int]int) string {
	if len(m) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(m))
	for _, c := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d×%d", c, m[c]))
	}
	return strings.Join(parts, " ")
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// triple formats median / p99 / max in ms.
func triple(s load.Stats) string {
	return ms(s.Median) + " / " + ms(s.P99) + " / " + ms(s.Max)
}

// ms formats d in milliseconds: whole ones, with a decimal below 10 ms.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	if v < 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// mib formats n bytes in whole MiB.
func mib(n int64) string { return fmt.Sprintf("%.0f", float64(n)/(1<<20)) }

// humanBytes formats n as the largest binary unit that divides it evenly.
func humanBytes(n int64) string {
	for _, u := range []struct {
		name  string
		scale int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.scale && n%u.scale == 0 {
			return fmt.Sprintf("%d %s", n/u.scale, u.name)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// jsonl appends JSON lines to a file; the zero value (no -json) discards.
type jsonl struct {
	f   *os.File
	enc *json.Encoder
}

// openJSONL opens path for appending; "" means no JSON output.
func openJSONL(path string) (*jsonl, error) {
	if path == "" {
		return &jsonl{}, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("-json: %w", err)
	}
	return &jsonl{f: f, enc: json.NewEncoder(f)}, nil
}

// write appends v as one line; errors are reported once, on stderr.
func (j *jsonl) write(v any) {
	if j == nil || j.enc == nil {
		return
	}
	if err := j.enc.Encode(v); err != nil {
		fmt.Fprintf(os.Stderr, "sluice-bench: writing %s: %v\n", j.f.Name(), err)
		j.enc = nil
	}
}

// Close closes the file, if any.
func (j *jsonl) Close() error {
	if j == nil || j.f == nil {
		return nil
	}
	return j.f.Close()
}

// reportSmall prints the small scenario: every round (when there are
// several), the medians per size and peer, the CPU per process, and the
// targets. It writes the medians and checks as JSON lines.
func reportSmall(e *env, c loadClient, peers []*smallPeer, runs map[string][]smallRun, notes []string) {
	o := e.opt
	out := e.out
	key := func(p string, size int64) string { return p + "/" + fmt.Sprint(size) }
	if o.smallRounds > 1 {
		fmt.Fprintln(out, "small, every round:")
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "size\tpeer\tround\treq/s\tMB/s\tp50 ms\tp99 ms\terrors\tCPU s/1k req")
		for _, size := range o.smallSizes {
			for _, p := range peers {
				for _, r := range runs[key(p.name, size)] {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.0f\t%s\t%s\t%d\t%.3f\n", humanBytes(size), p.name, r.Round,
						r.ReqPerSec, r.MBps, ms(r.P50), ms(r.P99), r.Errors, r.TotalPerK)
				}
			}
		}
		tw.Flush()
		fmt.Fprintln(out)
	}
	what := "1 round"
	if o.smallRounds > 1 {
		what = fmt.Sprintf("medians of %d rounds", o.smallRounds)
	}
	fmt.Fprintf(out, "small: GET /payload?size=N, %d connections, %s, after a %v warm-up; peers alternate within each round; %s\n",
		o.smallConns, c.describe(o.smallConns, o.smallDuration), o.smallWarmup, what)
	for _, p := range peers {
		if p.skip != "" {
			fmt.Fprintf(out, "  %s: SKIPPED: %s\n", p.name, p.skip)
		} else {
			fmt.Fprintf(out, "  %s: %s\n", p.name, p.about)
		}
	}
	med := map[string]smallRun{}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "size\tpeer\treq/s\tMB/s\tp50 ms\tp99 ms\terrors\tCPU s/1k req\trequests")
	fmt.Fprintln(tw, "\t\t\t(bodies)\t\t\t(all rounds)\t(all processes)\t(all rounds)")
	for _, size := range o.smallSizes {
		for _, p := range peers {
			if p.skip != "" {
				fmt.Fprintf(tw, "%s\t%s\tskipped\t\t\t\t\t\t\n", humanBytes(size), p.name)
				continue
			}
			rs := runs[key(p.name, size)]
			if len(rs) == 0 {
				continue
			}
			m := medianSmall(rs)
			med[key(p.name, size)] = m
			e.report.write(m)
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%s\t%s\t%d\t%.3f\t%d\n", humanBytes(size), p.name,
				m.ReqPerSec, m.MBps, ms(m.P50), ms(m.P99), m.Errors, m.TotalPerK, m.Requests)
		}
	}
	tw.Flush()
	fmt.Fprintln(out)

	fmt.Fprintln(out, "CPU seconds per 1,000 requests, by process (utime+stime from /proc; medians):")
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "peer\tprocess")
	for _, size := range o.smallSizes {
		fmt.Fprintf(tw, "\t%s", humanBytes(size))
	}
	fmt.Fprintln(tw)
	for _, p := range peers {
		if p.skip != "" {
			continue
		}
		var labels []string
		for _, size := range o.smallSizes {
			for _, pc := range med[key(p.name, size)].Procs {
				if !slices.Contains(labels, pc.Label) {
					labels = append(labels, pc.Label)
				}
			}
		}
		for _, l := range append(labels, "total") {
			fmt.Fprintf(tw, "%s\t%s", p.name, l)
			for _, size := range o.smallSizes {
				m, ok := med[key(p.name, size)]
				v, found := m.TotalPerK, ok
				if l != "total" {
					found = false
					for _, pc := range m.Procs {
						if pc.Label == l {
							v, found = pc.PerKiloReq, true
						}
					}
				}
				if found {
					fmt.Fprintf(tw, "\t%.3f", v)
				} else {
					fmt.Fprint(tw, "\t-")
				}
			}
			fmt.Fprintln(tw)
		}
	}
	tw.Flush()
	fmt.Fprintln(out)

	var nginxSkip string
	hasNginx := false
	for _, p := range peers {
		if p.name == "nginx" {
			hasNginx, nginxSkip = true, p.skip
		}
	}
	if hasNginx && slices.ContainsFunc(peers, func(p *smallPeer) bool { return p.name == "sluice" }) {
		fmt.Fprintln(out, "targets, sluice / nginx (medians):")
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "size\ttarget\tmeasured\tresult")
		for _, size := range o.smallSizes {
			for _, ch := range checkSmall(size, med[key("sluice", size)], med[key("nginx", size)], nginxSkip) {
				e.report.write(ch)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", humanBytes(size), ch.Name, ch.Measured, ch.Result)
			}
		}
		tw.Flush()
	} else {
		fmt.Fprintln(out, "targets: not judged, nginx or sluice was not among -small-peers")
	}
	reportSmallFloor(out, o.smallSizes, med)
	for _, size := range o.smallSizes {
		for _, p := range peers {
			if m, ok := med[key(p.name, size)]; ok && m.FirstError != "" {
				fmt.Fprintf(out, "%s at %s: %d error(s); first: %s\n", p.name, humanBytes(size), m.Errors, m.FirstError)
			}
		}
	}
	for _, n := range notes {
		fmt.Fprintln(out, n)
	}
	fmt.Fprintln(out)
}

// reportSmallFloor sets the go-relay floor beside nginx and sluice, when
// all three were measured: how far a Go front and worker can come at all,
// and how much of that sluice keeps. Not judged: it explains the targets.
func reportSmallFloor(out io.Writer, sizes []int64, med map[string]smallRun) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	header := false
	for _, size := range sizes {
		k := "/" + strconv.FormatInt(size, 10)
		floor, okF := med["go-relay"+k]
		nginx, okN := med["nginx"+k]
		sl, okS := med["sluice"+k]
		if !okF || !okN || !okS {
			continue
		}
		if !header {
			fmt.Fprintln(out, "the floor of a Go front and worker (go-relay), medians; not a target (it stores and forwards whole bodies: above 4 KiB it is no floor of a design that streams them):")
			fmt.Fprintln(tw, "size\tfigure\tgo-relay / nginx\tsluice / go-relay")
			header = true
		}
		if size > smallLatencySize {
			fmt.Fprintf(tw, "%s\tMB/s\t%s\t%s\n", humanBytes(size), ratioCell(floor.MBps, nginx.MBps), ratioCell(sl.MBps, floor.MBps))
			continue
		}
		fmt.Fprintf(tw, "%s\treq/s\t%s\t%s\n", humanBytes(size), ratioCell(floor.ReqPerSec, nginx.ReqPerSec), ratioCell(sl.ReqPerSec, floor.ReqPerSec))
		fmt.Fprintf(tw, "%s\tp99\t%s\t%s\n", humanBytes(size),
			ratioCell(float64(floor.P99), float64(nginx.P99)), ratioCell(float64(sl.P99), float64(floor.P99)))
	}
	tw.Flush()
}

// ratioCell is a/b as "0.86×", or "-" without a b.
func ratioCell(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
