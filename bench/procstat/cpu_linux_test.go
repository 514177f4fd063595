//go:build linux

package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a ')' of its own; utime 250 and
	// stime 50 ticks.
	line := []byte("4242 (we ird) name) S 1 4242 4242 0 -1 4194304 99 0 0 0 250 50 0 0 20 0 1 0 412897 3133440 358 18446744073709551615\n")
	got, err := parseStatCPU(line)
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"4242 no paren S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194304 99 0 0 0 -5 50 0"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) succeeded; want an error", bad)
		}
	}
}

// sink keeps the spin loop of TestOwnCPUAndTree from being optimised away.
var sink int

func TestOwnCPUAndTree(t *testing.T) {
	me := os.Getpid()
	// Spin until the kernel has charged at least one tick, bounded so that
	// a machine that never schedules the test fails instead of hanging.
	deadline := time.Now().Add(10 * time.Second)
	var used time.Duration
	for used == 0 && time.Now().Before(deadline) {
		for i := range 1 << 20 {
			sink += i
		}
		var err error
		if used, err = CPUTime(me); err != nil {
			t.Fatal(err)
		}
	}
	if used <= 0 {
		t.Fatalf("CPUTime(self) = %v after spinning; want more than 0", used)
	}
	child := startSleep(t)
	tree, err := TreeCPU(me)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tree[child]; !ok || tree[me] < used {
		t.Fatalf("TreeCPU(self) = %v; want the sleep %d and self ≥ %v", tree, child, used)
	}
	if _, err := CPUTime(1 << 30); err == nil {
		t.Fatal("CPUTime of a missing process succeeded")
	}
}
