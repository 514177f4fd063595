package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/sluicegw/sluice/bench/load"
)

// printTable writes the human summary of a run.
func printTable(out io.Writer, label string, cfg load.Config, s load.Summary) {
	if label == "" {
		label = "run"
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	offered := fmt.Sprintf("%d at once", max(cfg.Concurrency, 1))
	if cfg.Rate > 0 {
		offered = fmt.Sprintf("%g/s", cfg.Rate)
	}
	fmt.Fprintf(tw, "label\trequests\tload\terrors\tstatuses\tGB\twall s\tGB/s\n")
	fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%.3f\t%.2f\t%.2f\n", label, s.Requests, offered, s.Errors,
		statuses(s.Statuses), float64(s.Bytes)/1e9, s.Wall.Seconds(), s.Throughput/1e9)
	tw.Flush()
	fmt.Fprintln(out)
	// Durations right-aligned, so that the magnitudes line up.
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "ms\tmedian\tp99\tmax\t\n")
	for _, row := range []struct {
		name string
		st   load.Stats
	}{{"TTFB", s.TTFB}, {"transfer", s.Transfer}, {"TTLB", s.TTLB}} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", row.name, ms(row.st.Median), ms(row.st.P99), ms(row.st.Max))
	}
	tw.Flush()
}

// statuses formats {200: 48, 503: 2} as "200×48 503×2".
func statuses(m map[int]int) string {
	if len(m) == 0 {
		return "-"
	}
	var codes []int
	for c := range m {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d×%d", c, m[c])
	}
	return strings.Join(parts, " ")
}
