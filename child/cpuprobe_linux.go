package child

import (
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicegw/sluice/ipc"
)

// cpuProbe measures the CPU time a handler's goroutine uses from its start
// to its return, for the parent's cost table (hints.go). Go has no
// per-goroutine CPU clock, so the goroutine is locked to its thread for the
// measurement and the thread's clock read: a handler asleep on a database
// or blocked on its client then counts nothing, one computing counts all,
// whether it computes before its first byte or while it streams. Work a
// handler hands to other goroutines is not counted (the parent's light lane
// is bounded for that reason). It is a sample, asked for on some requests
// only, because a locked goroutine that blocks costs a thread switch when
// it wakes.
type cpuProbe struct {
	tid    int           // the thread the goroutine is locked to
	start  time.Duration // its CPU clock then
	locked bool
}

// startCPUProbe locks the calling goroutine to its thread and starts
// measuring; stop must be called on the same goroutine. It returns nil
// where the thread's clock cannot be read.
func startCPUProbe() *cpuProbe {
	runtime.LockOSThread()
	start, ok := threadCPU()
	if !ok {
		runtime.UnlockOSThread()
		return nil
	}
	return &cpuProbe{tid: unix.Gettid(), start: start, locked: true}
}

// report returns the CPU used since the start as the END field the parent
// reads (hintCPUUsed), or nil. It must be called on the measured goroutine
// (the response's finish runs there, once the handler has returned); on any
// other thread it reports nothing, that thread's clock saying nothing of
// the handler.
func (p *cpuProbe) report() ipc.Fields {
	if p == nil || !p.locked || unix.Gettid() != p.tid {
		return nil
	}
	now, ok := threadCPU()
	if !ok {
		return nil
	}
	used := max(now-p.start, 0)
	return ipc.Fields{{Name: hintCPUUsed, Value: strconv.FormatInt(used.Microseconds(), 10)}}
}

// stop unlocks the goroutine from its thread.
func (p *cpuProbe) stop() {
	if p != nil && p.locked {
		p.locked = false
		runtime.UnlockOSThread()
	}
}

// threadCPU reads the calling thread's CPU clock.
func threadCPU() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
