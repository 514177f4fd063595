package child

import (
	"context"
	"io"
	"net/http"
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
		lt.wait(true) // blocked on its client: not the gate's business
		if c := g.counts(); c.blocked != 0 {
			t.Fatalf("a light handler's wait counted as blocked: %+v", c)
		}
		g.leave(lt)
		synctest.Wait()
		if started(waiting) {
			t.Fatal("a light handler's end let a waiting stream past the limit")
		}
		if c := g.counts(); c.light != 0 || c.draining != 0 || c.inFlight != 1 {
			t.Fatalf("after the light handler left: %+v; want its drain counted apart", c)
		}
		g.drained(lt)
		g.release(lt)
		g.leave(heavyTicket)
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
// computed; one that sleeps reports almost nothing; a head built on another
// goroutine reports nothing.
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
	head := p.appendUsed(nil)
	p.stop()
	if len(head) != 1 || head[0].Name != hintCPUUsed {
		t.Fatalf("head %v; want the CPU report", head)
	}
	if us := atoiOr(head[0].Value); us < 20000 {
		t.Fatalf("a 20ms computation reported %s µs", head[0].Value)
	}
	if again := p.appendUsed(nil); len(again) != 0 {
		t.Fatalf("a second head reports again: %v", again)
	}

	p = startCPUProbe()
	time.Sleep(30 * time.Millisecond)
	head = p.appendUsed(nil)
	p.stop()
	if us := atoiOr(head[0].Value); us >= 10000 {
		t.Fatalf("a 30ms sleep reported %s µs of CPU", head[0].Value)
	}

	p = startCPUProbe()
	other := make(chan ipc.Fields)
	go func() { other <- p.appendUsed(nil) }()
	if head := <-other; len(head) != 0 {
		t.Fatalf("a head built on another goroutine reports %v", head)
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
// asks to measure reports its handler's CPU in its response head, sent
// whole or streamed; one not asked reports nothing.
func TestWorkerReportsMeasuredCPU(t *testing.T) {
	if startCPUProbe().appendUsed(nil) == nil {
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
		path string
		head ipc.Fields
		want bool
	}{
		{"/whole", append(reqHead(http.MethodGet, "/whole"), measure), true},
		{"/stream", append(reqHead(http.MethodGet, "/stream"), measure), true},
		{"/plain", reqHead(http.MethodGet, "/plain"), false},
	} {
		st := wk.open(t, c.head, true)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		head, err := st.ReadHead(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		got := false
		for _, f := range head {
			if f.Name == hintCPUUsed {
				got = atoiOr(f.Value) >= 0 && f.Value != ""
			}
		}
		if got != c.want {
			t.Errorf("%s: head %v; want a CPU report: %v", c.path, head, c.want)
		}
		body, err := io.ReadAll(st)
		if err != nil || string(body) != "first second" {
			t.Errorf("%s: body %q, %v", c.path, body, err)
		}
	}
}
