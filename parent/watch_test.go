package parent

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// TestSupHeartbeatEveryInterval: an idle worker is pinged once per
// HeartbeatInterval, and every pong is recorded.
func TestSupHeartbeatEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 2, HeartbeatInterval: 100 * time.Millisecond, LivenessWindow: time.Second}, &launchFake{})
		e.waitUp(2)
		time.Sleep(time.Second + 50*time.Millisecond)
		synctest.Wait()
		for id := range 2 {
			if n := e.pongs(id); n != 10 {
				t.Fatalf("worker %d: %d pongs in 1.05 s at a 100 ms interval; want 10", id, n)
			}
		}
	})
}

// TestSupBusyWorkerIsNotKilled: every handler slot busy for three liveness
// windows: the workers still answer pings, so none is presumed hung, and
// every request completes.
func TestSupBusyWorkerIsNotKilled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 2, MaxInFlight: 2, HeartbeatInterval: 100 * time.Millisecond, LivenessWindow: time.Second}, &launchFake{})
		e.waitUp(2)
		var wg sync.WaitGroup
		results := make([]supResult, 4)
		for i := range results {
			wg.Go(func() { results[i] = e.get("/sleep?d=3s&n=65536") })
		}
		wg.Wait()
		for i, r := range results {
			if err := r.ok(65536); err != nil {
				t.Fatalf("busy request %d: %v", i, err)
			}
		}
		for _, ws := range e.g.Status().Workers {
			if ws.Restarts != 0 || ws.State != "up" {
				t.Fatalf("worker %d: %+v after being busy; want it left alone", ws.ID, ws)
			}
			// One per heartbeat: 30 in 3 s, the last one racing the end of
			// the requests.
			if n := e.pongs(ws.ID); n < 29 {
				t.Fatalf("worker %d: %d pongs while busy for 3 s; want one per 100 ms", ws.ID, n)
			}
		}
		if n := e.log.count("worker presumed hung"); n != 0 {
			t.Fatalf("%d busy workers presumed hung", n)
		}
	})
}

// TestSupHungWorkerIsReplaced: a worker that stops reading and writing (as
// under SIGSTOP) is presumed hung after the liveness window, sent SIGTERM,
// which it ignores, then SIGKILL after the kill grace, and replaced after the
// restart delay. The client it was streaming to sees a cut; a request on the
// other worker does not notice.
func TestSupHungWorkerIsReplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 2, MaxInFlight: 2, HeartbeatInterval: 100 * time.Millisecond, LivenessWindow: time.Second}, &launchFake{})
		e.waitUp(2)
		stream := newSupRecorder()
		streamed := make(chan supResult, 1)
		go func() { streamed <- e.serve(context.Background(), "GET", "/stream", stream) }()
		<-stream.wrote
		synctest.Wait()
		var victim, other *launchWorker
		for _, w := range e.l.all() {
			if w.requests.Load() == 1 {
				victim = w
			} else {
				other = w
			}
		}
		if victim == nil || other == nil {
			t.Fatal("cannot tell which worker streams")
		}
		busy := make(chan supResult, 1)
		go func() { busy <- e.get("/sleep?d=4s&n=1000") }()
		synctest.Wait()
		if other.requests.Load() != 1 {
			t.Fatal("the second request did not go to the other worker")
		}

		stopped := time.Now()
		victim.hang()
		hung := e.waitLog("worker presumed hung", 1)[0]
		if d := hung.at.Sub(stopped); d < time.Second || d > time.Second+100*time.Millisecond {
			t.Fatalf("presumed hung %v after it fell silent; want the liveness window (1 s) rounded up to a heartbeat", d)
		}
		if got := <-streamed; !got.aborted {
			t.Fatalf("the hung worker's client got %d with %d bytes, not a cut", got.code, len(got.body))
		}
		died := e.waitLog("worker died", 1)[0]
		sigs, at := victim.received()
		if len(sigs) < 2 || sigs[0] != syscall.SIGTERM || sigs[1] != syscall.SIGKILL {
			t.Fatalf("signals %v; want SIGTERM, then SIGKILL", sigs)
		}
		if !at[0].Equal(hung.at) || at[1].Sub(at[0]) != DefaultKillGrace {
			t.Fatalf("SIGTERM at %v, SIGKILL at %v; want them at the hung report (%v) and %v later", at[0], at[1], hung.at, DefaultKillGrace)
		}
		if died.attrs["exit"] != "killed by signal killed" || died.attrs["restart_in"] != "100ms" {
			t.Fatalf("death %v", died)
		}
		up := e.waitLog("worker up", 3)[2]
		if d := up.at.Sub(died.at); d < 80*time.Millisecond || d > 120*time.Millisecond {
			t.Fatalf("replacement up %v after the death; want the restart delay 100 ms ± 20 %%", d)
		}
		if err := (<-busy).ok(1000); err != nil {
			t.Fatalf("the request on the healthy worker: %v", err)
		}
		if n := e.log.count("worker presumed hung"); n != 1 {
			t.Fatalf("%d hung reports; want 1", n)
		}
		if err := e.get("/bytes?n=10").ok(10); err != nil {
			t.Fatalf("after the replacement: %v", err)
		}
		for _, ws := range e.g.Status().Workers {
			if ws.PID == victim.fakePid || ws.State != "up" {
				t.Fatalf("status after the replacement: %+v", e.g.Status())
			}
			if strings.Contains(ws.LastExit, "killed") != (ws.ID == victim.id) {
				t.Fatalf("worker %d: last exit %q", ws.ID, ws.LastExit)
			}
		}
	})
}
