package parent

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestSupServesThroughFakeWorkers: the launcher seam carries a request to
// child.Serve in the test binary and back, over the in-memory pipe.
func TestSupServesThroughFakeWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 2}, &launchFake{})
		e.waitUp(2)
		if err := e.get("/bytes?n=100000").ok(100000); err != nil {
			t.Fatal(err)
		}
		st := e.g.Status()
		if len(st.Workers) != 2 || st.Workers[0].State != "up" || st.Workers[1].State != "up" {
			t.Fatalf("status %+v; want two workers up", st)
		}
	})
}

// TestSupCrashLoopBacksOff: a worker that dies before its handshake is
// retried after 100 ms, then a delay that doubles up to the 30 s cap, each
// jittered by at most 20 %; the slot is reported as crash-looping once, at
// the third death in a row.
func TestSupCrashLoopBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &launchFake{mode: func(int) launchMode { return launchMode{failHandshake: true} }}
		e := supStart(t, Config{Workers: 1}, l)
		// 100 ms doubling to 25.6 s is 51.1 s for the first ten starts,
		// then 30 s each: thirteen starts within 141 s, 170 s at most
		// with jitter.
		time.Sleep(171 * time.Second)
		fails := e.log.records("worker failed to start")
		if len(fails) < 13 {
			t.Fatalf("%d failed starts in 171 s; want at least 13", len(fails))
		}
		if len(fails) > 14 {
			t.Fatalf("%d failed starts in 171 s; the delay does not back off enough", len(fails))
		}
		want := 100 * time.Millisecond
		for i, r := range fails {
			if got := r.attrs["retry_in"]; got != want.String() {
				t.Fatalf("failed start %d: retry_in %s; want %v", i, got, want)
			}
			if !strings.Contains(r.attrs["err"], "handshake") || !strings.Contains(r.attrs["err"], "(worker exit: exit status 1)") {
				t.Fatalf("failed start %d: err %q; want the handshake and the worker's exit", i, r.attrs["err"])
			}
			if i+1 < len(fails) {
				gap := fails[i+1].at.Sub(r.at)
				if gap < want*8/10 || gap > want*12/10 {
					t.Fatalf("between failed starts %d and %d: %v; want %v ± 20 %%", i, i+1, gap, want)
				}
			}
			want = min(2*want, DefaultMaxRestartDelay)
		}
		loops := e.log.records("worker is crash-looping")
		if len(loops) != 1 || !loops[0].at.Equal(fails[2].at) {
			t.Fatalf("crash-loop reports %v; want one, at the third failed start (%v)", loops, fails[2].at)
		}
		ws := e.g.Status().Workers[0]
		if ws.State != "crash-loop" || ws.Restarts != len(fails) || !strings.HasPrefix(ws.LastExit, "failed to start") {
			t.Fatalf("status %+v; want crash-loop, %d restarts, last exit failed to start", ws, len(fails))
		}
		if up, restarts := e.metric("sluice_worker_up", "0"), e.metric("sluice_worker_restarts_total", "0"); up != 0 || restarts != float64(len(fails)) {
			t.Fatalf("sluice_worker_up %v, sluice_worker_restarts_total %v; want 0 and %d", up, restarts, len(fails))
		}
		if n := len(e.l.all()); n != len(fails) {
			t.Fatalf("%d workers launched for %d failed starts", n, len(fails))
		}
	})
}

// TestSupBackoffResetsAfterStableUptime: deaths right after the start
// double the delay (100, 200, 400, 800 ms); a worker that lived past
// stableUptime restarts after 100 ms again and clears the crash loop, and
// the next young death doubles from there.
func TestSupBackoffResetsAfterStableUptime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &launchFake{mode: func(n int) launchMode { return launchMode{exitAfterStart: n < 4} }}
		e := supStart(t, Config{Workers: 1}, l)
		e.waitLog("worker up", 5)
		synctest.Wait()
		if st := e.g.Status().Workers[0]; st.State != "up" {
			t.Fatalf("fifth worker: %+v", st)
		}
		if e.log.count("worker is crash-looping") != 1 {
			t.Fatalf("want one crash-loop report after four young deaths")
		}
		time.Sleep(stableUptime + time.Second)
		e.slotWorker(0).signal(9)
		e.waitLog("worker up", 6)
		synctest.Wait()
		if st := e.g.Status().Workers[0]; st.State != "up" || st.LastExit != "killed by signal killed" {
			t.Fatalf("after a stable worker's death: %+v", st)
		}
		e.slotWorker(0).signal(9)
		died := e.waitLog("worker died", 6)
		var got []string
		for _, r := range died {
			got = append(got, r.attrs["restart_in"])
		}
		if want := "100ms 200ms 400ms 800ms 100ms 200ms"; strings.Join(got, " ") != want {
			t.Fatalf("restart delays %v; want %s", got, want)
		}
		if died[4].attrs["uptime"] != (stableUptime + time.Second).String() {
			t.Fatalf("stable worker's uptime %s", died[4].attrs["uptime"])
		}
		if n := e.log.count("worker is crash-looping"); n != 1 {
			t.Fatalf("%d crash-loop reports; the stable worker should have cleared the count", n)
		}
	})
}

// TestSupGatewayStartOnce: a second Start launches nothing, and neither does
// a Start after Shutdown, which would leave workers nobody stops.
func TestSupGatewayStartOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 2}, &launchFake{})
		e.g.Start()
		e.waitUp(2)
		synctest.Wait()
		if n := len(e.l.all()); n != 2 {
			t.Fatalf("%d workers launched for 2 slots after two Starts", n)
		}
		if err := e.shutdown(time.Second); err != nil {
			t.Fatal(err)
		}
		e.g.Start()
		synctest.Wait()
		if n := len(e.l.all()); n != 2 {
			t.Fatalf("Start after Shutdown launched %d more workers", n-2)
		}
	})
}

// TestSupShutdownBeforeStart: a Gateway never started shuts down at once
// and refuses requests as draining.
func TestSupShutdownBeforeStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &launchFake{handler: supHandler(), log: slog.New(&supLog{changed: make(chan struct{})})}
		g, err := New(Config{Workers: 1, WorkerMemoryLimit: -1, Logger: l.log})
		if err != nil {
			t.Fatal(err)
		}
		g.sup.launcher = l
		if err := g.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		g.Start()
		rec := newSupRecorder()
		g.ServeHTTP(rec, httptest.NewRequest("GET", "/bytes?n=1", nil))
		if rec.code != http.StatusServiceUnavailable || len(l.all()) != 0 {
			t.Fatalf("got %d with %d workers launched; want 503 and none", rec.code, len(l.all()))
		}
	})
}
