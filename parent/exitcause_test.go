package parent

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child"
	"github.com/sluicegw/sluice/child/demo"
)

// exitcauseExitEnv makes the helper worker exit 1 by itself this long
// after it starts.
const exitcauseExitEnv = "SLUICE_PARENT_TEST_EXIT_AFTER"

// TestExitcauseHelperWorker is not a test: it is the worker process of
// TestExitcauseOwnExitBacksOff (this binary, re-executed), the demo worker
// that exits 1 by itself after a while.
func TestExitcauseHelperWorker(t *testing.T) {
	after, err := time.ParseDuration(os.Getenv(exitcauseExitEnv))
	if err != nil {
		t.Skip("the worker process of TestExitcauseOwnExitBacksOff")
	}
	time.AfterFunc(after, func() { os.Exit(1) })
	child.Main(demo.New(""))
}

// exitcauseStart starts a gateway of n real demo workers (this binary
// re-executed), env added to theirs.
func exitcauseStart(t *testing.T, n int, helper string, env ...string) *supEnv {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	return supStart(t, Config{
		Workers:      n,
		WorkerCmd:    []string{self, "-test.run=^" + helper + "$"},
		WorkerEnv:    append([]string{"SLUICE_LOG_FORMAT=json", launchNoRaceSleep}, env...),
		QueueTimeout: gwWait,
	}, &launchFake{exec: true})
}

// TestExitcauseExternalKillsRestartPromptly: both real workers SIGKILLed
// from outside, ten times over, each time within a second of their start.
// Taken for crashes, those deaths would have doubled both slots' delays
// past 50 s; as external kills each restart comes after the shortest delay
// (at most maxKilledDelay), no slot is reported crash-looping, and a
// request after the last round is served within its queue timeout.
func TestExitcauseExternalKillsRestartPromptly(t *testing.T) {
	if os.Getenv(launchHelperEnv) == "1" {
		t.Skip("in the worker process")
	}
	e := exitcauseStart(t, 2, "TestLaunchExecHelperWorker", launchHelperEnv+"=1")
	srv, client := supHTTP(t, e)
	const rounds = 10
	for round := 0; round < rounds; round++ {
		e.waitUp(2)
		for _, ws := range e.g.Status().Workers {
			if err := syscall.Kill(ws.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		e.waitLog("worker died", 2*(round+1))
	}
	resp, err := client.Get(srv.URL + "/payload?size=1KiB")
	if err != nil {
		t.Fatalf("after %d rounds of kills: %v", rounds, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after %d rounds of kills: status %d", rounds, resp.StatusCode)
	}
	for i, r := range e.log.records("worker died") {
		d, err := time.ParseDuration(r.attrs["restart_in"])
		if err != nil || d > maxKilledDelay || r.attrs["reason"] != "killed" || r.attrs["exit"] != "killed by signal killed" {
			t.Fatalf("death %d: %v; want reason killed, restart_in at most %v", i, r.attrs, maxKilledDelay)
		}
	}
	if n := e.log.count("worker is crash-looping"); n != 0 {
		t.Fatalf("%d crash-loop reports for external kills", n)
	}
	var killed float64
	for _, id := range []string{"0", "1"} {
		killed += e.restartsOf(id, "killed")
	}
	if killed < 2*rounds {
		t.Fatalf("sluice_worker_restarts_total{reason=killed} %v; want at least %d", killed, 2*rounds)
	}
}

// TestExitcauseOwnExitBacksOff: a real worker that exits 1 by itself soon
// after its start is a crash, whatever signals the parent sends it while
// stopping it: its restart delay doubles, 100, 200, 400 ms, and the third
// death in a row reports the crash loop.
func TestExitcauseOwnExitBacksOff(t *testing.T) {
	e := exitcauseStart(t, 1, "TestExitcauseHelperWorker", exitcauseExitEnv+"=2s")
	wantBackoff(t, e.waitLog("worker died", 3)[:3], "crash", "exit status 1")
	e.waitLog("worker is crash-looping", 1)
}

// wantBackoff checks the deaths' records: each for reason, with exit, and
// restart delays doubling from 100 ms.
func wantBackoff(t *testing.T, died []supRecord, reason, exit string) {
	t.Helper()
	want := 100 * time.Millisecond
	for i, r := range died {
		if r.attrs["restart_in"] != want.String() || r.attrs["reason"] != reason || r.attrs["exit"] != exit {
			t.Fatalf("death %d: %v; want reason %s, exit %q, restart_in %v", i, r.attrs, reason, exit, want)
		}
		want *= 2
	}
}

// restartsOf is sluice_worker_restarts_total of worker id and reason.
func (e *supEnv) restartsOf(id, reason string) float64 {
	e.t.Helper()
	return gwMetric(e.t, e.g, "sluice_worker_restarts_total", map[string]string{"worker": id, "reason": reason})
}

// exitcauseHandle is a worker handle that ended by sig (0: exited).
type exitcauseHandle struct {
	gwExitedHandle
	sig syscall.Signal
}

func (h exitcauseHandle) exitSignal() (syscall.Signal, bool) { return h.sig, h.sig != 0 }

// TestExitcauseKilledExternally: a death counts as an external kill only
// for a signal a process does not raise against itself, that the parent
// did not send.
func TestExitcauseKilledExternally(t *testing.T) {
	for _, c := range []struct {
		sig, sent syscall.Signal
		want      bool
	}{
		{syscall.SIGKILL, 0, true},
		{syscall.SIGTERM, 0, true},
		{syscall.SIGKILL, syscall.SIGKILL, false}, // the parent's kill (hung, stop timeout)
		{syscall.SIGKILL, syscall.SIGTERM, true},  // stop's SIGTERM did not end it
		{syscall.SIGTERM, syscall.SIGTERM, false},
		{syscall.SIGSEGV, 0, false}, // its own fault
		{syscall.SIGABRT, 0, false},
		{0, 0, false}, // it exited
	} {
		h := &trackedHandle{workerHandle: exitcauseHandle{sig: c.sig}}
		if c.sent != 0 {
			h.signal(c.sent)
		}
		p := &process{h: h}
		before := p.sentSignals()
		// Stopping it afterwards, as the supervisor does with a worker
		// found dead, sends SIGTERM: that must not change the verdict.
		h.signal(syscall.SIGTERM)
		if got := p.killedExternally(before); got != c.want {
			t.Errorf("ended by %v, parent sent %v: external %v; want %v", c.sig, c.sent, got, c.want)
		}
	}
	// A handle that cannot tell its signal is never taken for killed.
	if (&process{h: &trackedHandle{workerHandle: gwExitedHandle{}}}).killedExternally(0) {
		t.Error("a handle without a wait status reports an external kill")
	}
}

// TestExitcauseKilledDelays: after external kills a slot waits the base
// delay, doubling while kills follow young deaths up to maxKilledDelay,
// back to the base after a stable worker, and the base whenever no other
// worker is up.
func TestExitcauseKilledDelays(t *testing.T) {
	k := killedDelays{base: 100 * time.Millisecond}
	var got []string
	for _, step := range []struct {
		uptime time.Duration
		up     int
	}{{0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 0}, {stableUptime + 1, 1}, {0, 1}} {
		got = append(got, k.after(step.uptime, step.up).String())
	}
	want := "[100ms 200ms 400ms 800ms 1s 1s 100ms 100ms 200ms]"
	if s := fmt.Sprint(got); s != want {
		t.Fatalf("delays %s; want %s", s, want)
	}
}
