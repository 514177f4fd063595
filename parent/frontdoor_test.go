package parent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestSupMaxRequestsIsExact: with MaxRequests 5 and one worker, 20
// sequential requests all succeed, and no worker runs more than 5: the pool
// stops routing to a worker at its fifth request, and the slot replaces it.
func TestSupMaxRequestsIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 1, MaxRequests: 5}, &launchFake{})
		e.waitUp(1)
		for i := 0; i < 20; i++ {
			if err := e.get("/bytes?n=100").ok(100); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		total := int64(0)
		for _, w := range e.l.all() {
			n := w.requests.Load()
			total += n
			if n > 5 {
				t.Fatalf("worker %d served %d requests with MaxRequests 5", w.n, n)
			}
		}
		if total != 20 || len(e.l.all()) < 4 {
			t.Fatalf("%d requests over %d workers; want 20 over at least 4", total, len(e.l.all()))
		}
	})
}

// restartsBy is the parent's sluice_worker_restarts_total of slot 0 by
// reason, as a scrape sees it.
func (e *supEnv) restartsBy() map[string]float64 {
	e.t.Helper()
	fams, err := e.g.metrics.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "sluice_worker_restarts_total" {
			continue
		}
		for _, m := range f.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["worker"] == "0" {
				out[labels["reason"]] = m.Counter.GetValue()
			}
		}
	}
	return out
}

// TestSupRestartsByReason: every reason is exposed at 0 from the start,
// and a crash, a failed start, a recycling and a rolling restart each count
// under their own.
func TestSupRestartsByReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &launchFake{mode: func(n int) launchMode {
			switch n {
			case 1:
				return launchMode{exitAfterStart: true} // a crash
			case 2:
				return launchMode{failHandshake: true} // a failed start
			}
			return launchMode{}
		}}
		e := supStart(t, Config{Workers: 1, MaxRequests: 2}, l)
		e.waitUp(1)
		want := map[string]float64{"crash": 0, "hung": 0, "recycled": 0, "rolling": 0, "failed_start": 0, "stalled": 0, "killed": 0, "oom": 0}
		if got := e.restartsBy(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("at start: %v; want %v", got, want)
		}
		// Two requests recycle launch 0; launch 1 crashes after its
		// handshake, launch 2 fails its, launch 3 stays.
		for i := 0; i < 2; i++ {
			if err := e.get("/bytes?n=10").ok(10); err != nil {
				t.Fatal(err)
			}
		}
		e.waitLog("worker failed to start", 1)
		e.waitUp(1)
		for len(e.l.all()) < 4 || e.upCount() < 1 {
			time.Sleep(10 * time.Millisecond)
		}
		if err := e.g.Restart(context.Background()); err != nil {
			t.Fatal(err)
		}
		want = map[string]float64{"crash": 1, "hung": 0, "recycled": 1, "rolling": 1, "failed_start": 1, "stalled": 0, "killed": 0, "oom": 0}
		if got := e.restartsBy(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after a recycling, a crash, a failed start and a rolling restart: %v; want %v", got, want)
		}
		if n := e.metric("sluice_worker_restarts_total", "0"); n != float64(e.g.Status().Workers[0].Restarts) {
			t.Fatalf("restarts by reason add up to %v; /status says %d", n, e.g.Status().Workers[0].Restarts)
		}
	})
}

// TestSupBootFailedOnlyAtFirstStart: a worker that fails to start before
// any came up is reported on BootFailed; once one came up, later failures
// are retried and not reported.
func TestSupBootFailedOnlyAtFirstStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &launchFake{mode: func(int) launchMode { return launchMode{failHandshake: true} }}
		e := supStart(t, Config{Workers: 1}, l)
		select {
		case err := <-e.g.BootFailed():
			if !strings.Contains(err.Error(), "worker 0 failed to boot") || !strings.Contains(err.Error(), "handshake") {
				t.Fatalf("boot failure %q; want the worker and its handshake named", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("no boot failure reported a minute after a worker failed its handshake")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		l := &launchFake{mode: func(n int) launchMode { return launchMode{failHandshake: n > 0} }}
		e := supStart(t, Config{Workers: 1}, l)
		e.waitUp(1)
		e.slotWorker(0).die("exit status 1")
		e.waitLog("worker failed to start", 2)
		select {
		case err := <-e.g.BootFailed():
			t.Fatalf("boot failure %v reported after a worker had come up", err)
		default:
		}
	})
}

// TestSupWarnsWhenMaxRSSIsBelowAFreshWorker: a worker above MaxRSS at its
// first heartbeat gets one warning that the limit is below what a worker
// starts with, however many are recycled for it.
func TestSupWarnsWhenMaxRSSIsBelowAFreshWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &launchFake{started: make(chan *launchWorker, 64)}
		e := supStart(t, Config{Workers: 1, MaxRSS: 1 << 20, HeartbeatInterval: 100 * time.Millisecond}, l)
		go func() {
			for w := range l.started {
				w.memory.Store(2 << 20)
			}
		}()
		e.waitLog("worker exceeds its memory limit", 3)
		if n := e.log.count("the memory limit is below a fresh worker"); n != 1 {
			t.Fatalf("%d warnings about a limit below a fresh worker; want 1", n)
		}
		e.shutdown(10 * time.Second)
		close(l.started)
	})
}

// TestGatewayBeginDrainTurnsOnlyReadiness: after BeginDrain /readyz
// answers 503 and Ready is false, while requests are still served.
func TestGatewayBeginDrainTurnsOnlyReadiness(t *testing.T) {
	e := gwStart(t, Config{})
	w := e.addWorker(0, gwDemo(), nil)
	e.addSlot(0, w.b)
	if resp, body := e.adminDo("GET", "/readyz", ""); resp.StatusCode != 200 {
		t.Fatalf("/readyz before the drain: %d %q", resp.StatusCode, body)
	}
	e.g.BeginDrain()
	if resp, body := e.adminDo("GET", "/readyz", ""); resp.StatusCode != 503 || !strings.Contains(body, "draining") {
		t.Fatalf("/readyz after BeginDrain: %d %q; want 503 draining", resp.StatusCode, body)
	}
	if e.g.Ready() {
		t.Fatal("Ready after BeginDrain")
	}
	if resp, body, err := e.get("/payload?size=1KiB"); err != nil || resp.StatusCode != 200 || len(body) != 1024 {
		t.Fatalf("a request after BeginDrain: %v, %d bytes", err, len(body))
	}
}

// TestSupShutdownAbandonsAStartingWorker: a shutdown while a worker's
// handshake is still pending (a respawn, a recycling, a rolling restart)
// does not wait for the start timeout: it returns within its own deadline.
func TestSupShutdownAbandonsAStartingWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &launchFake{mode: func(n int) launchMode { return launchMode{silentStart: n > 0} }}
		e := supStart(t, Config{Workers: 1, StartTimeout: time.Hour}, l)
		e.waitUp(1)
		e.slotWorker(0).die("exit status 1") // its replacement never answers
		e.waitLog("worker died", 1)
		time.Sleep(time.Second) // past the first backoff: the replacement is starting
		synctest.Wait()
		if n := len(l.all()); n != 2 {
			t.Fatalf("%d launches; want the first worker and its replacement, starting", n)
		}
		start := time.Now()
		err := e.shutdown(5 * time.Second)
		if took := time.Since(start); err != nil || took >= 5*time.Second {
			t.Fatalf("shutdown took %v (%v) with a worker starting; want it done before its 5s deadline, not at it or at the start timeout", took, err)
		}
	})
}
