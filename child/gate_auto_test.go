package child

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// admitted runs wait for a new ticket on its own goroutine and returns a
// channel that gets its result. The ticket goes into *last, for the test
// to call its wait hook.
func admitted(g *gate) <-chan error {
	t := g.join(false)
	lastTicket = t
	done := make(chan error, 1)
	go func() { done <- g.wait(context.Background(), t) }()
	return done
}

// lastTicket is the ticket admitted made last; the tests that use it run
// one at a time.
var lastTicket *ticket

func started(c <-chan error) bool {
	select {
	case err := <-c:
		return err == nil
	default:
		return false
	}
}

// A handler blocked on its client frees its CPU slot in the automatic mode,
// and takes it back when it resumes; a fixed cap counts it all the same.
func TestGateAutomaticExemptsBlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(1, false, nil, nil, nil)
		first := admitted(g)
		firstTicket := lastTicket
		synctest.Wait()
		if !started(first) {
			t.Fatal("the first stream did not start")
		}
		second := admitted(g)
		synctest.Wait()
		if started(second) {
			t.Fatal("a second stream started while the first computes under a limit of 1")
		}
		if !g.takeHeld() {
			t.Error("takeHeld: false while a stream is held")
		}
		firstTicket.wait(true) // the first handler now waits on a slow client
		synctest.Wait()
		if !started(second) {
			t.Fatal("the second stream did not start once the first blocked on its client")
		}
		if c := g.counts(); c.inFlight != 2 || c.blocked != 1 {
			t.Errorf("counts %+v, want 2 in flight, 1 blocked", c)
		}
		firstTicket.wait(false)
		third := admitted(g)
		synctest.Wait()
		if started(third) {
			t.Fatal("a third stream started with two computing under a limit of 1")
		}
		g.stop()
		synctest.Wait()
		if err := <-third; err != errStopping {
			t.Errorf("the held stream got %v at stop, want errStopping", err)
		}
	})

	synctest.Test(t, func(t *testing.T) {
		g := newGate(1, true, nil, func() int { return 0 }, nil)
		if !started(admittedNow(t, g)) {
			t.Fatal("the first stream did not start")
		}
		lastTicket.wait(true)
		second := admitted(g)
		synctest.Wait()
		if started(second) {
			t.Fatal("a fixed cap of 1 let a second stream start beside a blocked one")
		}
		g.stop()
		synctest.Wait()
	})
}

func admittedNow(t *testing.T, g *gate) <-chan error {
	t.Helper()
	c := admitted(g)
	synctest.Wait()
	return c
}

// Handlers the scheduler sees waiting (asleep on I/O) do not count: a
// stream starts at once while demand is under the limit, and a held one
// starts within cpuPoll of demand falling.
func TestGateAutomaticAdmitsByDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var demand atomic.Int64
		g := newGate(2, false, nil, func() int { return int(demand.Load()) }, nil)
		for i := range 5 {
			if !started(admittedNow(t, g)) {
				t.Fatalf("stream %d did not start with no demand", i)
			}
		}
		if got := g.idleBlocked(); got != 5 {
			t.Errorf("idleBlocked %d with 5 handlers and no demand, want 5", got)
		}
		demand.Store(2)           // two of the five compute now
		time.Sleep(6 * demandTau) // long enough for the average to start again
		if got := g.idleBlocked(); got != 3 {
			t.Errorf("idleBlocked %d with 2 computing of 5, want 3", got)
		}
		held := admitted(g)
		synctest.Wait()
		if started(held) {
			t.Fatal("a stream started with demand at the limit")
		}
		time.Sleep(10 * cpuPoll)
		synctest.Wait()
		if started(held) {
			t.Fatal("a stream started while demand stayed at the limit")
		}
		demand.Store(1)
		time.Sleep(demandTau)
		synctest.Wait()
		if !started(held) {
			t.Fatal("the held stream did not start within demandTau of demand falling")
		}
		g.stop()
	})
}

// The report of an admission, made on the admitted stream's goroutine
// (which the demand meter leaves out as the caller), counts its handler as
// computing: reported idle, it would have the parent send two streams more
// to wait here for the CPU it takes. Once the average has had time to see
// the handler, a handler that does wait is reported idle again.
func TestGateReportsAnAdmittedHandlerComputing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g *gate
		var reported []int
		g = newGate(1, false, nil, func() int { return 0 }, func(gateCounts) {
			reported = append(reported, g.idleBlockedLocked()) // as sendLoad does
		})
		if !started(admittedNow(t, g)) {
			t.Fatal("the stream did not start")
		}
		if got := reported[len(reported)-1]; got != 0 {
			t.Errorf("the admission's report has %d handlers idle; want 0 (the one admitted computes)", got)
		}
		time.Sleep(6 * demandTau)
		if got := g.idleBlocked(); got != 1 {
			t.Errorf("idleBlocked %d with the handler seen waiting since; want 1", got)
		}
		g.stop()
	})
}

