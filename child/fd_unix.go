//go:build unix

package child

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/sluicegw/sluice/ipc/settings"
)

// inheritedSocket turns the descriptor the parent passed (SLUICE_FD, default
// 3) into a connection. It checks first that the descriptor is an open
// socket, so that a worker started by hand fails with advice rather than with
// a protocol error on whatever fd 3 happens to be.
func inheritedSocket() (*net.UnixConn, int, error) {
	fd, err := socketFD()
	if err != nil {
		return nil, fd, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fd, fmt.Errorf("sluice worker: no socket on fd %d (%v): run me from `sluice serve --worker-cmd`, which passes the socket as fd 3 and sets %s", fd, err, settings.EnvFD)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, fd, fmt.Errorf("sluice worker: no socket on fd %d (it is %s): run me from `sluice serve --worker-cmd`, which passes the socket as fd 3 and sets %s", fd, fileKind(uint32(st.Mode)), settings.EnvFD)
	}
	f := os.NewFile(uintptr(fd), "sluice-socket")
	// FileConn works on a duplicate; the original is closed either way.
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fd, fmt.Errorf("sluice worker: fd %d: %w", fd, err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fd, fmt.Errorf("sluice worker: fd %d is a %s socket, not a Unix socket: run me from `sluice serve --worker-cmd`", fd, c.LocalAddr().Network())
	}
	return uc, fd, nil
}

func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFCHR:
		return "a character device, such as a terminal"
	case unix.S_IFIFO:
		return "a pipe"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFLNK:
		return "a symbolic link"
	}
	return fmt.Sprintf("of mode %#o", mode)
}
