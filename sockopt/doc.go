// Package sockopt tunes and inspects the Unix sockets that link sluice's
// parent to its workers: the send and receive buffer sizes (with read-back,
// because the kernel silently caps and doubles what it is asked for), the
// bytes still queued on a socket (SIOCOUTQ), the peer's credentials
// (SO_PEERCRED), and close-on-exec socketpairs to hand to a child process.
//
// Every function reaches the descriptor through syscall.Conn's
// SyscallConn().Control, so the caller's *net.UnixConn or *os.File keeps its
// one descriptor (no dup) and its place in the runtime's poller.
//
// Linux is the target. On other systems the package builds; Socketpair works
// on every Unix, and everything else returns an error wrapping
// ErrNotSupported, so a caller can decide to carry on untuned.
package sockopt
