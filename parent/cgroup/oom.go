package cgroup

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"strconv"
)

// OOMCounter is the file where the kernel counts the OOM kills of one
// memory cgroup: memory.events (cgroup v2, the kills in the cgroup and
// below it) or memory.oom_control (cgroup v1, Linux 4.13 and later). The
// count is the cgroup's, so kills in other containers do not show in it.
type OOMCounter struct {
	// File is the counter as the system sees it, e.g.
	// "/sys/fs/cgroup/kubepods.slice/.../memory.events"; "" when none was
	// found.
	File string
	root string
}

// FindOOMCounter locates the memory cgroup of process pid, from its
// /proc/PID/cgroup and this process's mountinfo, and the file counting its
// OOM kills. Without one (no memory controller mounted, a kernel that does
// not count) it returns an OOMCounter with no File and the reason.
func FindOOMCounter(pid int) (OOMCounter, error) { return FindOOMCounterFrom("/", pid) }

// FindOOMCounterFrom is FindOOMCounter for the file tree under root, as
// ReadFrom is Read's: tests pass a fixture directory.
func FindOOMCounterFrom(root string, pid int) (OOMCounter, error) {
	r := reader{root: root, procCgroup: fmt.Sprintf("/proc/%d/cgroup", pid)}
	members, err := r.parseProcCgroup()
	if err != nil {
		return OOMCounter{}, err
	}
	mounts, err := r.parseMountinfo()
	if err != nil {
		return OOMCounter{}, err
	}
	var tried []string
	for _, c := range []struct{ fsType, controller, file string }{
		{fsTypeV2, "", "memory.events"},
		{fsTypeV1, "memory", "memory.oom_control"},
	} {
		dir, _, ok := r.locate(members, mounts, c.fsType, c.controller)
		if !ok {
			continue
		}
		counter := OOMCounter{File: path.Join(dir, c.file), root: root}
		if _, ok := counter.Kills(); ok {
			return counter, nil
		}
		tried = append(tried, counter.File)
	}
	return OOMCounter{}, fmt.Errorf("cgroup: no count of OOM kills for process %d (tried %q)", pid, tried)
}

// Kills reads the count; ok is false if the file cannot be read or holds
// no oom_kill line.
func (c OOMCounter) Kills() (n uint64, ok bool) {
	if c.File == "" {
		return 0, false
	}
	r := reader{root: c.root}
	return ReadOOMKill(r.file(c.File))
}

// ReadOOMKill reads the "oom_kill N" line of a file of counters:
// /proc/vmstat (the machine's kills), memory.events or memory.oom_control
// (a cgroup's). ok is false if the file is missing, has no such line, or its
// count is not a number.
func ReadOOMKill(file string) (n uint64, ok bool) {
	data, err := os.ReadFile(file)
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
