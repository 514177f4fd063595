//go:build linux

package cgroup

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// Read returns the limits that apply to this process: the tightest CPU quota
// and memory limit of its cgroup and every ancestor visible in this mount
// namespace (cgroup v2, v1 or a hybrid of both, from /proc/self/cgroup and
// /proc/self/mountinfo), and the number of CPUs in its affinity mask.
//
// On error the returned Limits carry only AffinityCPUs and the Steps up to
// the failure; the parent should then not guess a worker count from them
// (that is how a 1-CPU container ends up with one worker per host CPU) but
// ask for it to be set explicitly.
func Read() (Limits, error) {
	l, err := ReadFrom("/")
	var set unix.CPUSet
	if aerr := unix.SchedGetaffinity(0, &set); aerr == nil {
		l.AffinityCPUs = set.Count()
		l.Steps = append(l.Steps, "sched_getaffinity: "+plural(l.AffinityCPUs, "CPU")+" in the affinity mask")
	} else {
		// The fixed-size CPUSet fails with EINVAL on machines with more
		// than 1024 CPUs; runtime.NumCPU reads the same mask (at start-up)
		// with a buffer that grows.
		l.AffinityCPUs = runtime.NumCPU()
		l.Steps = append(l.Steps, "sched_getaffinity: "+aerr.Error()+"; using runtime.NumCPU, "+plural(l.AffinityCPUs, "CPU"))
	}
	return l, err
}