// The gate admits by the demand averaged over demandTau and rounded: a
// handler computing all along that is caught off its thread at one look
// does not let another in, while goroutines that run for a moment now and
// then do not hold a stream back.
func TestGateDemandIsAveraged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var demand atomic.Int64
		g := newGate(1, false, nil, func() int { return int(demand.Load()) }, nil)
		admittedNow(t, g)
		demand.Store(1) // the handler computes
		held := admitted(g)
		time.Sleep(10 * demandTau)
		synctest.Wait()
		if started(held) {
			t.Fatal("a stream started beside a handler computing under a limit of 1")
		}
		demand.Store(0) // off its thread for one look
		time.Sleep(cpuPoll)
		synctest.Wait()
		demand.Store(1)
		if started(held) {
			t.Fatal("a stream started on one look at a handler off its thread")
		}
		// Now something runs one look in four: the average falls under a
		// half and the stream starts.
		ok := false
		for i := 0; i < 40 && !ok; i++ {
			if i%4 == 0 {
				demand.Store(1)
			} else {
				demand.Store(0)
			}
			time.Sleep(cpuPoll)
			synctest.Wait()
			ok = started(held)
		}
		if !ok {
			t.Fatal("the held stream did not start with demand one look in four")
		}
		g.stop()
	})
}

// Raising the automatic limit starts held streams at once; a fixed cap set
// meanwhile is not overwritten by the controller.
func TestGateAutoLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(1, false, nil, nil, nil)
		admittedNow(t, g)
		held := admittedNow(t, g)
		g.setAutoLimit(2)
		synctest.Wait()
		if !started(held) {
			t.Fatal("raising the automatic limit did not start the held stream")
		}
		if err := g.setLimit(3, true); err != nil {
			t.Fatal(err)
		}
		g.setAutoLimit(1)
		if c := g.counts(); c.limit != 3 || !c.fixed {
			t.Errorf("counts %+v after the controller's step under a hard cap, want the cap 3", c)
		}
		g.stop()
	})
}

// A stream counts as draining from its handler's return to its end.
func TestGateDraining(t *testing.T) {
	var seen []gateCounts
	g := newGate(2, false, nil, nil, func(c gateCounts) { seen = append(seen, c) })
	tk := g.join(false)
	if err := g.wait(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	g.leave(tk, false)
	if c := g.counts(); c.inFlight != 0 || c.draining != 1 {
		t.Fatalf("after leave: %+v, want 1 draining", c)
	}
	g.drained(tk)
	if c := g.counts(); c.draining != 0 {
		t.Fatalf("after drained: %+v", c)
	}
	// Every change was reported, in order.
	want := []gateCounts{
		{waiting: 1, limit: 2},
		{inFlight: 1, limit: 2},
		{draining: 1, limit: 2},
		{limit: 2},
	}
	if len(seen) != len(want) {
		t.Fatalf("reports %+v, want %+v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("report %d: %+v, want %+v", i, seen[i], want[i])
		}
	}
}

// A handler that returns with its response's end already queued (a small
// response, written whole) does not count as draining: the parent may have
// that end before the report of the return, and counted, the stream would
// let the parent send one more than the limit.
func TestGateNoDrainingOnceTheEndIsQueued(t *testing.T) {
	var seen []gateCounts
	g := newGate(1, false, nil, nil, func(c gateCounts) { seen = append(seen, c) })
	tk := g.join(false)
	if err := g.wait(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	g.leave(tk, true)
	g.drained(tk)
	want := []gateCounts{{waiting: 1, limit: 1}, {inFlight: 1, limit: 1}, {limit: 1}}
	if !slices.Equal(seen, want) {
		t.Fatalf("reports %+v, want %+v: never draining, and no report for drained", seen, want)
	}
	g.release(tk)
}

// fakeCPU is a cpuSource that reports what the test sets.
type fakeCPU struct {
	pressure atomic.Int64 // permille
}

func (f *fakeCPU) sample(time.Time) cpuSample {
	return cpuSample{pressure: float64(f.pressure.Load()) / 1000, schedP99: time.Millisecond, cpuUsed: 1, idle: -1}
}

// The worker's controller reads its signals every interval and reports the
// limit it sets, and the pressure that set it, in LOAD: pressure halves the
// limit down to 1; with a hard cap in force it stays put.
func TestWorkerControllerReportsLimit(t *testing.T) {
	cpu := &fakeCPU{}
	cpu.pressure.Store(900)
	wk := startWorker(t, context.Background(), http.NotFoundHandler(), &Config{cpuSource: cpu}, nil)
	wk.loads.waitFor(t, "the limit lowered to 1 by pressure 0.9", func(l ipc.Load) bool {
		return l.Limit == 1 && l.PressurePermille == 900
	})

	// A busy worker (an idle one sends no reports for its signals alone).
	cpu2 := &fakeCPU{}
	cpu2.pressure.Store(900)
	b := newBlocking(t)
	capped := startWorker(t, context.Background(), b, &Config{MaxInFlight: 3, cpuSource: cpu2}, nil)
	st := capped.get(t, "/busy")
	capped.loads.waitFor(t, "the pressure reported beside the hard cap", func(l ipc.Load) bool {
		return l.PressurePermille == 900 && l.InFlight == 1
	})
	capped.loads.waitFor(t, "the hard cap unchanged", func(l ipc.Load) bool { return l.Limit == 3 && l.InFlight == 1 })
	b.free()
	mustBody(t, st)
}

// A handler whose client grants no more credit is reported blocked, stops
// counting toward the CPU limit (a second stream starts beside it under a
// limit of 1), and counts again once the client reads.
func TestWorkerReportsHandlerBlockedOnClient(t *testing.T) {
	const size = 4 << 20 // beyond the credit and the send queue together
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			w.Write(make([]byte, size))
			return
		}
		io.WriteString(w, "fast")
	})
	cpu := &fakeCPU{}
	cpu.pressure.Store(900) // keeps the automatic limit at 1
	wk := startWorker(t, context.Background(), h, &Config{cpuSource: cpu}, &ipc.Config{StreamWindow: 64 << 10})
	wk.loads.waitFor(t, "the limit at 1", func(l ipc.Load) bool { return l.Limit == 1 })
	slow := wk.get(t, "/slow")
	wk.loads.waitFor(t, "/slow blocked on its client", func(l ipc.Load) bool {
		return l.InFlight == 1 && l.Blocked == 1
	})
	// The scheduler's view alone would report it idle too: the count of
	// handlers blocked on their client comes from the stream's wait hook.
	// The receive window of the client's side grows toward its share as
	// it goes, so /slow gets a little credit now and then, and is briefly
	// not blocked: read the gauge until it shows the block.
	deadline := time.Now().Add(10 * time.Second)
	for v := -1.0; v != 1; {
		fams, _ := wk.scrape(t)
		if v = metricValue(t, fams, "sluice_worker_blocked_on_client"); v != 1 && time.Now().After(deadline) {
			t.Fatalf("sluice_worker_blocked_on_client = %v with /slow waiting for credit, want 1", v)
		}
	}
	if body := mustBody(t, wk.get(t, "/fast")); body != "fast" {
		t.Errorf("/fast: %q", body)
	}
	if b, err := readBody(t, slow); err != nil || len(b) != size {
		t.Fatalf("/slow: %d bytes, %v", len(b), err)
	}
	wk.loads.waitFor(t, "nothing blocked", func(l ipc.Load) bool { return l.InFlight == 0 && l.Blocked == 0 })
}

