//go:build !unix

package sockopt

import (
	"net"
	"os"
)

// Windows has AF_UNIX sockets but no socketpair, and nothing to pass one to a
// child through exec.Cmd.ExtraFiles.
func socketpair() (*net.UnixConn, *os.File, error) {
	return nil, nil, notSupported("socketpair(AF_UNIX, SOCK_STREAM)")
}
