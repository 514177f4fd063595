package parent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
)

// Request framing that net/http accepts but RFC 9112 says must end the
// connection:
//
//   - A chunked body that turns out malformed (a bad chunk size, a bare
//     LF): net/http's body reader fails, and, as the failure is no read
//     error of the connection, it would keep the connection and parse
//     what follows the bad chunk as the next request. The gateway answers
//     400 once and closes (section 7.1: the framing is lost).
//   - A request with both Content-Length and Transfer-Encoding: net/http
//     follows Transfer-Encoding and deletes Content-Length before the
//     handler sees the request, but keeps the connection. Section 6.3
//     says the server MUST close it after the response: an intermediary
//     in front that went by Content-Length would read the rest as another
//     request (request smuggling). net/http leaves no trace of the deleted
//     field, so GuardFraming's connections watch for it in the bytes.

// GuardFraming returns ln with its connections watched for a
// Content-Length field, and sets srv.ConnContext (keeping one already set)
// so that the gateway finds the watch of a request's connection: a chunked
// request on a connection that carried a Content-Length field then closes
// it after its response. Use it on a plaintext listener (HTTP/1.1 and
// h2c); over TLS it would see only ciphertext.
//
// The watch is sticky, so that once set it costs nothing: a chunked
// request after an ordinary one with a Content-Length on the same
// connection, or whose body holds a line that starts "Content-Length:",
// also closes its connection, which costs the client a new connection and
// nothing else.
func (g *Gateway) GuardFraming(srv *http.Server, ln net.Listener) net.Listener {
	prev := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prev != nil {
			ctx = prev(ctx, c)
		}
		if fc, ok := c.(*framingConn); ok {
			ctx = context.WithValue(ctx, framingKey{}, &fc.scan)
		}
		return ctx
	}
	return framingListener{ln}
}

type framingKey struct{}

type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: c, scan: clScan{lineStart: true}}, nil
}

// framingConn is a client connection whose reads are scanned for a
// Content-Length field.
type framingConn struct {
	net.Conn
	scan clScan
}

func (c *framingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.scan.feed(p[:n])
	return n, err
}

// clName is what a line of a Content-Length field starts with, in lower
// case: net/http refuses white space before the colon.
const clName = "content-length:"

var clNameBytes = []byte(clName)

// clScan finds a line that starts with clName, case-insensitively, in
// bytes fed to it in pieces. Its reads happen on the connection's serving
// goroutine and on net/http's background read, one at a time; seen is
// read by the handler, hence atomic.
type clScan struct {
	seen atomic.Bool
	// lineStart: the last byte fed ended a line (or none was fed);
	// matched: how much of clName the current line's start matched so far,
	// at the end of the last piece (0: not matching).
	lineStart bool
	matched   int
}

func (s *clScan) feed(p []byte) {
	if len(p) == 0 || s.seen.Load() {
		return
	}
	i := 0
	switch {
	case s.matched > 0:
		i = s.match(p, 0, s.matched)
	case s.lineStart:
		i = s.match(p, 0, 0)
	}
	for !s.seen.Load() {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			s.lineStart = false
			return
		}
		i += j + 1
		if i == len(p) {
			s.lineStart, s.matched = true, 0
			return
		}
		i = s.match(p, i, 0)
	}
}

// match compares p from at with clName from done, records a whole match
// or a partial one that p's end cut, and returns where to look for the
// next line.
func (s *clScan) match(p []byte, at, done int) int {
	n := min(len(clName)-done, len(p)-at)
	if !bytes.EqualFold(p[at:at+n], clNameBytes[done:done+n]) {
		s.matched = 0
		return at
	}
	if done+n == len(clName) {
		s.seen.Store(true)
		s.matched = 0
		return at + n
	}
	s.matched = done + n
	return at + n
}

// checkFraming closes r's connection after its response if r is chunked
// and its connection carried a Content-Length field (RFC 9112 section 6.3).
func checkFraming(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 1 || len(r.TransferEncoding) == 0 {
		return
	}
	if s, ok := r.Context().Value(framingKey{}).(*clScan); ok && s.seen.Load() {
		closeConnAfter(w)
	}
}

// badBody reports whether err, the failure of a request body's read, is
// the body's framing being malformed: not the gateway's own limit,
// timeout or interruption, nor the connection failing or ending early
// (its client gone).
func badBody(err error) bool {
	if err == nil || bodyTooLarge(err) || errors.Is(err, errBodyTimeout) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) {
		return false
	}
	_, isNet := errors.AsType[net.Error](err)
	return !isNet
}

// answerBadBody answers 400 to a request whose body's framing is
// malformed; the connection closes after it, as nothing after the bad
// bytes can be told apart.
func (g *Gateway) answerBadBody(w http.ResponseWriter, r *http.Request, x *exchange) {
	closeConnAfter(w)
	x.fw.keepSendDeadline()
	g.answer(w, r, x, http.StatusBadRequest, endBadBody, "sluice: the request body is malformed: "+x.bodyErr.Error())
}

// closeConnAfter ends an HTTP/1.x connection after the current response,
// even one whose head is already out (a header can then no longer say
// Connection: close): net/http has no other way for a handler to ask it.
// A read past a zero-byte http.MaxBytesReader makes net/http close the
// connection after the response, as documented, with its Connection: close
// if the head is not out yet, and a lingering close (FIN, then a short
// wait) rather than a reset that could destroy the response in flight.
// Over HTTP/2, whose writer takes no such hint, it does nothing.
func closeConnAfter(w http.ResponseWriter) {
	var b [1]byte
	http.MaxBytesReader(w, io.NopCloser(strings.NewReader("x")), 0).Read(b[:])
}
