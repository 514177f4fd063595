package child

import (
	"slices"
	"testing"
	"time"
)

// machine is a made-up worker for the controller: cpus CPUs, and handlers
// each wanting share of a CPU while they run; the worker always has more
// streams waiting than its limit admits. others is the CPU that the rest
// of the machine (another worker) keeps busy.
type machine struct {
	cpus   float64
	share  float64 // CPU a computing handler wants: 1 CPU-bound, ~0 I/O-bound
	others float64
}

// sample is what the controller would read in an interval with limit
// handlers computing.
func (m machine) sample(limit int) cpuSample {
	own := float64(limit) * m.share
	demand := own + m.others
	s := cpuSample{held: true, cpuUsed: min(own, m.cpus), idle: max(m.cpus-demand, 0)}
	// PSI "some" grows with the share of CPUs that have a second task.
	s.pressure = min(max(demand-m.cpus, 0)/m.cpus, 1)
	if demand > m.cpus {
		s.schedP99 = 10 * time.Millisecond
	}
	return s
}

func run(c *cpuLimit, m machine, steps int) []int {
	var limits []int
	for range steps {
		limits = append(limits, c.step(m.sample(c.limit)))
	}
	return limits
}

// CPU-bound handlers: the limit settles next to the CPUs and stays there,
// without swinging between its bounds.
func TestCPULimitConvergesForCPUBound(t *testing.T) {
	for _, cpus := range []int{1, 2, 4, 8} {
		c := newCPULimit(cpus, 1, 64)
		limits := run(c, machine{cpus: float64(cpus), share: 1}, 100)
		tail := limits[50:]
		lo, hi := slices.Min(tail), slices.Max(tail)
		if lo < max(cpus/2, 1) || hi > cpus+max(cpus/2, 1) {
			t.Errorf("%d CPUs: the limit ranged over %d..%d in its last 50 steps, want about %d: %v", cpus, lo, hi, cpus, limits)
		}
		if hi == 64 {
			t.Errorf("%d CPUs: the limit reached its cap: %v", cpus, limits)
		}
	}
}

// I/O-bound handlers leave the CPUs idle: the limit grows to its cap within
// a few hundred milliseconds, doubling.
func TestCPULimitGrowsToCapForIOBound(t *testing.T) {
	c := newCPULimit(2, 1, 256)
	limits := run(c, machine{cpus: 2, share: 0.001}, 10)
	// The first interval's wait may be the end of a quiet one: no growth.
	want := []int{2, 4, 8, 16, 32, 64, 128, 256, 256, 256}
	if !slices.Equal(limits, want) {
		t.Fatalf("limits %v, want %v", limits, want)
	}
}

