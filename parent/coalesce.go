package parent

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// net/http writes an HTTP/1 response through a 4 KiB buffer in front of the
// connection: a response whose head and body pass 4 KiB leaves in two
// writes at least (the full buffer, then the rest at the final flush), two
// system calls and two wake-ups of the client where one would do. The
// server has no setting for that buffer, so the gateway coalesces below
// it: while it relays a response whose every byte is already here (a
// small response the worker sent whole), the front connection holds the
// writes and passes them on in one, at the response's flush. Nothing waits
// for data that is not there yet, so no byte is delayed.

// holdSize bounds what a connection holds: a whole small response from a
// worker (its smallBody) and its head. A write that would pass it goes out
// at once together with what was held, in one writev.
const holdSize = 20 << 10

var holdBufs = sync.Pool{New: func() any { b := make([]byte, 0, holdSize); return &b }}

// frontConnKey is the context key under which ConnContext puts the front
// connection that a request came on.
type frontConnKey struct{}

// ConnContext makes the connections of LimitListener's listener known to
// the gateway's requests, so that a small response leaves in one write:
// set it as the http.Server's ConnContext. Other connections (TLS, which
// wraps them) are left as they are.
func (g *Gateway) ConnContext(ctx context.Context, c net.Conn) context.Context {
	if f, ok := c.(*framingConn); ok {
		c = f.Conn // GuardFraming's watch reads; the writes are the counted conn's
	}
	if cc, ok := c.(*countedConn); ok {
		return context.WithValue(ctx, frontConnKey{}, cc)
	}
	return ctx
}

// holdingConn returns the front connection of r if its writes may be held:
// a plain HTTP/1 connection (HTTP/2 multiplexes other streams on it), and
// nil otherwise.
func holdingConn(r *http.Request) *countedConn {
	if r.ProtoMajor != 1 {
		return nil
	}
	cc, _ := r.Context().Value(frontConnKey{}).(*countedConn)
	return cc
}

// hold makes the connection keep what is written to it until release. Only
// the goroutine serving the connection's current HTTP/1 request may call it,
// and only while nothing else writes to the connection (no request body is
// being read, which may answer 100 Continue).
func (c *countedConn) hold() {
	if c.held == nil {
		c.held = holdBufs.Get().(*[]byte)
	}
}

// release writes what the connection held, in one write, and stops
// holding; it returns that write's error.
func (c *countedConn) release() error {
	if c.held == nil {
		return nil
	}
	p := c.held
	c.held = nil
	var err error
	if len(*p) > 0 {
		_, err = c.Conn.Write(*p)
		err = c.cutSlow(err) // slowread.go
	}
	*p = (*p)[:0]
	holdBufs.Put(p)
	return err
}

// Write passes p to the connection, or holds it (see hold). A write that
// would overflow the hold goes out with what was held in one writev, and
// the connection stops holding.
func (c *countedConn) Write(p []byte) (int, error) {
	if c.held == nil {
		n, err := c.Conn.Write(p)
		return n, c.cutSlow(err) // slowread.go
	}
	if h := *c.held; len(h)+len(p) <= cap(h) {
		*c.held = append(h, p...)
		return len(p), nil
	}
	held := c.held
	c.held = nil
	c.bufs = append(c.bufs[:0], *held, p)
	c.sending = c.bufs
	n, err := c.sending.WriteTo(c.Conn)
	clear(c.bufs)
	n -= int64(len(*held))
	*held = (*held)[:0]
	holdBufs.Put(held)
	return int(max(n, 0)), c.cutSlow(err)
}

// holdFront makes r's connection hold the response's writes until the
// next Flush, if it can (holdingConn).
func (f *flushWriter) holdFront(r *http.Request) {
	if cc := holdingConn(r); cc != nil {
		cc.hold()
		f.front = cc
	}
}

// releaseFront passes on what the connection held, if it holds.
func (f *flushWriter) releaseFront() error {
	if f.front == nil {
		return nil
	}
	cc := f.front
	f.front = nil
	return cc.release()
}

// flushHead flushes the response head on its own; held says the front
// connection holds it for the data to follow, which the next Flush passes
// on with it (the decisions net/http makes at a flush, such as chunking,
// are the same either way).
func (f *flushWriter) flushHead(held bool) {
	if !held {
		f.Flush()
		return
	}
	f.keepSendDeadline()
	f.rc.Flush()
}
