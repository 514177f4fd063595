package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicegw/sluice/bench/load"
)

// printAirtable writes one row per run: times in ms as median/p99/max; "ok"
// is successes over requests (over all rounds in a median row).
func printAirtable(out io.Writer, runs []airtableRun) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "config\tok\tTTFB ms\ttransfer ms\tTTLB ms\twall s\tpeak RSS MiB\tmax queued MiB\tmax waiting\tsndbuf")
	fmt.Fprintln(tw, "\t\tmed / p99 / max\tmed / p99 / max\tmed / p99 / max\t\t(parent+workers)\t(workers)\t(gateway)\t(effective)")
	for _, r := range runs {
		name := r.Config
		if r.Kind == "round" && r.Round > 0 {
			name = fmt.Sprintf("%s #%d", r.Config, r.Round)
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\t%s\t%.1f\t%s\t%s\t%d\t%s\n", name, r.OK, r.Requests,
			triple(r.TTFB), triple(r.Transfer), triple(r.TTLB), r.Wall.Seconds(),
			mib(r.PeakRSS), mib(int64(r.Gateway.MaxQueued)), r.Gateway.MaxWaiting, humanBytes(int64(r.Gateway.SendBuffer)))
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
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "GB/s\t")
	for i := range sl {
		fmt.Fprintf(tw, "round %d\t", i+1)
	}
	fmt.Fprintln(tw, "median")
	for _, side := range []struct {
		name string
		v    []float64
		med  float64
	}{{"sluice", sl, sum.SluiceGBps}, {fmt.Sprintf("baseline (bench/relay, SO_SNDBUF %s)", humanBytes(relaySndBuf)), base, sum.BaselineGBps}} {
		fmt.Fprintf(tw, "%s\t", side.name)
		for _, v := range side.v {
			fmt.Fprintf(tw, "%.2f\t", v)
		}
		fmt.Fprintf(tw, "%.2f\n", side.med)
	}
	tw.Flush()
	fmt.Fprintf(out, "ratio sluice / baseline: %.2f (target ≥ %.2f) %s; gateway peak RSS %s MiB\n",
		sum.Ratio, targetRelay, passMiss(sum.Pass), mib(sum.PeakRSS))
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
