//go:build unix

package sockopt

import (
	"fmt"
	"net"
	"os"
)

func socketpair() (*net.UnixConn, *os.File, error) {
	fds, err := socketpairFDs()
	if err != nil {
		return nil, nil, fmt.Errorf("sockopt: socketpair(AF_UNIX, SOCK_STREAM): %w; if it is EMFILE or ENFILE, raise the descriptor limit (ulimit -n) or close descriptors", os.NewSyscallError("socketpair", err))
	}
	lf := os.NewFile(uintptr(fds[0]), "sluice-socketpair-local")
	remote := os.NewFile(uintptr(fds[1]), "sluice-socketpair-remote")
	// net.FileConn dups the descriptor and registers the dup with the
	// poller, so the original is closed either way.
	c, err := net.FileConn(lf)
	lf.Close()
	if err != nil {
		remote.Close()
		return nil, nil, fmt.Errorf("sockopt: socketpair: wrapping the local end as a connection: %w", err)
	}
	local, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		remote.Close()
		return nil, nil, fmt.Errorf("sockopt: socketpair: the local end became a %T, want *net.UnixConn", c)
	}
	return local, remote, nil
}
