package parent

import "net"

// The front's connection wrappers (roomConn, countedConn, framingConn)
// embed net.Conn, which hides the *net.TCPConn's CloseWrite. net/http
// half-closes a connection it is about to close after answering (a 413,
// 414 or 431 with Connection: close, a malformed request): the FIN tells
// the client at once that nothing more comes, then net/http waits a moment
// before the close so that the client's unread bytes do not turn the close
// into a reset. Behind a wrapper without CloseWrite the client saw the end
// only at that close. So each wrapper passes CloseWrite on.

// closeWriter is a connection that can half-close.
type closeWriter interface {
	CloseWrite() error
}

// closeWrite half-closes c if it can, and otherwise does nothing: the full
// close that follows ends it.
func closeWrite(c net.Conn) error {
	if cw, ok := c.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return nil
}

// CloseWrite half-closes the connection.
func (c *roomConn) CloseWrite() error { return closeWrite(c.Conn) }

// CloseWrite half-closes the connection.
func (c *framingConn) CloseWrite() error { return closeWrite(c.Conn) }

// CloseWrite writes what the connection holds (coalesce.go), then
// half-closes it: the end must not overtake the answer.
func (c *countedConn) CloseWrite() error {
	if err := c.release(); err != nil {
		return err
	}
	return closeWrite(c.Conn)
}
