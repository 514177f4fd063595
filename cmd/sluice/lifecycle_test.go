package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	osexec "os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fetch GETs url and reports whether a complete 200 arrived.
func fetch(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", n, err)
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// loadFor runs n clients fetching path in a loop until stop is closed and
// returns the count of successes and the failures.
func loadFor(base, path string, n int, stop <-chan struct{}) (func() (int64, []error), *sync.WaitGroup) {
	return loadWith(func() error { return fetch(base + path) }, n, stop)
}

// loadWith runs n clients calling do in a loop until stop is closed.
func loadWith(do func() error, n int, stop <-chan struct{}) (func() (int64, []error), *sync.WaitGroup) {
	var ok atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := do(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	return func() (int64, []error) {
		mu.Lock()
		defer mu.Unlock()
		return ok.Load(), append([]error(nil), errs...)
	}, &wg
}

// TestCrashLoopBacksOff: a worker command that fails at once costs a
// handful of restarts, not thousands, and is reported as a crash loop.
func TestCrashLoopBacksOff(t *testing.T) {
	t.Parallel()
	bin := sluiceBinary(t)
	cmd := osexec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--workers", "1", "--worker-cmd", "/bin/false", "--log-format", "json")
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}()
	window := 20 * time.Second
	time.Sleep(window) // the test measures what happens in this window
	starts := strings.Count(logs.String(), `"worker failed to start"`)
	t.Logf("/bin/false as the worker for %v: %d failed starts", window, starts)
	if starts < 2 || starts > 10 {
		t.Fatalf("%d failed starts in %v; want a few (backing off), at most 10", starts, window)
	}
	if !strings.Contains(logs.String(), "crash-looping") {
		t.Fatal("no crash-loop report in the log")
	}
}

// TestBusyWorkerIsNotKilled: every core busy in handlers for three liveness
// windows; pongs still arrive, so no worker is killed.
func TestBusyWorkerIsNotKilled(t *testing.T) {
	g := startGateway(t, 2, "--liveness-window", "1s", "--heartbeat-interval", "100ms", "--max-inflight", "2")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fetch(g.addr + "/payload?size=64KiB&cpu=3s")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a CPU-heavy request failed: %v", err)
		}
	}
	for _, w := range g.status().Workers {
		if w.Restarts != 0 || w.State != "up" {
			t.Fatalf("worker %d: state %s, %d restarts after being busy; want it left alone", w.ID, w.State, w.Restarts)
		}
	}
	if strings.Contains(g.logs.String(), "presumed hung") {
		t.Fatal("a busy worker was presumed hung")
	}
}

