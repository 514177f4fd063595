//go:build !linux

package procstat

import (
	"fmt"
	"runtime"
	"time"
)

func unsupported(what string, pid int) error {
	return fmt.Errorf("procstat: %s of process %d needs Linux /proc, not available on %s; run the bench on Linux", what, pid, runtime.GOOS)
}

// Descendants returns an error: it needs Linux /proc.
func Descendants(pid int) ([]int, error) { return nil, unsupported("descendants", pid) }

// RSS returns an error: it needs Linux /proc.
func RSS(pid int) (int64, error) { return 0, unsupported("RSS", pid) }

// PSS returns an error: it needs Linux /proc.
func PSS(pid int) (int64, error) { return 0, unsupported("PSS", pid) }

// TreeMemory returns an error: it needs Linux /proc.
func TreeMemory(pid int) (rss, pss int64, err error) { return 0, 0, unsupported("tree memory", pid) }

// PeakRSS returns an error: it needs Linux /proc.
func PeakRSS(pid int) (int64, error) { return 0, unsupported("peak RSS", pid) }

// TreePeakRSS returns an error: it needs Linux /proc.
func TreePeakRSS(pid int) (int64, error) { return 0, unsupported("tree peak RSS", pid) }

func treeRSS(pid int) (int64, error) { return 0, unsupported("tree RSS", pid) }

// CPUTime returns an error: it needs Linux /proc.
func CPUTime(pid int) (time.Duration, error) { return 0, unsupported("CPU time", pid) }

// TreeCPU returns an error: it needs Linux /proc.
func TreeCPU(pid int) (map[int]time.Duration, error) { return nil, unsupported("tree CPU time", pid) }
