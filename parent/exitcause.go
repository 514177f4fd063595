package parent

import (
	"errors"
	"net"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// A worker's own crash and an external kill call for different restart
// delays. One that exits by itself (an exit status, a fault signal such as
// SIGSEGV or SIGABRT, or a signal the parent sent it) may be broken, and
// its restarts back off up to MaxRestartDelay. One killed by a signal the
// parent did not send (an operator's kill -9, the kernel's OOM killer) was
// not at fault: it comes back after RestartDelay, doubling only while such
// kills follow each other quickly, and at most to maxKilledDelay; its
// slot's crash-loop count is left as it was. Whenever a kill leaves no
// worker up, the slot restarts after RestartDelay: the gateway must not
// sit without workers because an outsider killed them.

// maxKilledDelay caps the restart delay after external kills: a slot
// killed again and again (memory pressure) costs at most one start a
// second, and the gateway is never down longer for it.
const maxKilledDelay = time.Second

// trackedLauncher wraps a launcher so that each handle records the
// signals the parent sends its worker.
type trackedLauncher struct{ launcher }

func (l trackedLauncher) launch(id int, env []string) (workerHandle, net.Conn, error) {
	h, nc, err := l.launcher.launch(id, env)
	if err != nil {
		return nil, nil, err
	}
	return &trackedHandle{workerHandle: h}, nc, nil
}

// trackedHandle is a workerHandle that remembers which signals the parent
// sent, one bit per signal number.
type trackedHandle struct {
	workerHandle
	sent atomic.Uint64
}

func (h *trackedHandle) signal(sig syscall.Signal) {
	if sig > 0 && sig < 64 {
		h.sent.Or(1 << uint(sig))
	}
	h.workerHandle.signal(sig)
}

// exitSignaller is a workerHandle that can tell which signal ended its
// worker (ok false: it exited, or it is not known).
type exitSignaller interface {
	exitSignal() (sig syscall.Signal, ok bool)
}

// exitSignal reads the process's wait status.
func (h *execHandle) exitSignal() (syscall.Signal, bool) {
	var ee *exec.ExitError
	if !errors.As(h.waitErr, &ee) {
		return 0, false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}

// killedExternally reports whether the worker, which has exited, was ended
// by a signal from outside: one that a process does not raise against
// itself (as SIGSEGV or SIGABRT are), that the parent did not send.
//
// sentBefore is the signals the parent had sent it before it began to stop
// it (sentSignals): stopping a worker the parent found dead sends it a
// SIGTERM, which must not make an outside SIGTERM look like the parent's.
func (p *process) killedExternally(sentBefore uint64) bool {
	sig := p.exitSignal()
	if sig <= 0 || sig >= 64 || sentBefore&(1<<uint(sig)) != 0 {
		return false
	}
	switch sig {
	case syscall.SIGKILL, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP:
		return true
	}
	return false
}

// exitSignal is the signal that ended the worker, which has exited; 0 if
// it exited by itself or it is not known.
func (p *process) exitSignal() syscall.Signal {
	th, ok := p.h.(*trackedHandle)
	if !ok {
		return 0
	}
	es, ok := th.workerHandle.(exitSignaller)
	if !ok {
		return 0
	}
	if sig, ok := es.exitSignal(); ok {
		return sig
	}
	return 0
}

// sentSignals is the set of signals the parent has sent the worker so far,
// a bit per signal number.
func (p *process) sentSignals() uint64 {
	if th, ok := p.h.(*trackedHandle); ok {
		return th.sent.Load()
	}
	return 0
}

// killedDelays is a slot's restart delay after external kills.
type killedDelays struct {
	base, next time.Duration
}

// after is the delay before the restart that follows an external kill of
// a worker that lived for uptime, with up workers still running: the base
// delay after a stable worker or when none is up, and doubling, to
// maxKilledDelay, while kills follow each other quickly.
func (k *killedDelays) after(uptime time.Duration, up int) time.Duration {
	if k.next == 0 || uptime > stableUptime {
		k.next = k.base
	}
	d := k.next
	k.next = min(2*k.next, max(k.base, maxKilledDelay))
	if up == 0 {
		return k.base
	}
	return d
}
