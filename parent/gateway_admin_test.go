package parent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/sluicegw/sluice/child"
	"github.com/sluicegw/sluice/ipc"
)

// gwScrape fetches /metrics and parses it.
func (e *gwEnv) gwScrape() ([]*dto.MetricFamily, string) {
	e.t.Helper()
	resp, body := e.adminDo("GET", "/metrics", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		e.t.Fatalf("GET /metrics: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		e.t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	var out []*dto.MetricFamily
	for _, f := range fams {
		out = append(out, f)
	}
	return out, body
}

// gwAnswerAdmin serves one admin stream on a raw worker: it checks the
// head and answers code with body.
func gwAnswerAdmin(t *testing.T, r *gwRaw, method, path string, code string, body string) {
	st := r.accept(t)
	h := st.Head()
	if h.Get(":sluice") != "admin" || h.Get(":method") != method || h.Get(":path") != path || h.Get(":authority") != "sluice-admin" {
		t.Errorf("admin stream head %v; want %s %s marked admin", h, method, path)
	}
	st.WriteHead(ipc.Fields{{Name: ":status", Value: code}, {Name: "Content-Type", Value: "text/plain"}}, false)
	io.WriteString(st, body)
	st.CloseWrite()
}

// TestMetricsMergesParentAndWorkers: one scrape carries the parent's
// figures (requests, gateway bounds, worker slots, its runtime with
// worker="parent") and every worker's, fetched over an admin stream while
// the worker's only handler slot is busy and labelled worker="N"; a worker
// that cannot answer costs only its own figures.
func TestMetricsMergesParentAndWorkers(t *testing.T) {
	e := gwStart(t, Config{Workers: 2, MaxInFlight: 1, QueueTimeout: gwWait})
	h := gwNewHold()
	w := e.addWorker(0, h, &child.Config{MaxInFlight: 1})
	e.addSlot(0, w.b)
	raw := e.addRawWorker(1)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		gwAnswerAdmin(t, raw, "GET", "/metrics", "500", "broken\n")
	}()
	done := e.getAsync("/done")
	gwRecv(t, h.started, "a request")
	h.let(t)
	if r := gwRecv(t, done, "its response"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("%v %v", r.err, r.resp)
	}
	busy := e.getAsync("/busy")
	gwRecv(t, h.started, "the busy request")
	gwUntil(t, "the worker reports its handler", func() bool { l, _ := w.conn.PeerLoad(); return l.InFlight == 1 })

	fams, raw0 := e.gwScrape()
	gwRecv(t, answered, "the scrape of worker 1")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sluice_http_requests_total", map[string]string{"code": "200"}, 1},
		{"sluice_http_time_to_first_byte_seconds", nil, 1},
		{"sluice_http_request_duration_seconds", nil, 1},
		{"sluice_worker_up", map[string]string{"worker": "0"}, 1},
		{"sluice_worker_open_streams", map[string]string{"worker": "0"}, 1},
		{"sluice_worker_restarts_total", map[string]string{"worker": "0"}, 0},
		{"sluice_gateway_waiting_requests", nil, 0},
		{"sluice_gateway_max_waiting_requests", nil, DefaultMaxQueue},
		{"sluice_gateway_max_inflight_per_worker", nil, 1},
		{"sluice_gateway_queue_timeout_seconds", nil, gwWait.Seconds()},
		{"sluice_gateway_stream_window_bytes", nil, ipc.DefaultStreamWindow},
		{"sluice_gateway_draining", nil, 0},
		// The worker's own figures, over its connection.
		{"sluice_worker_inflight", map[string]string{"worker": "0"}, 1},
		{"sluice_worker_max_inflight", map[string]string{"worker": "0"}, 1},
		{"sluice_worker_handlers_started_total", map[string]string{"worker": "0"}, 2},
	} {
		if got := gwSum(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v; want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, c := range []struct{ name, worker string }{
		{"go_goroutines", "parent"},
		{"go_goroutines", "0"},
		{"process_cpu_seconds_total", "parent"},
		{"sluice_worker_flush_lag_seconds", "0"},
	} {
		if !strings.Contains(raw0, c.name+`{worker="`+c.worker+`"}`) && !strings.Contains(raw0, c.name+`_count{worker="`+c.worker+`"}`) {
			t.Errorf("/metrics lacks %s{worker=%q}", c.name, c.worker)
		}
	}
	if strings.Contains(raw0, `worker="1"`) {
		t.Errorf("worker 1 answered 500, yet its figures appear:\n%s", raw0)
	}
	if recs := e.logs.records("scraping a worker's metrics"); len(recs) != 1 || recs[0]["worker"] != 1.0 || !strings.Contains(recs[0]["err"].(string), "worker /metrics answered 500") {
		t.Errorf("log of the failed scrape: %v", recs)
	}
	h.let(t)
	if r := gwRecv(t, busy, "the busy response"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("%v %v", r.err, r.resp)
	}
}

// TestMergeFamilies: a worker's families gain worker="N"; one whose type
// differs from the parent's family of the same name is left out.
func TestMergeFamilies(t *testing.T) {
	counter := func(name string, v float64, labels ...string) *dto.MetricFamily {
		m := &dto.Metric{Counter: &dto.Counter{Value: proto.Float64(v)}}
		for i := 0; i < len(labels); i += 2 {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(labels[i]), Value: proto.String(labels[i+1])})
		}
		return &dto.MetricFamily{Name: proto.String(name), Type: dto.MetricType_COUNTER.Enum(), Metric: []*dto.Metric{m}}
	}
	gauge := &dto.MetricFamily{Name: proto.String("shared_gauge"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(7)}}}}
	all := map[string]*dto.MetricFamily{
		"shared_total": counter("shared_total", 1, "worker", "parent"),
		"shared_gauge": gauge,
	}
	mergeFamilies(all, map[string]*dto.MetricFamily{
		"shared_total": counter("shared_total", 2, "code", "200"),
		"shared_gauge": counter("shared_gauge", 3),
		"worker_only":  counter("worker_only", 4),
	}, "3")
	render := func(f *dto.MetricFamily) string {
		var b bytes.Buffer
		expfmt.MetricFamilyToText(&b, f)
		return b.String()
	}
	got := render(all["shared_total"]) + render(all["shared_gauge"]) + render(all["worker_only"])
	want := "# TYPE shared_total counter\nshared_total{worker=\"parent\"} 1\nshared_total{code=\"200\",worker=\"3\"} 2\n" +
		"# TYPE shared_gauge gauge\nshared_gauge 7\n" +
		"# TYPE worker_only counter\nworker_only{worker=\"3\"} 4\n"
	if got != want {
		t.Fatalf("merged:\n%s\nwant:\n%s", got, want)
	}
}

