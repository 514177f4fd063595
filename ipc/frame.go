package ipc

import (
	"encoding/binary"
	"fmt"
	"io"
)

// HeaderSize is the size in bytes of every frame header.
const HeaderSize = 12

// FrameType identifies what a frame carries.
type FrameType uint8

// The frame types. docs/PROTOCOL.md gives each one's payload.
const (
	FrameData   FrameType = 0x0 // stream data, covered by credit
	FrameHead   FrameType = 0x1 // request or response head: a field block
	FrameEnd    FrameType = 0x2 // the sender's last frame on a stream: status and trailers
	FrameReset  FrameType = 0x3 // abort a stream in both directions
	FrameWindow FrameType = 0x4 // grant credit on a stream
	FramePing   FrameType = 0x5 // liveness probe, or its reply with FlagAck
	FrameGoAway FrameType = 0x6 // no new streams; open ones finish
	FrameLoad   FrameType = 0x7 // the worker's load report
	FrameHello  FrameType = 0x8 // handshake: version and limits
)

var frameNames = [...]string{"DATA", "HEAD", "END", "RESET", "WINDOW", "PING", "GOAWAY", "LOAD", "HELLO"}

func (t FrameType) String() string {
	if int(t) < len(frameNames) {
		return frameNames[t]
	}
	return fmt.Sprintf("UNKNOWN(0x%02x)", uint8(t))
}

// Flags are per-type bits in the frame header.
type Flags uint8

const (
	// FlagAck marks a PING frame as the reply to a ping.
	FlagAck Flags = 0x1
	// FlagEndStream on a HEAD frame says that no data and no trailers follow:
	// the head is also the sender's END with status OK.
	FlagEndStream Flags = 0x1
)

// validFlags lists, per frame type, the flag bits it may carry; anything else
// is a protocol error, so that a future flag is never silently misread.
var validFlags = [...]Flags{
	FrameData:   0,
	FrameHead:   FlagEndStream,
	FrameEnd:    0,
	FrameReset:  0,
	FrameWindow: 0,
	FramePing:   FlagAck,
	FrameGoAway: 0,
	FrameLoad:   0,
	FrameHello:  0,
}

// FrameHeader is the fixed 12-byte prefix of every frame:
// length (uint32), type (uint8), flags (uint8), reserved (uint16, zero),
// stream id (uint32), all big-endian.
type FrameHeader struct {
	Length   uint32
	Type     FrameType
	Flags    Flags
	StreamID uint32
}

func (h FrameHeader) String() string {
	return fmt.Sprintf("%s stream=%d len=%d flags=0x%02x", h.Type, h.StreamID, h.Length, uint8(h.Flags))
}

// putHeader writes h into b, which must hold HeaderSize bytes.
func putHeader(b []byte, h FrameHeader) {
	binary.BigEndian.PutUint32(b[0:4], h.Length)
	b[4] = byte(h.Type)
	b[5] = byte(h.Flags)
	b[6], b[7] = 0, 0
	binary.BigEndian.PutUint32(b[8:12], h.StreamID)
}

// parseHeader decodes and checks a header against the largest payload this
// end accepts.
func parseHeader(b []byte, maxPayload uint32) (FrameHeader, error) {
	h := FrameHeader{
		Length:   binary.BigEndian.Uint32(b[0:4]),
		Type:     FrameType(b[4]),
		Flags:    Flags(b[5]),
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
func connectionFrame(t FrameType) bool {
	return t == FramePing || t == FrameGoAway || t == FrameLoad || t == FrameHello
}

func checkStreamID(h FrameHeader) error {
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
func checkFixedLength(h FrameHeader) error {
	var ok bool
	switch h.Type {
	case FrameReset, FrameWindow:
		ok = h.Length == 4
	case FramePing:
		ok = h.Length == 8
	case FrameLoad:
		ok = h.Length == loadSize
	case FrameHead:
		ok = h.Length <= maxFieldBlockFrame
	case FrameEnd:
		ok = h.Length >= 4 && h.Length <= maxFieldBlockFrame
	case FrameGoAway:
		ok = h.Length >= 8 && h.Length <= 8+maxGoAwayMessage
	case FrameHello:
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
func readHeader(r io.Reader, hdr []byte, maxPayload uint32) (FrameHeader, error) {
	if _, err := io.ReadFull(r, hdr[:HeaderSize]); err != nil {
		return FrameHeader{}, err
	}
	return parseHeader(hdr, maxPayload)
}

// readPayload reads the payload of h into buf.
func readPayload(r io.Reader, h FrameHeader, buf []byte) ([]byte, error) {
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
func readFrame(r io.Reader, hdr, buf []byte, maxPayload uint32) (FrameHeader, []byte, error) {
	h, err := readHeader(r, hdr, maxPayload)
	if err != nil {
		return h, nil, err
	}
	p, err := readPayload(r, h, buf)
	return h, p, err
}

// appendFrame appends one whole frame (header and payload) to dst.
func appendFrame(dst []byte, t FrameType, f Flags, id uint32, payload []byte) []byte {
	var h [HeaderSize]byte
	putHeader(h[:], FrameHeader{Length: uint32(len(payload)), Type: t, Flags: f, StreamID: id})
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

func u32Frame(t FrameType, id uint32, v uint32) []byte {
	b := make([]byte, HeaderSize+4)
	putHeader(b, FrameHeader{Length: 4, Type: t, StreamID: id})
	binary.BigEndian.PutUint32(b[HeaderSize:], v)
	return b
}
