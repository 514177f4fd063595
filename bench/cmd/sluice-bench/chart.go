package main

import (
	"fmt"
	"image/color"
	"iter"
	"math"
	"slices"
	"time"

	"github.com/sluicegw/sluice/bench/load"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Charts are drawn with gonum.org/v1/plot and saved as SVG into the report
// directory (report.go). Each shows one idea, with units on both axes and a
// legend where there is more than one line.

// chartSize is every chart's size.
const (
	chartWidth  = 8 * vg.Inch
	chartHeight = 4.5 * vg.Inch
)

// chartLine is one named line of a chart.
type chartLine struct {
	name string
	xy   plotter.XYs
}

// newChart is a plot with a title and axis labels, its legend at the top
// left, and a grid.
func newChart(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return p
}

// lineChart draws every chartLine as a line with points, each in its own
// colour and shape, from y = 0 up.
func lineChart(title, xLabel, yLabel string, ss []chartLine) (*plot.Plot, error) {
	p := newChart(title, xLabel, yLabel)
	for i, s := range ss {
		if len(s.xy) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(s.xy)
		if err != nil {
			return nil, fmt.Errorf("chart %q, %s: %w", title, s.name, err)
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(0)
		pts.Color = plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		if len(s.xy) > 60 {
			pts.Radius = 0 // a dense chartLine reads as a line
		}
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	p.Y.Min = 0
	return p, nil
}

// logLineChart is lineChart on a logarithmic y axis, for figures that span
// orders of magnitude between peers (an RSS of 50 MiB beside 1.5 GiB, a
// latency of 0.2 s beside 30 s), which a linear axis would flatten into
// one line at the bottom. Points at or below zero have no place on it and
// are left out. The axis runs from the decade below the least value to
// four times the greatest, so that the legend at the top left sits above
// the lines.
func logLineChart(title, xLabel, yLabel string, ss []chartLine) (*plot.Plot, error) {
	lo, hi := math.Inf(1), 0.0
	pos := make([]chartLine, len(ss))
	for i, s := range ss {
		pos[i].name = s.name
		for _, pt := range s.xy {
			if pt.Y > 0 && !math.IsInf(pt.Y, 0) && !math.IsNaN(pt.Y) {
				pos[i].xy = append(pos[i].xy, pt)
				lo, hi = min(lo, pt.Y), max(hi, pt.Y)
			}
		}
	}
	p, err := lineChart(title, xLabel, yLabel+", log scale", pos)
	if err != nil || hi == 0 {
		return p, err
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	p.Y.Max = 4 * hi
	return p, nil
}

// timelineChart is the Airtable post's picture: one horizontal line per
// request from its start to its last byte, ordered by start, with a dot at
// its first byte. Responses that stream as they are made are short lines
// with the dot at the left; responses that all finish together end in one
// vertical wall. Failed requests are drawn in grey to where they failed.
func timelineChart(title string, results []load.Result) (*plot.Plot, error) {
	p := newChart(title, "time since the first request started (s)", "request, by start")
	rs := slices.Clone(results)
	slices.SortStableFunc(rs, func(a, b load.Result) int { return int(a.Start - b.Start) })
	var first plotter.XYs
	ok := color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	failed := color.RGBA{R: 0xa0, G: 0xa0, B: 0xa0, A: 0xff}
	for i, r := range rs {
		y := float64(i + 1)
		end := r.Start + r.TTLB
		if end <= r.Start {
			end = r.Start + time.Millisecond // seen, if only as a tick
		}
		l, err := plotter.NewLine(plotter.XYs{{X: r.Start.Seconds(), Y: y}, {X: end.Seconds(), Y: y}})
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = ok, vg.Points(1.5)
		if r.Err != "" || r.Status/100 != 2 {
			l.Color = failed
		} else if r.TTFB > 0 {
			first = append(first, plotter.XY{X: (r.Start + r.TTFB).Seconds(), Y: y})
		}
		p.Add(l)
	}
	if len(first) > 0 {
		s, err := plotter.NewScatter(first)
		if err != nil {
			return nil, err
		}
		s.Shape, s.Color, s.Radius = draw.CircleGlyph{}, color.Black, vg.Points(2)
		p.Add(s)
		p.Legend.Add("first byte", s)
	}
	line, _ := plotter.NewLine(plotter.XYs{{}, {}})
	line.Color, line.Width = ok, vg.Points(1.5)
	p.Legend.Add("start to last byte", line)
	p.X.Min, p.Y.Min = 0, 0
	p.Y.Max = float64(len(rs))*1.15 + 2 // room for the legend above the lines
	return p, nil
}

// bytesSeries turns samples of bytes into MiB over seconds.
func bytesSeries(name string, pts []bytesPoint) chartLine {
	s := chartLine{name: name}
	for _, p := range pts {
		s.xy = append(s.xy, plotter.XY{X: p.At.Seconds(), Y: float64(p.Bytes) / (1 << 20)})
	}
	return s
}

// binned counts values into bins of width w from 0, as a chartLine of the
// bins' middles; f picks each result's value (ok false skips it), and the
// bin's figure is the sum divided by per (1 for counts, w for rates).
func binned(name string, rs []load.Result, w time.Duration, at func(load.Result) time.Duration, f func(load.Result) (v float64, ok bool), per float64) chartLine {
	var sums []float64
	for i, v := range inBins(rs, w, at, f) {
		for len(sums) <= i {
			sums = append(sums, 0)
		}
		sums[i] += v
	}
	s := chartLine{name: name}
	for i, v := range sums {
		s.xy = append(s.xy, plotter.XY{X: (time.Duration(i)*w + w/2).Seconds(), Y: v / per})
	}
	return s
}

// binnedQuantile is the q-quantile of f's values per bin of width w, over
// the bins that have any.
func binnedQuantile(name string, rs []load.Result, w time.Duration, at func(load.Result) time.Duration, f func(load.Result) (time.Duration, bool), q float64) chartLine {
	bins := map[int][]time.Duration{}
	last := -1
	for i, v := range inBins(rs, w, at, f) {
		bins[i] = append(bins[i], v)
		last = max(last, i)
	}
	s := chartLine{name: name}
	for i := 0; i <= last; i++ {
		if b := bins[i]; len(b) > 0 {
			s.xy = append(s.xy, plotter.XY{X: (time.Duration(i)*w + w/2).Seconds(), Y: float64(rank(b, q)) / float64(time.Millisecond)})
		}
	}
	return s
}

// inBins yields, for each result f keeps, the index of its bin of width w
// (by at) and its value.
func inBins[V any](rs []load.Result, w time.Duration, at func(load.Result) time.Duration, f func(load.Result) (V, bool)) iter.Seq2[int, V] {
	return func(yield func(int, V) bool) {
		for _, r := range rs {
			v, ok := f(r)
			i := int(at(r) / w)
			if !ok || i < 0 {
				continue
			}
			if !yield(i, v) {
				return
			}
		}
	}
}

// finite replaces a NaN or infinite y by 0, which gonum cannot draw.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
