package ipc

import (
	"encoding/binary"
	"fmt"
	"io"
)

// headerSize is the size in bytes of every frame header.
const headerSize = 12

// frameType identifies what a frame carries.
type frameType uint8

// The frame types. docs/PROTOCOL.md gives each one's payload.
const (
	frameData   frameType = 0x0 // stream data, covered by credit
	frameHead   frameType = 0x1 // request or response head: a field block
	frameEnd    frameType = 0x2 // the sender's last frame on a stream: status and trailers
	frameReset  frameType = 0x3 // abort a stream in both directions
	frameWindow frameType = 0x4 // grant credit on a stream
	framePing   frameType = 0x5 // liveness probe, or its reply with flagAck
	frameGoAway frameType = 0x6 // no new streams; open ones finish
	frameLoad   frameType = 0x7 // the worker's load report
	frameHello  frameType = 0x8 // handshake: version and limits
)

var frameNames = [...]string{"DATA", "HEAD", "END", "RESET", "WINDOW", "PING", "GOAWAY", "LOAD", "HELLO"}

func (t frameType) String() string {
	if int(t) < len(frameNames) {
		return frameNames[t]
	}
	return fmt.Sprintf("UNKNOWN(0x%02x)", uint8(t))
}

// frameFlags are per-type bits in the frame header.
type frameFlags uint8

const (
	// flagAck marks a PING frame as the reply to a ping.
	flagAck frameFlags = 0x1
	// flagEndStream on a HEAD frame says that no data and no trailers follow:
	// the head is also the sender's END with status OK.
	flagEndStream frameFlags = 0x1
)

// validFlags lists, per frame type, the flag bits it may carry; anything else
// is a protocol error, so that a future flag is never silently misread.
var validFlags = [...]frameFlags{
	frameData:   0,
	frameHead:   flagEndStream,
	frameEnd:    0,
	frameReset:  0,
	frameWindow: 0,
	framePing:   flagAck,
	frameGoAway: 0,
	frameLoad:   0,
	frameHello:  0,
}

// frameHeader is the fixed 12-byte prefix of every frame:
// length (uint32), type (uint8), flags (uint8), reserved (uint16, zero),
// stream id (uint32), all big-endian.
type frameHeader struct {
	Length   uint32
	Type     frameType
	Flags    frameFlags
	StreamID uint32
}

func (h frameHeader) String() string {
	return fmt.Sprintf("%s stream=%d len=%d flags=0x%02x", h.Type, h.StreamID, h.Length, uint8(h.Flags))
}

// putHeader writes h into b, which must hold headerSize bytes.
func putHeader(b []byte, h frameHeader) {
	binary.BigEndian.PutUint32(b[0:4], h.Length)
	b[4] = byte(h.Type)
	b[5] = byte(h.Flags)
	b[6], b[7] = 0, 0
	binary.BigEndian.PutUint32(b[8:12], h.StreamID)
}

// parseHeader decodes and checks a header against the largest payload this
// end accepts.
func parseHeader(b []byte, maxPayload uint32) (frameHeader, error) {
	h := frameHeader{
		Length:   binary.BigEndian.Uint32(b[0:4]),
		Type:     frameType(b[4]),
		Flags:    frameFlags(b[5]),
		StreamID: binary.BigEndian.Uint32(b[8:12]),
	}
	if int(h.Type) >= len(validFlags) {
		return h, protoErrorf(CodeProtocol, "unknown frame type 0x%02x (stream %d, length %d)", uint8(h.Type), h.StreamID, h.Length)
	}
	if b[6] != 0 || b[7] != 0 {
		return h, protoErrorf(CodeProtocol, "%s: reserved header bytes are 0x%02x%02x, want zero", h, b[6], b[7])
	}
	if h.Flags&^validFlags[h.Type] != 0 {
		return h, protoErrorf(CodeProtocol, "%s: undefined flags 0x%02x", h, uint8(h.Flags&^validFlags[h.Type]))
	}
	if h.Length > maxPayload {
		return h, protoErrorf(CodeFrameSize, "%s: payload exceeds the negotiated maximum of %d bytes", h, maxPayload)
	}
	if err := checkStreamID(h); err != nil {
		return h, err
	}
	if err := checkFixedLength(h); err != nil {
		return h, err
	}
	return h, nil
}

