//go:build linux

package demo

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// processCPU is the user+system CPU time of the whole test process.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
