package parent

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicegw/sluice/child"
)

// TestSupRecyclesByMaxRequests: under continuous load, a worker is drained
// and replaced once MaxRequests were routed to it, the old one exits
// cleanly, and no request fails. One slot: two workers retiring at the same heartbeat can refuse
// the same request twice, and a request is retried only once.
func TestSupRecyclesByMaxRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 1, MaxInFlight: 4, MaxRequests: 10, HeartbeatInterval: 50 * time.Millisecond}, &launchFake{childCfg: &child.Config{MaxInFlight: 4}})
		e.waitUp(1)
		stop := make(chan struct{})
		wait := supLoad(4, stop, func() error { return e.get("/sleep?d=10ms&n=4096").ok(4096) })
		time.Sleep(2 * time.Second)
		close(stop)
		ok, errs := wait()
		if len(errs) > 0 {
			t.Fatalf("%d of %d requests failed while workers were recycled: %v", len(errs), ok+len(errs), errs[0])
		}
		synctest.Wait()
		recycled := e.log.records("worker reached its request limit")
		replaced := e.log.records("worker replaced")
		if len(recycled) < 8 || len(replaced) != len(recycled) {
			t.Fatalf("%d request limits reached, %d replacements in 2 s of %d requests", len(recycled), len(replaced), ok)
		}
		for _, r := range replaced {
			if r.attrs["reason"] != "recycled" {
				t.Fatalf("replacement %v", r)
			}
		}
		// The pool routes no more than the limit to a worker; requests
		// refused at the go-away were counted by the pool but not by the
		// worker.
		for _, w := range e.l.all() {
			select {
			case <-w.done:
			default:
				continue // still serving
			}
			if n := w.requests.Load(); n < 10-4 || n > 10 {
				t.Fatalf("worker %d served %d requests before it was recycled; want 10, less up to 4 refused at its go-away and retried elsewhere", w.n, n)
			}
			if w.exitStatus() != "exit status 0" {
				t.Fatalf("recycled worker %d: %s; want a clean exit", w.n, w.exitStatus())
			}
		}
		restarts := 0
		for _, ws := range e.g.Status().Workers {
			restarts += ws.Restarts
			if ws.State != "up" {
				t.Fatalf("after recycling: %+v", ws)
			}
		}
		if restarts != len(replaced) {
			t.Fatalf("%d restarts in /status, %d replacements", restarts, len(replaced))
		}
	})
}

// TestSupRecyclesByMaxRSS: a worker above MaxRSS at a heartbeat is replaced
// once; its replacement, below the limit, stays.
func TestSupRecyclesByMaxRSS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 1, MaxRSS: 1 << 20, HeartbeatInterval: 100 * time.Millisecond}, &launchFake{})
		e.waitUp(1)
		time.Sleep(time.Second)
		if n := e.log.count("worker exceeds its memory limit"); n != 0 {
			t.Fatalf("%d memory recyclings below the limit", n)
		}
		fat := e.slotWorker(0)
		fat.memory.Store(2 << 20)
		rec := e.waitLog("worker exceeds its memory limit", 1)[0]
		if rec.attrs["rss_bytes"] != "2097152" || rec.attrs["max_rss_bytes"] != "1048576" {
			t.Fatalf("record %v", rec)
		}
		<-fat.done
		time.Sleep(time.Second)
		if n := e.log.count("worker exceeds its memory limit"); n != 1 {
			t.Fatalf("%d memory recyclings; want 1", n)
		}
		if ws := e.g.Status().Workers[0]; ws.State != "up" || ws.LastExit != "recycled" || ws.Restarts != 1 {
			t.Fatalf("status %+v", ws)
		}
	})
}

