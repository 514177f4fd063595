package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// flushLagMetric is the worker's histogram of the time from a handler's
// Write to the bytes leaving the worker (child/metrics.go); the parent's
// /metrics carries every worker's with a worker label.
const flushLagMetric = "sluice_worker_flush_lag_seconds"

// histogram is one Prometheus histogram: cumulative counts by upper bound,
// the last bound +Inf.
type histogram struct {
	bounds []float64
	counts []float64
}

// series are the histograms of one family by their label set.
type series map[string]histogram

// scrapeFlushLag reads the flush-lag histograms of every worker from the
// gateway's /metrics.
func scrapeFlushLag(ctx context.Context, g *gateway) (series, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := g.adminGet(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseHistograms(resp.Body, flushLagMetric)
}

// scrapeGauge reads the gauge name, summed over its series, from the
// gateway's /metrics.
func scrapeGauge(ctx context.Context, g *gateway, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := g.adminGet(ctx, "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return parseGauge(resp.Body, name)
}

// parseGauge reads the gauge family name from Prometheus text, summed over
// its series.
func parseGauge(r io.Reader, name string) (float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return 0, fmt.Errorf("parsing /metrics: %w", err)
	}
	f, ok := fams[name]
	if !ok || f.GetType() != dto.MetricType_GAUGE {
		return 0, fmt.Errorf("/metrics has no gauge %s", name)
	}
	sum := 0.0
	for _, m := range f.Metric {
		sum += m.GetGauge().GetValue()
	}
	return sum, nil
}

// parseHistograms reads the histogram family name from Prometheus text.
func parseHistograms(r io.Reader, name string) (series, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing /metrics: %w", err)
	}
	f, ok := fams[name]
	if !ok {
		return nil, fmt.Errorf("/metrics has no %s", name)
	}
	if f.GetType() != dto.MetricType_HISTOGRAM {
		return nil, fmt.Errorf("/metrics: %s is a %v, not a histogram", name, f.GetType())
	}
	out := series{}
	for _, m := range f.Metric {
		var labels []string
		for _, l := range m.Label {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(labels)
		h := m.GetHistogram()
		var hist histogram
		for _, b := range h.Bucket {
			hist.bounds = append(hist.bounds, b.GetUpperBound())
			hist.counts = append(hist.counts, float64(b.GetCumulativeCount()))
		}
		if n := len(hist.bounds); n == 0 || !math.IsInf(hist.bounds[n-1], 1) {
			hist.bounds = append(hist.bounds, math.Inf(1))
			hist.counts = append(hist.counts, float64(h.GetSampleCount()))
		}
		out[strings.Join(labels, ",")] = hist
	}
	return out, nil
}

// delta is what the histograms of after counted since before, summed over
// every series. A series whose total fell started again (its worker was
// replaced): all of its counts are new. A series whose buckets differ from
// the others' is an error: they could not be added.
func delta(before, after series) (histogram, error) {
	var sum histogram
	for _, key := range slices.Sorted(maps.Keys(after)) {
		a := after[key]
		d := histogram{bounds: a.bounds, counts: slices.Clone(a.counts)}
		if b, ok := before[key]; ok && slices.Equal(b.bounds, a.bounds) && b.counts[len(b.counts)-1] <= a.counts[len(a.counts)-1] {
			for i := range d.counts {
				d.counts[i] -= b.counts[i]
			}
		}
		switch {
		case sum.bounds == nil:
			sum = d
		case !slices.Equal(sum.bounds, d.bounds):
			return histogram{}, fmt.Errorf("series %s has buckets %v, the others %v", key, d.bounds, sum.bounds)
		default:
			for i := range sum.counts {
				sum.counts[i] += d.counts[i]
			}
		}
	}
	return sum, nil
}

// quantile estimates the q-quantile (0 < q < 1) of h as Prometheus's
// histogram_quantile does: linear interpolation inside the bucket that holds
// the rank, from 0 for the first bucket; a rank in the +Inf bucket gives the
// highest finite bound. ok is false for an empty histogram.
func (h histogram) quantile(q float64) (v float64, ok bool) {
	n := len(h.counts)
	if n == 0 || h.counts[n-1] <= 0 {
		return 0, false
	}
	rank := q * h.counts[n-1]
	b := sort.Search(n, func(i int) bool { return h.counts[i] >= rank })
	if b == n-1 && math.IsInf(h.bounds[b], 1) {
		if n < 2 {
			return 0, false
		}
		return h.bounds[n-2], true
	}
	lower, below := 0.0, 0.0
	if b > 0 {
		lower, below = h.bounds[b-1], h.counts[b-1]
	}
	in := h.counts[b] - below
	if in <= 0 {
		return h.bounds[b], true
	}
	return lower + (h.bounds[b]-lower)*(rank-below)/in, true
}

// flushLag is the flush-lag p99 over a run, or why it is not known.
type flushLag struct {
	p99 float64 // seconds
	err string
}

// flushLagOver computes the p99 of what the workers' flush-lag histograms
// counted between two scrapes.
func flushLagOver(before, after series, berr, aerr error) flushLag {
	switch {
	case berr != nil:
		return flushLag{err: "reading /metrics before the load: " + berr.Error()}
	case aerr != nil:
		return flushLag{err: "reading /metrics after the load: " + aerr.Error()}
	}
	d, err := delta(before, after)
	if err != nil {
		return flushLag{err: err.Error()}
	}
	p, ok := d.quantile(0.99)
	if !ok {
		return flushLag{err: "no response bytes were flushed during the run"}
	}
	return flushLag{p99: p}
}
