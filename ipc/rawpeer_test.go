package ipc

import (
	"bufio"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// rawPeer speaks the protocol frame by frame, so tests can send what a
// well-behaved Conn never would and observe exactly what comes back.
type rawPeer struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

// newRawPeer handshakes a raw peer with role against a Conn started by start.
func newRawPeer(t testing.TB, role connRole, hello Hello, start func(net.Conn) (*Conn, error)) (*rawPeer, *Conn, error) {
	t.Helper()
	a, b := socketpair(t)
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := start(b)
		ch <- res{c, err}
	}()
	p := &rawPeer{t: t, nc: a, br: bufio.NewReader(a)}
	t.Cleanup(func() { a.Close() })
	hello.role = role
	if _, err := a.Write(hello.frame()); err != nil {
		t.Fatalf("raw peer: sending HELLO: %v", err)
	}
	h, _ := p.read()
	if h.Type != frameHello {
		t.Fatalf("raw peer: first frame %s, want HELLO", h)
	}
	r := <-ch
	if r.c != nil {
		t.Cleanup(func() { r.c.Close() })
	}
	return p, r.c, r.err
}

func defaultHello() Hello {
	return Hello{MinVersion: 1, MaxVersion: 1, MaxFramePayload: DefaultMaxFramePayload, StreamWindow: DefaultStreamWindow, MaxStreams: 256}
}

func (p *rawPeer) write(t frameType, f frameFlags, id uint32, payload []byte) {
	p.t.Helper()
	p.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.nc.Write(appendFrame(nil, t, f, id, payload)); err != nil {
		p.t.Fatalf("raw peer: writing %s: %v", t, err)
	}
}

func (p *rawPeer) writeRaw(b []byte) {
	p.t.Helper()
	p.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("raw peer: writing: %v", err)
	}
}

// read returns the next frame; it fails the test after a bound.
func (p *rawPeer) read() (frameHeader, []byte) {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	hdr := make([]byte, headerSize)
	buf := make([]byte, maxFramePayload)
	h, pl, err := readFrame(p.br, hdr, buf, maxFramePayload)
	if err != nil {
		p.t.Fatalf("raw peer: reading a frame: %v", err)
	}
	return h, pl
}

// readGoAway reads frames until a GOAWAY and returns its code and message.
func (p *rawPeer) readGoAway() (Code, string) {
	p.t.Helper()
	for {
		h, pl := p.read()
		if h.Type == frameGoAway {
			return Code(binary.BigEndian.Uint32(pl[4:8])), string(pl[8:])
		}
	}
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// client and server start the Conn a raw peer talks to.
func client(cfg *Config) func(net.Conn) (*Conn, error) {
	return func(nc net.Conn) (*Conn, error) { return Client(nc, cfg) }
}

func server(cfg *Config) func(net.Conn) (*Conn, error) {
	return func(nc net.Conn) (*Conn, error) { return Server(nc, cfg) }
}
