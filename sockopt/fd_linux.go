package sockopt

import (
	"fmt"
	"syscall"
)

// withFD runs f on c's descriptor inside RawConn.Control, which keeps the
// descriptor open for the duration without dup'ing it; a dup would share the
// socket but take it out of the runtime poller's non-blocking mode.
// what names the operation for the error messages.
func withFD(c syscall.Conn, what string, f func(fd int) error) error {
	if c == nil {
		return fmt.Errorf("sockopt: %s: nil connection; pass the *net.UnixConn or *os.File of an open socket", what)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("sockopt: %s: cannot reach the descriptor of %T: %w", what, c, err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return fmt.Errorf("sockopt: %s: cannot reach the descriptor of %T (is it closed?): %w", what, c, err)
	}
	return ferr
}
