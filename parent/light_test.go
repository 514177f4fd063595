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

// gwAnswerCPU answers a stream with 200, a body, and the CPU its handler
// "used" before the head, as a worker measuring it reports.
func gwAnswerCPU(t *testing.T, st *ipc.Stream, cpuMicros string) {
	t.Helper()
	head := ipc.Fields{{Name: ":status", Value: "200"}, {Name: fieldCPUUsed, Value: cpuMicros}, {Name: "Content-Type", Value: "text/plain"}}
	if err := st.WriteResponse(head, []byte("ok\n"), nil); err != nil {
		t.Fatal(err)
	}
}

// TestLightLanePassesTheCPULimit: a request of an endpoint measured cheap
// goes to the worker at once while the worker's CPU allowance is taken,
// marked light; one of an expensive endpoint waits in the queue as before.
// The worker's report of the CPU used never reaches the client.
func TestLightLanePassesTheCPULimit(t *testing.T) {
	e := gwStart(t, Config{QueueTimeout: gwWait})
	raw := e.addRawWorker(0)
	raw.peer.SendLoad(ipc.Load{Limit: 1})
	gwUntil(t, "the gateway takes the report", func() bool { return raw.b.reported.Load() == 1 })

	// First of its endpoint: not known, so not light, and measured.
	first := e.getAsync("/api/items/17?verbose=1")
	st := raw.accept(t)
	if gwHint(st.Head(), fieldCost) != "" || gwHint(st.Head(), fieldMeasure) != "cpu" {
		t.Fatalf("first request of an endpoint: head %v; want a measure hint and no cost hint", st.Head())
	}
	gwAnswerCPU(t, st, "150")
	r := gwRecv(t, first, "the first response")
	if r.err != nil || r.resp.StatusCode != 200 || string(r.body) != "ok\n" {
		t.Fatalf("first: %v %v %q", r.err, r.resp, r.body)
	}
	for name := range r.resp.Header {
		if name[0] == ':' || name == "Cpu-Us" {
			t.Fatalf("the worker's CPU report reached the client: %v", r.resp.Header)
		}
	}

	// An expensive request takes the worker's only CPU slot.
	export := e.getAsync("/export?format=csv")
	heavy := raw.accept(t)
	if gwHint(heavy.Head(), fieldCost) != "" {
		t.Fatalf("unknown endpoint marked light: %v", heavy.Head())
	}
	// Another of the same: no room, so it waits.
	export2 := e.getAsync("/export?format=json")
	gwUntil(t, "the second export waits", func() bool { return e.gwWaiting() == 1 })

	// The cheap endpoint, with another id and its parameters in another
	// order: the same endpoint, light, sent at once past the queue.
	second := e.getAsync("/api/items/42?verbose=0")
	st = raw.accept(t)
	if gwHint(st.Head(), fieldCost) != "light" {
		t.Fatalf("a request of an endpoint measured at 150µs: head %v; want it marked light", st.Head())
	}
	if e.gwWaiting() != 1 {
		t.Fatalf("%d waiting; want only the second export", e.gwWaiting())
	}
	gwAnswerCPU(t, st, "120")
	if r := gwRecv(t, second, "the light response"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("light: %v %v", r.err, r.resp)
	}

	// The export reports a CPU far above the threshold: its endpoint is
	// known and not light, and the next of it waits its turn as before.
	gwAnswerCPU(t, heavy, "300000")
	if r := gwRecv(t, export, "the export"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("export: %v %v", r.err, r.resp)
	}
	st = raw.accept(t)
	if gwHint(st.Head(), fieldCost) != "" {
		t.Fatalf("an export after one measured at 300ms: head %v; want no light mark", st.Head())
	}
	gwAnswerCPU(t, st, "290000")
	if r := gwRecv(t, export2, "the second export"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("export2: %v %v", r.err, r.resp)
	}
	for _, c := range []struct {
		name string
		want float64
	}{
		{"sluice_http_light_total", 1},
		{"sluice_gateway_endpoints_measured", 2},
		{"sluice_gateway_endpoints_light", 1},
	} {
		if got := gwMetric(t, e.g, c.name, nil); got != c.want {
			t.Errorf("%s = %v; want %v", c.name, got, c.want)
		}
	}
}

// TestLightLaneOffUnderAHardCap: with a hard cap the gateway sends no cost
// hints at all, and a cheap endpoint waits like any other.
func TestLightLaneOffUnderAHardCap(t *testing.T) {
	e := gwStart(t, Config{MaxInFlight: 1, QueueTimeout: gwWait})
	raw := e.addRawWorker(0)
	for i := range 2 {
		done := e.getAsync("/health")
		st := raw.accept(t)
		if gwHint(st.Head(), fieldCost) != "" || gwHint(st.Head(), fieldMeasure) != "" {
			t.Fatalf("request %d under a hard cap carries cost hints: %v", i, st.Head())
		}
		gwAnswerCPU(t, st, "10")
		if r := gwRecv(t, done, "the response"); r.err != nil || r.resp.StatusCode != 200 {
			t.Fatalf("%v %v", r.err, r.resp)
		}
	}
	hold := e.getAsync("/health")
	st := raw.accept(t)
	cheap := e.getAsync("/health")
	gwUntil(t, "the second waits behind the cap", func() bool { return e.gwWaiting() == 1 })
	gwAnswerCPU(t, st, "10")
	gwRecv(t, hold, "the first")
	gwAnswerCPU(t, raw.accept(t), "10")
	if r := gwRecv(t, cheap, "the second"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("%v %v", r.err, r.resp)
	}
}
