package procstat

import "time"

// CPUDelta is after minus before, per pid of after: the CPU each process
// spent between two TreeCPU readings. A pid missing from before started in
// between, so all of its time counts. Pids only in before exited in
// between; what they spent since before is lost, which is why the bench
// reads the tree again only once the load has stopped, not after the
// processes are stopped.
func CPUDelta(before, after map[int]time.Duration) map[int]time.Duration {
	out := make(map[int]time.Duration, len(after))
	for pid, a := range after {
		// A reused pid could look like it ran backwards; it is a new
		// process, so all of its time counts.
		if b, ok := before[pid]; ok && b <= a {
			a -= b
		}
		out[pid] = a
	}
	return out
}
