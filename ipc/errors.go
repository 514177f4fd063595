package ipc

import (
	"errors"
	"fmt"
)

// Code says why a stream was reset, why a connection went away, or how a
// stream ended (the status of an END frame).
type Code uint32

// The codes. Zero is success everywhere.
const (
	CodeOK          Code = 0 // completed normally
	CodeProtocol    Code = 1 // the peer broke the protocol
	CodeInternal    Code = 2 // the sender failed (a handler panicked, a worker is exiting)
	CodeCancel      Code = 3 // the reader is no longer interested (the client went away)
	CodeRefused     Code = 4 // the stream was never processed: safe to retry elsewhere
	CodeFlowControl Code = 5 // data beyond the credit granted
	CodeFrameSize   Code = 6 // a frame too large or of the wrong length for its type
	CodeVersion     Code = 7 // no protocol version in common
	CodeStreamLimit Code = 8 // more concurrent streams than the peer accepts
	CodeShutdown    Code = 9 // the sender is going away (go-away, drain)
)

var codeNames = [...]string{"OK", "PROTOCOL", "INTERNAL", "CANCEL", "REFUSED", "FLOW_CONTROL", "FRAME_SIZE", "VERSION", "STREAM_LIMIT", "SHUTDOWN"}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("CODE(%d)", uint32(c))
}

// Errors returned by Conn and Stream methods. Compare with errors.Is.
var (
	// ErrClosed is returned after Close, or by a stream whose connection closed.
	ErrClosed = errors.New("ipc: connection closed")
	// ErrGoAway is returned by OpenStream after either side sent go-away, and
	// by AcceptStream once the peer said it opens no more streams.
	ErrGoAway = errors.New("ipc: connection is going away; no new streams")
	// ErrStreamLimit is returned by OpenStream when the peer's limit on
	// concurrent streams is reached.
	ErrStreamLimit = errors.New("ipc: the peer's limit on concurrent streams is reached")
	// ErrWriteClosed is returned by Write after CloseWrite.
	ErrWriteClosed = errors.New("ipc: write on a stream after CloseWrite")
	// ErrNoHead is returned by Write on an accepted stream before WriteHead.
	ErrNoHead = errors.New("ipc: Write before WriteHead; the head must go first")
)

// StreamError reports a stream that was reset, or that ended with a non-OK
// status: its data is incomplete.
type StreamError struct {
	StreamID uint32
	Code     Code
	// Remote is true when the peer reset or failed the stream.
	Remote bool
	// Ended is true when the stream ended with an END frame whose status was
	// not OK (rather than a reset).
	Ended bool
}

func (e *StreamError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by the peer"
	}
	if e.Ended {
		return fmt.Sprintf("ipc: stream %d ended incomplete with status %s", e.StreamID, e.Code)
	}
	return fmt.Sprintf("ipc: stream %d reset %s with code %s", e.StreamID, who, e.Code)
}

// ProtocolError is why a connection was ended: the peer sent something the
// protocol does not allow, or the two ends could not agree.
type ProtocolError struct {
	Code Code
	Msg  string
	// Remote is true when the peer reported the error in a GOAWAY frame.
	Remote bool
}

func (e *ProtocolError) Error() string {
	if e.Remote {
		return fmt.Sprintf("ipc: peer ended the connection (%s): %s", e.Code, e.Msg)
	}
	return fmt.Sprintf("ipc: protocol error (%s): %s", e.Code, e.Msg)
}

func protoErrorf(c Code, format string, args ...any) error {
	return &ProtocolError{Code: c, Msg: fmt.Sprintf(format, args...)}
}
