//go:build !linux

package main

import (
	"errors"
	"syscall"
)

// supported reports whether the bench can run here: procstat reads /proc.
func supported() error {
	return errors.New("the bench needs Linux: it reads process memory from /proc; run it on a Linux machine or VM")
}

func sysProcAttr() *syscall.SysProcAttr { return nil }

func childProcAttr() *syscall.SysProcAttr { return nil }

func signalGroup(pid int, sig syscall.Signal, group bool) {}

func alive(pid int) bool { return false }