// gwConfig is GET /config's answer.
type gwConfig struct {
	MaxInFlight  int                        `json:"max_inflight"`
	QueueTimeout string                     `json:"queue_timeout"`
	MaxQueue     int                        `json:"max_queue"`
	Workers      map[string]json.RawMessage `json:"workers"`
}

func gwDecodeConfig(t *testing.T, body string) (gwConfig, map[string]map[string]any) {
	t.Helper()
	var c gwConfig
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatalf("config %q: %v", body, err)
	}
	workers := map[string]map[string]any{}
	for id, raw := range c.Workers {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		workers[id] = m
	}
	return c, workers
}

// TestGetConfig: GET /config shows the parent's live settings and each
// worker's, read over an admin stream; a worker that cannot answer is left
// out.
func TestGetConfig(t *testing.T) {
	e := gwStart(t, Config{Workers: 2, MaxQueue: 9, QueueTimeout: 1500 * time.Millisecond})
	e.addWorker(0, http.NotFoundHandler(), &child.Config{MaxInFlight: 3, HighWatermark: 4 << 20})
	raw := e.addRawWorker(1)
	go gwAnswerAdmin(t, raw, "GET", "/config", "200", "not json")
	resp, body := e.adminDo("GET", "/config", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /config: %d %s", resp.StatusCode, body)
	}
	c, workers := gwDecodeConfig(t, body)
	if c.MaxInFlight != DefaultMaxInFlight || c.QueueTimeout != "1.5s" || c.MaxQueue != 9 || len(workers) != 1 {
		t.Fatalf("config %+v", c)
	}
	want := map[string]any{"max_inflight": 3.0, "high_watermark": float64(4 << 20), "low_watermark": float64(1 << 20), "queue_limit": float64(8 << 20), "admission": true, "sched": "sequential"}
	if !mapsEqual(workers["0"], want) {
		t.Fatalf("worker 0's config %v; want %v", workers["0"], want)
	}
}

