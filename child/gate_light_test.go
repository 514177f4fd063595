package child

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/stream"
)

// admittedLight is admitted for a stream the parent marked light.
func admittedLight(g *gate) (<-chan error, *ticket) {
	t := g.join(true)
	done := make(chan error, 1)
	go func() { done <- g.wait(context.Background(), t) }()
	return done, t
}

// TestGateLightLane: a light stream starts while the automatic limit is
// reached and streams wait; it takes no place in the queue and no slot, and
// the counts the parent routes by leave it out, through its drain.
func TestGateLightLane(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(1, false, nil, nil, nil)
		heavy := admitted(g)
		synctest.Wait()
		if !started(heavy) {
			t.Fatal("the first stream did not start")
		}
		heavyTicket := lastTicket
		waiting := admitted(g)
		synctest.Wait()
		if started(waiting) {
			t.Fatal("a second ordinary stream started under a limit of 1")
		}
		light, lt := admittedLight(g)
		synctest.Wait()
		if !started(light) {
			t.Fatal("the light stream waited behind the limit")
		}
		c := g.counts()
		if c.inFlight != 1 || c.waiting != 1 || c.light != 1 || c.blocked != 0 || c.draining != 0 {
			t.Fatalf("counts %+v; want 1 in flight, 1 waiting, 1 light", c)
		}
		lt.wait(true) // blocked on its client: counted apart
		if c := g.counts(); c.blocked != 0 {
			t.Fatalf("a light handler's wait counted as an ordinary one's: %+v", c)
		}
		g.leave(lt, false)
		synctest.Wait()
		if started(waiting) {
			t.Fatal("a light handler's end let a waiting stream past the limit")
		}
		if c := g.counts(); c.light != 0 || c.draining != 0 || c.inFlight != 1 {
			t.Fatalf("after the light handler left: %+v; want its drain not counted", c)
		}
		g.drained(lt)
		g.release(lt)
		// The lane's own bound: with no demand measure, a light handler
		// not blocked on its client counts as computing, and a second
		// one waits while the first computes, not once it blocks.
		light1, l1 := admittedLight(g)
		synctest.Wait()
		if !started(light1) {
			t.Fatal("a light stream did not start with no light handler running")
		}
		light2, l2 := admittedLight(g)
		time.Sleep(10 * cpuPoll)
		synctest.Wait()
		if started(light2) {
			t.Fatal("a second light stream started while the first computes under a limit of 1")
		}
		l1.wait(true)
		time.Sleep(cpuPoll)
		synctest.Wait()
		if !started(light2) {
			t.Fatal("the second light stream did not start once the first blocked on its client")
		}
		for _, lt := range []*ticket{l1, l2} {
			g.leave(lt, false)
			g.drained(lt)
			g.release(lt)
		}
		if c := g.counts(); c.light != 0 {
			t.Fatalf("counts %+v after the light handlers left", c)
		}
		g.leave(heavyTicket, false)
		synctest.Wait()
		if !started(waiting) {
			t.Fatal("the waiting stream did not start once the slot was free")
		}
		g.stop()
	})
}

// TestGateLightLaneWaitsForMemory: a light stream still waits while the
// send budget is above its high watermark, and not under a hard cap, where
// it queues like any other.
func TestGateLightLaneWaitsForMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget := stream.NewBudget(1<<20, 1<<16, 1<<10)
		g := newGate(4, false, budget, nil, nil)
		budget.AddBacklog(1 << 17) // the writers have that much to send
		light, _ := admittedLight(g)
		synctest.Wait()
		if started(light) {
			t.Fatal("a light stream started above the high watermark")
		}
		budget.AddBacklog(-(1 << 17))
		synctest.Wait()
		if !started(light) {
			t.Fatal("the light stream did not start once the budget fell")
		}
		g.stop()
	})
	synctest.Test(t, func(t *testing.T) {
		g := newGate(1, true, nil, nil, nil)
		first := admitted(g)
		synctest.Wait()
		light, lt := admittedLight(g)
		synctest.Wait()
		if !started(first) || started(light) {
			t.Fatal("under a hard cap of 1, want the first started and the light one waiting")
		}
		if lt.light {
			t.Fatal("a ticket joined under a hard cap took the light lane")
		}
		g.stop()
		synctest.Wait()
		if err := <-light; err != errStopping {
			t.Fatalf("got %v at stop; want errStopping", err)
		}
	})
}

// TestHintsOf reads the parent's cost hints wherever they are in the head,
// and nothing else.
func TestHintsOf(t *testing.T) {
	head := ipc.Fields{{Name: ":method", Value: "GET"}, {Name: "Accept", Value: "*/*"},
		{Name: ":cost", Value: "light"}, {Name: ":measure", Value: "cpu"}}
	if h := hintsOf(head); !h.light || !h.measure {
		t.Fatalf("hints %+v; want light and measure", h)
	}
	for _, head := range []ipc.Fields{
		{{Name: ":method", Value: "GET"}},
		{{Name: ":cost", Value: "heavy"}, {Name: ":measure", Value: "wall"}},
		{{Name: "Cost", Value: "light"}},
	} {
		if h := hintsOf(head); h.light || h.measure {
			t.Errorf("hints of %v: %+v; want none", head, h)
		}
	}
}

