//go:build !linux

package child

import (
	"runtime"
	"time"
)

// psiFile is Linux's pressure stall information, which other systems lack.
type psiFile struct{}

func findPSI(string) (*psiFile, string) {
	return nil, "no CPU pressure information on " + runtime.GOOS + ": admission uses the scheduler latency alone"
}

func (*psiFile) someTotal() (time.Duration, error) { return 0, nil }
