package ipc

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// halfPipe is one direction of a memPipe: bytes written wait in buf for the
// reader. Every wait is on a channel, so that inside a synctest bubble a
// goroutine blocked on it is durably blocked and synctest.Wait returns once
// both ends have done all they can.
type halfPipe struct {
	mu  sync.Mutex
	buf []byte
	// allow is how many more bytes a reader may take (< 0: any); handoff
	// makes a write return only once the reader has taken every byte, as
	// a full socket would hold its writer.
	allow   int
	handoff bool
	closed  bool
	changed chan struct{} // closed and replaced at every change
}

func newHalfPipe() *halfPipe { return &halfPipe{allow: -1, changed: make(chan struct{})} }

func (h *halfPipe) changedLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// waitLocked waits for the next change; h.mu is held before and after.
func (h *halfPipe) waitLocked() {
	ch := h.changed
	h.mu.Unlock()
	<-ch
	h.mu.Lock()
}

func (h *halfPipe) write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, io.ErrClosedPipe
	}
	h.buf = append(h.buf, p...)
	h.changedLocked()
	for h.handoff && len(h.buf) > 0 && !h.closed {
		h.waitLocked()
	}
	if len(h.buf) > 0 && h.handoff {
		return 0, io.ErrClosedPipe
	}
	return len(p), nil
}

func (h *halfPipe) read(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.buf) == 0 || h.allow == 0 {
		if h.closed {
			return 0, io.EOF
		}
		h.waitLocked()
	}
	if h.allow > 0 && len(p) > h.allow {
		p = p[:h.allow]
	}
	n := copy(p, h.buf)
	h.buf = h.buf[n:]
	if h.allow > 0 {
		h.allow -= n
	}
	h.changedLocked()
	return n, nil
}

func (h *halfPipe) set(f func(h *halfPipe)) {
	h.mu.Lock()
	f(h)
	h.changedLocked()
	h.mu.Unlock()
}

func (h *halfPipe) close() { h.set(func(h *halfPipe) { h.closed = true }) }

// let lets a reader take n more bytes (n < 0: any number, from now on).
func (h *halfPipe) let(n int) { h.set(func(h *halfPipe) { h.allow = n }) }

// pipeEnd is one end of a memPipe.
type pipeEnd struct{ in, out *halfPipe }

func (e pipeEnd) Read(p []byte) (int, error)  { return e.in.read(p) }
func (e pipeEnd) Write(p []byte) (int, error) { return e.out.write(p) }
func (e pipeEnd) Close() error {
	e.in.close()
	e.out.close()
	return nil
}
func (pipeEnd) LocalAddr() net.Addr              { return pipeAddr{} }
func (pipeEnd) RemoteAddr() net.Addr             { return pipeAddr{} }
func (pipeEnd) SetDeadline(time.Time) error      { return nil }
func (pipeEnd) SetReadDeadline(time.Time) error  { return nil }
func (pipeEnd) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "mempipe" }
func (pipeAddr) String() string  { return "mempipe" }

// bubblePair connects an opener and an acceptor over an in-memory pipe, for
// a test inside a synctest bubble. Once the handshake is done, the
// acceptor's writes return only when the opener has read them, and toOpener
// decides how much the opener may read. Both ends are closed when the test
// ends.
func bubblePair(t *testing.T, ocfg, acfg *Config) (oc, ac *Conn, toOpener *halfPipe) {
	t.Helper()
	toOpener, toAcceptor := newHalfPipe(), newHalfPipe()
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := Server(pipeEnd{in: toAcceptor, out: toOpener}, acfg)
		ch <- res{c, err}
	}()
	oc, err := Client(pipeEnd{in: toOpener, out: toAcceptor}, ocfg)
	r := <-ch
	if err != nil || r.err != nil {
		t.Fatalf("handshake: client %v, server %v", err, r.err)
	}
	toOpener.set(func(h *halfPipe) { h.handoff = true })
	t.Cleanup(func() {
		oc.Close()
		r.c.Close()
	})
	return oc, r.c, toOpener
}