// connectionFrame reports whether t is a frame about the whole connection
// (stream id 0) rather than one stream.
func connectionFrame(t frameType) bool {
	return t == framePing || t == frameGoAway || t == frameLoad || t == frameHello
}

func checkStreamID(h frameHeader) error {
	if connectionFrame(h.Type) && h.StreamID != 0 {
		return protoErrorf(CodeProtocol, "%s: a connection frame must have stream id 0", h)
	}
	if !connectionFrame(h.Type) && h.StreamID == 0 {
		return protoErrorf(CodeProtocol, "%s: a stream frame must not have stream id 0", h)
	}
	return nil
}

// maxFieldBlockFrame bounds the payload of HEAD and END frames (their field
// blocks), whatever the max frame payload: a peer's head is parsed into
// fields and kept for the stream's life, and that must stay small next to
// the data credit even when DATA frames may be a MiB or more.
const maxFieldBlockFrame = 64 << 10

// fieldBlockLimit is the largest HEAD or END payload a peer accepting
// frames of maxFrame bytes takes.
func fieldBlockLimit(maxFrame uint32) int { return min(int(maxFrame), maxFieldBlockFrame) }

// checkFixedLength rejects frames whose type fixes the payload size (or
// bounds it) when the length disagrees, before any payload is read.
func checkFixedLength(h frameHeader) error {
	var ok bool
	switch h.Type {
	case frameReset, frameWindow:
		ok = h.Length == 4
	case framePing:
		ok = h.Length == 8
	case frameLoad:
		ok = h.Length == loadSize || h.Length == loadSizeShort
	case frameHead:
		ok = h.Length <= maxFieldBlockFrame
	case frameEnd:
		ok = h.Length >= 4 && h.Length <= maxFieldBlockFrame
	case frameGoAway:
		ok = h.Length >= 8 && h.Length <= 8+maxGoAwayMessage
	case frameHello:
		ok = h.Length == helloSize
	default:
		ok = true
	}
	if !ok {
		return protoErrorf(CodeFrameSize, "%s: wrong payload length for this frame type", h)
	}
	return nil
}

// readHeader reads and checks one frame header.
func readHeader(r io.Reader, hdr []byte, maxPayload uint32) (frameHeader, error) {
	if _, err := io.ReadFull(r, hdr[:headerSize]); err != nil {
		return frameHeader{}, err
	}
	return parseHeader(hdr, maxPayload)
}

// readPayload reads the payload of h into buf.
func readPayload(r io.Reader, h frameHeader, buf []byte) ([]byte, error) {
	p := buf[:h.Length]
	if _, err := io.ReadFull(r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("ipc: reading payload of %s: %w", h, err)
	}
	return p, nil
}

// readFrame reads one frame into buf (which must hold maxPayload bytes) and
// returns its header and payload, a slice of buf.
func readFrame(r io.Reader, hdr, buf []byte, maxPayload uint32) (frameHeader, []byte, error) {
	h, err := readHeader(r, hdr, maxPayload)
	if err != nil {
		return h, nil, err
	}
	p, err := readPayload(r, h, buf)
	return h, p, err
}

// appendFrame appends one whole frame (header and payload) to dst.
func appendFrame(dst []byte, t frameType, f frameFlags, id uint32, payload []byte) []byte {
	var h [headerSize]byte
	putHeader(h[:], frameHeader{Length: uint32(len(payload)), Type: t, Flags: f, StreamID: id})
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

func u32Frame(t frameType, id uint32, v uint32) []byte {
	b := make([]byte, headerSize+4)
	putHeader(b, frameHeader{Length: 4, Type: t, StreamID: id})
	binary.BigEndian.PutUint32(b[headerSize:], v)
	return b
}
