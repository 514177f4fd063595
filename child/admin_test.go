package child

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/ipc/settings"
)

// adminResp is an admin stream's complete response.
type adminResp struct {
	status int
	header http.Header
	body   []byte
}

// admin sends one request over an admin stream and reads the whole answer.
func (w *worker) admin(t testing.TB, method, path string, body []byte) adminResp {
	t.Helper()
	head := reqHead(method, path, ipc.Field{Name: adminField, Value: adminValue})
	if body != nil {
		head = append(head, ipc.Field{Name: "Content-Length", Value: strconv.Itoa(len(body))})
	}
	st := w.open(t, head, body == nil)
	if body != nil {
		if _, err := st.Write(body); err != nil {
			t.Fatalf("writing the admin request body: %v", err)
		}
		if err := st.CloseWrite(); err != nil {
			t.Fatalf("CloseWrite: %v", err)
		}
	}
	h := readHead(t, st)
	b, err := readBody(t, st)
	if err != nil {
		t.Fatalf("%s %s over an admin stream: reading the body: %v", method, path, err)
	}
	return adminResp{h.status, h.header, b}
}

// scrape fetches /metrics over an admin stream and parses it as the parent
// does.
func (w *worker) scrape(t testing.TB) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	r := w.admin(t, "GET", "/metrics", nil)
	if r.status != 200 {
		t.Fatalf("GET /metrics: %d %s", r.status, r.body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, r.body)
	}
	return fams, r.body
}

// metricValue is the value of the single gauge, counter or histogram (its
// sample count) of a family.
func metricValue(t testing.TB, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil || len(f.Metric) != 1 {
		t.Fatalf("%s: want one metric, got %v", name, f)
	}
	m := f.Metric[0]
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Fatalf("%s: not a gauge, counter or histogram", name)
	return 0
}

// spinning is a handler that burns CPU until released: every handler slot
// busy with CPU-heavy work.
type spinning struct {
	started chan string
	release chan struct{}
	spins   atomic.Int64
}

func newSpinning() *spinning {
	return &spinning{started: make(chan string, 100), release: make(chan struct{})}
}

func (s *spinning) free() {
	select {
	case <-s.release:
	default:
		close(s.release)
	}
}

func (s *spinning) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.started <- r.URL.Path
	x := uint64(1)
	for {
		select {
		case <-s.release:
			fmt.Fprintf(w, "spun %d", x&1)
			return
		default:
		}
		for range 10000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		s.spins.Add(1)
	}
}

