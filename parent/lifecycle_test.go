package parent

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sluicegw/sluice/child"
)

// TestSupShutdownWaitsForInFlight: Shutdown tells the workers to finish;
// the request in flight completes, the workers exit cleanly once it has,
// and new requests are refused as draining.
func TestSupShutdownWaitsForInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 2}, &launchFake{})
		e.waitUp(2)
		inflight := make(chan supResult, 1)
		go func() { inflight <- e.get("/sleep?d=1s&n=5000") }()
		synctest.Wait()
		start := time.Now()
		stopped := make(chan error, 1)
		go func() { stopped <- e.shutdown(5 * time.Second) }()
		synctest.Wait()
		if r := e.get("/bytes?n=1"); r.code != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "draining") {
			t.Fatalf("a request during the drain got %d %q; want 503 draining", r.code, r.body)
		}
		if d := e.metric("sluice_gateway_draining", ""); d != 1 || e.g.Ready() {
			t.Fatalf("sluice_gateway_draining %v, ready %v during the drain", d, e.g.Ready())
		}
		if err := (<-inflight).ok(5000); err != nil {
			t.Fatalf("in-flight request during the drain: %v", err)
		}
		if err := <-stopped; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("Shutdown took %v; want the 1 s the request had left", d)
		}
		for _, r := range e.log.records("worker stopped") {
			if r.attrs["exit"] != "exit status 0" {
				t.Fatalf("%v; want a clean exit", r)
			}
		}
		if n := e.log.count("worker stopped"); n != 2 {
			t.Fatalf("%d workers stopped; want 2", n)
		}
		for _, w := range e.l.all() {
			if sigs, _ := w.received(); len(sigs) != 1 || sigs[0] != syscall.SIGTERM {
				// stop's SIGTERM after the connection closed; never SIGKILL.
				t.Fatalf("worker %d got %v", w.n, sigs)
			}
		}
	})
}

// TestSupShutdownDrainDeadline: a response still running at the drain
// deadline is cut then, exactly, and Shutdown reports the deadline.
func TestSupShutdownDrainDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 1}, &launchFake{})
		e.waitUp(1)
		slow := make(chan supResult, 1)
		go func() { slow <- e.serve(context.Background(), "GET", "/slow?d=1m", newSupRecorder()) }()
		synctest.Wait()
		start := time.Now()
		err := e.shutdown(2 * time.Second)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v; want the deadline", err)
		}
		late := e.waitLog("drain timeout: stopping worker with streams open", 1)[0]
		if d := late.at.Sub(start); d != 2*time.Second || late.attrs["streams"] != "1" {
			t.Fatalf("%v after %v; want it at the 2 s deadline with 1 stream", late, d)
		}
		if r := <-slow; !r.aborted {
			t.Fatalf("the cut response: %d, not aborted", r.code)
		}
	})
}

// TestSupKilledWorkerMidResponse: SIGKILL of the worker streaming a
// response aborts it toward the client (never a short complete response),
// and the slot's next worker serves.
func TestSupKilledWorkerMidResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 1}, &launchFake{})
		e.waitUp(1)
		rec := newSupRecorder()
		res := make(chan supResult, 1)
		go func() { res <- e.serve(context.Background(), "GET", "/stream", rec) }()
		<-rec.wrote
		victim := e.slotWorker(0)
		victim.signal(syscall.SIGKILL)
		if r := <-res; !r.aborted || r.code != http.StatusOK {
			t.Fatalf("client got %d, aborted %v; want a 200 head and a cut", r.code, r.aborted)
		}
		e.waitLog("worker up", 2)
		synctest.Wait()
		ws := e.g.Status().Workers[0]
		if ws.State != "up" || ws.Restarts != 1 || ws.LastExit != "killed by signal killed" || ws.PID == victim.fakePid {
			t.Fatalf("status after the kill: %+v", ws)
		}
		if up, restarts := e.metric("sluice_worker_up", "0"), e.metric("sluice_worker_restarts_total", "0"); up != 1 || restarts != 1 {
			t.Fatalf("sluice_worker_up %v, sluice_worker_restarts_total %v; want 1 and 1", up, restarts)
		}
		if err := e.get("/bytes?n=10").ok(10); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSupKilledWorkerUnderLoadLosesOnlyItsStarted: with one request per
// worker, killing a worker under load fails at most the request it was
// running; everything queued goes to the other worker or the new one.
func TestSupKilledWorkerUnderLoadLosesOnlyItsStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &launchFake{childCfg: &child.Config{MaxInFlight: 1}}
		e := supStart(t, Config{Workers: 2, MaxInFlight: 1}, l)
		e.waitUp(2)
		stop := make(chan struct{})
		// POST: not retried after its worker is lost, so that the
		// request running on the victim does fail.
		wait := supLoad(6, stop, func() error {
			return e.serve(context.Background(), "POST", "/sleep?d=20ms&n=100000", newSupRecorder()).ok(100000)
		})
		time.Sleep(time.Second + 5*time.Millisecond)
		e.slotWorker(1).signal(syscall.SIGKILL)
		time.Sleep(time.Second)
		close(stop)
		ok, errs := wait()
		if len(errs) != 1 || ok < 100 {
			t.Fatalf("%d failures (want exactly the 1 running on the killed worker), %d successes: %v", len(errs), ok, errs)
		}
		e.waitUp(2)
	})
}