func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestPutConfigAppliesLive: PUT /config changes the parent's in-flight
// limit (a waiting request starts at once), its queue timeout, and every
// worker's settings, and records them for workers started later.
func TestPutConfigAppliesLive(t *testing.T) {
	e := gwStart(t, Config{MaxInFlight: 1, QueueTimeout: gwWait})
	h := gwNewHold()
	e.addWorker(0, h, &child.Config{MaxInFlight: 1})
	first := e.getAsync("/first")
	gwRecv(t, h.started, "the first request")
	second := e.getAsync("/second")
	gwUntil(t, "the second request waits", func() bool { return e.gwWaiting() == 1 })

	resp, body := e.adminDo("PUT", "/config", `{"max_inflight": 2, "queue_timeout": "250ms", "high_watermark": 16777216, "low_watermark": 1048576}`)
	if resp.StatusCode != 200 {
		t.Fatalf("PUT /config: %d %s", resp.StatusCode, body)
	}
	if p := gwRecv(t, h.started, "the waiting request to start"); p != "/second" {
		t.Fatalf("started %s", p)
	}
	c, workers := gwDecodeConfig(t, body)
	if c.MaxInFlight != 2 || c.QueueTimeout != "250ms" {
		t.Fatalf("config after PUT: %+v", c)
	}
	want := map[string]any{"max_inflight": 2.0, "high_watermark": 16777216.0, "low_watermark": 1048576.0, "queue_limit": float64(16 << 20), "admission": true, "sched": "sequential"}
	if !mapsEqual(workers["0"], want) {
		t.Fatalf("worker 0 after PUT: %v; want %v", workers["0"], want)
	}
	if e.g.maxInFlight() != 2 || e.g.queueTimeout() != 250*time.Millisecond {
		t.Fatalf("parent: max_inflight %d queue_timeout %v", e.g.maxInFlight(), e.g.queueTimeout())
	}
	wantEnv := map[string]string{"SLUICE_MAX_INFLIGHT": "2", "SLUICE_HIGH_WATERMARK": "16777216", "SLUICE_LOW_WATERMARK": "1048576", "SLUICE_QUEUE_LIMIT": "16777216"}
	if env := gwEffectiveEnv(e.g.sup.workerEnv()); !maps.Equal(env, wantEnv) {
		t.Fatalf("environment for later workers %q; want %q", env, wantEnv)
	}
	if got := gwMetric(t, e.g, "sluice_gateway_queue_timeout_seconds", nil); got != 0.25 {
		t.Fatalf("queue timeout metric %v", got)
	}
	if recs := e.logs.records("configuration tuned at run time"); len(recs) != 1 || recs[0]["max_inflight"] != 2.0 {
		t.Fatalf("log: %v", recs)
	}
	// Both slots are busy now; the new queue timeout applies to the next.
	start := time.Now()
	resp3, msg, err := e.get("/third")
	if err != nil || resp3.StatusCode != 503 || !strings.HasPrefix(string(msg), "sluice: no worker had room within the queue timeout") || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("third request: %v %v %q after %v", err, resp3, msg, time.Since(start))
	}
	for _, ch := range []<-chan gwResult{first, second} {
		h.let(t)
		if r := gwRecv(t, ch, "a response"); r.err != nil || r.resp.StatusCode != 200 {
			t.Fatalf("%v %v", r.err, r.resp)
		}
	}
}

// TestPutConfigRejectsBadInput: a bad PUT /config is 400 with a message
// that names what is wrong, and changes nothing, also when a worker
// refuses. (The messages' wording belongs to the validation, which is
// being reworked on main: the test pins what each names, not every word.)
func TestPutConfigRejectsBadInput(t *testing.T) {
	e := gwStart(t, Config{})
	// A worker with a hard cap of its own, which takes a new one live.
	e.addWorker(0, http.NotFoundHandler(), &child.Config{MaxInFlight: 2})
	for _, tc := range []struct{ body, prefix, mention string }{
		{`{"max_inflight": `, "sluice: PUT /config", "JSON"},
		{`{"bogus": 1}`, "sluice: PUT /config", `"bogus"`},
		{`{"max_inflight": "3"}`, "sluice: PUT /config", "max_inflight"},
		{`{"queue_timeout": "soon"}`, "sluice: ", `queue_timeout "soon"`},
		{`{"queue_timeout": "-1s"}`, "sluice: ", `queue_timeout "-1s"`},
		{`{"sched": "fifo"}`, "sluice: ", "sequential or round-robin"},
		{`{"max_inflight": -1}`, "sluice: max_inflight -1", "0 (automatic) or a hard cap of 1.."},
		{fmt.Sprintf(`{"max_inflight": %d}`, child.DefaultMaxStreams+1), fmt.Sprintf("sluice: max_inflight %d", child.DefaultMaxStreams+1), fmt.Sprintf("1..%d", child.DefaultMaxStreams)},
		{`{"max_inflight": 5, "queue_timeout": "1s", "low_watermark": 999999999}`, "sluice: worker 0 refused the change (400): sluice worker: ", "low_watermark 999999999"},
	} {
		resp, body := e.adminDo("PUT", "/config", tc.body)
		if resp.StatusCode != 400 || !strings.HasPrefix(body, tc.prefix) || !strings.Contains(body, tc.mention) || !strings.HasSuffix(body, "\n") {
			t.Errorf("PUT %s: %d %q; want 400 starting %q and naming %s", tc.body, resp.StatusCode, body, tc.prefix, tc.mention)
		}
	}
	if e.g.maxInFlight() != DefaultMaxInFlight || e.g.queueTimeout() != DefaultQueueTimeout || len(e.g.sup.workerEnv()) != 0 {
		t.Fatalf("a refused PUT changed something: max_inflight %d queue_timeout %v env %q", e.g.maxInFlight(), e.g.queueTimeout(), e.g.sup.workerEnv())
	}
}

