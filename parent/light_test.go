package parent

import (
	"testing"

	"github.com/sluicegw/sluice/ipc"
)

// gwHint returns the value of a pseudo-field of a request head, or "".
func gwHint(head ipc.Fields, name string) string {
	for _, f := range head {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// gwAnswerCPU answers a stream with 200 and a body, its END reporting the
// CPU its handler "used" (as a worker that measures does), or nothing if
// cpuMicros is "".
func gwAnswerCPU(t *testing.T, st *ipc.Stream, cpuMicros string) {
	t.Helper()
	var end ipc.Fields
	if cpuMicros != "" {
		end = ipc.Fields{{Name: fieldCPUUsed, Value: cpuMicros}}
	}
	head := ipc.Fields{{Name: ":status", Value: "200"}, {Name: "Content-Type", Value: "text/plain"}}
	if err := st.WriteResponse(head, []byte("ok\n"), end); err != nil {
		t.Fatal(err)
	}
}

// gwLightCounts returns a backend's open and light streams.
func (e *gwEnv) gwLightCounts(b *backend) (open, light int) {
	e.g.pool.mu.Lock()
	defer e.g.pool.mu.Unlock()
	return b.open, b.light
}

// TestLightLanePassesTheCPULimit: a request of an endpoint measured cheap
// goes to the worker at once while the worker's CPU allowance is taken,
// marked light; one of an expensive endpoint waits in the queue as before.
// The worker's report of the CPU used reaches neither the client's header
// nor its trailers.
func TestLightLanePassesTheCPULimit(t *testing.T) {
	e := gwStart(t, Config{QueueTimeout: gwWait})
	raw := e.addRawWorker(0)
	raw.peer.SendLoad(ipc.Load{Limit: 1})
	gwUntil(t, "the gateway takes the report", func() bool { return raw.b.reported.Load() == 1 })

	// First of its endpoint: not known, so measured, and as a sample it
	// goes by the light lane.
	first := e.getAsync("/api/items/17?verbose=1")
	st := raw.accept(t)
	if gwHint(st.Head(), fieldCost) != "light" || gwHint(st.Head(), fieldMeasure) != "cpu" {
		t.Fatalf("first request of an endpoint: head %v; want it a sample, by the light lane", st.Head())
	}
	gwAnswerCPU(t, st, "150")
	r := gwRecv(t, first, "the first response")
	if r.err != nil || r.resp.StatusCode != 200 || string(r.body) != "ok\n" {
		t.Fatalf("first: %v %v %q", r.err, r.resp, r.body)
	}
	if len(r.resp.Trailer) != 0 {
		t.Fatalf("first: trailers %v; want none", r.resp.Trailer)
	}
	for name := range r.resp.Header {
		if name[0] == ':' || name == "Cpu-Us" || name == "Trailer" {
			t.Fatalf("the worker's CPU report reached the client: %v", r.resp.Header)
		}
	}
	// An export's sample reports a CPU far above the threshold.
	probe := e.getAsync("/export?format=csv")
	st = raw.accept(t)
	if gwHint(st.Head(), fieldCost) != "light" {
		t.Fatalf("the sample of a new endpoint: head %v; want it by the light lane", st.Head())
	}
	gwAnswerCPU(t, st, "300000")
	gwRecv(t, probe, "the export's sample")

	// An export, now known expensive, takes the worker's only CPU slot.
	export := e.getAsync("/export?format=csv")
	heavy := raw.accept(t)
	if gwHint(heavy.Head(), fieldCost) != "" {
		t.Fatalf("an export after one measured at 300ms marked light: %v", heavy.Head())
	}
	// Another of the same: no room, so it waits.
	export2 := e.getAsync("/export?format=json")
	gwUntil(t, "the second export waits", func() bool { return e.gwWaiting() == 1 })

	// The cheap endpoint, with another id and its parameters' values
	// changed: the same endpoint, light, sent at once past the queue.
	second := e.getAsync("/api/items/42?verbose=0")
	st = raw.accept(t)
	if gwHint(st.Head(), fieldCost) != "light" {
		t.Fatalf("a request of an endpoint measured at 150µs: head %v; want it marked light", st.Head())
	}
	if open, light := e.gwLightCounts(raw.b); e.gwWaiting() != 1 || open != 2 || light != 1 {
		t.Fatalf("%d waiting, %d open, %d light; want the second export waiting, 2 open, 1 light", e.gwWaiting(), open, light)
	}
	gwAnswerCPU(t, st, "120")
	if r := gwRecv(t, second, "the light response"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("light: %v %v", r.err, r.resp)
	}

	// The export ends; the next of it waits its turn no more.
	gwAnswerCPU(t, heavy, "290000")
	if r := gwRecv(t, export, "the export"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("export: %v %v", r.err, r.resp)
	}
	st = raw.accept(t)
	if gwHint(st.Head(), fieldCost) != "" {
		t.Fatalf("an export: head %v; want no light mark", st.Head())
	}
	gwAnswerCPU(t, st, "290000")
	if r := gwRecv(t, export2, "the second export"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("export2: %v %v", r.err, r.resp)
	}
	gwUntil(t, "every stream released", func() bool { open, light := e.gwLightCounts(raw.b); return open == 0 && light == 0 })
	for _, c := range []struct {
		name string
		want float64
	}{
		{"sluice_http_light_total", 3}, // two samples and one known light
		{"sluice_gateway_endpoints_measured", 2},
		{"sluice_gateway_endpoints_light", 1},
	} {
		if got := gwMetric(t, e.g, c.name, nil); got != c.want {
			t.Errorf("%s = %v; want %v", c.name, got, c.want)
		}
	}
}

// TestLightLaneNeedsAWorkerThatMeasures: a worker that has never reported a
// CPU measure gets no light request but a sample, which is how a worker is
// found to measure, whatever the table learnt from others; once its samples
// go unanswered, hardly any.
func TestLightLaneNeedsAWorkerThatMeasures(t *testing.T) {
	e := gwStart(t, Config{QueueTimeout: gwWait})
	raw := e.addRawWorker(0)
	// Taught by hand, as another worker would have.
	c := e.g.costs.classify(gwRequest(t, "GET", e.url("/health"), nil))
	e.g.costs.done(c, 10, true, true)
	samples := 0
	for range 40 {
		done := e.getAsync("/health")
		st := raw.accept(t)
		light, sample := gwHint(st.Head(), fieldCost) == "light", gwHint(st.Head(), fieldMeasure) == "cpu"
		if light && !sample {
			t.Fatalf("a worker that never measured got a light request that is no sample: %v", st.Head())
		}
		if sample {
			samples++
		}
		gwAnswerCPU(t, st, "") // a worker that ignores the hints
		if r := gwRecv(t, done, "the response"); r.err != nil || r.resp.StatusCode != 200 {
			t.Fatalf("%v %v", r.err, r.resp)
		}
	}
	// The three warm-up samples go unanswered; after them, 1 in 256.
	if samples < costMaxMisses || samples > costMaxMisses+3 {
		t.Fatalf("%d samples in 40 requests to a worker that never answers one; want about %d", samples, costMaxMisses)
	}
	if got := gwMetric(t, e.g, "sluice_http_light_total", nil); got != float64(samples) {
		t.Fatalf("%v light requests; want only the %d samples", got, samples)
	}
}

// TestLightLaneUnderAHardCap: a hard cap, set at start or at run time,
// means no cost hints, and light streams already open count against it.
func TestLightLaneUnderAHardCap(t *testing.T) {
	e := gwStart(t, Config{QueueTimeout: gwWait})
	raw := e.addRawWorker(0)
	raw.peer.SendLoad(ipc.Load{Limit: 4})
	gwUntil(t, "the gateway takes the report", func() bool { return raw.b.reported.Load() == 4 })
	first := e.getAsync("/health")
	gwAnswerCPU(t, raw.accept(t), "10")
	gwRecv(t, first, "the first")
	// A light stream stays open.
	held := e.getAsync("/health")
	hst := raw.accept(t)
	if gwHint(hst.Head(), fieldCost) != "light" {
		t.Fatalf("head %v; want it light", hst.Head())
	}
	e.g.pool.setLimit(1)
	// The cap is reached by the light stream: the next waits, and carries
	// no hint when it goes.
	next := e.getAsync("/health")
	gwUntil(t, "a request waits behind the cap", func() bool { return e.gwWaiting() == 1 })
	gwAnswerCPU(t, hst, "10")
	gwRecv(t, held, "the held one")
	st := raw.accept(t)
	if gwHint(st.Head(), fieldCost) != "" || gwHint(st.Head(), fieldMeasure) != "" {
		t.Fatalf("a request under a hard cap carries cost hints: %v", st.Head())
	}
	gwAnswerCPU(t, st, "10")
	if r := gwRecv(t, next, "the next"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("%v %v", r.err, r.resp)
	}
	gwUntil(t, "every stream released", func() bool { open, light := e.gwLightCounts(raw.b); return open == 0 && light == 0 })
}
