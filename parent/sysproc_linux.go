package parent

import "syscall"

// workerSysProcAttr makes a worker die with its parent (Pdeathsig) and puts
// it in its own process group, so a terminal's Ctrl-C reaches only the
// parent, which then drains the workers in order.
func workerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
