//go:build linux

package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat. The kernel
// exposes these in USER_HZ, which is 100 on every Linux ABI Go supports;
// reading it with sysconf(_SC_CLK_TCK) would need cgo for no gain.
const userHZ = 100

// CPUTime returns the CPU time pid has used so far, user plus system
// (utime + stime of /proc/PID/stat), at the kernel's 10 ms resolution.
// Threads are included; children that were waited for are not.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("procstat: reading the CPU time of process %d: %w (has it exited?)", pid, err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from the text of a
// /proc/PID/stat. As in parentOf, the fields are counted from the last ')',
// because the command name may contain spaces and parentheses.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("procstat: stat line has no ')': %q", b)
	}
	// After ')' come state (field 3), ppid (4), ... utime is field 14,
	// so index 11 of what follows, stime index 12.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("procstat: stat line is too short for utime and stime: %q", b)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("procstat: stat line has a bad utime or stime %q: %q", s, b)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ), nil
}

// TreeCPU returns the CPU time of pid and of each of its descendants, by
// pid. A descendant that exits during the walk is left out; the root
// missing is an error.
func TreeCPU(pid int) (map[int]time.Duration, error) {
	root, err := CPUTime(pid)
	if err != nil {
		return nil, err
	}
	out := map[int]time.Duration{pid: root}
	kids, err := Descendants(pid)
	if err != nil {
		return nil, err
	}
	for _, k := range kids {
		d, err := CPUTime(k)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[k] = d
	}
	return out, nil
}