func TestAdminMetricsBypassTheGate(t *testing.T) {
	sp := newSpinning()
	wk := startWorker(t, context.Background(), sp, &Config{MaxInFlight: 2}, nil)
	defer sp.free() // before the worker's cleanup, which waits for the handlers
	for _, p := range []string{"/a", "/b", "/c"} {
		wk.get(t, p)
	}
	within(t, sp.started, "a handler")
	within(t, sp.started, "a handler")
	wk.loads.waitFor(t, "2 in flight and 1 waiting", func(l ipc.Load) bool { return l.InFlight == 2 && l.Waiting == 1 })

	// Every slot spins: the admin stream must neither wait nor count.
	fams, raw := wk.scrape(t)
	for name, want := range map[string]float64{
		"sluice_worker_inflight":               2,
		"sluice_worker_waiting":                1,
		"sluice_worker_max_inflight":           2,
		"sluice_worker_handlers_started_total": 2,
		"sluice_worker_queue_limit_bytes":      2 * DefaultHighWatermark,
		"sluice_worker_high_watermark_bytes":   DefaultHighWatermark,
		"sluice_worker_low_watermark_bytes":    DefaultHighWatermark / 4,
		"sluice_worker_handler_panics_total":   0,
		"sluice_worker_refused_total":          0,
		"sluice_worker_recv_budget_bytes":      DefaultRecvBudget,
		"sluice_worker_recv_buffered_bytes":    0,
	} {
		if got := metricValue(t, fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{
		"go_sched_latencies_seconds", "go_gc_pauses_seconds", "process_cpu_seconds_total",
		"sluice_worker_flush_lag_seconds", "sluice_worker_queued_bytes",
		"sluice_worker_socket_unsent_bytes", "sluice_worker_socket_sndbuf_bytes",
	} {
		if fams[name] == nil {
			t.Errorf("%s is missing from /metrics", name)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", raw)
	}
	if sb := metricValue(t, fams, "sluice_worker_socket_sndbuf_bytes"); sb <= 0 {
		t.Errorf("sluice_worker_socket_sndbuf_bytes = %v, want > 0", sb)
	}
	if sp.spins.Load() == 0 {
		t.Error("the handlers never spun")
	}
}

func TestAdminTuneMaxInFlight(t *testing.T) {
	b := newBlocking(t)
	wk := startWorker(t, context.Background(), b, &Config{MaxInFlight: 1}, nil)
	defer b.free()
	sa, sb := wk.get(t, "/a"), wk.get(t, "/b")
	if p := within(t, b.started, "the first handler"); p != "/a" {
		t.Fatalf("started %s first, want /a", p)
	}
	wk.loads.waitFor(t, "1 in flight and 1 waiting", func(l ipc.Load) bool {
		return l.InFlight == 1 && l.Waiting == 1 && l.Limit == 1
	})
	b.noneStarted(t)

	r := wk.admin(t, "PUT", "/config", []byte(`{"max_inflight": 2}`))
	if r.status != 200 {
		t.Fatalf("PUT /config max_inflight 2: %d %s", r.status, r.body)
	}
	var got settings.Config
	if err := json.Unmarshal(r.body, &got); err != nil || got.MaxInFlight == nil || *got.MaxInFlight != 2 {
		t.Fatalf("PUT /config answered %s (%v), want max_inflight 2", r.body, err)
	}
	if p := within(t, b.started, "the waiting handler to start after the raise"); p != "/b" {
		t.Fatalf("started %s, want /b", p)
	}
	wk.loads.waitFor(t, "2 in flight with limit 2", func(l ipc.Load) bool {
		return l.InFlight == 2 && l.Waiting == 0 && l.Limit == 2
	})

	r = wk.admin(t, "GET", "/config", nil)
	want := settings.Config{MaxInFlight: new(2), HighWatermark: new(int64(DefaultHighWatermark)), LowWatermark: new(int64(DefaultHighWatermark / 4)),
		QueueLimit: new(int64(2 * DefaultHighWatermark)), Admission: new(true), Sched: new(settings.PolicySequential)}
	got = settings.Config{}
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != 200 || !got.Equal(want) {
		t.Fatalf("GET /config: %d %s (%v); want %+v", r.status, r.body, err, want)
	}
	for _, key := range []string{"max_inflight", "high_watermark", "low_watermark", "queue_limit", "admission", "sched"} {
		if !bytes.Contains(r.body, []byte(`"`+key+`":`)) {
			t.Errorf("GET /config %s lacks %q", r.body, key)
		}
	}
	fams, _ := wk.scrape(t)
	if v := metricValue(t, fams, "sluice_worker_max_inflight"); v != 2 {
		t.Errorf("sluice_worker_max_inflight = %v after the raise, want 2", v)
	}

	// Lowering lets both run on; a new stream waits.
	if r := wk.admin(t, "PUT", "/config", []byte(`{"max_inflight": 1}`)); r.status != 200 {
		t.Fatalf("PUT /config max_inflight 1: %d %s", r.status, r.body)
	}
	sc := wk.get(t, "/c")
	wk.loads.waitFor(t, "2 in flight and 1 waiting with limit 1", func(l ipc.Load) bool {
		return l.InFlight == 2 && l.Waiting == 1 && l.Limit == 1
	})
	b.noneStarted(t)

	// 0 gives the gate back to the CPU controller: the two running
	// handlers wait on a channel, hold no CPU, and /c starts beside them.
	if r := wk.admin(t, "PUT", "/config", []byte(`{"max_inflight": 0}`)); r.status != 200 || !bytes.Contains(r.body, []byte(`"max_inflight":0`)) {
		t.Fatalf("PUT /config max_inflight 0: %d %s", r.status, r.body)
	}
	if p := within(t, b.started, "/c to start under the automatic limit"); p != "/c" {
		t.Fatalf("started %s, want /c", p)
	}
	b.free()
	for _, st := range []*ipc.Stream{sa, sb, sc} {
		if body := mustBody(t, st); !strings.HasPrefix(body, "done") {
			t.Errorf("body %q", body)
		}
	}
}

func TestAdminTuneRejectsBadValues(t *testing.T) {
	wk := startWorker(t, context.Background(), http.NotFoundHandler(), &Config{MaxInFlight: 3, HighWatermark: 1 << 20, LowWatermark: 256 << 10}, nil)
	for _, c := range []struct{ body, mention string }{
		{`{"max_inflight": -4}`, "max_inflight"},
		{`{"low_watermark": 2000000}`, "low_watermark"},
		{`{"high_watermark": 1000, "low_watermark": 2000}`, "low_watermark"},
		{`{"high_watermark": 100}`, "high_watermark"},
		{`{"high_watermark": 99999999999}`, "high_watermark"},
		{`{"high_watermark": 0}`, "high_watermark"},
		{`{"sched": "round-robin"}`, "sched"},
		{`{"queue_limit": 5}`, "queue_limit"},
		{`{"admission": false}`, "admission"},
		{`{"max_inflight": "2"}`, "max_inflight"},
		{fmt.Sprintf(`{"max_inflight": %d}`, DefaultMaxStreams+1), fmt.Sprintf("stream limit %d", DefaultMaxStreams)},
		{`{"max_inflight": 1048577}`, "max_inflight 1048577 is out of range"},
		{`{"queue_timeout": "5s"}`, "queue_timeout"},
		{`{"bogus": 1}`, "bogus"},
		{`not json`, "JSON"},
	} {
		r := wk.admin(t, "PUT", "/config", []byte(c.body))
		if r.status != 400 || !strings.Contains(string(r.body), c.mention) {
			t.Errorf("PUT /config %s: %d %q; want 400 naming %s", c.body, r.status, r.body, c.mention)
		}
	}
	// Nothing changed; a GET's answer sent back is accepted as is.
	r := wk.admin(t, "GET", "/config", nil)
	want := `{"max_inflight":3,"high_watermark":1048576,"low_watermark":262144,"queue_limit":2097152,"admission":true,"sched":"sequential"}`
	if strings.TrimSpace(string(r.body)) != want {
		t.Fatalf("GET /config after refused changes: %s, want %s", r.body, want)
	}
	if r := wk.admin(t, "PUT", "/config", r.body); r.status != 200 || strings.TrimSpace(string(r.body)) != want {
		t.Fatalf("PUT /config of GET's answer: %d %s", r.status, r.body)
	}

	r = wk.admin(t, "PUT", "/config", []byte(`{"high_watermark": 2097152, "low_watermark": 1048576}`))
	want = `{"max_inflight":3,"high_watermark":2097152,"low_watermark":1048576,"queue_limit":2097152,"admission":true,"sched":"sequential"}`
	if r.status != 200 || strings.TrimSpace(string(r.body)) != want {
		t.Fatalf("PUT /config watermarks: %d %s, want %s", r.status, r.body, want)
	}
	fams, _ := wk.scrape(t)
	if h, l := metricValue(t, fams, "sluice_worker_high_watermark_bytes"), metricValue(t, fams, "sluice_worker_low_watermark_bytes"); h != 2<<20 || l != 1<<20 {
		t.Errorf("watermark gauges %v, %v after the change; want 2097152, 1048576", h, l)
	}
}

func TestAdminTuneWithAdmissionOff(t *testing.T) {
	wk := startWorker(t, context.Background(), http.NotFoundHandler(), &Config{DisableAdmission: true}, nil)
	r := wk.admin(t, "PUT", "/config", []byte(`{"max_inflight": 5}`))
	if r.status != 400 || !strings.Contains(string(r.body), "admission is off") {
		t.Fatalf("PUT max_inflight with admission off: %d %s; want 400 saying admission is off", r.status, r.body)
	}
	r = wk.admin(t, "GET", "/config", nil)
	var c settings.Config
	if err := json.Unmarshal(r.body, &c); err != nil || c.Admission == nil || *c.Admission || c.MaxInFlight == nil || *c.MaxInFlight != 0 {
		t.Fatalf("GET /config: %s (%v)", r.body, err)
	}
	fams, _ := wk.scrape(t)
	if v := metricValue(t, fams, "sluice_worker_max_inflight"); v != DefaultMaxStreams {
		t.Errorf("sluice_worker_max_inflight = %v with admission off, want the stream limit %d", v, DefaultMaxStreams)
	}
}

func TestAdminPprofGoroutineShowsRouteLabels(t *testing.T) {
	t.Setenv(settings.EnvWorkerID, "7")
	b := newBlocking(t)
	wk := startWorker(t, context.Background(), b, &Config{MaxInFlight: 1}, nil)
	defer b.free()
	st := wk.get(t, "/burn/deep/path")
	within(t, b.started, "the handler")

	r := wk.admin(t, "GET", "/debug/pprof/goroutine?debug=1", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "goroutine") {
		t.Fatalf("GET /debug/pprof/goroutine?debug=1: %d\n%.2000s", r.status, r.body)
	}
	if want := `labels: {"route":"/burn", "worker":"7"}`; !strings.Contains(string(r.body), want) {
		t.Errorf("the goroutine profile lacks %s:\n%s", want, r.body)
	}
	r = wk.admin(t, "GET", "/debug/pprof/", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "goroutine") {
		t.Errorf("GET /debug/pprof/: %d %.500s", r.status, r.body)
	}
	r = wk.admin(t, "GET", "/debug/pprof/cmdline", nil)
	if r.status != 200 || !strings.Contains(string(r.body), os.Args[0]) {
		t.Errorf("GET /debug/pprof/cmdline: %d %q", r.status, r.body)
	}
	b.free()
	mustBody(t, st)
}

// TestAdminCPUProfileAttributesRoutes takes a CPU profile over an admin
// stream, as the parent's /debug/workers/ID/pprof/profile does, while a
// handler burns CPU: its samples carry the handler's route label.
func TestAdminCPUProfileAttributesRoutes(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a one-second CPU profile")
	}
	t.Setenv(settings.EnvWorkerID, "3")
	sp := newSpinning()
	wk := startWorker(t, context.Background(), sp, &Config{MaxInFlight: 1}, nil)
	defer sp.free()
	st := wk.get(t, "/burn/x")
	within(t, sp.started, "the burning handler")

	r := wk.admin(t, "GET", "/debug/pprof/profile?seconds=1", nil)
	if r.status != 200 {
		t.Fatalf("GET /debug/pprof/profile: %d %s", r.status, r.body)
	}
	p, err := profile.ParseData(r.body)
	if err != nil {
		t.Fatalf("parsing the CPU profile: %v", err)
	}
	labelled := 0
	for _, s := range p.Sample {
		if route := s.Label["route"]; len(route) == 1 && route[0] == "/burn" {
			if w := s.Label["worker"]; len(w) != 1 || w[0] != "3" {
				t.Fatalf("a /burn sample has worker label %q, want 3", w)
			}
			labelled++
		}
	}
	if labelled == 0 {
		t.Fatalf("none of the profile's %d samples carries route=/burn", len(p.Sample))
	}
	sp.free()
	mustBody(t, st)
}

func TestMetricsPromlint(t *testing.T) {
	flushed := make(chan time.Duration, 1000)
	pcfg := &ipc.Config{OnFlushed: func(lag time.Duration, _ int) {
		select {
		case flushed <- lag:
		default:
		}
	}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 100<<10))
	})
	wk := startWorker(t, context.Background(), h, &Config{IPC: pcfg}, nil)
	mustBody(t, wk.get(t, "/x"))
	// The histogram observes before the user's OnFlushed is called.
	within(t, flushed, "the user's OnFlushed")

	fams, raw := wk.scrape(t)
	if n := metricValue(t, fams, "sluice_worker_flush_lag_seconds"); n == 0 {
		t.Error("sluice_worker_flush_lag_seconds observed nothing while a response was written")
	}
	if n := metricValue(t, fams, "sluice_worker_handlers_started_total"); n != 1 {
		t.Errorf("sluice_worker_handlers_started_total = %v, want 1", n)
	}
	problems, err := promlint.New(bytes.NewReader(raw)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestMetricsCountPanics(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
		panic("boom")
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	for _, p := range []string{"/boom", "/abort", "/boom"} {
		st := wk.get(t, p)
		if h := readHead(t, st); h.status != 500 {
			t.Errorf("%s: status %d, want 500", p, h.status)
		}
		readBody(t, st)
	}
	fams, _ := wk.scrape(t)
	if n := metricValue(t, fams, "sluice_worker_handler_panics_total"); n != 2 {
		t.Errorf("sluice_worker_handler_panics_total = %v, want 2 (http.ErrAbortHandler is not counted)", n)
	}
}

func TestRouteLabel(t *testing.T) {
	for in, want := range map[string]string{
		"/payload": "/payload", "/files/x": "/files", "/files/x/y": "/files",
		"/": "/", "/a/": "/a", "*": "*", "": "",
	} {
		if got := routeLabel(in); got != want {
			t.Errorf("routeLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
