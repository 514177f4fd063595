//go:build !linux

package child

import "github.com/sluicegw/sluice/ipc"

// cpuProbe is a no-op outside Linux, where the thread a goroutine is locked
// to cannot be named: the parent then learns no costs from this worker, and
// sends it no light requests.
type cpuProbe struct{}

func startCPUProbe() *cpuProbe         { return nil }
func (p *cpuProbe) report() ipc.Fields { return nil }
func (p *cpuProbe) stop()              {}