// A wait that the hook reports after the handler left (a body drained after
// it, a goroutine it left behind) does not count as a handler blocked.
func TestGateIgnoresWaitsAfterLeave(t *testing.T) {
	g := newGate(2, false, nil, nil, nil)
	tk := g.join(false)
	if err := g.wait(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	tk.wait(true) // blocked while running: counts
	if c := g.counts(); c.blocked != 1 {
		t.Fatalf("counts %+v, want 1 blocked", c)
	}
	g.leave(tk, false) // takes the stream's share back
	tk.wait(false)
	tk.wait(true) // the drain after the handler
	if c := g.counts(); c.blocked != 0 || c.inFlight != 0 || c.draining != 1 {
		t.Fatalf("counts %+v after leave, want nothing blocked, 1 draining", c)
	}
	g.drained(tk)
	g.release(tk)
}

// Which reports leave at once: room that opened silently only if it grows
// what the parent may send; the periodic one unless the worker is idle and
// has said so; the others always.
func TestReportNow(t *testing.T) {
	busy := ipc.Load{InFlight: 3, Limit: 2, Blocked: 1}
	cases := []struct {
		name       string
		why        loadReason
		l, last    ipc.Load
		queued     bool
		wantReport bool
	}{
		{"room grew: a handler went to sleep", loadRoom, ipc.Load{InFlight: 3, Limit: 2, Blocked: 2}, busy, false, true},
		{"room grew: the limit rose", loadRoom, ipc.Load{InFlight: 3, Limit: 3, Blocked: 1}, busy, false, true},
		{"room unchanged", loadRoom, busy, busy, false, false},
		{"room shrank", loadRoom, ipc.Load{InFlight: 3, Limit: 2}, busy, false, false},
		{"tick, busy", loadTick, busy, busy, false, true},
		{"tick, idle and said so", loadTick, ipc.Load{Limit: 2}, ipc.Load{Limit: 2}, false, false},
		{"tick, idle, report still queued", loadTick, ipc.Load{Limit: 2}, ipc.Load{Limit: 2}, true, true},
		{"tick, idle, limit changed", loadTick, ipc.Load{Limit: 3}, ipc.Load{Limit: 2}, false, true},
		{"tick, newly idle", loadTick, ipc.Load{Limit: 2}, busy, false, true},
		{"now", loadNow, ipc.Load{}, ipc.Load{}, false, true},
	}
	for _, c := range cases {
		if got := reportNow(c.why, c.l, c.last, c.queued); got != c.wantReport {
			t.Errorf("%s: reportNow = %v, want %v", c.name, got, c.wantReport)
		}
	}
}
