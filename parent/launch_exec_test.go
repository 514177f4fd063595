package parent

import (
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child"
	"github.com/sluicegw/sluice/child/demo"
)

// launchHelperEnv makes the test binary, run by TestLaunchExecWorker, a
// worker.
const launchHelperEnv = "SLUICE_PARENT_TEST_WORKER"

// launchNoRaceSleep spares a -race worker the race detector's second of
// sleep at exit, which every stop would wait for.
const launchNoRaceSleep = "GORACE=atexit_sleep_ms=0"

// TestLaunchExecHelperWorker is not a test: it is the worker process that
// TestLaunchExecWorker starts (this binary, re-executed).
func TestLaunchExecHelperWorker(t *testing.T) {
	if os.Getenv(launchHelperEnv) != "1" {
		t.Skip("the worker process of TestLaunchExecWorker")
	}
	child.Main(demo.New(""))
}

// TestLaunchExecWorker: the production launcher starts real processes on
// fd 3 of a socketpair with its send buffer set; a SIGKILLed worker is
// reported as killed and replaced; a worker command that exits at once
// fails its handshake with its exit status; and Shutdown ends the workers
// cleanly.
func TestLaunchExecWorker(t *testing.T) {
	if os.Getenv(launchHelperEnv) == "1" {
		t.Skip("in the worker process")
	}
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	e := supStart(t, Config{
		Workers:   1,
		WorkerCmd: []string{self, "-test.run=^TestLaunchExecHelperWorker$"},
		WorkerEnv: []string{launchHelperEnv + "=1", "SLUICE_LOG_FORMAT=json", launchNoRaceSleep},
	}, &launchFake{exec: true})
	srv, client := supHTTP(t, e)
	e.waitUp(1)
	resp, err := client.Get(srv.URL + "/payload?size=1MiB")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != 1<<20 || resp.StatusCode != 200 {
		t.Fatalf("through a real worker: %d, %d bytes, %v", resp.StatusCode, n, err)
	}
	ws := e.g.Status().Workers[0]
	if ws.SendBuffer < DefaultSendBuffer {
		t.Fatalf("parent's send buffer %d; want at least the %d asked", ws.SendBuffer, DefaultSendBuffer)
	}
	if err := syscall.Kill(ws.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	died := e.waitLog("worker died", 1)[0]
	if died.attrs["exit"] != "killed by signal killed" {
		t.Fatalf("death %v", died)
	}
	e.waitLog("worker up", 2)

	// A command that exits 1 at once.
	with := func(cmd ...string) launcher { c := e.g.cfg; c.WorkerCmd = cmd; return execLauncher{c} }
	if _, err := spawn(with("/bin/sh", "-c", "exit 3"), e.g.cfg, nil, 7, nil); err == nil || !strings.Contains(err.Error(), "handshake") || !strings.Contains(err.Error(), "(worker exit: exit status 3)") {
		t.Fatalf("spawn of a command that exits: %v", err)
	}
	if _, err := spawn(with("/nonexistent/worker"), e.g.cfg, nil, 8, nil); err == nil || !strings.Contains(err.Error(), `worker 8: starting "/nonexistent/worker"`) {
		t.Fatalf("spawn of a missing command: %v", err)
	}

	if err := e.shutdown(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The stop's SIGTERM, sent once the worker closed its connection,
	// can arrive after child.Run released the signal and kill it: a clean
	// stop may be reported either way.
	if r := e.log.records("worker stopped"); len(r) != 1 || r[0].attrs["exit"] != "exit status 0" && r[0].attrs["exit"] != "killed by signal terminated" {
		t.Fatalf("stopped: %v", r)
	}
}

// TestLaunchExecWorkerRecycledByRSS: a real worker's resident memory, read
// from /proc, above MaxRSS gets it recycled at a heartbeat.
func TestLaunchExecWorkerRecycledByRSS(t *testing.T) {
	if os.Getenv(launchHelperEnv) == "1" {
		t.Skip("in the worker process")
	}
	if _, err := residentBytes(os.Getpid()); err != nil {
		t.Skip(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	e := supStart(t, Config{
		Workers:           1,
		WorkerCmd:         []string{self, "-test.run=^TestLaunchExecHelperWorker$"},
		WorkerEnv:         []string{launchHelperEnv + "=1", launchNoRaceSleep},
		MaxRSS:            1 << 10,
		HeartbeatInterval: 50 * time.Millisecond,
	}, &launchFake{exec: true})
	rec := e.waitLog("worker exceeds its memory limit; recycling", 1)[0]
	if rss, _ := strconv.ParseInt(rec.attrs["rss_bytes"], 10, 64); rss < 1<<20 {
		t.Fatalf("%v: want a real resident size", rec)
	}
	e.waitLog("worker replaced", 1)
}
