//go:build !unix

package ipc

import "net"

// directConn would write to the socket without waiting (see
// outbox.pushDirect); without Unix file descriptors the writer goroutine
// writes everything.
type directConn struct{}

func newDirectConn(net.Conn) *directConn { return nil }

func (*directConn) tryWrite([]byte) int { return 0 }
