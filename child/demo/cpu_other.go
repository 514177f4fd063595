//go:build !linux

package demo

import (
	"context"
	"time"
)

// burnCPU spins for d of wall time: without a per-thread CPU clock this is
// the closest portable stand-in. On a busy machine it does less work than on
// Linux, where burnCPU measures the thread's CPU time.
func burnCPU(ctx context.Context, d time.Duration) (time.Duration, error) {
	if d <= 0 {
		return 0, nil
	}
	start := time.Now()
	return burnUntil(ctx, d, func() (time.Duration, error) { return time.Since(start), nil })
}
