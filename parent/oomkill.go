package parent

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// The kernel's OOM killer ends its victim with SIGKILL, which the wait
// status cannot tell from an operator's kill -9. The kernel counts its
// kills, though: oom_kill in /proc/vmstat (Linux 4.13 and later), which
// counts those of every memory cgroup too. A worker that died of a SIGKILL
// the parent did not send while that count rose was, most likely, a
// victim. Most likely and not surely: the count is the machine's, and in a
// container it is the host's, so another process killed at the same time
// would count too; the log line says so.
//
// An OOM kill is taken for the worker's own doing, as a crash is: a worker
// that grows past its memory (the cause in most cases, since the killer
// picks the largest process) would grow again, and restarting it at once
// each time is the respawn storm that backoff exists to prevent. It counts
// as its own restart reason, oom, so that a dashboard shows it apart.

// vmstatPath is where the kernel's event counters are.
const vmstatPath = "/proc/vmstat"

// oomKills reads the count of OOM kills from a vmstat file; ok is false if
// the file or its oom_kill line is missing (not Linux, an older kernel) or
// the count is not a number.
func oomKills(path string) (n uint64, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, value, found := bytes.Cut(sc.Bytes(), []byte(" "))
		if !found || string(name) != "oom_kill" {
			continue
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(value)), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// oomCount is the count of OOM kills as a worker's life saw it: when it
// started, if known.
type oomCount struct {
	atStart uint64
	known   bool
}

// oomKilled reports whether the count rose since the worker started, and
// the count now.
func (c oomCount) oomKilled(read func() (uint64, bool)) (now uint64, killed bool) {
	if !c.known || read == nil {
		return 0, false
	}
	now, ok := read()
	return now, ok && now > c.atStart
}
