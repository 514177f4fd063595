//go:build unix

package ipc

import (
	"errors"
	"net"
	"syscall"
)

// directConn writes to the connection's socket without waiting for room
// (see outbox.pushDirect). One is used by one goroutine at a time: the
// outbox's direct claim serialises them.
type directConn struct {
	rc syscall.RawConn
	// The write in progress: what is left of it and what was written.
	p []byte
	n int
	// write is d.writeFD as a func value made once: RawConn.Write takes a
	// func, and a method value per call would allocate.
	write func(fd uintptr) bool
}

// newDirectConn returns a directConn on nc, or nil if nc has no file
// descriptor to write to (a net.Pipe in tests): the writer goroutine then
// writes everything.
func newDirectConn(nc net.Conn) *directConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	d := &directConn{rc: rc}
	d.write = d.writeFD
	return d
}

// tryWrite writes what of p the socket takes at once and returns its
// length; it never waits for room, and a failure writes nothing more (the
// writer goroutine, given the rest, meets the failure and ends the
// connection with it).
func (d *directConn) tryWrite(p []byte) int {
	d.p, d.n = p, 0
	d.rc.Write(d.write) // its error (a closed socket) leaves d.n short
	n := d.n
	d.p = nil
	return n
}

// writeFD writes d.p to fd until it is written or the socket is full.
// It returns true: RawConn.Write must not wait for room.
func (d *directConn) writeFD(fd uintptr) bool {
	for len(d.p) > 0 {
		n, err := syscall.Write(int(fd), d.p)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if n <= 0 || err != nil {
			break
		}
		d.n += n
		d.p = d.p[n:]
	}
	return true
}
