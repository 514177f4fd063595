package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func (g *gateway) scrape() (map[string]*dto.MetricFamily, []byte) {
	g.t.Helper()
	resp, err := http.Get(g.admin + "/metrics")
	if err != nil {
		g.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		g.t.Fatalf("parsing /metrics: %v\n%s", err, raw)
	}
	return fams, raw
}

// waitMetric scrapes until the unlabelled sum of name is want, for at most
// within, and reports whether it got there.
func (g *gateway) waitMetric(name string, want float64, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		fams, _ := g.scrape()
		if v, _ := value(fams, name, nil); v == want {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// value sums the metrics of a family whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	sum, found := 0.0, false
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, found
}

// TestMetricsUnderLoad scrapes the real binary while it streams: counters
// move, every worker is labelled, and the workers' queue gauge rises under
// load and falls back after.
func TestMetricsUnderLoad(t *testing.T) {
	g := startGateway(t, 2)
	before, _ := g.scrape()
	ok0, _ := value(before, "sluice_http_requests_total", map[string]string{"code": "200"})

	stop := make(chan struct{})
	results, wg := loadFor(g.addr, "/payload?size=16MiB", 4, stop)
	maxQueued := 0.0
	deadline := time.Now().Add(20 * time.Second)
	for maxQueued == 0 && time.Now().Before(deadline) {
		fams, _ := g.scrape()
		q, _ := value(fams, "sluice_worker_queued_bytes", nil)
		maxQueued = max(maxQueued, q)
	}
	close(stop)
	wg.Wait()
	if _, errs := results(); len(errs) > 0 {
		t.Fatalf("load failed: %v", errs[0])
	}
	after, raw := g.scrape()
	ok1, _ := value(after, "sluice_http_requests_total", map[string]string{"code": "200"})
	if ok1 <= ok0 {
		t.Fatalf("sluice_http_requests_total{code=200} did not move: %v -> %v", ok0, ok1)
	}
	for _, w := range []string{"0", "1"} {
		for _, name := range []string{"sluice_worker_inflight", "sluice_worker_flush_lag_seconds", "go_sched_latencies_seconds", "sluice_worker_up"} {
			if _, found := value(after, name, map[string]string{"worker": w}); !found {
				t.Fatalf("%s has no worker=%q series\n%s", name, w, raw)
			}
		}
	}
	if _, found := value(after, "go_goroutines", map[string]string{"worker": "parent"}); !found {
		t.Fatal("the parent's runtime metrics are missing")
	}
	if lag, _ := value(after, "sluice_worker_flush_lag_seconds", nil); lag == 0 {
		t.Fatal("no flush lag was observed while streaming")
	}
	if maxQueued == 0 {
		t.Fatal("sluice_worker_queued_bytes never rose above 0 under load")
	}
	if !g.waitMetric("sluice_worker_queued_bytes", 0, 10*time.Second) {
		t.Fatal("sluice_worker_queued_bytes did not fall back to 0 after the load")
	}
	t.Logf("requests 200: %v -> %v; peak queued bytes seen %v", ok0, ok1, maxQueued)

	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(raw)
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed; skipping promtool check metrics")
	}
}

// TestProfileOneWorkerThroughParent: a CPU profile of worker 0, taken
// through the parent while it burns CPU in /payload, attributes samples to
// the route label.
func TestProfileOneWorkerThroughParent(t *testing.T) {
	g := startGateway(t, 1)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fetch(g.addr + "/payload?size=4KiB&cpu=2500ms")
		}()
	}
	defer wg.Wait()
	resp, err := http.Get(g.admin + "/debug/workers/0/pprof/profile?seconds=2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("profile through the parent: %d %s", resp.StatusCode, msg)
	}
	p, err := profile.Parse(resp.Body)
	if err != nil {
		t.Fatalf("parsing the worker's profile: %v", err)
	}
	var labelled int64
	for _, s := range p.Sample {
		if v := s.Label["route"]; len(v) > 0 && v[0] == "/payload" {
			labelled += s.Value[0]
		}
	}
	if labelled == 0 {
		t.Fatalf("no sample in the worker's CPU profile carries route=/payload (%d samples)", len(p.Sample))
	}
	t.Logf("%d of the profile's samples carry route=/payload", labelled)
}

