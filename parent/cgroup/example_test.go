package cgroup_test

import (
	"fmt"

	"github.com/sluicegw/sluice/parent/cgroup"
)

// ReadFrom parses a fixture tree laid out like a real system (here a
// Kubernetes pod on cgroup v2 with a 1.5-CPU quota and 512 MiB of memory)
// on any operating system. Read does the same for this process, and the
// parent sizes its worker pool from the result: the quota rounded down,
// and the memory limit, less a reserve for the parent, shared among the
// workers as their GOMEMLIMIT.
func ExampleReadFrom() {
	lim, err := cgroup.ReadFrom("testdata/v2-k8s-leaf-quota")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("cpu quota:", lim.CPUQuota)
	fmt.Println("memory limit:", lim.MemoryLimit>>20, "MiB")

	n, _ := lim.Workers()
	fmt.Println("workers:", n)
	mem, _ := lim.WorkerMemoryLimit(n)
	fmt.Println("GOMEMLIMIT per worker:", mem>>20, "MiB")
	// Output:
	// cpu quota: 1.5
	// memory limit: 512 MiB
	// workers: 1
	// GOMEMLIMIT per worker: 448 MiB
}

// Workers explains its choice, for the parent's log.
func ExampleLimits_Workers() {
	lim := cgroup.Limits{CPUQuota: 0.5, CPUSource: "cgroup v2 /sys/fs/cgroup/cpu.max: 50000 100000", AffinityCPUs: 48}
	n, reason := lim.Workers()
	fmt.Println(n)
	fmt.Println(reason)
	// Output:
	// 1
	// cpu quota 0.50 from cgroup v2 /sys/fs/cgroup/cpu.max: 50000 100000: floor → 0, raised to the minimum of 1 → 1 worker
}
