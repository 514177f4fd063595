//go:build !unix

package child

import (
	"fmt"
	"net"
	"runtime"
)

// inheritedSocket fails: a worker inherits its socket as a Unix file
// descriptor, which this system does not have.
func inheritedSocket() (*net.UnixConn, int, error) {
	fd, err := socketFD()
	if err != nil {
		return nil, fd, err
	}
	return nil, fd, fmt.Errorf("sluice worker: inheriting the parent's socket on fd %d needs a Unix system; %s is not supported", fd, runtime.GOOS)
}
