package sockopt

import (
	"net"
	"os"
)

// Socketpair creates a connected pair of AF_UNIX stream sockets, both
// close-on-exec so that no other child inherits them by accident.
//
// local is this process's end, ready for I/O through the runtime poller.
// remote is the end for a child: put it in exec.Cmd.ExtraFiles (which clears
// close-on-exec for that child only, as descriptor 3 onward) and close it in
// this process once the child has started, or the pair never reports EOF
// when the child exits. A child turns its descriptor back into a connection
// with net.FileConn(os.NewFile(3, "...")).
//
// On error nothing is left open.
func Socketpair() (local *net.UnixConn, remote *os.File, err error) {
	return socketpair()
}
