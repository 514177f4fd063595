//go:build linux

package demo

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// burnCPU does d of real computation on this goroutine's thread. It measures
// the thread's own CPU clock, not wall time, so that a busy machine makes the
// request slower (as in the Airtable incident) instead of doing less work.
// The goroutine is locked to its thread for the duration, otherwise the
// thread clock would measure whatever else ran on that thread.
func burnCPU(ctx context.Context, d time.Duration) (time.Duration, error) {
	if d <= 0 {
		return 0, nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, err := threadCPU()
	if err != nil {
		return 0, err
	}
	return burnUntil(ctx, d, func() (time.Duration, error) {
		now, err := threadCPU()
		return now - start, err
	})
}

func threadCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("reading the thread CPU clock (CLOCK_THREAD_CPUTIME_ID): %w", err)
	}
	return time.Duration(ts.Nano()), nil
}