// After a burst of pressure the limit drops to its floor at once, holds,
// then recovers when the CPUs are free again.
func TestCPULimitRecoversAfterBurst(t *testing.T) {
	c := newCPULimit(16, 1, 64)
	burst := cpuSample{pressure: 1, schedP99: 20 * time.Millisecond, cpuUsed: 2, held: true}
	calm := cpuSample{pressure: 0.05, schedP99: time.Millisecond, cpuUsed: 0.2, idle: 1.8, held: true}
	var got []int
	for range 5 {
		got = append(got, c.step(burst))
	}
	for range 12 {
		got = append(got, c.step(calm))
	}
	want := []int{8, 4, 2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if !slices.Equal(got, want) {
		t.Fatalf("limits %v, want %v", got, want)
	}
}

// Pressure that other processes cause, while this worker barely uses a CPU,
// does not lower its limit: starving its I/O-bound handlers would not
// relieve it (and while the limit holds streams back, it grows). Where the
// worker's CPU use is unknown, pressure counts.
func TestCPULimitIgnoresPressureItDoesNotCause(t *testing.T) {
	c := newCPULimit(8, 1, 64)
	if got := c.step(cpuSample{pressure: 0.9, cpuUsed: 0.1, held: false}); got != 8 {
		t.Errorf("with 0.1 cores used, the limit went to %d, want 8", got)
	}
	if got := c.step(cpuSample{pressure: 0.9, cpuUsed: -1, held: true}); got != 4 {
		t.Errorf("with the CPU use unknown, the limit went to %d, want 4", got)
	}
}

// Pressure this worker does not cause does not keep its limit down either:
// while it holds streams back using little CPU, the limit grows.
func TestCPULimitGrowsUnderOthersPressure(t *testing.T) {
	c := newCPULimit(1, 1, 64)
	c.ceiling = 1 // pressure was seen at 1
	var got []int
	for range 3 {
		got = append(got, c.step(cpuSample{pressure: 0.7, schedP99: time.Millisecond, cpuUsed: 0.2, held: true}))
	}
	if want := []int{1, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("limits %v under pressure from others, want %v", got, want)
	}
}

// A machine busy with someone else's work, on which this worker's own
// goroutines wait to run (a noisy neighbour: its CPU use is low because it
// gets little), does not grow the limit: more handlers would only share
// what it gets.
func TestCPULimitHoldsUnderANoisyNeighbour(t *testing.T) {
	c := newCPULimit(2, 1, 64)
	for range 5 {
		if got := c.step(cpuSample{pressure: 0.7, schedP99: 10 * time.Millisecond, cpuUsed: 0.2, held: true}); got != 2 {
			t.Fatalf("the limit went to %d while this worker's goroutines waited to run; want 2", got)
		}
	}
}

// The limit grows only when it held a stream back, and holds in the band
// between the thresholds.
func TestCPULimitHoldsWithoutDemandOrInBand(t *testing.T) {
	c := newCPULimit(4, 1, 64)
	for _, s := range []cpuSample{
		{pressure: 0, held: false},                                            // nothing waited
		{pressure: 0.45, cpuUsed: 1, held: true},                              // between the thresholds
		{pressure: 0, schedP99: 4 * time.Millisecond, cpuUsed: 1, held: true}, // latency in band
	} {
		if got := c.step(s); got != 4 {
			t.Errorf("after %+v the limit is %d, want 4", s, got)
		}
	}
}

func TestCPULimitBounds(t *testing.T) {
	c := newCPULimit(100, 0, 10)
	if c.limit != 10 || c.min != 1 {
		t.Fatalf("limit %d min %d, want 10 and 1", c.limit, c.min)
	}
	for range 10 {
		c.step(cpuSample{pressure: 1, cpuUsed: 1})
	}
	if c.limit != 1 {
		t.Fatalf("limit %d after sustained pressure, want the floor 1", c.limit)
	}
}

// Two workers on two CPUs, CPU-bound handlers, the other worker computing
// one: with one handler of its own the CPUs are full but nothing waits, so
// the pressure reads calm. The idle time shows no room, and the limit
// stays at 1 rather than probing up to 2 now and then, where two handlers
// would share a CPU and each take twice as long.
func TestCPULimitDoesNotProbeAFullMachine(t *testing.T) {
	c := newCPULimit(1, 1, 64)
	limits := run(c, machine{cpus: 2, share: 1, others: 1}, 100)
	if slices.Max(limits) != 1 {
		t.Fatalf("limits %v; want 1 throughout", limits)
	}
	// Where the idle time is not known, the pressure alone decides, as
	// before: calm, so it grows.
	unknown := newCPULimit(1, 1, 64)
	s := machine{cpus: 2, share: 1, others: 1}.sample(1)
	s.idle = -1
	if got := []int{unknown.step(s), unknown.step(s)}; got[1] != 2 {
		t.Fatalf("limits %v with the idle time unknown; want 2 at the second step", got)
	}
}

// CPU-bound work that arrives at the end of a quiet interval: the interval
// reads calm (its CPUs were idle until then) and the limit was binding at
// its end, but that idle time was before the work came. The limit holds;
// it would otherwise let two CPU-bound handlers share one CPU at the start
// of every burst, each taking twice as long. Work that then leaves the
// CPUs idle while it waits still grows the limit, one interval later.
func TestCPULimitHoldsAtABurstAfterQuiet(t *testing.T) {
	c := newCPULimit(1, 1, 64)
	quietThenBurst := cpuSample{pressure: 0, schedP99: time.Millisecond, cpuUsed: 0.1, idle: 1.9, held: true}
	full := machine{cpus: 2, share: 1, others: 1}.sample(1)
	if got := []int{c.step(cpuSample{idle: 2}), c.step(quietThenBurst), c.step(full)}; !slices.Equal(got, []int{1, 1, 1}) {
		t.Fatalf("limits %v over a quiet interval, a burst at its end and a full one; want 1 throughout", got)
	}
	io := newCPULimit(1, 1, 64)
	io.step(cpuSample{idle: 2})
	if got := []int{io.step(quietThenBurst), io.step(quietThenBurst)}; !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("limits %v over two calm intervals that held streams back; want 1 then 2", got)
	}
}
