//go:build unix && !linux

package sockopt

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// socketpairFDs holds the fork lock between creating the pair and marking it
// close-on-exec, because not every Unix (macOS among them) accepts
// SOCK_CLOEXEC; os/exec takes the same lock for writing while it forks.
func socketpairFDs() ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return fds, err
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	return fds, nil
}
