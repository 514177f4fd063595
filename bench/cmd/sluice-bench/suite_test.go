package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/bench/load"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

const msec = time.Millisecond

// Counts fall into the bin of their time, empty bins included, and a rate
// divides by the bin's width in seconds.
func TestBinned(t *testing.T) {
	rs := []load.Result{
		{Start: 100 * msec, Status: 200},
		{Start: 400 * msec, Status: 200},
		{Start: 450 * msec, Status: 503},
		{Start: 1600 * msec, Status: 200},
	}
	at := func(r load.Result) time.Duration { return r.Start }
	ok := func(r load.Result) (float64, bool) { return 1, r.Status == 200 }
	got := binned("ok", rs, 500*msec, at, ok, 0.5)
	want := plotter.XYs{{X: 0.25, Y: 4}, {X: 0.75, Y: 0}, {X: 1.25, Y: 0}, {X: 1.75, Y: 2}}
	if fmt.Sprint(got.xy) != fmt.Sprint(want) {
		t.Errorf("binned = %v, want %v (2 and 1 per 0.5 s bin, as rates)", got.xy, want)
	}
	if got.name != "ok" {
		t.Errorf("name %q", got.name)
	}
}

// The quantile is taken per bin, over the values f keeps, and bins without
// any are left out rather than drawn at 0.
func TestBinnedQuantile(t *testing.T) {
	var rs []load.Result
	for i := range 10 {
		rs = append(rs, load.Result{Start: 10 * msec, TTLB: time.Duration(i+1) * 10 * msec, Status: 200})
	}
	rs = append(rs, load.Result{Start: 1100 * msec, TTLB: 5 * msec, Status: 200}, load.Result{Start: 1200 * msec, TTLB: time.Second, Status: 503})
	got := binnedQuantile("p99", rs, 500*msec, func(r load.Result) time.Duration { return r.Start },
		func(r load.Result) (time.Duration, bool) { return r.TTLB, r.Status == 200 }, 0.99)
	want := plotter.XYs{{X: 0.25, Y: 100}, {X: 1.25, Y: 5}}
	if fmt.Sprint(got.xy) != fmt.Sprint(want) {
		t.Errorf("binnedQuantile = %v, want %v", got.xy, want)
	}
}

func status(rtt string, restartCounts ...int) gwStatus {
	var st gwStatus
	for i, n := range restartCounts {
		st.Workers = append(st.Workers, gwWorker{ID: i, State: "up", Restarts: n, RTT: rtt})
	}
	return st
}

// Restarts are counted from the last reading at or before the start to the
// last at or before the end.
func TestRestartsBetween(t *testing.T) {
	samples := []statusSample{
		{At: 0, St: status("", 1, 0)},
		{At: 1 * time.Second, St: status("", 1, 1)},
		{At: 2 * time.Second, St: status("", 3, 2)},
		{At: 3 * time.Second, St: status("", 4, 4)},
	}
	if got := restartsBetween(samples, 1*time.Second, 2*time.Second); got != 3 {
		t.Errorf("restartsBetween(1s, 2s) = %d, want 3 (2 → 5)", got)
	}
	if got := restartsBetween(samples, 500*msec, 10*time.Second); got != 7 {
		t.Errorf("restartsBetween(0.5s, 10s) = %d, want 7 (1 → 8)", got)
	}
	if got := restartsBetween(samples[1:], 0, 2500*msec); got != 3 {
		t.Errorf("restartsBetween from before the first reading = %d, want 3 (from the first, 2 → 5)", got)
	}
	if got := restartsBetween(nil, 0, time.Second); got != 0 {
		t.Errorf("restartsBetween without readings = %d, want 0", got)
	}
}

// The SMRxT figures: restarts over the readings, readings with a worker
// down, and the heartbeat round trips, unparsable ones skipped.
func TestSmrxtFigures(t *testing.T) {
	down := status("3ms", 0, 0)
	down.Workers[1].State = "down"
	samples := []statusSample{
		{St: status("1ms", 2, 0)},
		{St: down},
		{St: status("", 2, 1)},
		{St: status("9ms", 2, 1)},
	}
	restartCount, notUp, maxRTT, p99 := smrxtFigures(samples)
	if restartCount != 1 || notUp != 1 || maxRTT != 9*msec || p99 != 9*msec {
		t.Errorf("smrxtFigures = %d restarts, %d not up, max %v, p99 %v; want 1, 1, 9ms, 9ms", restartCount, notUp, maxRTT, p99)
	}
}

func TestCheckPeers(t *testing.T) {
	var o options
	if err := o.checkPeers("nginx, go-naive,nginx"); err != nil || fmt.Sprint(o.peers) != "[nginx go-naive]" {
		t.Errorf("checkPeers = %v, %v; want [nginx go-naive] (order kept, duplicates dropped)", o.peers, err)
	}
	if ps := o.otherPeers(); len(ps) != 2 || ps[0].kind != kindNginx || ps[1].kind != kindNaive {
		t.Errorf("otherPeers = %+v", ps)
	}
	if err := o.checkPeers("none"); err != nil || len(o.peers) != 0 {
		t.Errorf("checkPeers(none) = %v, %v; want no peers", o.peers, err)
	}
	if err := o.checkPeers("nginx,apache"); err == nil || !strings.Contains(err.Error(), `unknown peer "apache"`) {
		t.Errorf("checkPeers(apache) = %v; want an error naming it", err)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"/tmp/a b": `'/tmp/a b'`, "it's": `'it'\''s'`} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
		out, err := exec.Command("sh", "-c", "printf %s "+shellQuote(in)).Output()
		if err != nil || string(out) != in {
			t.Errorf("sh read %s as %q (%v), want %q", shellQuote(in), out, err, in)
		}
	}
}