// TestTuneInFlightLimitLive: PUT /config changes the per-worker in-flight
// limit of a running gateway, and the new limit holds.
func TestTuneInFlightLimitLive(t *testing.T) {
	g := startGateway(t, 1, "--max-inflight", "1")
	burst := func(n int) (peak int) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); fetch(g.addr + "/payload?size=4KiB&cpu=600ms") }()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		for {
			select {
			case <-done:
				return peak
			default:
			}
			peak = max(peak, g.status().Open)
			time.Sleep(10 * time.Millisecond)
		}
	}
	if peak := burst(3); peak != 1 {
		t.Fatalf("with --max-inflight 1, %d requests ran at once on the worker", peak)
	}
	req, _ := http.NewRequest("PUT", g.admin+"/config", strings.NewReader(`{"max_inflight": 3}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT /config: %d %s", resp.StatusCode, body)
	}
	var cfg struct {
		MaxInFlight int                        `json:"max_inflight"`
		Workers     map[string]json.RawMessage `json:"workers"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil || cfg.MaxInFlight != 3 || !strings.Contains(string(cfg.Workers["0"]), `"max_inflight": 3`) && !strings.Contains(string(cfg.Workers["0"]), `"max_inflight":3`) {
		t.Fatalf("config after tuning: %s (%v)", body, err)
	}
	if peak := burst(3); peak != 3 {
		t.Fatalf("after tuning max_inflight to 3, at most %d ran at once", peak)
	}
	fams, _ := g.scrape()
	if v, _ := value(fams, "sluice_gateway_max_inflight_per_worker", nil); v != 3 {
		t.Fatalf("metric sluice_gateway_max_inflight_per_worker = %v, want 3", v)
	}
	req, _ = http.NewRequest("PUT", g.admin+"/config", strings.NewReader(`{"max_inflight": -1}`))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("max_inflight -1 answered %d; want 400", resp.StatusCode)
	}
	_ = fmt.Sprint
}

// TestTuneSchedReplacesWorkers: changing the scheduling policy at run time
// replaces the workers one at a time, and the new ones run the new policy.
func TestTuneSchedReplacesWorkers(t *testing.T) {
	g := startGateway(t, 2)
	req, _ := http.NewRequest("PUT", g.admin+"/config", strings.NewReader(`{"sched": "round-robin"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT sched: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(g.admin + "/config")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Count(strings.ReplaceAll(string(body), " ", ""), `"sched":"round-robin"`) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers not on round-robin 30s after the change: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := fetch(g.addr + "/payload?size=1MiB"); err != nil {
		t.Fatal(err)
	}
}

// TestTunedWatermarksOutliveARestart: workers started after a PUT /config
// (here by SIGHUP) get the watermarks in force, not defaults derived anew.
func TestTunedWatermarksOutliveARestart(t *testing.T) {
	g := startGateway(t, 1)
	req, _ := http.NewRequest("PUT", g.admin+"/config", strings.NewReader(`{"high_watermark": 16777216}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	before := g.status().Workers[0].PID
	g.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(30 * time.Second)
	for g.status().Workers[0].PID == before || g.status().Workers[0].State != "up" {
		if time.Now().After(deadline) {
			t.Fatal("worker not replaced 30s after SIGHUP")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err = http.Get(g.admin + "/config")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	compact := strings.ReplaceAll(strings.ReplaceAll(string(body), " ", ""), "\n", "")
	for _, want := range []string{`"high_watermark":16777216`, `"low_watermark":2097152`, `"queue_limit":16777216`} {
		if !strings.Contains(compact, want) {
			t.Fatalf("after the restart /config lacks %s:\n%s", want, body)
		}
	}
}