// TestStoppedWorkerIsReplaced: SIGSTOP makes a worker silent; it is found
// out after the liveness window, killed (SIGTERM, SIGKILL after the 2 s
// grace) and replaced. The client whose response it was streaming gets an
// error; the other worker's client does not notice.
func TestStoppedWorkerIsReplaced(t *testing.T) {
	g := startGateway(t, 2, "--liveness-window", "1s", "--heartbeat-interval", "100ms", "--max-inflight", "2")
	// A: a response that streams for long.
	respA, err := http.Get(g.addr + "/payload?size=64GiB")
	if err != nil {
		t.Fatal(err)
	}
	defer respA.Body.Close()
	if _, err := io.ReadFull(respA.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	var victim, other int
	for _, w := range g.status().Workers {
		if w.Open == 1 {
			victim = w.PID
		} else {
			other = w.PID
		}
	}
	if victim == 0 || other == 0 {
		t.Fatalf("cannot tell which worker streams A: %+v", g.status().Workers)
	}
	// B: a request on the other worker (it has the most room).
	busy := make(chan error, 1)
	go func() { busy <- fetch(g.addr + "/payload?size=1MiB&cpu=2s") }()
	deadline := time.Now().Add(10 * time.Second)
	for g.status().Open < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the second request did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped := time.Now()
	if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	aDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, respA.Body)
		aDone <- err
	}()
	select {
	case err := <-aDone:
		if err == nil {
			t.Fatal("the stopped worker's streaming response ended cleanly; want an error")
		}
		t.Logf("streaming client saw %v after %v", err, time.Since(stopped).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatal("the stopped worker's client got nothing for 15s")
	}
	if err := <-busy; err != nil {
		t.Fatalf("a request on the healthy worker failed: %v", err)
	}
	for {
		var w0 *int
		for _, w := range g.status().Workers {
			if w.State == "up" && w.PID != victim && w.PID != other {
				w0 = &w.PID
			}
		}
		if w0 != nil {
			t.Logf("stopped worker replaced %v after SIGSTOP (liveness window 1s, kill grace 2s)", time.Since(stopped).Round(time.Millisecond))
			break
		}
		if time.Since(stopped) > 10*time.Second {
			t.Fatalf("stopped worker not replaced after 10s: %+v", g.status().Workers)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if alive(victim) {
		t.Fatalf("the stopped worker %d is still alive", victim)
	}
	if !strings.Contains(g.logs.String(), "presumed hung") {
		t.Fatal("no 'presumed hung' log line")
	}
	if err := fetch(g.addr + "/payload?size=1MiB"); err != nil {
		t.Fatalf("after the replacement: %v", err)
	}
}

// TestKilledWorkerUnderLoadLosesOnlyItsStarted: SIGKILL of a worker while
// clients keep the gateway busy: only requests that were running on it may
// fail; everything queued goes to the remaining or new worker.
func TestKilledWorkerUnderLoadLosesOnlyItsStarted(t *testing.T) {
	g := startGateway(t, 2, "--max-inflight", "1")
	stop := make(chan struct{})
	results, wg := loadFor(g.addr, "/payload?size=2MiB&cpu=20ms", 6, stop)
	time.Sleep(time.Second) // load runs for a while before the kill
	victim := g.status().Workers[1]
	syscall.Kill(victim.PID, syscall.SIGKILL)
	time.Sleep(2 * time.Second) // and after it
	close(stop)
	wg.Wait()
	ok, errs := results()
	t.Logf("%d succeeded, %d failed around the kill: %v", ok, len(errs), errs)
	// max-inflight 1: at most the one request running on the victim fails.
	if len(errs) > 1 || ok < 10 {
		t.Fatalf("%d failures (want at most the 1 running on the killed worker), %d successes", len(errs), ok)
	}
	g.waitWorkersUp(2)
}

// TestSIGHUPRollingRestartLosesNothing: under continuous load, SIGHUP
// replaces every worker with zero failed requests.
func TestSIGHUPRollingRestartLosesNothing(t *testing.T) {
	g := startGateway(t, 2)
	before := map[int]bool{}
	for _, w := range g.status().Workers {
		before[w.PID] = true
	}
	stop := make(chan struct{})
	results, wg := loadFor(g.addr, "/payload?size=1MiB&cpu=10ms", 4, stop)
	time.Sleep(500 * time.Millisecond)
	g.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := g.status()
		replaced := 0
		for _, w := range st.Workers {
			if w.State == "up" && !before[w.PID] {
				replaced++
			}
		}
		if replaced == len(st.Workers) && strings.Contains(g.logs.String(), "rolling restart done") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rolling restart not done after 30s: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	ok, errs := results()
	t.Logf("SIGHUP under load: %d requests succeeded, %d failed", ok, len(errs))
	if len(errs) > 0 {
		t.Fatalf("%d requests failed during the rolling restart: %v", len(errs), errs)
	}
}

// TestParentKilledLeavesNoWorker: SIGKILL of the parent takes the workers
// with it (PR_SET_PDEATHSIG) within 2 s.
func TestParentKilledLeavesNoWorker(t *testing.T) {
	g := startGateway(t, 2)
	var pids []int
	for _, w := range g.status().Workers {
		pids = append(pids, w.PID)
	}
	g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.exit
	deadline := time.Now().Add(2 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("worker %d still alive 2s after the parent was killed", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	g.exit <- nil // for the cleanup, which waits on it again
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

// TestRecyclingByRequestCount: with --max-requests, workers are drained and
// replaced under continuous load with no request failing.
func TestRecyclingByRequestCount(t *testing.T) {
	g := startGateway(t, 2, "--max-requests", "10", "--heartbeat-interval", "50ms")
	stop := make(chan struct{})
	results, wg := loadFor(g.addr, "/payload?size=256KiB", 4, stop)
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(g.logs.String(), `"msg":"worker replaced`) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 4 recyclings in 30s: %+v", g.status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	ok, errs := results()
	t.Logf("recycling every ~10 requests: %d succeeded, %d failed, %d replacements", ok, len(errs), strings.Count(g.logs.String(), `"msg":"worker replaced`))
	if len(errs) > 0 {
		t.Fatalf("%d requests failed while workers were recycled: %v", len(errs), errs[:min(3, len(errs))])
	}
}
