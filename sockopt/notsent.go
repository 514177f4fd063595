package sockopt

import "syscall"

// SetNotSentLowat sets TCP_NOTSENT_LOWAT on a TCP socket: a write blocks
// once more than about n bytes wait in its send buffer unsent, instead of
// once the buffer, which the kernel grows up to net.ipv4.tcp_wmem's most
// (4 MiB; on loopback, with its 64 KiB segments, it reaches megabytes at
// the start), is full. The kernel then holds little more than what is in
// flight for a client that reads slowly, so that the writer sees the slow
// client, and what it has not taken when its connection is cut is bounded.
// A client that keeps up is not slowed: what is in flight does not count.
func SetNotSentLowat(c syscall.Conn, n int) error {
	return setNotSentLowat(c, n)
}
