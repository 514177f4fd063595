package child

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// The machine's idle CPU time, from /proc/stat: how much room the CPUs had
// over an interval. Pressure alone cannot say it: when as many handlers
// compute as there are CPUs (two workers on two CPUs, one handler each),
// no task waits, PSI reads calm, and a limit raised then only makes two
// handlers share a CPU, each taking twice as long. Idle time tells that the
// CPUs are full. It is the machine's: in a container on a larger host it
// is the host's, which leaves the pressure (the cgroup's, on cgroup v2,
// throttling included) as the signal there. Where /proc/stat cannot be
// read (not Linux), the idle time is unknown and the controller goes by the
// pressure alone, as before.

// procStat is where Linux keeps the CPUs' time counters.
const procStat = "/proc/stat"

// idleMeter measures the CPUs' idle time between calls. The tick goroutine
// owns it.
type idleMeter struct {
	path              string
	lastIdle, lastAll uint64
	primed            bool
}

// cores returns how many CPUs were idle, on average, since the previous
// call (negative when unknown: the first call, or a file it cannot read).
func (m *idleMeter) cores() float64 {
	idle, all, cpus, ok := readProcStat(m.path)
	if !ok {
		m.primed = false
		return -1
	}
	defer func() { m.lastIdle, m.lastAll, m.primed = idle, all, true }()
	if !m.primed || all <= m.lastAll || idle < m.lastIdle {
		return -1
	}
	return float64(idle-m.lastIdle) / float64(all-m.lastAll) * float64(cpus)
}

// readProcStat reads the first line of a /proc/stat file, the CPUs' time
// added up ("cpu user nice system idle iowait irq softirq steal ..."):
// idle is idle and iowait, all the eight fields (guest time is part of
// user time already), and cpus the count of "cpuN" lines.
func readProcStat(path string) (idle, all uint64, cpus int, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		switch {
		case len(f) == 0 || !bytes.HasPrefix(f[0], []byte("cpu")):
		case len(f[0]) > 3:
			cpus++
		case len(f) < 9:
			return 0, 0, 0, false
		default:
			for i := 1; i <= 8; i++ {
				n, err := strconv.ParseUint(string(f[i]), 10, 64)
				if err != nil {
					return 0, 0, 0, false
				}
				all += n
				if i == 4 || i == 5 {
					idle += n
				}
			}
			ok = true
		}
	}
	return idle, all, cpus, ok && cpus > 0
}
