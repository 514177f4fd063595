package parent

import "github.com/sluicegw/sluice/parent/cgroup"

// The kernel's OOM killer ends its victim with SIGKILL, which the wait
// status cannot tell from an operator's kill -9. The kernel counts its
// kills, though, per memory cgroup (memory.events on cgroup v2,
// memory.oom_control on v1, Linux 4.13 and later) and for the machine
// (/proc/vmstat). A worker that died of a SIGKILL the parent did not send
// while the count of its memory cgroup rose, since its start, was most
// likely a victim. Most likely and not surely: another process of the same
// cgroup (the container, usually) killed meanwhile counts too, and so does
// any process of the machine where no cgroup counter is found; the log
// line names the file.
//
// An OOM kill is taken for the worker's own doing, as a crash is: a worker
// that grows past its memory (the cause in most cases, since the killer
// picks the largest process) would grow again, and restarting it at once
// each time is the respawn storm that backoff exists to prevent. It counts
// as its own restart reason, oom, so that a dashboard shows it apart.

// vmstatPath is where the kernel counts the machine's OOM kills.
const vmstatPath = "/proc/vmstat"

// oomCounterOf returns how to read the count of OOM kills that covers
// worker pid, and the file it reads: the worker's memory cgroup's where
// one is found (kills elsewhere do not count there), else the machine's.
func oomCounterOf(pid int) (read func() (uint64, bool), file string) {
	if c, err := cgroup.FindOOMCounter(pid); err == nil {
		return c.Kills, c.File
	}
	return func() (uint64, bool) { return cgroup.ReadOOMKill(vmstatPath) }, vmstatPath
}

// oomCount is the count of OOM kills as a worker's life saw it.
type oomCount struct {
	read    func() (uint64, bool) // nil: not known
	file    string
	atStart uint64
}

// startOOMCount reads the count that covers worker pid now, with counterOf
// (oomCounterOf, or a test's).
func startOOMCount(counterOf func(pid int) (func() (uint64, bool), string), pid int) oomCount {
	if counterOf == nil {
		return oomCount{}
	}
	read, file := counterOf(pid)
	n, ok := read()
	if !ok {
		return oomCount{}
	}
	return oomCount{read: read, file: file, atStart: n}
}

// oomKilled reports whether the count rose since the worker started, and
// the count now.
func (c oomCount) oomKilled() (now uint64, killed bool) {
	if c.read == nil {
		return 0, false
	}
	now, ok := c.read()
	return now, ok && now > c.atStart
}
