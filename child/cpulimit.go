package child

import "time"

// The CPU admission controller: how many handlers may compute at once.
//
// Handlers are admitted by the CPU they would compete for, not by a count
// of open requests. The gate (gate.go) starts a stream while fewer than the
// limit of handlers are computing, where a handler that waits on a slow
// client, or that the Go scheduler sees waiting (on a database, a remote
// API, a timer), is not computing. This file sets that limit from what the
// machine reports, every controlInterval:
//
//   - CPU pressure: the share of the interval during which runnable work
//     waited for a CPU (Linux PSI "some", of the worker's cgroup or the
//     machine). It is the one signal that sees the other workers and the
//     parent competing for the same CPUs.
//   - the Go scheduler's latency (p99 over the interval): how long this
//     worker's runnable goroutines, its connection writer among them,
//     waited for a thread. It is what starved flushing looks like from
//     inside, and the signal left where PSI is missing.
//
// The law is additive-increase, multiplicative-decrease with a slow start,
// as TCP's congestion control: halve the limit when the CPUs are
// oversubscribed and this worker's handlers are part of the cause, grow it
// (doubling below the limit at which pressure was last seen, then by one)
// when the limit held handlers back (in this interval and the one before)
// and either the CPUs had room (little
// pressure and, where it is known, idle time: cpuidle.go) or this
// worker used little of them (the pressure is someone else's, and a limit
// its own handlers do not fill only starves them), and otherwise hold. A decrease is followed by a few intervals of holding, so that the
// limit settles next to the point where pressure starts rather than
// swinging between its bounds; it then probes one step above it now and
// then, which is how it finds room that appears later.
type cpuLimit struct {
	min, max int // bounds of the limit
	limit    int // in force
	// ceiling is the limit at which pressure was last seen, halved: below
	// it growth doubles, above it growth adds one per calm interval.
	ceiling int
	// hold counts the intervals left before the limit may grow again.
	hold int
	// heldBefore says the limit was binding in the previous interval too.
	// Growth asks for it: the idle CPU of an interval in which work
	// arrived only at the end (a burst after a quiet spell) is the quiet
	// spell's, and says nothing of room beside the handlers that came.
	heldBefore bool
}

// Controller constants. The pressure thresholds are shares of an interval:
// PSI "some" reads 1 when every CPU has a second task waiting, and about
// half that when half of them do.
const (
	controlInterval = 100 * time.Millisecond
	// pressureHigh and pressureLow bracket the pressure at which the limit
	// holds: above high it halves, below low it may grow.
	pressureHigh = 0.6
	pressureLow  = 0.3
	// schedLatencyHigh and schedLatencyLow do the same for the scheduler
	// latency p99: Go preempts a goroutine after 10 ms, so a p99 near that
	// means goroutines routinely waited a whole time slice for a thread.
	schedLatencyHigh = 8 * time.Millisecond
	schedLatencyLow  = 2 * time.Millisecond
	// ownShareFloor is the CPU (in cores) this worker must have used in
	// the interval for pressure to lower its limit: pressure that other
	// processes cause is not relieved by starving this worker's I/O-bound
	// handlers.
	ownShareFloor = 0.5
	// holdAfterDecrease is the intervals the limit holds after halving.
	holdAfterDecrease = 3
	// idleFloor is the idle CPU, in cores, that growth asks for: room for
	// one more handler to compute at least half the time.
	idleFloor = 0.5
)

// cpuSample is what the controller sees of one interval.
type cpuSample struct {
	// pressure is the share of the interval during which runnable work
	// waited for a CPU; negative when it is not known (no PSI).
	pressure float64
	// schedP99 is the Go scheduler latency's 99th percentile over the
	// interval.
	schedP99 time.Duration
	// cpuUsed is the CPU this worker used in the interval, in cores;
	// negative when it is not known.
	cpuUsed float64
	// idle is the CPU the machine left idle in the interval, in cores
	// (cpuidle.go); negative when it is not known.
	idle float64
	// held says the limit was binding at some point in the interval (it
	// held a stream back, or as many as it allows were computing): the
	// only case in which raising it would change anything.
	held bool
}

// newCPULimit returns a controller that starts at initial and stays within
// [lo, hi].
func newCPULimit(initial, lo, hi int) *cpuLimit {
	lo = max(lo, 1)
	hi = max(hi, lo)
	initial = min(max(initial, lo), hi)
	return &cpuLimit{min: lo, max: hi, limit: initial, ceiling: hi}
}

// overloaded says the CPUs were oversubscribed in s.
func (s cpuSample) overloaded() bool {
	return s.pressure >= pressureHigh || s.schedP99 >= schedLatencyHigh
}

// calm says the CPUs had room in s: little pressure, and, where it is
// known, idle time for one more handler to compute (idleFloor).
func (s cpuSample) calm() bool {
	return s.pressure < pressureLow && s.schedP99 < schedLatencyLow && (s.idle < 0 || s.idle >= idleFloor)
}

// othersPressure says the CPUs were contended in s (or it is not known)
// while this worker used little of them and its goroutines still ran as
// soon as they were ready: the pressure is someone else's, and what keeps
// this worker's handlers from computing is not the CPU. Without pressure,
// a worker using little CPU while its limit held streams back had a gap
// between handlers, not a share taken from it, and growing would only have
// its next handlers share a CPU. With its goroutines waiting to run, the
// little it used is what a busy machine left it (a noisy neighbour), and
// more handlers would only split that between them: each would finish
// later, all together, as in the Airtable incident.
func (s cpuSample) othersPressure() bool {
	return s.cpuUsed >= 0 && s.cpuUsed < ownShareFloor && (s.pressure < 0 || s.pressure >= pressureLow) &&
		s.schedP99 < schedLatencyLow
}

// step takes one interval's sample and returns the limit for the next.
func (c *cpuLimit) step(s cpuSample) int {
	heldAll := s.held && c.heldBefore
	c.heldBefore = s.held
	switch {
	case s.overloaded() && (s.cpuUsed < 0 || s.cpuUsed >= ownShareFloor):
		c.limit = max(c.min, c.limit/2)
		c.ceiling = c.limit
		c.hold = holdAfterDecrease
	case c.hold > 0:
		c.hold--
	case heldAll && (s.calm() || s.othersPressure()):
		if c.limit < c.ceiling {
			c.limit = min(c.limit*2, c.ceiling)
		} else {
			c.limit++
		}
		c.limit = min(c.limit, c.max)
	}
	return c.limit
}
