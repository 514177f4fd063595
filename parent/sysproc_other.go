//go:build !linux

package parent

import "syscall"

// workerSysProcAttr: other systems have no Pdeathsig; workers still exit
// when their connection to the parent closes.
func workerSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
