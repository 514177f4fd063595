package sockopt

import "golang.org/x/sys/unix"

// socketpairFDs sets close-on-exec atomically, so a fork on another thread
// between creation and marking cannot leak the pair into an unrelated child.
func socketpairFDs() ([2]int, error) {
	return unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
}
