package child

import (
	"math"
	rtmetrics "runtime/metrics"
	"time"
)

// The signals of CPU admission, read from the Go runtime and the kernel.

// Runtime metric names (runtime/metrics).
const (
	metricRunning      = "/sched/goroutines/running:goroutines"
	metricRunnable     = "/sched/goroutines/runnable:goroutines"
	metricNotInGo      = "/sched/goroutines/not-in-go:goroutines"
	metricSchedLatency = "/sched/latencies:seconds"
)

// demandMeter measures the goroutines that want a CPU: running, runnable
// and waiting for a thread, or in a system call or cgo call. The last count
// matters: a handler that computes in C, or that the runtime keeps on its
// own thread (runtime.LockOSThread) and that enters the kernel often, is
// counted there, not as running; a goroutine blocked in a slow system call
// is counted too, which errs on the side of starting less. Network I/O,
// timers and locks leave a goroutine waiting, which is not counted. Its
// sample slice is reused, so a meter must not be used by two goroutines at
// once; the gate calls it under its lock.
type demandMeter struct {
	samples [3]rtmetrics.Sample
}

func newDemandMeter() *demandMeter {
	m := &demandMeter{}
	m.samples[0].Name = metricRunning
	m.samples[1].Name = metricRunnable
	m.samples[2].Name = metricNotInGo
	return m
}

// others is the goroutines wanting a CPU, not counting the caller (which is
// running as it asks).
func (m *demandMeter) others() int {
	rtmetrics.Read(m.samples[:])
	n := 0
	for _, s := range m.samples {
		if s.Value.Kind() == rtmetrics.KindUint64 {
			n += int(s.Value.Uint64())
		}
	}
	return max(n-1, 0)
}

// cpuSource is what the controller reads once per interval: an interface so
// that its tests can drive it with made-up machines.
type cpuSource interface {
	// sample returns, for the time since the previous call, the
	// interval's pressure, the CPU this process used and the CPUs left
	// idle, in cores (each negative when unknown), and the scheduler
	// latency's p99. held is left for the caller.
	sample(now time.Time) cpuSample
}

// osSignals is the cpuSource of a real process: PSI (psi_linux.go), the
// scheduler latency histogram and the process's CPU time (cputime_*.go).
// The tick goroutine owns it.
type osSignals struct {
	psi     *psiFile // nil without PSI
	idle    idleMeter
	lastPSI time.Duration
	sched   [1]rtmetrics.Sample
	last    []uint64 // the histogram's counts at the previous sample
	lastCPU time.Duration
	lastAt  time.Time
}

func newOSSignals(psi *psiFile, now time.Time) *osSignals {
	o := &osSignals{psi: psi, lastAt: now, idle: idleMeter{path: procStat}}
	o.sched[0].Name = metricSchedLatency
	o.sample(now) // the first interval starts now
	return o
}

func (o *osSignals) sample(now time.Time) cpuSample {
	elapsed := now.Sub(o.lastAt)
	o.lastAt = now
	pressure := -1.0
	if o.psi != nil {
		if total, err := o.psi.someTotal(); err == nil {
			if elapsed > 0 && o.lastPSI > 0 {
				pressure = min(float64(total-o.lastPSI)/float64(elapsed), 1)
			}
			o.lastPSI = total
		}
	}
	var schedP99 time.Duration
	rtmetrics.Read(o.sched[:])
	if o.sched[0].Value.Kind() == rtmetrics.KindFloat64Histogram {
		h := o.sched[0].Value.Float64Histogram()
		schedP99 = histogramP99(h.Counts, o.last, h.Buckets)
		o.last = append(o.last[:0], h.Counts...)
	}
	cpuUsed := -1.0
	if cpu, ok := processCPU(); ok {
		if elapsed > 0 && o.lastCPU > 0 {
			cpuUsed = float64(cpu-o.lastCPU) / float64(elapsed)
		}
		o.lastCPU = cpu
	}
	return cpuSample{pressure: pressure, schedP99: schedP99, cpuUsed: cpuUsed, idle: o.idle.cores()}
}

// histogramP99 is the 99th percentile of the observations counted between
// last and counts (cumulative bucket counts of the same histogram; last may
// be empty), as the upper bound of the bucket it falls in, or the lower
// bound for the open last bucket. buckets has len(counts)+1 boundaries. It
// is 0 when nothing was observed.
func histogramP99(counts, last []uint64, buckets []float64) time.Duration {
	var total uint64
	for i, c := range counts {
		total += c - at(last, i)
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(float64(total) * 0.99))
	var seen uint64
	for i, c := range counts {
		seen += c - at(last, i)
		if seen >= rank {
			bound := buckets[i+1]
			if math.IsInf(bound, 1) {
				bound = buckets[i]
			}
			return time.Duration(bound * float64(time.Second))
		}
	}
	return 0
}

func at(s []uint64, i int) uint64 {
	if i < len(s) {
		return s[i]
	}
	return 0
}
