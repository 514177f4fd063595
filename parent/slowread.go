package parent

import (
	"net"
	"net/http"

	"github.com/sluicegw/sluice/sockopt"
)

// A client that reads its response slowly is bounded by the send timeout
// and its minimum rate (sendtimeout.go), which watch the writes to it. The
// kernel must not hide it from them: Linux grows a TCP socket's send buffer
// by its congestion window, up to megabytes on loopback's 64 KiB segments,
// and a write into a buffer with room returns at once, so a response of a
// megabyte was "sent" in a millisecond to a client taking six bytes a
// second, and the connection, closed idle later, went on trickling it out
// for days as an orphan, beyond any timeout of the gateway's. So:
//
//   - front TCP connections get TCP_NOTSENT_LOWAT: the kernel queues at most
//     about frontNotSentLowat bytes not yet sent, beyond what is in flight,
//     so that a write waits for the client as the client is slow, and the
//     timeouts see it;
//   - a connection whose write missed the send timeout is reset (SO_LINGER
//     0) rather than closed, so that the kernel drops what the client did
//     not take instead of delivering it at the client's pace.

// frontNotSentLowat bounds the bytes a front connection's kernel buffer
// holds unsent: enough that a fast client on loopback loses no throughput
// (below it, the writes wake so often that a 1 GiB relay slowed measurably),
// small next to the megabytes a slow client would otherwise be given.
const frontNotSentLowat = 512 << 10

// tuneFront sets the front connection c's kernel buffering for slow
// readers, if c is TCP on Linux; elsewhere it leaves c as it is.
func tuneFront(c net.Conn) {
	if tc := frontTCP(c); tc != nil {
		// Not supported (not Linux): the timeouts then watch the writes
		// as the kernel lets them through.
		_ = sockopt.SetNotSentLowat(tc, frontNotSentLowat)
	}
}

// frontTCP returns the TCP connection under a front connection, or nil.
func frontTCP(c net.Conn) *net.TCPConn {
	for {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case *roomConn:
			c = v.Conn
		case *countedConn:
			c = v.Conn
		default:
			return nil
		}
	}
}

// resetFront makes r's HTTP/1 front connection, if the gateway knows it
// (holdingConn) and it is TCP, end with a reset rather than an orderly
// close: a client that reads a response to the connection's end then gets
// an error instead of a whole-looking body. Over TLS, which ConnContext
// does not see through, it does nothing.
func resetFront(r *http.Request) {
	if cc := holdingConn(r); cc != nil {
		if tc := frontTCP(cc.Conn); tc != nil {
			tc.SetLinger(0)
		}
	}
}

// cutSlow is a front connection's write error passed through, after
// making the connection reset rather than deliver what it still holds if
// the write missed its deadline: the send timeout's (the gateway sets no
// other), whose client took too little, and what is queued for it would
// reach it at its own pace. net/http closes the connection at once on a
// failed write, so this is the one place to do it.
func (c *countedConn) cutSlow(err error) error {
	if err != nil && isSendTimeout(err) {
		if tc := frontTCP(c.Conn); tc != nil {
			tc.SetLinger(0)
		}
	}
	return err
}