// TestSupRollingRestartUnderLoad: Restart replaces the workers one at a
// time, each new one up before the old one stops, with no request failing;
// it returns once both are replaced.
func TestSupRollingRestartUnderLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 2}, &launchFake{})
		e.waitUp(2)
		var before []int
		for _, ws := range e.g.Status().Workers {
			before = append(before, ws.PID)
		}
		stop := make(chan struct{})
		wait := supLoad(4, stop, func() error { return e.get("/sleep?d=20ms&n=262144").ok(262144) })
		time.Sleep(200 * time.Millisecond)
		if err := e.g.Restart(context.Background()); err != nil {
			t.Fatal(err)
		}
		after := e.g.Status()
		time.Sleep(200 * time.Millisecond)
		close(stop)
		ok, errs := wait()
		if len(errs) > 0 || ok < 20 {
			t.Fatalf("%d requests failed (%d succeeded) during the rolling restart: %v", len(errs), ok, errs)
		}
		for _, ws := range after.Workers {
			if ws.State != "up" || slices.Contains(before, ws.PID) || ws.LastExit != "rolling restart" || ws.Restarts != 1 {
				t.Fatalf("after Restart: %+v (before: pids %v)", after.Workers, before)
			}
		}
		e.waitLog("retired worker stopped", 2)
		// In log order: slot 1 is replaced after slot 0, and each slot's
		// new worker is up before its old one stops (the old ones drain
		// in the background, so they may stop in any order after that).
		var order []string
		for _, r := range e.log.records("") {
			switch {
			case r.msg == "worker up" && !slices.Contains(before, supAtoi(r.attrs["pid"])):
				order = append(order, "up"+r.attrs["worker"])
			case r.msg == "retired worker stopped":
				order = append(order, "stopped"+r.attrs["pid"])
			}
		}
		at := func(s string) int {
			i := slices.Index(order, s)
			if i < 0 {
				t.Fatalf("lifecycle order %v lacks %s", order, s)
			}
			return i
		}
		if len(order) != 4 || at("up0") > at("up1") || at("up0") > at("stopped"+itoa(before[0])) || at("up1") > at("stopped"+itoa(before[1])) {
			t.Fatalf("lifecycle order %v (old pids %v); want up0 before up1, each before its old worker stopped", order, before)
		}
	})
}

// TestSupRestartKeepsOldWorkerWhenNewFails: a replacement that cannot start
// leaves the old worker serving, and Restart says so.
func TestSupRestartKeepsOldWorkerWhenNewFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("no such binary")
		l := &launchFake{mode: func(n int) launchMode {
			if n == 1 {
				return launchMode{startErr: boom}
			}
			return launchMode{}
		}}
		e := supStart(t, Config{Workers: 1}, l)
		e.waitUp(1)
		old := e.slotWorker(0)
		err := e.g.Restart(context.Background())
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "worker 0") || !strings.Contains(err.Error(), "the old workers stay") {
			t.Fatalf("Restart: %v", err)
		}
		if e.log.count("replacement worker failed to start; keeping the old one") != 1 {
			t.Fatal("no report of the failed replacement")
		}
		if err := e.get("/bytes?n=10").ok(10); err != nil {
			t.Fatal(err)
		}
		if e.slotWorker(0) != old || old.requests.Load() != 1 {
			t.Fatal("the old worker did not keep serving")
		}
		// The next Restart, after the supervisor's pause, succeeds.
		time.Sleep(time.Second)
		if err := e.g.Restart(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e.slotWorker(0) == old {
			t.Fatal("second Restart kept the old worker")
		}
	})
}

// TestSupRetireTimeoutStopsASlowWorker: a replaced worker still streaming
// after RetireTimeout is stopped then, exactly, and its client sees a cut.
func TestSupRetireTimeoutStopsASlowWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 1, RetireTimeout: 5 * time.Second}, &launchFake{})
		e.waitUp(1)
		old := e.slotWorker(0)
		rec := newSupRecorder()
		slow := make(chan supResult, 1)
		go func() { slow <- e.serve(context.Background(), "GET", "/slow?d=1m", rec) }()
		synctest.Wait()
		start := time.Now()
		if err := e.g.Restart(context.Background()); err != nil {
			t.Fatal(err)
		}
		late := e.waitLog("retiring worker did not finish in time", 1)[0]
		if d := late.at.Sub(start); d != 5*time.Second || late.attrs["streams"] != "1" {
			t.Fatalf("retire timeout %v after the restart, %v; want 5 s with 1 stream", d, late)
		}
		if got := <-slow; !got.aborted {
			t.Fatalf("the slow response ended with %d, not a cut", got.code)
		}
		<-old.done
		if err := e.get("/bytes?n=10").ok(10); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSupTunedEnvReachesNewWorkers: settings tuned at run time reach every
// worker started afterwards, after the configured environment.
func TestSupTunedEnvReachesNewWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := supStart(t, Config{Workers: 1, WorkerEnv: []string{"A=1"}}, &launchFake{})
		e.waitUp(1)
		e.g.sup.addEnvOverrides([]string{"B=2"})
		if err := e.g.Restart(context.Background()); err != nil {
			t.Fatal(err)
		}
		ws := e.l.all()
		if len(ws) != 2 || strings.Join(ws[0].env, " ") != "A=1" || strings.Join(ws[1].env, " ") != "A=1 B=2" {
			t.Fatalf("environments %q, %q", ws[0].env, ws[1].env)
		}
	})
}

func supAtoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
