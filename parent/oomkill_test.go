package parent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child"
	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/parent/cgroup"
)

// TestOOMKills reads the count from vmstat files: this machine's, with the
// count set, and the ways one may not give it.
func TestOOMKills(t *testing.T) {
	for _, tc := range []struct {
		file string
		n    uint64
		ok   bool
	}{
		{"oom-kill-3", 3, true},
		{"no-oom-kill", 0, false}, // a kernel before 4.13
		{"bad-count", 0, false},
		{"missing", 0, false}, // not Linux
	} {
		n, ok := cgroup.ReadOOMKill(filepath.Join("testdata", "vmstat", tc.file))
		if n != tc.n || ok != tc.ok {
			t.Errorf("%s: %d, %t; want %d, %t", tc.file, n, ok, tc.n, tc.ok)
		}
	}
}

// oomHeld keeps what TestOOMHelperWorker allocates.
var oomHeld [][]byte

// oomAllocEnv makes the helper worker allocate memory, this long after it
// starts, until the kernel kills it.
const oomAllocEnv = "SLUICE_PARENT_TEST_ALLOC_AFTER"

// TestOOMHelperWorker is not a test: it is the worker process of
// TestOOMKillBacksOff (this binary, re-executed), the demo worker that
// starts allocating memory after a while and keeps every byte.
func TestOOMHelperWorker(t *testing.T) {
	after, err := time.ParseDuration(os.Getenv(oomAllocEnv))
	if err != nil {
		t.Skip("the worker process of TestOOMKillBacksOff")
	}
	time.AfterFunc(after, func() {
		for {
			b := make([]byte, 8<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1 // touched, so resident
			}
			oomHeld = append(oomHeld, b)
		}
	})
	child.Main(demo.New(""))
}

// memoryCgroup makes a memory cgroup of limit bytes for the test (v1's
// memory controller, or v2 with memory enabled at the root), removed at
// cleanup, or skips the test with the reason.
func memoryCgroup(t *testing.T, limit int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making a memory cgroup needs root")
	}
	name := fmt.Sprintf("sluice-test-%d", os.Getpid())
	var dir string
	var files [][2]string
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err == nil {
		dir = filepath.Join("/sys/fs/cgroup/memory", name)
		files = [][2]string{{"memory.limit_in_bytes", fmt.Sprint(limit)}, {"memory.memsw.limit_in_bytes", fmt.Sprint(limit)}}
	} else if _, err := os.Stat("/sys/fs/cgroup/cgroup.subtree_control"); err == nil {
		dir = filepath.Join("/sys/fs/cgroup", name)
		files = [][2]string{{"memory.max", fmt.Sprint(limit)}, {"memory.swap.max", "0"}}
	} else {
		t.Skip("no cgroup v1 memory controller or cgroup v2 hierarchy at /sys/fs/cgroup")
	}
	// A test binary that died (a timeout's panic) left its cgroup: those
	// of processes that are gone are removed first.
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "sluice-test-*"))
	for _, d := range stale {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "sluice-test-%d", &pid); err == nil && pid != os.Getpid() {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
				os.Remove(d)
			}
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("making a memory cgroup: %v", err)
	}
	t.Cleanup(func() {
		// Its processes are killed by the gateway's stop; the last may
		// take a moment to be reaped.
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := os.Remove(dir)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("removing the test cgroup %s: %v", dir, err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	for i, f := range files {
		err := os.WriteFile(filepath.Join(dir, f[0]), []byte(f[1]), 0o644)
		switch {
		case err == nil:
		case i == 0:
			t.Skipf("limiting the test cgroup: %v", err)
		case swapOn():
			// The worker would swap rather than be killed, slowly, and
			// press on the whole machine meanwhile.
			t.Skipf("swap is on and the test cgroup's swap cannot be limited: %v", err)
		}
	}
	return dir
}

// swapOn reports whether the machine has swap space in use or available.
func swapOn() bool {
	data, err := os.ReadFile("/proc/swaps")
	return err != nil || len(strings.Split(strings.TrimSpace(string(data)), "\n")) > 1
}

// TestOOMKillBacksOff: real demo workers in a memory cgroup of 128 MiB
// start allocating a second after their start (their handshake done),
// until the kernel's OOM killer ends them with SIGKILL, a signal the parent
// did not send. Each death counts as oom, from the cgroup's own count, not
// as an outsider's kill, and backs off as a crash does: 100, 200, 400 ms,
// then the crash loop is reported.
func TestOOMKillBacksOff(t *testing.T) {
	if os.Getenv(launchHelperEnv) == "1" || os.Getenv(oomAllocEnv) != "" {
		t.Skip("in the worker process")
	}
	cg := memoryCgroup(t, 128<<20)
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	e := supStart(t, Config{
		Workers: 1,
		// The shell joins the cgroup, then becomes the worker.
		WorkerCmd:    []string{"/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, cg, self, "-test.run=^TestOOMHelperWorker$"},
		WorkerEnv:    []string{"SLUICE_LOG_FORMAT=json", launchNoRaceSleep, oomAllocEnv + "=1s"},
		QueueTimeout: gwWait,
	}, &launchFake{exec: true})
	wantBackoff(t, e.waitLog("worker died", 3)[:3], "oom", "killed by signal killed")
	reports := e.log.records("worker killed by the kernel's OOM killer")
	if len(reports) < 3 {
		t.Errorf("%d OOM kill reports for 3 deaths", len(reports))
	}
	for _, r := range reports {
		// The cgroup's own count, which kills elsewhere do not move.
		if !strings.HasPrefix(r.attrs["oom_counter"], cg+"/memory.") {
			t.Errorf("OOM kill report %v; want the count of the cgroup %s", r.attrs, cg)
		}
	}
	e.waitLog("worker is crash-looping", 1)
	if n := e.restartsOf("0", "oom"); n < 3 {
		t.Errorf("sluice_worker_restarts_total{reason=oom} %v; want at least 3", n)
	}
}
