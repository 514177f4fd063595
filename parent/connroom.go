package parent

import (
	"container/list"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
)

// roomListener accepts at most max connections open at once, as
// netutil.LimitListener does, but when it is full it makes room rather
// than only wait: it closes the oldest reusable connection, one that has
// not sent a byte yet or is an idle keep-alive connection, as nginx reuses
// its "reusable" connections when worker_connections run out. Without
// that, a flood of connections that send nothing (each one a descriptor)
// holds every slot until the header timeout, and no client is served
// meanwhile. Connections busy with a request are never closed for room;
// when every one is busy, new ones wait in the kernel's backlog.
// (netutil.LimitListener has no hook for making room, hence this.)
type roomListener struct {
	net.Listener
	slots chan struct{} // one per connection open
	mu    sync.Mutex
	// reusable holds the reusable connections, oldest first.
	reusable list.List
	// nowReusable is signalled when a connection becomes reusable, for
	// an Accept that waits with none to close.
	nowReusable chan struct{}
	// evicted is told of each connection closed for room.
	evicted   func()
	done      chan struct{} // closed by Close, which ends a waiting Accept
	closeOnce sync.Once
}

func newRoomListener(ln net.Listener, max int, evicted func()) *roomListener {
	return &roomListener{Listener: ln, slots: make(chan struct{}, max), evicted: evicted,
		nowReusable: make(chan struct{}, 1), done: make(chan struct{})}
}

// Accept takes the next connection from the kernel, and only then a slot
// for it: a connection is closed for room only for one that came. While
// it waits for a slot, the rest wait in the backlog.
func (l *roomListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if !l.acquire() {
		c.Close()
		return nil, net.ErrClosed
	}
	rc := &roomConn{Conn: c, l: l}
	l.mu.Lock()
	rc.elem = l.reusable.PushBack(rc)
	l.mu.Unlock()
	return rc, nil
}

// acquire takes a slot for the next connection; when all are taken it
// closes the oldest reusable connection, whose Close gives its slot back,
// or waits for a connection to close or become reusable. It reports false
// once the listener is closed.
func (l *roomListener) acquire() bool {
	for {
		select {
		case l.slots <- struct{}{}:
			return true
		default:
		}
		if l.evictOldest() {
			continue
		}
		select {
		case l.slots <- struct{}{}:
			return true
		case <-l.nowReusable:
		case <-l.done:
			return false
		}
	}
}

func (l *roomListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// evictOldest closes the oldest reusable connection and reports whether
// there was one; a connection busy with a request is left alone.
func (l *roomListener) evictOldest() bool {
	l.mu.Lock()
	e := l.reusable.Front()
	if e == nil {
		l.mu.Unlock()
		return false
	}
	rc := e.Value.(*roomConn)
	l.reusable.Remove(e)
	rc.elem = nil
	l.mu.Unlock()
	l.evicted()
	rc.Close()
	return true
}

// roomConn is a connection of a roomListener: reusable until a byte of it
// is read, and again once the server says it is idle (ConnState).
type roomConn struct {
	net.Conn
	l      *roomListener
	elem   *list.Element // in l.reusable while reusable; guarded by l.mu
	closed bool          // guarded by l.mu
	once   sync.Once
}

func (c *roomConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.setReusable(false)
	}
	return n, err
}

func (c *roomConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		c.closed = true
		c.l.mu.Unlock()
		c.setReusable(false)
		<-c.l.slots
	})
	return err
}

func (c *roomConn) setReusable(reusable bool) {
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case reusable && c.elem == nil && !c.closed:
		c.elem = l.reusable.PushBack(c)
		select {
		case l.nowReusable <- struct{}{}:
		default:
		}
	case !reusable && c.elem != nil:
		l.reusable.Remove(c.elem)
		c.elem = nil
	}
}

// ConnState tells the front's connection limit (LimitListener) which of
// its connections wait idle for their next request, so that it may close
// the oldest of them to make room for a new connection when it is full.
// Set it as the front http.Server's ConnState. Without it, only
// connections that have not sent a byte yet are closed for room.
//
// A connection stops being reusable at its next read of a byte, and also
// when the server starts a request on it (StateActive): a pipelined request
// already in the server's buffer is read with no read on the connection.
func (g *Gateway) ConnState(c net.Conn, s http.ConnState) {
	var reusable bool
	switch s {
	case http.StateIdle:
		reusable = true
	case http.StateActive, http.StateHijacked:
	default:
		return
	}
	if rc := findRoomConn(c); rc != nil {
		rc.setReusable(reusable)
	}
}

// findRoomConn finds the roomConn under the connection wrappers the
// server sees (TLS, the framing guard, the counting).
func findRoomConn(c net.Conn) *roomConn {
	for {
		switch x := c.(type) {
		case *roomConn:
			return x
		case *tls.Conn:
			c = x.NetConn()
		case *framingConn:
			c = x.Conn
		case *countedConn:
			c = x.Conn
		default:
			return nil
		}
	}
}
