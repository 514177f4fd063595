//go:build !linux

package sockopt

import "syscall"

// The BSDs and macOS have TCP_NOTSENT_LOWAT too, under other numbers; the
// gateway only needs Linux's.
func setNotSentLowat(syscall.Conn, int) error {
	return notSupported("TCP_NOTSENT_LOWAT (SetNotSentLowat)")
}
