package sockopt

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func peerCred(c syscall.Conn) (Cred, error) {
	var cr Cred
	err := withFD(c, "SO_PEERCRED", func(fd int) error {
		u, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return fmt.Errorf("sockopt: SO_PEERCRED (peer credentials): %w; the descriptor must be a connected Unix socket", os.NewSyscallError("getsockopt", err))
		}
		cr = Cred{PID: int(u.Pid), UID: int(u.Uid), GID: int(u.Gid)}
		return nil
	})
	return cr, err
}
