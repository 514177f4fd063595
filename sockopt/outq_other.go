//go:build !linux

package sockopt

import "syscall"

// The BSDs have an ioctl of the same name for terminals, but what it means
// on a socket differs; better to say so than to return a wrong number.
func unsent(syscall.Conn) (int, error) {
	return 0, notSupported("SIOCOUTQ (Unsent)")
}