// TestPutConfigWorkerFails: a worker that fails the change is a 502 naming
// it, and the parent keeps its settings.
func TestPutConfigWorkerFails(t *testing.T) {
	e := gwStart(t, Config{})
	raw := e.addRawWorker(4)
	go func() {
		st := raw.accept(t)
		st.Reset(ipc.CodeInternal)
	}()
	resp, body := e.adminDo("PUT", "/config", `{"max_inflight": 3}`)
	const prefix, suffix = "sluice: worker 4 did not answer the change: worker 4: ", "; workers before it may have applied it, see GET /config\n"
	if resp.StatusCode != 502 || !strings.HasPrefix(body, prefix) || !strings.HasSuffix(body, suffix) || !strings.Contains(body, "INTERNAL") {
		t.Fatalf("got %d %q; want 502 %q...the reset (INTERNAL)...%q", resp.StatusCode, body, prefix, suffix)
	}
	if e.g.maxInFlight() != DefaultMaxInFlight {
		t.Fatal("the parent applied a change a worker failed")
	}
}

// TestPutConfigSched: a new scheduling policy is recorded for the workers
// started from now on (the rolling restart that applies it has no worker
// to replace here).
func TestPutConfigSched(t *testing.T) {
	e := gwStart(t, Config{})
	resp, body := e.adminDo("PUT", "/config", `{"sched": "round-robin"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("PUT sched: %d %s", resp.StatusCode, body)
	}
	if env := gwEffectiveEnv(e.g.sup.workerEnv()); !maps.Equal(env, map[string]string{"SLUICE_SCHED": "round-robin"}) {
		t.Fatalf("environment for later workers %q", env)
	}
	if recs := e.logs.records("scheduling policy changed; replacing workers one at a time"); len(recs) != 1 || recs[0]["sched"] != "round-robin" {
		t.Fatalf("log: %v", recs)
	}
}

// TestWorkerPprofThroughParent: /debug/workers/N/pprof/... is the worker's
// own pprof, reached over an admin stream, query included.
func TestWorkerPprofThroughParent(t *testing.T) {
	e := gwStart(t, Config{})
	e.addWorker(0, http.NotFoundHandler(), nil)
	resp, body := e.adminDo("GET", "/debug/workers/0/pprof/", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "Types of profiles available") {
		t.Fatalf("index: %d %q %.200q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, body = e.adminDo("GET", "/debug/workers/0/pprof/goroutine?debug=1", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "goroutine profile: total ") {
		t.Fatalf("goroutine profile: %d %.200q", resp.StatusCode, body)
	}
	resp, body = e.adminDo("GET", "/debug/workers/0/pprof/nosuch", "")
	if resp.StatusCode != 404 || body != "Unknown profile\n" {
		t.Fatalf("unknown profile: %d %q; want the worker's 404", resp.StatusCode, body)
	}
	resp, body = e.adminDo("GET", "/debug/workers/zero/pprof/", "")
	if resp.StatusCode != 400 || body != "worker id \"zero\" is not a number; see /status\n" {
		t.Fatalf("bad id: %d %q", resp.StatusCode, body)
	}
	resp, body = e.adminDo("GET", "/debug/workers/7/pprof/", "")
	if resp.StatusCode != 502 || body != "sluice: worker 7 is not up\n" {
		t.Fatalf("absent worker: %d %q", resp.StatusCode, body)
	}
	resp, body = e.adminDo("GET", "/debug/pprof/", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "Types of profiles available") {
		t.Fatalf("the parent's own pprof: %d", resp.StatusCode)
	}
}

// TestWorkerPprofCutIsNotComplete: a profile the worker fails to finish
// reaches the operator cut, never as a complete-looking file.
func TestWorkerPprofCutIsNotComplete(t *testing.T) {
	e := gwStart(t, Config{})
	raw := e.addRawWorker(0)
	go func() {
		st := raw.accept(t)
		st.WriteHead(ipc.Fields{{Name: ":status", Value: "200"}, {Name: "Content-Type", Value: "application/octet-stream"}}, false)
		st.Write(make([]byte, 64<<10))
		st.End(ipc.CodeInternal, nil) // the profile failed midway

	}()
	resp, err := e.client.Get(e.admin.URL + "/debug/workers/0/pprof/profile?seconds=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut profile read ended with %v; want unexpected EOF", err)
	}
}

// gwEffectiveEnv is what a process started with env would see: the last
// value of each variable.
func gwEffectiveEnv(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
