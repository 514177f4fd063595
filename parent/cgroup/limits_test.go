package cgroup

import (
	"strings"
	"testing"
)

func TestWorkers(t *testing.T) {
	const src = "cgroup v2 /sys/fs/cgroup/cpu.max: x"
	tests := []struct {
		quota    float64
		affinity int
		want     int
		reason   string
	}{
		{0.5, 4, 1, "cpu quota 0.50 from " + src + ": floor → 0, raised to the minimum of 1 → 1 worker"},
		{1.5, 4, 1, "cpu quota 1.50 from " + src + ": floor → 1 → 1 worker"},
		{2.0, 4, 2, "cpu quota 2.00 from " + src + ": floor → 2 → 2 workers"},
		{3.9, 2, 2, "cpu quota 3.90 from " + src + ": floor → 3, capped at the 2 CPUs in the affinity mask → 2 workers"},
		{3.9, 0, 3, "cpu quota 3.90 from " + src + ": floor → 3 → 3 workers"},
		{0, 4, 4, "no cpu quota; 4 CPUs in the affinity mask → 4 workers"},
		{0, 1, 1, "no cpu quota; 1 CPU in the affinity mask → 1 worker"},
		{0, 0, 1, "no cpu quota; the affinity mask is unknown → 1 worker"},
		// The incident: a 1-CPU container on a 48-CPU host.
		{1, 48, 1, "cpu quota 1.00 from " + src + ": floor → 1 → 1 worker"},
	}
	for _, tt := range tests {
		l := Limits{CPUQuota: tt.quota, AffinityCPUs: tt.affinity}
		if tt.quota > 0 {
			l.CPUSource = src
		}
		n, reason := l.Workers()
		if n != tt.want || reason != tt.reason {
			t.Errorf("Limits{CPUQuota: %v, AffinityCPUs: %d}.Workers() = %d, %q; want %d, %q",
				tt.quota, tt.affinity, n, reason, tt.want, tt.reason)
		}
	}
}

func TestWorkerMemoryLimit(t *testing.T) {
	const src = "cgroup v2 /sys/fs/cgroup/memory.max: x"
	tests := []struct {
		limit  int64
		n      int
		want   int64
		reason []string
	}{
		// 2 GiB: 10% (204.8 MiB) beats 64 MiB; (2048 - 204.8) MiB / 4.
		{2 << 30, 4, (2<<30 - (2<<30)/10) / 4, []string{"2.00 GiB from " + src, "204.8 MiB parent reserve (10%)", "/ 4 workers", "GOMEMLIMIT 460.8 MiB"}},
		// 512 MiB: 10% is 51.2 MiB, so the 64 MiB floor applies.
		{512 << 20, 2, (512 - 64) << 20 / 2, []string{"64.0 MiB parent reserve (64 MiB minimum)", "/ 2 workers", "GOMEMLIMIT 224.0 MiB (234881024 bytes)"}},
		// 100 MiB: 64 MiB would leave too little; the reserve is capped at half.
		{100 << 20, 1, 50 << 20, []string{"50.0 MiB parent reserve (half of a small limit)", "/ 1 worker"}},
		// n below 1 counts as 1.
		{1 << 30, 0, (1<<30 - (1<<30)/10), []string{"asked for 0 workers, counted as 1"}},
		{0, 4, 0, []string{"no memory limit; workers get no GOMEMLIMIT"}},
	}
	for _, tt := range tests {
		l := Limits{MemoryLimit: tt.limit}
		if tt.limit > 0 {
			l.MemorySource = src
		}
		got, reason := l.WorkerMemoryLimit(tt.n)
		if got != tt.want {
			t.Errorf("limit %d, %d workers: %d bytes each, want %d (%s)", tt.limit, tt.n, got, tt.want, reason)
		}
		for _, w := range tt.reason {
			if !strings.Contains(reason, w) {
				t.Errorf("limit %d, %d workers: reason %q does not contain %q", tt.limit, tt.n, reason, w)
			}
		}
	}
}