// The report keeps what was printed and the charts in order, says what it
// ran on and how, and saves each chart as an SVG file.
func TestReport(t *testing.T) {
	root := t.TempDir()
	at := time.Date(2026, 12, 1, 22, 5, 9, 0, time.UTC)
	r, err := newReport(root, []string{"-rounds", "3", "airtable"}, at)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "2026-12-01-220509"); r.dir != want {
		t.Errorf("dir %s, want %s", r.dir, want)
	}
	fmt.Fprintln(r, "table one")
	p, err := lineChart("a chart", "x (s)", "y (MiB)", []chartLine{{name: "sluice", xy: plotter.XYs{{X: 0, Y: 1}, {X: 1, Y: 2}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.chart("one", "the first chart", p); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(r, "table two")
	if err := r.close(at.Add(90 * time.Second)); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(r.dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(md)
	for _, want := range []string{"`sluice-bench -rounds 3 airtable` (1m30s)", "- CPU: ", "- Go: go", "- nginx: ", "- Node.js: "} {
		if !strings.Contains(s, want) {
			t.Errorf("report.md lacks %q:\n%s", want, s)
		}
	}
	one, img, two := strings.Index(s, "table one"), strings.Index(s, "![the first chart](one.svg)"), strings.Index(s, "table two")
	if one < 0 || img < one || two < img {
		t.Errorf("report.md does not hold table one, the chart, table two in order:\n%s", s)
	}
	svg, err := os.ReadFile(filepath.Join(r.dir, "one.svg"))
	if err != nil || !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "sluice") {
		t.Errorf("one.svg is not an SVG with its legend (%v): %.200s", err, svg)
	}
}

// A timeline draws failed requests too, and one whose times are zero.
func TestTimelineChart(t *testing.T) {
	rs := []load.Result{
		{Start: 0, TTFB: 100 * msec, TTLB: 900 * msec, Status: 200},
		{Start: 10 * msec, Status: 0, Err: "reset"},
		{Start: 20 * msec, TTFB: 300 * msec, TTLB: 400 * msec, Status: 503},
	}
	p, err := timelineChart("t", rs)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "t.svg")
	if err := p.Save(chartWidth, chartHeight, path); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Two failed requests in grey, one served in blue, and its first byte.
	if n := strings.Count(string(svg), "stroke:#A0A0A0;"); n != 2 {
		t.Errorf("%d grey lines; want the 2 failed requests", n)
	}
	if !strings.Contains(string(svg), "stroke:#1F77B4;") || !strings.Contains(string(svg), "first byte") {
		t.Error("no line of a served request, or no first-byte mark in the legend")
	}
}

// The Node.js peer as the replays run it: it says where it listens once
// its children do, answers /payload with exactly the bytes asked for, and
// stops on SIGTERM.
func TestNodePeer(t *testing.T) {
	node, why := findNode()
	if why != "" {
		t.Skip(why)
	}
	script, err := nodeScript("workerParent.js")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(removeNodeScripts)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := startListening(ctx, exec.Command(node, script, dir, "2"), filepath.Join(dir, "node.log"), "the Node.js workerParent")
	if err != nil {
		t.Fatal(err)
	}
	defer l.stop()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	for i, u := range []string{"/payload?size=100KiB&cpu=5ms", "/payload?size=4096&wait=10ms"} {
		resp, err := c.Get("http://" + l.addr + u)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, bufio.NewReader(resp.Body))
		resp.Body.Close()
		want := []int64{100 << 10, 4096}[i]
		if err != nil || resp.StatusCode != 200 || n != want || resp.ContentLength != want {
			t.Errorf("GET %s: %s, %d bytes (Content-Length %d), %v; want 200 with %d", u, resp.Status, n, resp.ContentLength, err, want)
		}
	}
	resp, err := c.Get("http://" + l.addr + "/payload?size=lots")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("bad size: %s, want 400", resp.Status)
	}
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.exited:
	default:
		t.Error("workerParent still running after stop")
	}
}

// A log-scale chart leaves out the points it cannot place (zero, below
// zero) and spans its data: from the decade below the least value.
func TestLogLineChart(t *testing.T) {
	p, err := logLineChart("memory", "time (s)", "RSS (MiB)", []chartLine{
		{name: "small", xy: plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 56}, {X: 2, Y: 73}}},
		{name: "large", xy: plotter.XYs{{X: 0, Y: 140}, {X: 1, Y: -1}, {X: 2, Y: 1536}}},
		{name: "none", xy: plotter.XYs{{X: 0, Y: 0}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Y.Scale.(plot.LogScale); !ok {
		t.Fatalf("y scale %T; want plot.LogScale", p.Y.Scale)
	}
	if p.Y.Min != 10 || p.Y.Max != 4*1536 {
		t.Errorf("y axis %v..%v; want 10..%v", p.Y.Min, p.Y.Max, 4*1536)
	}
	if !strings.HasSuffix(p.Y.Label.Text, ", log scale") {
		t.Errorf("y label %q does not say the scale is logarithmic", p.Y.Label.Text)
	}
	var buf bytes.Buffer
	w, err := p.WriterTo(chartWidth, chartHeight, "svg")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatalf("drawing a log chart whose data held zeros: %v", err)
	}
}
