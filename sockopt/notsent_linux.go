package sockopt

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func setNotSentLowat(c syscall.Conn, n int) error {
	return withFD(c, "TCP_NOTSENT_LOWAT", func(fd int) error {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, n); err != nil {
			return fmt.Errorf("sockopt: TCP_NOTSENT_LOWAT %d: %w; the descriptor must be a TCP socket", n, os.NewSyscallError("setsockopt", err))
		}
		return nil
	})
}
