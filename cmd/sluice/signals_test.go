package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child/demo"
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

// TestWorkerKilledMidResponse: SIGKILL of the worker serving a response
// makes the client see an error, never a short 200 that looks complete, and
// a worker comes back.
func TestWorkerKilledMidResponse(t *testing.T) {
	g := startGateway(t, 1)
	before := g.status().Workers[0]
	resp, err := http.Get(g.addr + "/payload?size=8GiB")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatalf("first MiB: %v", err)
	}
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil {
		t.Fatalf("the body ended cleanly after %d more bytes although its worker was killed", n)
	}
	t.Logf("client saw: %v after %d more bytes", err, n)
	deadline := time.Now().Add(30 * time.Second)
	for {
		w := g.status().Workers[0]
		if w.State == "up" && w.PID != before.PID {
			if w.Restarts < 1 || !strings.Contains(w.LastExit, "killed") {
				t.Fatalf("worker back but status says restarts=%d last_exit=%q", w.Restarts, w.LastExit)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no worker back 30s after the kill: %+v", w)
		}
		time.Sleep(20 * time.Millisecond)
	}
	want, _ := io.ReadAll(demo.Payload(1, 1<<20))
	get(t, g.addr+"/payload?size=1MiB&seed=1", want)
}

// TestSIGTERMDrains: in-flight responses complete, the parent exits 0 and
// leaves no worker behind.
func TestSIGTERMDrains(t *testing.T) {
	g := startGateway(t, 2)
	pids := []int{}
	for _, w := range g.status().Workers {
		pids = append(pids, w.PID)
	}
	want, _ := io.ReadAll(demo.Payload(3, 20<<20))
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(g.addr + "/payload?size=20MiB&seed=3&cpu=500ms")
		if err != nil {
			done <- err
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && !bytes.Equal(body, want) {
			err = errors.New("body differs")
		}
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for g.status().Open < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the request never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatalf("in-flight request during drain: %v", err)
	}
	select {
	case err := <-g.exit:
		g.exit <- err // for the cleanup, which waits on it again
		if err != nil {
			t.Fatalf("sluice serve exited with %v after SIGTERM; want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sluice serve did not exit after SIGTERM")
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Fatalf("worker %d still alive after the parent exited", pid)
		}
	}
}
