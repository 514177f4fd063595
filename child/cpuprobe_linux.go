package child

import (
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicegw/sluice/ipc"
)

// cpuProbe measures the CPU time a handler's goroutine uses until its
// response head goes out, for the parent's cost table (hints.go). Go has no
// per-goroutine CPU clock, so the goroutine is locked to its thread for the
// measurement and the thread's clock read: a handler asleep on a database
// or blocked on its client then counts nothing, one computing counts all.
// Work a handler hands to other goroutines is not counted; it is a sample,
// asked for on some requests only, because a locked goroutine that blocks
// costs a thread switch when it wakes.
type cpuProbe struct {
	tid    int           // the thread the goroutine was locked to
	start  time.Duration // its CPU clock then
	done   bool          // the head was measured, or the probe stopped
	locked bool          // the goroutine is still locked to tid
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

// appendUsed appends the CPU used since the start to a response head, once,
// and ends the measurement: a streaming handler that blocks on its client
// is not kept on its thread for the rest of the response. Called on another
// goroutine than the one measured (a handler that writes from a goroutine
// of its own), it adds nothing: that thread's clock says nothing of the
// handler. On the thread the probe locked, it can only be the measured
// goroutine, since a locked thread runs no other.
func (p *cpuProbe) appendUsed(head ipc.Fields) ipc.Fields {
	if p == nil || p.done {
		return head
	}
	p.done = true
	if unix.Gettid() != p.tid {
		return head
	}
	now, ok := threadCPU()
	p.locked = false
	runtime.UnlockOSThread()
	if !ok {
		return head
	}
	used := max(now-p.start, 0)
	return append(head, ipc.Field{Name: hintCPUUsed, Value: strconv.FormatInt(used.Microseconds(), 10)})
}

// stop unlocks the goroutine from its thread if the head has not already.
func (p *cpuProbe) stop() {
	if p != nil && p.locked {
		p.done, p.locked = true, false
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
