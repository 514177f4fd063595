//go:build !linux

package sockopt

import "syscall"

// Other kernels neither cap nor double buffer sizes the Linux way, so the
// read-back contract documented on SetSendBuffer could not hold there.

func setBuffer(_ syscall.Conn, k bufKind, _ int) (int, error) {
	return 0, notSupported("setting " + k.option())
}

func getBuffer(_ syscall.Conn, k bufKind) (int, error) {
	return 0, notSupported("reading " + k.option())
}
