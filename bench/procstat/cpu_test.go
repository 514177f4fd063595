package procstat

import (
	"testing"
	"time"
)

func TestCPUDelta(t *testing.T) {
	before := map[int]time.Duration{1: time.Second, 2: 3 * time.Second, 9: time.Second}
	after := map[int]time.Duration{1: 1500 * time.Millisecond, 2: time.Second, 3: 200 * time.Millisecond}
	got := CPUDelta(before, after)
	want := map[int]time.Duration{
		1: 500 * time.Millisecond, // ran in between
		2: time.Second,            // pid reused: a new process
		3: 200 * time.Millisecond, // started in between
	}
	if len(got) != len(want) {
		t.Fatalf("CPUDelta = %v, want %v (pid 9 exited and is left out)", got, want)
	}
	for pid, w := range want {
		if got[pid] != w {
			t.Errorf("pid %d: %v, want %v", pid, got[pid], w)
		}
	}
}
