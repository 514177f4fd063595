// Package cgroup reads the CPU and memory limits that Linux control groups
// impose on this process, so that the parent sizes its worker pool to the
// container it runs in and not to the host under it.
//
// A process is limited by its own cgroup and by every ancestor of it, so
// Read walks from the process's cgroup up to the root of the mounted
// hierarchy and keeps the tightest value it meets: cpu.max and memory.max on
// cgroup v2; cpu.cfs_quota_us / cpu.cfs_period_us and memory.limit_in_bytes
// on cgroup v1. Hybrid layouts (v1 controllers next to an empty v2 hierarchy)
// are read from both sides; a controller lives in only one of them, so the
// other side has no files and adds nothing.
//
// Only the part of the tree that this mount namespace can see is walked: in
// a container whose /sys/fs/cgroup is the container's own cgroup (a cgroup
// namespace, or a bind mount of a subtree) the walk stops at the container's
// cgroup, which is where the runtime puts the container's limits.
//
// Go's runtime.GOMAXPROCS is deliberately not used: it rounds a quota up,
// never goes below 2 and reads only the leaf cgroup, so a 1-CPU container
// would still get two workers, the start of a respawn storm
// (docs/ARCHITECTURE.md, "Respawn storm").
//
// Every decision is recorded in Limits.Steps, one line each, for the
// parent's log; Limits.CPUSource and Limits.MemorySource name the file and
// value that won.
//
// On systems other than Linux, Read returns ErrNotSupported together with a
// Limits whose sources say "not linux"; ReadFrom parses fixture trees on any
// system.
package cgroup

import (
	"errors"
	"fmt"
	"math"
)

// ErrNotSupported is returned by Read on systems other than Linux, which have
// no cgroups. The Limits returned with it are empty (sources "not linux");
// set the worker count explicitly on such systems.
var ErrNotSupported = errors.New("cgroup: reading resource limits needs Linux cgroups; on this system set the worker count explicitly")

// Limits are the resource limits that apply to this process, from its cgroup
// and every ancestor.
type Limits struct {
	// CPUQuota is the tightest CPU quota in CPUs (e.g. 1.5), 0 if none is set.
	CPUQuota float64
	// CPUSource says where CPUQuota came from, e.g.
	// "cgroup v2 /sys/fs/cgroup/kubepods/.../cpu.max: 150000 100000", or
	// "none" when no quota is set anywhere.
	CPUSource string
	// MemoryLimit is the tightest memory limit in bytes, 0 if none.
	MemoryLimit int64
	// MemorySource says where MemoryLimit came from, e.g.
	// "cgroup v2 /sys/fs/cgroup/kubepods/.../memory.max: 536870912", or
	// "none" when no limit is set anywhere.
	MemorySource string
	// AffinityCPUs is how many CPUs the scheduler affinity mask allows
	// (unix.SchedGetaffinity), 0 if unknown. ReadFrom leaves it 0; Read fills
	// it in.
	AffinityCPUs int
	// Steps is one line per decision taken while reading (which hierarchy,
	// which directory, each file's value and whether it was kept), in order,
	// for the parent's log.
	Steps []string
}

// noLimit is the threshold at and above which a memory limit means "no
// limit": cgroup v1 writes an unset memory.limit_in_bytes as the largest
// page-aligned int64 (9223372036854771712), and no real machine has 4 EiB.
const noLimit = 1 << 62

const (
	mib = 1 << 20
	gib = 1 << 30
	// parentReserveMin is the least memory kept back for the parent out of
	// the container's limit before it is shared among the workers.
	parentReserveMin = 64 * mib
	// parentReserveDivisor: the parent keeps at least 1/parentReserveDivisor
	// (10%) of the limit.
	parentReserveDivisor = 10
)

// Workers returns the default worker count: floor(CPUQuota), at least 1 and
// no more than AffinityCPUs (when known); with no quota, AffinityCPUs (at
// least 1). Rounding down is deliberate: a 1.5-CPU container runs one busy
// worker better than two throttled ones. The reason says how the number was
// reached, for the parent's log.
func (l Limits) Workers() (n int, reason string) {
	if l.CPUQuota <= 0 {
		if l.AffinityCPUs <= 0 {
			return 1, "no cpu quota; the affinity mask is unknown → 1 worker"
		}
		return l.AffinityCPUs, fmt.Sprintf("no cpu quota; %s in the affinity mask → %s",
			plural(l.AffinityCPUs, "CPU"), plural(l.AffinityCPUs, "worker"))
	}
	fl := math.Floor(l.CPUQuota)
	reason = fmt.Sprintf("cpu quota %.2f from %s: floor → %.0f", l.CPUQuota, l.CPUSource, fl)
	switch {
	case fl < 1:
		n = 1
		reason += ", raised to the minimum of 1"
	case l.AffinityCPUs > 0 && fl > float64(l.AffinityCPUs):
		n = l.AffinityCPUs
		reason += fmt.Sprintf(", capped at the %s in the affinity mask", plural(l.AffinityCPUs, "CPU"))
	default:
		n = int(fl)
	}
	return n, reason + " → " + plural(n, "worker")
}

// WorkerMemoryLimit returns a GOMEMLIMIT value for each of n workers: the
// memory limit minus a reserve for the parent (10% of the limit or 64 MiB,
// whichever is larger, but never more than half the limit), divided by n.
// It returns 0 when there is no memory limit. n below 1 counts as 1. The
// reason says how the number was reached, for the parent's log.
func (l Limits) WorkerMemoryLimit(n int) (bytes int64, reason string) {
	if l.MemoryLimit <= 0 {
		return 0, "no memory limit; workers get no GOMEMLIMIT"
	}
	note := ""
	if n < 1 {
		note = fmt.Sprintf(" (asked for %d workers, counted as 1)", n)
		n = 1
	}
	reserve := max(l.MemoryLimit/parentReserveDivisor, parentReserveMin)
	why := "64 MiB minimum"
	if l.MemoryLimit/parentReserveDivisor >= parentReserveMin {
		why = "10%"
	}
	if reserve > l.MemoryLimit/2 {
		reserve = l.MemoryLimit / 2
		why = "half of a small limit"
	}
	bytes = (l.MemoryLimit - reserve) / int64(n)
	return bytes, fmt.Sprintf("memory limit %s from %s, minus %s parent reserve (%s), / %s%s → GOMEMLIMIT %s (%d bytes) each",
		fmtBytes(l.MemoryLimit), l.MemorySource, fmtBytes(reserve), why, plural(n, "worker"), note, fmtBytes(bytes), bytes)
}

// plural formats n with word, adding an "s" unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// fmtBytes formats b in MiB or GiB for log lines.
func fmtBytes(b int64) string {
	if b >= gib {
		return fmt.Sprintf("%.2f GiB", float64(b)/gib)
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/mib)
}
