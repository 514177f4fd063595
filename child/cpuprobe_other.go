//go:build !linux

package child

import "github.com/sluicegw/sluice/ipc"

// cpuProbe is a no-op outside Linux, where the thread a goroutine is locked
// to cannot be named: the parent then learns no costs from this worker, and
// treats its requests as it would without the hints.
type cpuProbe struct{}

func startCPUProbe() *cpuProbe                            { return nil }
func (p *cpuProbe) appendUsed(head ipc.Fields) ipc.Fields { return head }
func (p *cpuProbe) stop()                                 {}
