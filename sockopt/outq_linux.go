package sockopt

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func unsent(c syscall.Conn) (int, error) {
	var n int
	err := withFD(c, "SIOCOUTQ", func(fd int) error {
		var err error
		if n, err = unix.IoctlGetInt(fd, unix.SIOCOUTQ); err != nil {
			return fmt.Errorf("sockopt: SIOCOUTQ (bytes not yet read by the peer): %w; the descriptor must be a socket", os.NewSyscallError("ioctl", err))
		}
		return nil
	})
	return n, err
}
