package parent

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// residentBytes is a process's resident set size, from /proc/PID/statm.
func residentBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/statm: unexpected content %q", pid, b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/statm: %v", pid, err)
	}
	return pages * int64(os.Getpagesize()), nil
}
