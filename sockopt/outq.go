package sockopt

import "syscall"

// Unsent returns how much of the socket's send buffer is taken by data the
// peer has not read yet (the SIOCOUTQ ioctl, also known as TIOCOUTQ). It
// reaches zero once the peer has read everything.
//
// On a Unix socket the kernel counts memory, not payload: each queued buffer
// is charged with its overhead (several hundred bytes), so N bytes written
// show as somewhat more than N, and many small writes show as much more.
// Those are the units SO_SNDBUF limits, so Unsent divided by SendBuffer is
// how full the send buffer is: at 1 the next write blocks.
func Unsent(c syscall.Conn) (int, error) {
	return unsent(c)
}
