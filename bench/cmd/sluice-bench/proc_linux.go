package main

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
)

// supported reports whether the bench can run here: procstat reads /proc.
func supported() error { return nil }

// sysProcAttr puts the gateway in a process group of its own, so that it
// can be killed as a group and a terminal's Ctrl-C reaches only the bench,
// and kills it if the bench dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// childProcAttr kills a helper that a peer's process starts if that
// process dies first, and keeps it in that process's group, so that a
// signal to the group reaches it too.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends sig to pid, or to the process group pid leads.
func signalGroup(pid int, sig syscall.Signal, group bool) {
	if group {
		pid = -pid
	}
	syscall.Kill(pid, sig)
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