// TestCPUProbe: a handler that computes reports at least what its thread
// computed; one that sleeps reports almost nothing; a report asked on
// another goroutine is none.
func TestCPUProbe(t *testing.T) {
	p := startCPUProbe()
	if p == nil {
		t.Skip("no thread CPU clock here")
	}
	start, _ := threadCPU()
	for {
		now, _ := threadCPU()
		if now-start >= 20*time.Millisecond {
			break
		}
	}
	report := p.report()
	p.stop()
	if len(report) != 1 || report[0].Name != hintCPUUsed {
		t.Fatalf("report %v; want the CPU used", report)
	}
	if us := atoiOr(report[0].Value); us < 20000 {
		t.Fatalf("a 20ms computation reported %s µs", report[0].Value)
	}
	if again := p.report(); again != nil {
		t.Fatalf("a stopped probe reports %v", again)
	}

	p = startCPUProbe()
	time.Sleep(30 * time.Millisecond)
	report = p.report()
	p.stop()
	if len(report) != 1 || atoiOr(report[0].Value) >= 10000 {
		t.Fatalf("a 30ms sleep reported %v of CPU", report)
	}

	p = startCPUProbe()
	other := make(chan ipc.Fields)
	go func() { other <- p.report() }()
	if report := <-other; report != nil {
		t.Fatalf("a report asked on another goroutine: %v", report)
	}
	p.stop()
}

func atoiOr(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestWorkerReportsMeasuredCPU: through a real worker, a stream the parent
// asks to measure reports its handler's CPU with its END, whether sent whole
// or streamed, and the report does not make it a response with trailers (a
// whole one keeps its Content-Length); one not asked reports nothing.
func TestWorkerReportsMeasuredCPU(t *testing.T) {
	p := startCPUProbe()
	measurable := p.report() != nil
	p.stop()
	if !measurable {
		t.Skip("no thread CPU clock here")
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		if r.URL.Path == "/stream" {
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, " second")
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	measure := ipc.Field{Name: hintMeasure, Value: hintCPU}
	for _, c := range []struct {
		path       string
		head       ipc.Fields
		want, clen bool
	}{
		{"/whole", append(reqHead(http.MethodGet, "/whole"), measure), true, true},
		{"/stream", append(reqHead(http.MethodGet, "/stream"), measure), true, false},
		{"/plain", reqHead(http.MethodGet, "/plain"), false, true},
	} {
		st := wk.open(t, c.head, true)
		rh := readHead(t, st)
		if _, ok := rh.header[hintCPUUsed]; ok {
			t.Errorf("%s: the CPU report is in the head: %v", c.path, rh.header)
		}
		if got := rh.header.Get("Content-Length") != ""; got != c.clen {
			t.Errorf("%s: Content-Length set: %v; want %v (%v)", c.path, got, c.clen, rh.header)
		}
		body, err := io.ReadAll(st)
		if err != nil || string(body) != "first second" {
			t.Errorf("%s: body %q, %v", c.path, body, err)
		}
		var report []string
		for _, f := range st.Trailers() {
			if f.Name == hintCPUUsed {
				report = append(report, f.Value)
			} else {
				t.Errorf("%s: trailer %v; want none but the report", c.path, f)
			}
		}
		if got := len(report) == 1 && report[0] != "" && strings.Trim(report[0], "0123456789") == ""; got != c.want {
			t.Errorf("%s: END fields %v; want a CPU report: %v", c.path, st.Trailers(), c.want)
		}
	}
}

// TestGateLightLaneUnderACapSetLater: a hard cap set while light handlers
// run counts them, and a light stream that had not started queues.
func TestGateLightLaneUnderACapSetLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(2, false, stream.NewBudget(1<<20, 1<<16, 1<<10), nil, nil)
		running, lt := admittedLight(g)
		synctest.Wait()
		if !started(running) {
			t.Fatal("the light stream did not start")
		}
		// Another joins light and waits for memory.
		g.budget.AddBacklog(1 << 17)
		pending, pt := admittedLight(g)
		synctest.Wait()
		if started(pending) {
			t.Fatal("a light stream started above the high watermark")
		}
		if err := g.setLimit(1, true); err != nil {
			t.Fatal(err)
		}
		g.budget.AddBacklog(-(1 << 17))
		synctest.Wait()
		if started(pending) {
			t.Fatal("a light stream joined before the cap started past it")
		}
		if pt.light {
			t.Fatal("the pending light stream did not join the queue under the cap")
		}
		ordinary := admitted(g)
		synctest.Wait()
		if started(ordinary) {
			t.Fatal("an ordinary stream started under a cap of 1 with a light handler running")
		}
		g.leave(lt, false)
		g.drained(lt)
		g.release(lt)
		synctest.Wait()
		if !started(pending) {
			t.Fatal("the queued stream did not start once the light handler left")
		}
		g.stop()
		synctest.Wait()
		if err := <-ordinary; err != errStopping {
			t.Fatalf("got %v at stop; want errStopping", err)
		}
	})
}
