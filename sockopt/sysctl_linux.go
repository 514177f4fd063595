package sockopt

import (
	"os"
	"strconv"
	"strings"
)

// readSysctl returns the integer value of a sysctl such as
// "net.core.wmem_max", or 0 if it cannot be read. It is only used to make a
// BufferError more helpful, so failure is not an error; inside some
// containers /proc/sys/net is not the host's, or not mounted.
func readSysctl(name string) int {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 {
		return 0
	}
	return n
}