// TestSupWorkerDeathRetriesGET: a worker that dies with a GET it started
// but did not answer: the GET runs again on the replacement and the client
// never notices.
func TestSupWorkerDeathRetriesGET(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &launchFake{mode: func(n int) launchMode { return launchMode{exitAfter: 2 * (1 - min(n, 1))} }}
		e := supStart(t, Config{Workers: 1}, l)
		e.waitUp(1)
		for i := range 3 {
			if err := e.get("/bytes?n=10").ok(10); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		ws := e.l.all()
		if len(ws) != 2 || ws[0].exitStatus() != "exit status 1" || ws[1].requests.Load() != 1 {
			t.Fatalf("want the first worker dead after 2 requests and the third served by the second")
		}
		var m dto.Metric
		e.g.metrics.retried.Write(&m)
		if n := m.GetCounter().GetValue(); n != 1 {
			t.Fatalf("sluice_http_retried_total %v; want 1", n)
		}
	})
}

// TestSupOverloadIsFast503: with every slot busy, a request waits the queue
// timeout, exactly, then gets 503 with Retry-After and the reason.
func TestSupOverloadIsFast503(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 1, MaxInFlight: 1, QueueTimeout: 100 * time.Millisecond}, &launchFake{})
		e.waitUp(1)
		busy := make(chan supResult, 1)
		go func() { busy <- e.get("/sleep?d=3s&n=1") }()
		synctest.Wait()
		start := time.Now()
		rec := newSupRecorder()
		r := e.serve(context.Background(), "GET", "/bytes?n=1", rec)
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Fatalf("refused after %v; want the 100 ms queue timeout", d)
		}
		if r.code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" || !strings.Contains(string(r.body), "no worker had room") {
			t.Fatalf("got %d Retry-After=%q %q; want 503 with Retry-After 1", r.code, rec.Header().Get("Retry-After"), r.body)
		}
		if err := (<-busy).ok(1); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSupAbortedResponseFreesItsSlot: clients that go away mid-download
// give their worker slot back at once: with one slot, the next request is
// served, not refused.
func TestSupAbortedResponseFreesItsSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 1, MaxInFlight: 1, QueueTimeout: time.Second}, &launchFake{})
		e.waitUp(1)
		for i := range 3 {
			ctx, cancel := context.WithCancel(context.Background())
			rec := newSupRecorder()
			var wg sync.WaitGroup
			wg.Go(func() { e.serve(ctx, "GET", "/stream", rec) })
			<-rec.wrote
			cancel()
			wg.Wait()
			synctest.Wait()
			if open, _ := e.g.pool.counts(); open != 0 {
				t.Fatalf("after client %d went away: %d slots held", i, open)
			}
		}
		if err := e.get("/bytes?n=1000").ok(1000); err != nil {
			t.Fatalf("after aborted downloads: %v", err)
		}
	})
}

// TestSupShutdownKillsAWorkerThatIgnoresIt: a worker that neither answers
// the go-away nor exits on SIGTERM is stopped at the drain deadline and
// killed StopTimeout later, exactly.
func TestSupShutdownKillsAWorkerThatIgnoresIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 1, LivenessWindow: time.Minute}, &launchFake{})
		e.waitUp(1)
		w := e.slotWorker(0)
		w.hang()
		start := time.Now()
		if err := e.shutdown(time.Second); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v; want the deadline", err)
		}
		if d := time.Since(start); d != time.Second+DefaultStopTimeout {
			t.Fatalf("Shutdown took %v; want the 1 s drain deadline and the %v stop timeout", d, DefaultStopTimeout)
		}
		sigs, at := w.received()
		if len(sigs) != 2 || sigs[0] != syscall.SIGTERM || sigs[1] != syscall.SIGKILL || at[0].Sub(start) != time.Second || at[1].Sub(at[0]) != DefaultStopTimeout {
			t.Fatalf("signals %v at %v (start %v); want SIGTERM at 1 s, SIGKILL %v later", sigs, at, start, DefaultStopTimeout)
		}
		if r := e.log.records("worker stopped"); len(r) != 1 || r[0].attrs["exit"] != "killed by signal killed" {
			t.Fatalf("stopped: %v", r)
		}
	})
}

// TestSupRestartGivesUpWithItsContext: a Restart that cannot reach a slot
// (its worker keeps failing to start) returns ctx's error, and leaves the
// supervisor as it was.
func TestSupRestartGivesUpWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &launchFake{mode: func(int) launchMode { return launchMode{failHandshake: true} }}
		e := supStart(t, Config{Workers: 1}, l)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if err := e.g.Restart(ctx); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("Restart: %v after %v; want the context's deadline after 1 s", err, time.Since(start))
		}
	})
}
