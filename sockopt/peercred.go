package sockopt

import "syscall"

// Cred is the identity of the process at the other end of a Unix socket, as
// the kernel recorded it when the socket was connected or created.
type Cred struct {
	PID, UID, GID int
}

// PeerCred returns the credentials of the peer of a Unix socket
// (SO_PEERCRED). For a socketpair these are the creating process's, even
// after the other end was handed to a child, because the kernel records them
// at creation; a child's pid comes from its exec.Cmd instead. Over a socket
// that was connected (not paired), they are the connecting process's.
func PeerCred(c syscall.Conn) (Cred, error) {
	return peerCred(c)
}
