package sockopt

import (
	"fmt"
	"math"
	"syscall"
)

// MaxBuffer is the largest buffer size the functions here accept. Linux
// stores the doubled size in a 32-bit int, so anything larger could never be
// granted as asked.
const MaxBuffer = math.MaxInt32 / 2

// bufKind says which direction a buffer call is about; the platform files
// map it to option numbers and sysctl names.
type bufKind int

const (
	sendBuf bufKind = iota
	recvBuf
)

// option is the name the kernel documents, used in every error message.
func (k bufKind) option() string {
	if k == sendBuf {
		return "SO_SNDBUF"
	}
	return "SO_RCVBUF"
}

// SetSendBuffer sets the socket's send buffer (SO_SNDBUF) to bytes and
// returns the effective size the kernel reads back.
//
// The effective size is not the granted one: Linux caps the request at
// net.core.wmem_max and then doubles it, because the limit is charged with
// the kernel's own per-buffer overhead as well as payload (the same units
// Unsent reports). So a request that was fully granted reads back as at
// least 2*bytes (or the kernel's minimum, if that is larger).
//
// If the read-back shows less than bytes was granted, SetSendBuffer tries
// again with SO_SNDBUFFORCE, which ignores the cap but needs CAP_NET_ADMIN.
// If that also falls short it returns the effective size together with a
// *BufferError that says which sysctl to raise; the socket remains usable.
// It never reports success for a short grant.
//
// bytes must be between 1 and MaxBuffer.
func SetSendBuffer(c syscall.Conn, bytes int) (effective int, err error) {
	if err := checkBufferSize(sendBuf, bytes); err != nil {
		return 0, err
	}
	return setBuffer(c, sendBuf, bytes)
}

// SetRecvBuffer is SetSendBuffer for the receive buffer (SO_RCVBUF, capped
// by net.core.rmem_max, forced with SO_RCVBUFFORCE). The effective size it
// returns is the doubled read-back, as for SetSendBuffer.
//
// On a Unix stream socket the receiver's buffer does not limit the sender,
// whose own SO_SNDBUF bounds the bytes in flight; tune the sending side.
func SetRecvBuffer(c syscall.Conn, bytes int) (effective int, err error) {
	if err := checkBufferSize(recvBuf, bytes); err != nil {
		return 0, err
	}
	return setBuffer(c, recvBuf, bytes)
}

// SendBuffer returns the socket's effective send buffer size: the kernel's
// read-back of SO_SNDBUF, which on Linux is twice the size granted.
func SendBuffer(c syscall.Conn) (int, error) {
	return getBuffer(c, sendBuf)
}

// RecvBuffer returns the socket's effective receive buffer size: the
// kernel's read-back of SO_RCVBUF, which on Linux is twice the size granted.
func RecvBuffer(c syscall.Conn) (int, error) {
	return getBuffer(c, recvBuf)
}

// checkBufferSize rejects sizes the kernel would silently turn into
// something else (zero becomes the minimum, huge values are clamped).
func checkBufferSize(k bufKind, bytes int) error {
	if bytes < 1 || bytes > MaxBuffer {
		return fmt.Errorf("sockopt: %s of %d bytes is out of range: ask for 1 to %d bytes", k.option(), bytes, MaxBuffer)
	}
	return nil
}
