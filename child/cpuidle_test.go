package child

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestReadProcStat reads this machine's /proc/stat, kept as a fixture, and
// refuses what is not one.
func TestReadProcStat(t *testing.T) {
	idle, all, cpus, ok := readProcStat(filepath.Join("testdata", "procstat", "two-cpus"))
	if !ok || cpus != 2 || idle == 0 || all <= idle {
		t.Fatalf("two-cpus: idle %d of %d over %d CPUs, %t", idle, all, cpus, ok)
	}
	for _, name := range []string{"no-cpu", "short", "missing"} {
		if _, _, _, ok := readProcStat(filepath.Join("testdata", "procstat", name)); ok {
			t.Errorf("%s: read as a /proc/stat", name)
		}
	}
}

// TestIdleMeter: the idle cores between two readings of the counters.
func TestIdleMeter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	write := func(idle, iowait, busy int) {
		t.Helper()
		line := fmt.Appendf(nil, "cpu  %d 0 0 %d %d 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n", busy, idle, iowait)
		if err := os.WriteFile(path, line, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := idleMeter{path: path}
	write(100, 0, 100)
	if got := m.cores(); got != -1 {
		t.Fatalf("first reading: %v; want unknown", got)
	}
	// 20 ticks in all, 5 idle (4 idle, 1 waiting on I/O), of 2 CPUs.
	write(104, 1, 115)
	if got := m.cores(); math.Abs(got-0.5) > 1e-9 {
		t.Fatalf("idle cores %v; want 0.5", got)
	}
	os.Remove(path)
	if got := m.cores(); got != -1 {
		t.Fatalf("a missing file: %v; want unknown", got)
	}
}
