//go:build linux

package cgroup

import "testing"

// TestReadReal reads this machine's own limits. The values depend on where
// the test runs, so it only checks that Read works and logs what it found.
func TestReadReal(t *testing.T) {
	l, err := Read()
	for _, s := range l.Steps {
		t.Log("step:", s)
	}
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	t.Logf("CPUQuota %v (%s); MemoryLimit %d (%s); AffinityCPUs %d", l.CPUQuota, l.CPUSource, l.MemoryLimit, l.MemorySource, l.AffinityCPUs)
	n, reason := l.Workers()
	t.Logf("Workers: %d: %s", n, reason)
	b, reason := l.WorkerMemoryLimit(n)
	t.Logf("WorkerMemoryLimit: %d: %s", b, reason)
	if l.AffinityCPUs < 1 {
		t.Errorf("AffinityCPUs = %d on Linux, want at least 1", l.AffinityCPUs)
	}
}
