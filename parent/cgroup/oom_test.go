package cgroup

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestFindOOMCounter: the counter of a worker's memory cgroup, found from
// its /proc/PID/cgroup in fixture trees, and read.
func TestFindOOMCounter(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		file    string // "" when none is found
		kills   uint64
	}{
		{"v2-k8s-leaf-quota", "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5f3c2a1e_8b4d_4c6e_9a7f_2d1e0b3c4a5f.slice/cri-containerd-7d9e4f2a1b3c5d6e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f.scope/memory.events", 2},
		{"v1-docker-quota", "/sys/fs/cgroup/memory/memory.oom_control", 1},
		{"v2-container-no-limits", "", 0},
	} {
		c, err := FindOOMCounterFrom(filepath.Join("testdata", tc.fixture), 4242)
		if c.File != tc.file {
			t.Errorf("%s: counter %q (%v); want %q", tc.fixture, c.File, err, tc.file)
			continue
		}
		if tc.file == "" {
			if err == nil || !strings.Contains(err.Error(), "no count of OOM kills for process 4242") {
				t.Errorf("%s: error %v; want one saying no count was found", tc.fixture, err)
			}
			continue
		}
		if n, ok := c.Kills(); !ok || n != tc.kills {
			t.Errorf("%s: kills %d, %t; want %d", tc.fixture, n, ok, tc.kills)
		}
	}
	if _, err := FindOOMCounterFrom(filepath.Join("testdata", "v1-docker-quota"), 99999); err == nil || !strings.Contains(err.Error(), "/proc/99999/cgroup") {
		t.Errorf("a process that is gone: %v; want an error naming its /proc file", err)
	}
}
