package ipc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Protocol versions this implementation speaks.
const (
	minVersion = 1
	maxVersion = 2
)

// helloMagic opens every HELLO payload so that a peer that is not a sluice
// endpoint is recognised at once.
var helloMagic = [4]byte{'S', 'L', 'C', 'E'}

const helloSize = 24

// connRole says which side of a connection opens streams.
type connRole uint8

const (
	// roleOpener opens streams (the parent).
	roleOpener connRole = 1
	// roleAcceptor accepts streams (the worker).
	roleAcceptor connRole = 2
)

func (r connRole) String() string {
	switch r {
	case roleOpener:
		return "opener"
	case roleAcceptor:
		return "acceptor"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Hello is what each end announces in the handshake (see Conn.PeerHello):
// the protocol versions it speaks and the limits the other end must keep.
type Hello struct {
	MinVersion, MaxVersion uint16
	// MaxFramePayload is the largest payload, in bytes, the sender accepts.
	MaxFramePayload uint32
	// StreamWindow is the initial credit, in bytes, the sender grants each stream.
	StreamWindow uint32
	// MaxStreams is how many concurrent streams the sender accepts.
	MaxStreams uint32
	// role is which side the sender plays; the two must differ.
	role connRole
}

func (h Hello) frame() []byte {
	b := make([]byte, headerSize+helloSize)
	putHeader(b, frameHeader{Length: helloSize, Type: frameHello})
	p := b[headerSize:]
	copy(p[0:4], helloMagic[:])
	binary.BigEndian.PutUint16(p[4:6], h.MinVersion)
	binary.BigEndian.PutUint16(p[6:8], h.MaxVersion)
	binary.BigEndian.PutUint32(p[8:12], h.MaxFramePayload)
	binary.BigEndian.PutUint32(p[12:16], h.StreamWindow)
	binary.BigEndian.PutUint32(p[16:20], h.MaxStreams)
	p[20] = byte(h.role)
	return b
}

// parseHello decodes and checks a HELLO payload.
func parseHello(p []byte) (Hello, error) {
	if len(p) != helloSize {
		return Hello{}, protoErrorf(CodeFrameSize, "HELLO payload is %d bytes, want %d", len(p), helloSize)
	}
	if [4]byte(p[0:4]) != helloMagic {
		return Hello{}, protoErrorf(CodeProtocol, "HELLO magic is %q, want %q: the peer is not a sluice endpoint", p[0:4], helloMagic[:])
	}
	h := Hello{
		MinVersion:      binary.BigEndian.Uint16(p[4:6]),
		MaxVersion:      binary.BigEndian.Uint16(p[6:8]),
		MaxFramePayload: binary.BigEndian.Uint32(p[8:12]),
		StreamWindow:    binary.BigEndian.Uint32(p[12:16]),
		MaxStreams:      binary.BigEndian.Uint32(p[16:20]),
		role:            connRole(p[20]),
	}
	if p[21] != 0 || p[22] != 0 || p[23] != 0 {
		return h, protoErrorf(CodeProtocol, "HELLO reserved bytes are % x, want zero", p[21:24])
	}
	switch {
	case h.MinVersion == 0 || h.MinVersion > h.MaxVersion:
		return h, protoErrorf(CodeVersion, "HELLO version range %d..%d is empty", h.MinVersion, h.MaxVersion)
	case h.MaxFramePayload < minFramePayload || h.MaxFramePayload > maxFramePayload:
		return h, protoErrorf(CodeProtocol, "HELLO max frame payload %d is outside %d..%d", h.MaxFramePayload, minFramePayload, maxFramePayload)
	case h.StreamWindow < minStreamWindow || h.StreamWindow > maxStreamWindow:
		return h, protoErrorf(CodeProtocol, "HELLO stream window %d is outside %d..%d", h.StreamWindow, minStreamWindow, maxStreamWindow)
	case h.MaxStreams == 0:
		return h, protoErrorf(CodeProtocol, "HELLO max streams is zero")
	case h.role != roleOpener && h.role != roleAcceptor:
		return h, protoErrorf(CodeProtocol, "HELLO role %d is neither opener (1) nor acceptor (2)", uint8(h.role))
	}
	return h, nil
}

// negotiate picks the version both ends speak and checks that the roles
// complement each other.
func negotiate(local, peer Hello) (uint16, error) {
	if local.role == peer.role {
		return 0, protoErrorf(CodeProtocol, "both ends claim the role %s", local.role)
	}
	v := min(local.MaxVersion, peer.MaxVersion)
	if v < max(local.MinVersion, peer.MinVersion) {
		return 0, protoErrorf(CodeVersion, "no common protocol version: this end speaks %d..%d, the peer %d..%d", local.MinVersion, local.MaxVersion, peer.MinVersion, peer.MaxVersion)
	}
	return v, nil
}

// greet runs the handshake. If it fails, greet closes nc, after telling
// the peer why (best effort) when the peer broke the protocol.
func greet(nc net.Conn, local Hello, timeout time.Duration) (Hello, uint16, error) {
	peer, ver, err := handshake(nc, local, timeout)
	if err != nil {
		var pe *ProtocolError
		if errors.As(err, &pe) {
			nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			nc.Write(goAwayFrame(0, pe.Code, pe.Msg))
		}
		nc.Close()
	}
	return peer, ver, err
}

// handshake sends our HELLO and reads the peer's, both within the timeout.
// Both ends write first, so neither waits for the other to speak.
func handshake(nc net.Conn, local Hello, timeout time.Duration) (Hello, uint16, error) {
	deadline := time.Now().Add(timeout)
	if err := nc.SetDeadline(deadline); err != nil && !errors.Is(err, os.ErrNoDeadline) {
		return Hello{}, 0, fmt.Errorf("ipc: handshake: setting deadline: %w", err)
	}
	defer nc.SetDeadline(time.Time{})

	// Both ends write first: a HELLO is far smaller than any socket buffer,
	// so neither write waits for the other end to read.
	if _, err := nc.Write(local.frame()); err != nil {
		return Hello{}, 0, fmt.Errorf("ipc: handshake: sending HELLO: %w", err)
	}
	peer, err := readHello(nc)
	if err != nil {
		return Hello{}, 0, err
	}
	v, err := negotiate(local, peer)
	return peer, v, err
}

func readHello(nc net.Conn) (Hello, error) {
	var hdr [headerSize]byte
	buf := make([]byte, helloSize)
	h, p, err := readFrame(nc, hdr[:], buf, helloSize)
	if err != nil {
		var pe *ProtocolError
		if errors.As(err, &pe) && h.Type != frameHello {
			return Hello{}, protoErrorf(CodeProtocol, "handshake: the first frame is %s, want HELLO: is the peer a sluice endpoint speaking this protocol?", h)
		}
		return Hello{}, fmt.Errorf("ipc: handshake: reading the peer's HELLO: %w", err)
	}
	if h.Type != frameHello {
		return Hello{}, protoErrorf(CodeProtocol, "handshake: the first frame is %s, want HELLO", h)
	}
	return parseHello(p)
}
